/**
 * The VPN client: negotiate a transport to the server (an existing one, or
 * SUDPH then STCPR), say hello, get an address, bring up the TUN and route
 * everything through it. Liveness is judged from what the transport actually
 * receives (keepalives, pongs, data): "connected" is never shown without
 * traffic, and a lost server is reconnected to with backoff while the routes
 * (and the kill switch, when on) stay in place so nothing leaks meanwhile.
 */
import { lookup } from 'node:dns/promises'
import { EventEmitter } from 'node:events'
import { isIP } from 'node:net'
import type { Logger } from 'pino'
import { SkywireError } from '../contracts/errors.js'
import type { ServicesClient } from '../discovery/client.js'
import type { TransportKind } from '../native/node.js'
import { dialTransport } from '../discovery/dial.js'
import type { ClientHost } from './host.js'
import type { VpnClientNode } from './node.js'
import { minimalPrefixes } from '../sys/cidr.js'
import { checkOffer, IPV6_MIN_MTU, type Offer } from './offer.js'
import { listHops, MAX_HOPS, pickHops } from './hop-pick.js'
import { type BuiltRoute, RouteBuilder, type RouteLink } from './route.js'
import { FEATURE_EXIT_INFO, MAX_USED_NETS, MIN_USED_NET_PREFIX, PROTOCOL_VERSION, decode, encode, type Status } from './protocol.js'

export type ClientState = 'disconnected' | 'connecting' | 'connected' | 'reconnecting'

export interface VpnClientStatus {
  state: ClientState
  /** The transport the VPN rides on. */
  transportId: number | null
  server: string | null
  transport: TransportKind | null
  remote: string | null
  tunnelIp: string | null
  /** The tunnel's IPv6 address; null when the server carries no IPv6 (IPv6 is then blocked). */
  tunnelIp6?: string | null
  tun: string | null
  dns: string[]
  rxBytes: number
  txBytes: number
  rxPackets: number
  txPackets: number
  latencyMs: number | null
  lastPacketMs: number | null
  /** Rekeys completed on the current session (keys rotate every 120 s). */
  rekeys: number
  connectedAt: string | null
  uptimeS: number | null
  lastError: string | null
  killswitch: boolean
  /**
   * The exit's public IP and country as the server claims them (the exit-info
   * message): null when the server does not say (a 0.2.0 server, or one that
   * does not know). A claim, not a measurement.
   */
  exitIp?: string | null
  exitCountry?: string | null
  /** The chain the tunnel crosses, first hop to exit (one entry, the exit, without hops); empty when not connected. */
  route?: { pk: string; role: 'hop' | 'exit'; transport: TransportKind }[]
}

export interface VpnClientOptions {
  order: TransportKind[]
  tunName: string
  killswitch: boolean
  /** DNS servers to use instead of the server's. */
  dns: string[]
  /** The discovery services' endpoints (host or host:port, URLs): a server's offer must not cover them (checkOffer). */
  serviceHosts: string[]
  /** Seconds a lost server is re-dialed before giving up (config vpnClient.reconnectTimeoutS); 0 or absent: never. */
  reconnectTimeoutS?: number
  /** Silence after which the server counts as lost (config vpnClient.staleAfterS); absent: STALE_AFTER_MS. */
  staleAfterMs?: number
  /** Bytes each hop's layer adds to a tunnel packet (the core's CIRCUIT_OVERHEAD); absent: route.ts's LAYER_OVERHEAD. */
  circuitOverhead?: number
}

export interface StartOptions {
  existingTp?: boolean
  /** Hops to route through, first to last (vpn start --via); the reconnect loop rebuilds the same route. */
  via?: string[]
  /** Pick this many hops from service discovery (vpn start --hops); each reconnect picks anew. */
  hops?: number
  timeoutS?: number
  onProgress?: (stage: string) => void
}

/**
 * No authenticated packet for this long: the transport is not carrying traffic
 * (the default of config vpnClient.staleAfterS). The core pings every 5 s, so
 * a live transport is never silent this long; three missed pings are a loss.
 */
export const STALE_AFTER_MS = 15_000
/**
 * The wait before a reconnect attempt, `lostMs` after the loss. In the fast phase (the first FAST_RETRY_MS; `step`
 * counts its attempts from 0) the first goes at once: the core closes a transport when the peer is gone or
 * restarted (an unanswered ping after its unknown-session hint, a TCP reset), and a restarted server is usually
 * back already. Then doubling from 100 ms, at most 0.5 s apart for the first 10 s (a restart takes a second or
 * two, and the target is being back within 1 s of the server being up) and 1 s apart until FAST_RETRY_MS. Each
 * attempt asks the address resolver once, so a client asks it at most 2/s, and only while its server is away.
 * After that (`step` counts from 0 again): 2, 4, 8, then every 15 s.
 */
export function reconnectBackoffMs(step: number, lostMs: number): number {
  if (lostMs >= FAST_RETRY_MS) return SLOW_BACKOFF_MS[Math.min(Math.max(step, 0), SLOW_BACKOFF_MS.length - 1)] as number
  return step <= 0 ? 0 : Math.min(100 * 2 ** (step - 1), lostMs < 10_000 ? 500 : 1000)
}
export const FAST_RETRY_MS = 30_000
const SLOW_BACKOFF_MS = [2000, 4000, 8000, 15000]
/** One reconnect attempt takes at most this long (less when the give-up time comes first). */
const RECONNECT_ATTEMPT_MS = 20_000
/** Dial again at most this often when the server asks us to (retryAfterMs), and wait at most this long each time: a server cannot keep us looping. */
const HELLO_RETRIES = 2
const HELLO_RETRY_MAX_WAIT_MS = 5000
/** The exit's address is asked again this often while connected (a server's public address may change). */
export const EXIT_INFO_REFRESH_MS = 60_000

/** A server that said ok to our hello, its offer checked, nothing on the host changed yet. */
interface Negotiated {
  id: number
  owned: boolean
  transport: TransportKind
  remote: string | null
  offer: Offer
  features: string[]
}
export class VpnClient extends EventEmitter<{ state: [VpnClientStatus] }> {
  private state: ClientState = 'disconnected'
  private server: string | null = null
  private transportId: number | null = null
  /** False when the VPN rides a transport it found up (--existing-tp): stop leaves it up. */
  private ownsTransport = true
  private transport: TransportKind | null = null
  private remote: string | null = null
  private tunnelIp: string | null = null
  private tun: string | null = null
  private tunAddress: string | null = null
  private tunnelIp6: string | null = null
  /** The v6 address the TUN holds (null: none, IPv6 blocked). */
  private tunAddress6: string | null = null
  private dns: string[] = []
  private connectedAt: Date | null = null
  private lastError: string | null = null
  private statusWaiter: ((s: Status | Error) => void) | null = null
  /** The transport whose hello statusWaiter waits for (during a switch, not the one the tunnel rides). */
  private helloId: number | null = null
  /** What the server listed in its ok status (FEATURE_EXIT_INFO). */
  private features: string[] = []
  private exit: { ip: string | null; country: string | null } | null = null
  private exitAskedAt = 0
  /** A switch to another server is under way: the old transport still carries the tunnel. */
  private switching = false
  /** Set by a switch to end the reconnect loop to the old server. */
  private retargeted = false
  private monitor: NodeJS.Timeout | null = null
  private reconnecting: Promise<void> | null = null
  private stopping = false
  /** Aborted by stop(): dials and backoff waits in flight end at once instead of at their deadlines. */
  private run = new AbortController()
  /** The tail of the host changes in flight (see hostExclusive). */
  private hostOps: Promise<void> = Promise.resolve()
  /** Multi-hop (ts/vpn/route.ts): the route asked for, the routes built and not yet given up, the chain in use. */
  readonly routes: RouteBuilder
  private routeSpec: { via: string[]; hops: number } = { via: [], hops: 0 }
  private readonly built = new Map<number, BuiltRoute>()
  private chain: RouteLink[] | null = null
  /** Hops of a --hops pick that just failed: the next pick avoids them. */
  private avoidHops: string[] = []

  constructor(
    private readonly node: VpnClientNode,
    private readonly services: ServicesClient | null,
    private readonly host: ClientHost,
    private readonly log: Logger,
    private readonly opts: VpnClientOptions,
  ) {
    super()
    host.onPathChange?.(() => this.onPathChange())
    this.routes = new RouteBuilder(node, services, log.child({ part: 'route' }), {
      order: opts.order,
      ...(opts.circuitOverhead ? { layerOverhead: opts.circuitOverhead } : {}),
    })
  }

  /**
   * `vpn set` on a running visor: the kill switch and allow-LAN change on the
   * host now (host.setFirewall); DNS servers apply at the next connect.
   */
  async configure(p: { killswitch?: boolean; dns?: string[]; allowLan?: boolean }): Promise<void> {
    if (p.dns !== undefined) this.opts.dns = p.dns
    if (p.killswitch === undefined && p.allowLan === undefined) return
    if (p.killswitch !== undefined) this.opts.killswitch = p.killswitch
    const fw = { killswitch: this.opts.killswitch, ...(p.allowLan !== undefined ? { allowLan: p.allowLan } : {}) }
    await this.hostExclusive(async () => this.host.setFirewall?.(fw))
  }

  /** Undo what a crashed visor left on the host; true if there was something. */
  recoverStale(): Promise<boolean> {
    return this.host.recoverStale()
  }

  async start(pk: string, o: StartOptions = {}): Promise<VpnClientStatus> {
    // A reconnect loop a stop ended may still be finishing its last attempt
    // (it checks `stopping` before touching the host): let it see the stop
    // before this start clears it, so two connects never run at once.
    if (this.state === 'disconnected') await this.reconnecting
    if ((o.via?.length ?? 0) > 0 || (o.hops ?? 0) > 0) {
      if (o.existingTp) throw new SkywireError('EUSAGE', '--existing-tp rides a direct transport; it does not go with hops')
      if ((o.via?.length ?? 0) > 0 && (o.hops ?? 0) > 0) throw new SkywireError('EUSAGE', 'give hops by key (via) or by count (hops), not both')
      if (o.via?.includes(this.node.publicKey)) throw new SkywireError('EUSAGE', 'this visor cannot be a hop of its own route')
      if ((o.via?.length ?? 0) > MAX_HOPS || (o.hops ?? 0) > MAX_HOPS) throw new SkywireError('EUSAGE', `at most ${MAX_HOPS} hops`)
    }
    // Kept for the reconnect loop (it rebuilds the same kind of route); set only by a start that goes ahead.
    const useSpec = () => {
      this.routeSpec = { via: [...(o.via ?? [])], hops: o.hops ?? 0 }
      this.avoidHops = []
    }
    // Another server while the tunnel is up: move to it without taking the routes down.
    if ((this.state === 'connected' || this.state === 'reconnecting') && this.server !== pk && !this.switching) {
      useSpec()
      return this.switchTo(pk, o)
    }
    // Checked after the wait and right before the state changes: of two starts, one wins.
    if (this.state !== 'disconnected') {
      const what = this.switching ? 'switching servers' : this.state
      throw new SkywireError('ESTATE', `the VPN is already ${what}${this.server ? ` to ${this.server}` : ''}; stop it first`)
    }
    useSpec()
    this.stopping = false
    this.run = new AbortController()
    this.lastError = null
    this.server = pk
    this.setState('connecting')
    const deadline = Date.now() + (o.timeoutS ?? 20) * 1000
    try {
      await this.connect(pk, deadline, o)
      this.startMonitor()
      return this.status()
    } catch (err) {
      this.lastError = (err as Error).message
      await this.teardown()
      this.server = null
      this.setState('disconnected')
      throw err
    }
  }

  async stop(): Promise<VpnClientStatus> {
    this.stopping = true
    // A reconnect waiting for the server's answer, a dial or a backoff wait end now instead of at their deadlines.
    this.statusWaiter?.(new SkywireError('ESTATE', 'the VPN was stopped while connecting'))
    this.run.abort()
    await this.teardown()
    this.server = null
    this.setState('disconnected')
    return this.status()
  }

  /** A control message on our transports: the status answering our hello, or the exit-info answer. */
  onControl(id: number, data: Buffer): boolean {
    if (this.routes.onControl(id, data)) return true
    const waiting = this.statusWaiter !== null && id === this.helloId
    if (!waiting && !(id === this.transportId && this.features.includes(FEATURE_EXIT_INFO))) return false
    let msg
    try {
      msg = decode(data)
    } catch (err) {
      this.log.warn({ err: (err as Error).message }, 'bad control message from the vpn server')
      // Not a status we can read: fail now with the reason rather than wait for the timeout.
      this.statusWaiter?.(
        new SkywireError('EREMOTE', `server ${this.server} sent an unreadable VPN status (${(err as Error).message}); nothing was changed`),
      )
      return true
    }
    if (msg.type === 'status' && waiting) this.statusWaiter?.(msg)
    else if (msg.type === 'exit' && id === this.transportId) this.exit = { ip: msg.ip ?? null, country: msg.country ?? null }
    return true
  }

  onTransportDown(id: number, reason: string): void {
    this.routes.onTransportDown(id)
    this.built.delete(id)
    // A hello whose transport closed gets no answer: fail its attempt now, not at the deadline (a server that is
    // stopping may still accept the connection a redial made at once, then close it).
    if (id === this.helloId) {
      this.statusWaiter?.(new SkywireError('ECLOSED', `the transport closed before the server answered the VPN hello (${reason})`))
    }
    if (id !== this.transportId || this.stopping) return
    this.transportId = null
    if (this.switching) {
      // The new server's transport takes over, or switchTo reconnects if it cannot.
      this.lastError = `transport lost: ${reason}`
      return
    }
    this.lastError = `transport lost: ${reason}`
    this.log.warn({ server: this.server, reason }, 'vpn transport lost; reconnecting')
    this.startReconnect()
  }

  private async connect(pk: string, deadline: number, o: StartOptions): Promise<void> {
    const progress = this.progress(pk, o)
    const n = await this.negotiate(pk, deadline, o, progress)
    await this.install(n, progress)
    this.connectedAt = new Date()
    this.setState('connected')
    this.askExit()
  }

  private progress(pk: string, o: StartOptions): (s: string) => void {
    return (s: string) => {
      o.onProgress?.(s)
      this.log.info({ server: pk, stage: s }, 'vpn connect')
    }
  }

  /**
   * Dial, hello and check the offer; the host and the tunnel are not touched,
   * so while this runs an old transport (a switch) still carries everything.
   * On failure the new transport is given back.
   */
  private async negotiate(pk: string, deadline: number, o: StartOptions, progress: (s: string) => void): Promise<Negotiated> {
    // Reads that do not need the transport run while it is dialed (they were
    // one after another before it): the networks in use (`ip -j addr`) and the
    // service hosts' IPs. Each is awaited below; a failure is thrown there.
    const usedNetsRead = this.host.usedNetworks()
    usedNetsRead.catch(() => {})
    const serviceIps = endpointIps(this.opts.serviceHosts)
    serviceIps.catch(() => {})
    let usedNets: string[] | null = null
    let id: number
    let owned: boolean
    let transport: TransportKind
    let remote: string | null
    let status: Status
    for (let attempt = 0; ; attempt++) {
      // The core cannot cancel a dial: a stop does not wait for it, and a
      // transport it opens after the stop is closed as soon as it is up.
      const t = await untilAborted(this.run.signal, this.openTransport(pk, deadline, o.existingTp ?? false, progress), (late) => {
        if (late.owned) this.node.closeTransport(late.id)
      })
      id = t.id
      owned = t.owned
      transport = t.transport
      // Over hops, the address our packets go to is the first hop's (it must stay reachable beside the tunnel).
      remote = this.built.get(id)?.firstRemote ?? this.node.transport(id)?.remote ?? null
      this.throwIfStopped(id, owned)
      progress('asking the server for an address')
      try {
        usedNets ??= await usedNetsRead
        status = await this.hello(id, helloNets(usedNets), deadline)
      } catch (err) {
        this.dropTransport(id, owned)
        throw err
      }
      this.throwIfStopped(id, owned)
      // The server still held this transport from before (we crashed or lost
      // it without a bye, and SUDPH from the same address is the same transport
      // to it): it refused our hello and closes that transport; a new dial after
      // the pause it names gets a fresh one. A few times at most, within the
      // deadline, and never for a transport we did not open.
      const wait = Math.min(status.retryAfterMs ?? -1, HELLO_RETRY_MAX_WAIT_MS)
      if (status.status === 'error' && wait >= 0 && owned && attempt < HELLO_RETRIES && Date.now() + wait < deadline) {
        this.log.info({ server: pk, wait }, 'the server still had our previous transport; dialing again')
        this.dropTransport(id, owned)
        await new Promise((r) => setTimeout(r, wait))
        continue
      }
      break
    }
    if (status.status !== 'ok' || !status.address) {
      this.node.closeTransport(id)
      throw statusError(pk, status)
    }
    // Checked against every network we are on (not only those the hello
    // carried) before anything on the host changes.
    try {
      const offer = checkOffer(pk, status, {
        usedNets: usedNets ?? (await usedNetsRead),
        mustReach: [...new Set([...(await endpointIps(remote ? [remote] : [])), ...(await serviceIps)])],
        useServerDns: this.opts.dns.length === 0,
      })
      return { id, owned, transport, remote, offer, features: status.features ?? [] }
    } catch (err) {
      this.log.warn({ server: pk, err: (err as Error).message }, "refusing the vpn server's setup")
      this.dropTransport(id, owned)
      throw err
    }
  }

  /**
   * Puts the tunnel on the negotiated transport. An existing TUN (a reconnect,
   * a switch) is kept with its routes: it takes the new address (added before
   * the old goes) and the core moves every destination to the new transport in
   * one step (attach replaces the owner of 0.0.0.0/0 and ::/0), so packets go
   * into the old tunnel until then and into the new one after, never beside.
   */
  private async install(n: Negotiated, progress: (s: string) => void): Promise<void> {
    const { id, owned, offer } = n
    // The host changes run one at a time with teardown's: a stop that came
    // while we were dialing or waiting for the server must not be followed by
    // this connect putting the routes back.
    await this.hostExclusive(async () => {
      this.throwIfStopped(id, owned)
      this.tunnelIp = offer.address
      // A host with IPv6 off could not put the address on a TUN at all, nor can a TUN below IPv6's minimum
      // MTU carry it: such a client takes IPv4 only and keeps IPv6 blocked.
      // Each hop wraps the tunnel's packets once more: the TUN's MTU leaves room for it.
      const tunMtu = Math.max(576, offer.mtu - (this.built.get(id)?.overhead ?? 0))
      const v6 = offer.v6 && tunMtu >= IPV6_MIN_MTU && ((await this.host.canTunnelIpv6?.()) ?? true) ? offer.v6.address : null
      this.tunnelIp6 = v6
      this.dns = this.opts.dns.length > 0 ? this.opts.dns : offer.dns
      progress('routing traffic through the tunnel')
      if (this.tun && this.tunAddress6 !== v6) {
        // Another IPv6 address, or IPv6 gained or lost: the same TUN takes it
        // (apply below turns the IPv6 route into the TUN or unreachable in
        // place); without readdress6 the TUN is rebuilt below instead.
        if (this.host.readdress6) {
          await this.host.readdress6(this.tun, this.tunAddress6, v6)
          this.tunAddress6 = v6
        } else this.tunAddress = null
      }
      if (this.tun && this.tunAddress !== null && this.tunAddress !== offer.address && this.host.readdress) {
        // A reconnect that got a new address: the same TUN takes it, so the
        // routes into it stay and nothing leaves beside the tunnel meanwhile.
        await this.host.readdress(this.tun, this.tunAddress, offer.address)
        this.tunAddress = offer.address
      }
      if (this.tun && this.tunAddress !== offer.address) {
        // A reconnect that got a new address: the TUN must carry it. Routes
        // and DNS go with the old TUN, but the kill switch stays up (the next
        // apply adopts it), so nothing leaves outside the tunnel meanwhile.
        await this.host.restore({ keepKillSwitch: this.opts.killswitch })
        this.node.closeTun(this.tun)
        this.tun = null
        this.tunAddress = null
      }
      if (!this.tun) {
        this.tun = this.node.createTun({
          name: this.opts.tunName,
          ipv4: `${offer.address}/32`,
          // A /128 like the v4 /32: the TUN is point-to-point, nothing else of the pool is on-link.
          ...(v6 !== null ? { ipv6: `${v6}/128` } : {}),
          mtu: tunMtu,
        })
        this.tunAddress = offer.address
        this.tunAddress6 = v6
      }
      // Everything into the tunnel, IPv6 too: with a server that carries no
      // IPv6 the host blocks it before the TUN (unreachable routes), and the
      // server would drop it anyway; it must never leave beside the tunnel.
      this.node.attach(this.tun, id, ['0.0.0.0/0', '::/0'])
      this.transportId = id
      this.ownsTransport = owned
      this.transport = n.transport
      this.remote = n.remote
      this.features = n.features
      this.exit = null
      this.chain = this.built.get(id)?.chain ?? null
      await this.host.apply({
        tun: this.tun,
        tunnelIp: offer.address,
        ...(v6 !== null ? { tunnelIp6: v6 } : {}),
        dns: this.dns,
        killswitch: this.opts.killswitch,
      })
    })
  }

  /**
   * `vpn start -k OTHER` while connected (or reconnecting): make before
   * break. The new server is dialed and says ok while the old transport still
   * carries the tunnel; then install() moves the tunnel over (same TUN, same
   * host routes, kill switch untouched); only then the old server gets its bye
   * and its transport goes. A new server that refuses or fails leaves the old
   * tunnel as it was.
   */
  private async switchTo(pk: string, o: StartOptions): Promise<VpnClientStatus> {
    const from = this.server
    this.switching = true
    this.log.info({ from, to: pk }, 'switching vpn servers')
    const deadline = Date.now() + (o.timeoutS ?? 20) * 1000
    const progress = this.progress(pk, o)
    try {
      // A reconnect loop to the old server ends first: it must not put its transport under the tunnel after ours.
      if (this.reconnecting) {
        this.retarget()
        await this.reconnecting
      }
      if (this.stopping || this.state === 'disconnected') throw new SkywireError('ESTATE', 'the VPN was stopped while switching servers')
      // Taken after the loop ended: it may have got the old server back meanwhile.
      const old = { id: this.transportId, owned: this.ownsTransport }
      let n: Negotiated
      try {
        n = await this.negotiate(pk, deadline, o, progress)
      } catch (err) {
        // The old server keeps carrying the tunnel (or, lost meanwhile, is re-dialed as before).
        if (this.transportId === null && !this.stopping) this.startReconnect()
        throw err
      }
      try {
        await this.install(n, progress)
      } catch (err) {
        if (this.stopping) throw err
        // Half moved: whatever carries the tunnel now, its routes and kill switch stay; reconnect to the new server.
        this.lastError = (err as Error).message
        this.server = pk
        if (old.id !== null && old.id !== this.transportId) this.dropTransport(old.id, old.owned)
        if (this.transportId === n.id) this.node.closeTransport(n.id)
        this.transportId = null
        if (!this.stopping) this.startReconnect()
        throw err
      }
      this.server = pk
      if (old.id !== null && old.id !== n.id) this.dropTransport(old.id, old.owned)
      this.lastError = null
      this.connectedAt = new Date()
      this.setState('connected')
      this.startMonitor()
      this.askExit()
      this.log.info({ from, to: pk }, 'switched vpn servers')
      return this.status()
    } finally {
      this.switching = false
    }
  }

  /** Ends the running reconnect loop (its attempt in flight ends at once); the routes and kill switch stay. */
  private retarget(): void {
    this.retargeted = true
    this.statusWaiter?.(new SkywireError('ESTATE', 'switching servers'))
    this.run.abort()
    this.run = new AbortController()
  }

  /** Asks a server that knows exit-info where our traffic leaves (the answer arrives in onControl). */
  private askExit(): void {
    if (this.transportId === null || !this.features.includes(FEATURE_EXIT_INFO)) return
    this.exitAskedAt = Date.now()
    try {
      this.node.sendControl(this.transportId, encode({ type: 'exit-info' }))
    } catch {
      // gone: the reconnect asks again
    }
  }

  /** A stop came while connecting: give the transport back and end this attempt without touching the host. */
  private throwIfStopped(id: number, owned: boolean): void {
    if (!this.stopping) return
    this.dropTransport(id, owned)
    throw new SkywireError('ESTATE', 'the VPN was stopped while connecting')
  }

  /** Runs host changes after those already running (connect's apply, teardown's restore), never beside them. */
  private hostExclusive<T>(f: () => Promise<T>): Promise<T> {
    const run = this.hostOps.then(f)
    this.hostOps = run.then(
      () => undefined,
      () => undefined,
    )
    return run
  }

  private async openTransport(
    pk: string,
    deadline: number,
    existingOnly: boolean,
    progress: (s: string) => void,
  ): Promise<{ id: number; transport: TransportKind; owned: boolean }> {
    if (existingOnly) {
      const existing = this.node.transports().find((s) => s.peer === pk)
      if (!existing) throw new SkywireError('ENOTRANSPORT', `no transport to ${pk} is up (drop --existing-tp to open one)`)
      progress(`using the existing ${existing.transport} transport`)
      return { id: existing.id, transport: existing.transport, owned: false }
    }
    if (this.routeSpec.via.length > 0 || this.routeSpec.hops > 0) return this.openRoute(pk, deadline, progress)
    const t = await dialTransport(this.node, this.services, pk, this.opts.order, deadline, progress)
    return { ...t, owned: true }
  }

  /** client → hops → exit (ts/vpn/route.ts); with --hops the hops are picked from service discovery each time. */
  private async openRoute(
    pk: string,
    deadline: number,
    progress: (s: string) => void,
  ): Promise<{ id: number; transport: TransportKind; owned: boolean }> {
    let hops = this.routeSpec.via
    if (hops.length === 0) {
      if (!this.services) throw new SkywireError('ENOTFOUND', 'picking hops needs the discovery services')
      progress('picking hops from service discovery')
      const ranked = await listHops(this.services)
      const exitCountry = (await this.services.getService(`${pk}:3`).catch(() => null))?.country ?? null
      const pick = { exit: pk, exitCountry, self: this.node.publicKey }
      try {
        hops = pickHops(ranked, this.routeSpec.hops, { ...pick, avoid: this.avoidHops })
      } catch {
        // Too few once the failed ones are left out: try them again rather than nothing.
        hops = pickHops(ranked, this.routeSpec.hops, pick)
      }
    }
    try {
      const r = await this.routes.build(hops, pk, deadline, progress)
      this.built.set(r.id, r)
      return { id: r.id, transport: r.transport, owned: true }
    } catch (err) {
      if (this.routeSpec.via.length === 0) this.avoidHops = hops
      throw err
    }
  }

  /** Say bye (so the server frees what it gave us) and drop the transport if we opened it. */
  private dropTransport(id: number, owned: boolean): void {
    try {
      this.node.sendControl(id, encode({ type: 'bye' }))
    } catch {
      // already gone
    }
    if (owned) this.node.closeTransport(id)
    if (this.transportId === id) this.transportId = null
  }

  private hello(id: number, usedNets: string[], deadline: number): Promise<Status> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(
        () => {
          this.statusWaiter = null
          this.helloId = null
          reject(new SkywireError('ETIMEOUT', 'the server did not answer the VPN hello in time'))
        },
        Math.max(1, deadline - Date.now()),
      )
      this.helloId = id
      this.statusWaiter = (s) => {
        clearTimeout(timer)
        this.statusWaiter = null
        this.helloId = null
        if (s instanceof Error) reject(s)
        else resolve(s)
      }
      try {
        this.node.sendControl(id, encode({ type: 'hello', v: PROTOCOL_VERSION, usedNets }))
      } catch (err) {
        clearTimeout(timer)
        this.statusWaiter = null
        this.helloId = null
        reject(err)
      }
    })
  }

  private startMonitor(): void {
    this.stopMonitor()
    this.monitor = setInterval(() => this.checkLiveness(), 1000)
    this.monitor.unref()
  }

  private stopMonitor(): void {
    if (this.monitor) clearInterval(this.monitor)
    this.monitor = null
  }

  private checkLiveness(): void {
    if (this.transportId === null || this.state === 'reconnecting' || this.switching) return
    if (this.state === 'connected' && Date.now() - this.exitAskedAt >= EXIT_INFO_REFRESH_MS) this.askExit()
    const s = this.node.transport(this.transportId)
    const staleMs = this.opts.staleAfterMs ?? STALE_AFTER_MS
    const stale = !s || (s.stats.lastRxMs ?? Infinity) > staleMs
    if (stale && this.state === 'connected') {
      this.lastError = `no packets from the server for ${Math.round(staleMs / 1000)} s`
      this.log.warn({ server: this.server }, 'vpn transport is silent; reconnecting')
      const id = this.transportId
      this.transportId = null
      this.node.closeTransport(id)
      this.startReconnect()
    }
  }

  /**
   * The host's default route changed (a roam, a replaced default route): the
   * visor's marked sockets now leave by another path. A TCP transport cannot
   * follow (its source address or NAT mapping is gone): reconnect now rather
   * than after the silence timeout. SUDPH follows by itself: the server takes
   * the new mapping from our authenticated packets. A server reached by a
   * more specific route may not have moved at all; then this costs one quick
   * redial, which is cheaper than telling the two apart.
   */
  private onPathChange(): void {
    if (this.state !== 'connected' || this.transportId === null || this.transport !== 'stcpr' || this.switching) return
    this.lastError = 'the default route changed'
    this.log.warn({ server: this.server }, 'the default route changed under a TCP transport; reconnecting')
    const id = this.transportId
    this.transportId = null
    this.node.closeTransport(id)
    this.startReconnect()
  }

  private startReconnect(): void {
    if (this.reconnecting || this.stopping || !this.server) return
    this.setState('reconnecting')
    const pk = this.server
    const signal = this.run.signal
    const since = Date.now()
    const limitMs = (this.opts.reconnectTimeoutS ?? 0) * 1000
    const giveUpAt = limitMs > 0 ? since + limitMs : Infinity
    this.retargeted = false
    this.reconnecting = (async () => {
      for (let attempt = 0, slow = 0; !this.stopping && !this.retargeted; attempt++) {
        const lostMs = Date.now() - since
        const wait = reconnectBackoffMs(lostMs < FAST_RETRY_MS ? attempt : slow++, lostMs)
        await abortableSleep(Math.min(wait, giveUpAt - Date.now()), signal)
        if (this.stopping || this.retargeted) return
        if (Date.now() >= giveUpAt) return this.giveUp(pk, since)
        try {
          await this.connect(pk, Math.min(Date.now() + RECONNECT_ATTEMPT_MS, giveUpAt), {})
          this.lastError = null
          this.log.info({ server: pk }, 'vpn reconnected')
          return
        } catch (err) {
          // A failed attempt leaves the host as it was (routes into the TUN,
          // kill switch up): only stop() or giving up takes them down.
          if (this.stopping || this.retargeted) return
          this.lastError = (err as Error).message
          this.setState('reconnecting')
        }
      }
    })().finally(() => {
      this.reconnecting = null
    })
  }

  /**
   * The server stayed unreachable for reconnectTimeoutS: routes and DNS go
   * back, and the state says so in one line. The kill switch, when on, stays
   * (docs/security.md: only `vpn stop` removes it), so a host that asked for
   * it still sends nothing beside a tunnel that is gone.
   */
  private async giveUp(pk: string, since: number): Promise<void> {
    const keepKillSwitch = this.opts.killswitch
    const secs = Math.round((Date.now() - since) / 1000)
    const line =
      `gave up reconnecting to VPN server ${pk} after ${secs} s: ${this.lastError ?? 'no answer'}; ` +
      (keepKillSwitch ? 'routes and DNS restored, the kill switch stays on until `skywire cli vpn stop`' : 'routes and DNS restored')
    this.log.error({ server: pk }, line)
    await this.teardown({ keepKillSwitch })
    // A stop that came meanwhile has set its own state.
    if (this.stopping) return
    this.server = null
    this.lastError = line
    this.setState('disconnected')
  }

  private async teardown(o: { keepKillSwitch?: boolean } = {}): Promise<void> {
    this.stopMonitor()
    if (this.statusWaiter) this.statusWaiter = null
    if (this.transportId !== null) {
      // Tell the server at once, so it frees our address now rather than when
      // the transport expires; then drop the transport if we opened it.
      try {
        this.node.sendControl(this.transportId, encode({ type: 'bye' }))
      } catch {
        // the transport is already gone
      }
      if (this.tun) this.node.attach(this.tun, this.transportId, [])
      if (this.ownsTransport) this.node.closeTransport(this.transportId)
    }
    this.transportId = null
    await this.hostExclusive(async () => {
      await this.host.restore(o.keepKillSwitch ? { keepKillSwitch: true } : undefined)
      if (this.tun) {
        try {
          this.node.closeTun(this.tun)
        } catch {
          // already gone with the node
        }
        await this.host.tunGone?.(this.tun)
      }
      this.tun = null
    })
    this.tunAddress = null
    this.tunAddress6 = null
    this.tunnelIp = null
    this.tunnelIp6 = null
    this.transport = null
    this.remote = null
    this.connectedAt = null
    this.features = []
    this.exit = null
    this.chain = null
  }

  private setState(s: ClientState): void {
    this.state = s
    this.emit('state', this.status())
  }

  status(): VpnClientStatus {
    const s = this.transportId !== null ? this.node.transport(this.transportId) : null
    return {
      state: this.state,
      transportId: this.transportId,
      server: this.server,
      transport: this.transport,
      remote: this.remote,
      tunnelIp: this.tunnelIp,
      tunnelIp6: this.tunnelIp6,
      tun: this.tun,
      dns: this.dns,
      rxBytes: s?.stats.rxBytes ?? 0,
      txBytes: s?.stats.txBytes ?? 0,
      rxPackets: s?.stats.rxPackets ?? 0,
      txPackets: s?.stats.txPackets ?? 0,
      latencyMs: s?.stats.rttMs ?? null,
      lastPacketMs: s?.stats.lastRxMs ?? null,
      rekeys: s?.stats.rekeys ?? 0,
      connectedAt: this.connectedAt?.toISOString() ?? null,
      uptimeS: this.connectedAt ? Math.round((Date.now() - this.connectedAt.getTime()) / 1000) : null,
      lastError: this.lastError,
      killswitch: this.opts.killswitch,
      exitIp: this.state === 'connected' ? (this.exit?.ip ?? null) : null,
      exitCountry: this.state === 'connected' ? (this.exit?.country ?? null) : null,
      route:
        this.state !== 'connected' || !this.server || !this.transport
          ? []
          : (this.chain?.map((l) => ({ pk: l.pk, role: l.role, transport: l.transport })) ?? [
              { pk: this.server, role: 'exit' as const, transport: this.transport },
            ]),
    }
  }
}

/**
 * The networks the hello carries: what the server's schema takes (IPv4, none
 * broader than /8, at most MAX_USED_NETS). A host with more still checks the
 * offered address against all of them.
 */
function helloNets(nets: readonly string[]): string[] {
  const v4 = nets.filter((n) => isIP(n.split('/')[0] ?? '') === 4 && Number(n.split('/')[1] ?? 32) >= MIN_USED_NET_PREFIX)
  let minimal: string[]
  try {
    minimal = minimalPrefixes(v4)
  } catch {
    minimal = v4
  }
  return minimal.slice(0, MAX_USED_NETS)
}

/**
 * The IPs behind endpoints (ip:port, host:port, URLs), for the offer check.
 * A name that does not resolve in time is skipped: the visor could not reach
 * it either.
 */
async function endpointIps(endpoints: readonly string[]): Promise<string[]> {
  const out = new Set<string>()
  for (const e of endpoints) {
    let h = e
    if (/^[a-z]+:\/\//i.test(e)) h = new URL(e).hostname
    else if (isIP(e) === 0) h = e.replace(/:\d+$/, '')
    h = h.replace(/^\[|\]$/g, '')
    if (isIP(h)) {
      out.add(h)
      continue
    }
    const timeout = new Promise<[]>((r) => setTimeout(() => r([]), 2000).unref())
    for (const a of await Promise.race([lookup(h, { all: true }).catch(() => []), timeout])) out.add(a.address)
  }
  return [...out]
}

/**
 * `p`, unless `signal` aborts first: then a stop error at once, and `late`
 * gets what p brings when it comes (to close it).
 */
function untilAborted<T>(signal: AbortSignal, p: Promise<T>, late: (v: T) => void): Promise<T> {
  const stopped = () => new SkywireError('ESTATE', 'the VPN was stopped while connecting')
  if (signal.aborted) {
    p.then(late, () => {})
    return Promise.reject(stopped())
  }
  return new Promise<T>((resolve, reject) => {
    let settled = false
    const onAbort = () => {
      if (settled) return
      settled = true
      // p's handler below hands its value to late.
      reject(stopped())
    }
    signal.addEventListener('abort', onAbort, { once: true })
    p.then(
      (v) => {
        signal.removeEventListener('abort', onAbort)
        if (settled) return late(v)
        settled = true
        resolve(v)
      },
      (err: unknown) => {
        signal.removeEventListener('abort', onAbort)
        if (settled) return
        settled = true
        reject(err)
      },
    )
  })
}

/**
 * Waits ms (nothing when <= 0), or less when signal aborts. On the global timers, not node:timers/promises, so the
 * unit tests' fake clock drives the reconnect backoff.
 */
function abortableSleep(ms: number, signal: AbortSignal): Promise<void> {
  if (ms <= 0 || signal.aborted) return Promise.resolve()
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer)
      signal.removeEventListener('abort', done)
      resolve()
    }
    const timer = setTimeout(done, ms)
    signal.addEventListener('abort', done, { once: true })
  })
}

function statusError(pk: string, s: Status): SkywireError {
  const why = s.message ? `: ${s.message}` : ''
  switch (s.status) {
    case 'forbidden':
      return new SkywireError('EFORBIDDEN', `server ${pk} refused the connection (forbidden)${why}`)
    case 'no-free-address':
      return new SkywireError('ENOADDRESS', `server ${pk} has no free address for us${why}`)
    case 'version-mismatch':
      return new SkywireError('EVERSION', `server ${pk} speaks another VPN protocol version${why}`)
    default:
      return new SkywireError('EREMOTE', `server ${pk} answered with an error${why}`)
  }
}
