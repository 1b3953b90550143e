/**
 * The VPN server (exit node): one TUN for all clients, an address per client
 * from the pool, the whitelist checked before any address is given, NAT and
 * secure mode through the host firewall, and a service-discovery entry while
 * running. Policy only: the packets themselves never leave Rust.
 */
import { isIP } from 'node:net'
import type { Logger } from 'pino'
import { SkywireError } from '../contracts/errors.js'
import type { TransportDescription, TransportUp, TransportKind } from '../native/node.js'
import { DEFAULT_PASSCODE_LIMITS, PasscodeGate, type PasscodeLimits } from './passcode.js'
import { AddressPool, AddressPool6 } from './pool.js'
import { FEATURE_EXIT_INFO, PROTOCOL_VERSION, ProtocolError, decode, encode, exitSchema, type Exit, type Hello, type Status } from './protocol.js'
import type { ServerHost } from './host.js'
import type { VpnNode } from './node.js'

export interface VpnServerOptions {
  netifc: string
  secure: boolean
  whitelist: string[]
  pool: string
  /**
   * A routed IPv6 prefix for the clients (config vpnServer.pool6): addresses
   * from it without NAT; the upstream routes it to this server. Absent: a
   * ULA /64 with NAT66 when netifc has global IPv6, otherwise no IPv6.
   */
  pool6?: string
  dns: string[]
  mtu: number
  tunName: string
  passcode?: string
  /** Defaults: DEFAULT_SERVER_LIMITS. */
  limits?: Partial<VpnServerLimits>
  /**
   * Where this exit's traffic meets the internet, for the clients' exit-info
   * question: the public address the node was observed as at the address
   * resolver and the country the services hold for our VPN entry (null where
   * unknown). Absent: every answer is "unknown".
   */
  exitInfo?: () => Promise<ExitClaim>
}

export interface ExitClaim {
  ip: string | null
  country: string | null
}

/**
 * An exit-info answer is reused for this long: a client asking in a loop
 * costs one control frame per question, never a lookup at the services.
 */
export const EXIT_INFO_TTL_MS = 60_000

export interface VpnServerLimits {
  /**
   * A transport that opens (or says bye) and sends no hello for this long is
   * closed: a peer cannot hold transports idle. A real client says hello
   * within a round trip of the handshake.
   */
  helloTimeoutMs: number
  /**
   * A refused transport (any status but ok) is closed this long after the
   * status is sent, so the client reads why before the transport goes;
   * meanwhile everything else it sends is ignored.
   */
  closeAfterStatusMs: number
  passcode: PasscodeLimits
}

export const DEFAULT_SERVER_LIMITS: VpnServerLimits = { helloTimeoutMs: 10_000, closeAfterStatusMs: 500, passcode: DEFAULT_PASSCODE_LIMITS }

export interface ServerClientInfo {
  pk: string
  transportId: number
  tunnelIp: string
  /** Absent when the server carries no IPv6. */
  tunnelIp6?: string
  transport: TransportKind
  remote: string
  connectedAt: string
  rxBytes: number
  txBytes: number
  /** Rekeys completed on the client's session (the soak test checks they happen). */
  rekeys: number
}

export interface VpnServerStatus {
  running: boolean
  netifc: string | null
  secure: boolean
  whitelist: string[]
  tun: string | null
  gateway: string | null
  /** The server's address in the clients' IPv6 network; null when it carries no IPv6. */
  gateway6?: string | null
  /** How clients' IPv6 leaves: NAT66 from a ULA pool, routed (pool6), or not at all. */
  ipv6?: 'nat66' | 'routed' | 'none'
  clients: ServerClientInfo[]
}

interface Client {
  pk: string
  transportId: number
  tunnelIp: string
  tunnelIp6: string | null
  transport: TransportKind
  remote: string
  connectedAt: Date
}

/**
 * At most this many control frames (and bytes) are held for a start that is expected (VpnServer.expectStart):
 * the window is the visor's own start-up, a second or less, in which each reconnecting client says one hello.
 */
export const EARLY_FRAMES_MAX = 256
export const EARLY_BYTES_MAX = 256 * 1024

export class VpnServer {
  private pool: AddressPool
  /** Set while running when clients get IPv6. */
  private pool6: AddressPool6 | null = null
  private ipv6Mode: 'nat66' | 'routed' | 'none' = 'none'
  private readonly clients = new Map<number, Client>()
  private readonly awaitingHello = new Map<number, { timer: NodeJS.Timeout }>()
  /** Refused transports, closed when their timer fires; until then only one hello is answered (answerWhileClosing). */
  private readonly closing = new Map<number, { timer: NodeJS.Timeout; answered: boolean }>()
  private passcodeGate: PasscodeGate | null = null
  private passcodeGateFor: string | null = null
  private tun: string | null = null
  private netifc: string | null = null
  private running = false
  /**
   * Control frames that came while a start was expected (expectStart): held, and handed to onControl once the
   * server runs. Null when no start is expected: then frames are ignored while stopped, as before.
   */
  private early: { frames: { id: number; data: Buffer }[]; bytes: number } | null = null
  private exitCache: { at: number; claim: Promise<ExitClaim> } | null = null

  constructor(
    private readonly node: VpnNode,
    private readonly host: ServerHost,
    private readonly log: Logger,
    private opts: VpnServerOptions,
  ) {
    this.pool = new AddressPool(opts.pool)
  }

  /**
   * The visor starts this server soon (autostart): its node already answers handshakes, so a client that redials
   * at once after a server restart can be up and say its hello before the server runs. That hello is held and
   * answered on start, instead of dropped (the client then waited for the hello timeout, ~10 s). Bounded
   * (EARLY_FRAMES_MAX, EARLY_BYTES_MAX); dropped if the start fails or stop() comes first.
   */
  expectStart(): void {
    if (!this.running) this.early ??= { frames: [], bytes: 0 }
  }

  get isRunning(): boolean {
    return this.running
  }

  options(): VpnServerOptions {
    return { ...this.opts, whitelist: [...this.opts.whitelist] }
  }

  /** Apply new settings (from `vpn server start` flags); takes effect on start. */
  configure(patch: Partial<VpnServerOptions>): void {
    if (this.running) throw new SkywireError('ESTATE', 'the VPN server is running; stop it first')
    const next = { ...this.opts, ...patch }
    // Checked now, so a bad pool6 is a one-line error at configure, not at start.
    if (next.pool6 !== undefined) new AddressPool6(next.pool6)
    this.opts = next
    this.pool = new AddressPool(this.opts.pool)
  }

  /**
   * Which IPv6 clients get: the operator's routed pool6, else this server's
   * ULA /64 behind NAT66 when netifc has global IPv6, else none (the hello
   * then carries no v6 fields and clients keep blocking IPv6).
   */
  private async planIpv6(netifc: string): Promise<{ pool6: AddressPool6 | null; mode: 'nat66' | 'routed' | 'none' }> {
    if (this.opts.pool6 !== undefined) return { pool6: new AddressPool6(this.opts.pool6), mode: 'routed' }
    if (!this.host.ipv6) return { pool6: null, mode: 'none' }
    const v6 = await this.host.ipv6(netifc)
    if (!v6.globalUplink) {
      this.log.info({ netifc }, 'no global IPv6 on the uplink: clients get IPv4 only (and keep IPv6 blocked)')
      return { pool6: null, mode: 'none' }
    }
    return { pool6: new AddressPool6(v6.ula64), mode: 'nat66' }
  }

  async start(): Promise<void> {
    try {
      await this.bringUp()
    } catch (err) {
      // Held hellos are not answered by a server that did not start.
      this.early = null
      throw err
    }
  }

  private async bringUp(): Promise<void> {
    if (this.running) return
    const netifc = await this.host.resolveNetifc(this.opts.netifc)
    const { pool6, mode } = await this.planIpv6(netifc)
    // The state file first: from the TUN on, a crash is undone at the next visor start.
    await this.host.prepare()
    let tun: string
    try {
      tun = this.node.createTun({
        name: this.opts.tunName,
        ipv4: `${this.pool.gateway}/${this.pool.prefix}`,
        ...(pool6 ? { ipv6: `${pool6.gateway}/${pool6.prefix}` } : {}),
        mtu: this.opts.mtu,
      })
    } catch (err) {
      await this.host.down()
      throw err
    }
    try {
      await this.host.up({
        tun,
        netifc,
        pool: this.opts.pool,
        gateway: this.pool.gateway,
        secure: this.opts.secure,
        dns: this.opts.dns,
        ...(pool6 ? { pool6: pool6.network, gateway6: pool6.gateway, nat6: mode === 'nat66' } : {}),
      })
    } catch (err) {
      this.node.closeTun(tun)
      throw err
    }
    this.tun = tun
    this.netifc = netifc
    this.pool6 = pool6
    this.ipv6Mode = mode
    this.running = true
    this.log.info(
      { tun, netifc, secure: this.opts.secure, whitelist: this.opts.whitelist.length, ipv6: mode, pool6: pool6?.network },
      'vpn server started',
    )
    // Clients that connected while we were stopped have waited for nothing.
    for (const s of this.node.transports()) {
      if (!s.initiator) this.onTransportUp({ id: s.id, peer: s.peer, transport: s.transport, remote: s.remote, initiator: false })
    }
    // Hellos said while we were starting get their answer now (a transport closed meanwhile is skipped by onControl).
    const early = this.early?.frames ?? []
    this.early = null
    if (early.length > 0) this.log.info({ frames: early.length }, 'answering control frames that came while the vpn server was starting')
    for (const f of early) this.onControl(f.id, f.data)
  }

  /** At visor start, before anything else: undo what a server that did not stop cleanly left on the host. */
  recoverStale(): Promise<boolean> {
    return this.host.recoverStale()
  }

  async stop(): Promise<void> {
    this.early = null
    if (!this.running) return
    this.running = false
    for (const [id, w] of this.awaitingHello) {
      clearTimeout(w.timer)
      this.awaitingHello.delete(id)
    }
    for (const c of this.clients.values()) this.node.closeTransport(c.transportId)
    this.clients.clear()
    this.pool = new AddressPool(this.opts.pool)
    this.pool6 = null
    this.ipv6Mode = 'none'
    if (this.tun) this.node.closeTun(this.tun)
    this.tun = null
    await this.host.down()
    this.log.info('vpn server stopped')
  }

  private get limits(): VpnServerLimits {
    return { ...DEFAULT_SERVER_LIMITS, ...this.opts.limits }
  }

  /** Inbound transports wait for a hello; nothing is assigned before it. */
  onTransportUp(up: TransportUp): void {
    if (!this.running || up.initiator) return
    this.awaitHello(up.id, up.peer)
  }

  /** Close the transport unless a hello comes within the hello timeout (from now). */
  private awaitHello(id: number, peer: string): void {
    this.stopAwaiting(id)
    const timer = setTimeout(() => {
      if (this.awaitingHello.delete(id)) {
        this.log.warn({ peer }, 'no vpn hello in time; dropping the transport')
        this.node.closeTransport(id)
      }
    }, this.limits.helloTimeoutMs)
    timer.unref()
    this.awaitingHello.set(id, { timer })
  }

  /**
   * Transport `id` carries no VPN of its own: it carries circuits (a client's
   * on a hop, a hop's on the next visor), so it is not closed for want of a hello.
   */
  carriesCircuits(id: number): void {
    this.stopAwaiting(id)
  }

  private stopAwaiting(id: number): void {
    const w = this.awaitingHello.get(id)
    if (w) {
      clearTimeout(w.timer)
      this.awaitingHello.delete(id)
    }
  }

  onTransportDown(id: number): void {
    this.stopAwaiting(id)
    const c = this.closing.get(id)
    if (c) {
      clearTimeout(c.timer)
      this.closing.delete(id)
    }
    this.release(id)
  }

  /** The client is gone (or said bye): its address goes back to the pool. */
  private release(id: number): void {
    const c = this.clients.get(id)
    if (!c) return
    this.clients.delete(id)
    this.pool.release(String(id))
    this.pool6?.release(String(id))
    if (this.tun && this.node.transport(id)) this.node.attach(this.tun, id, [])
    this.log.info({ peer: c.pk, tunnelIp: c.tunnelIp }, 'vpn client disconnected')
  }

  /**
   * Any answer but ok ends the transport: the status goes out now, the transport
   * is closed a moment later (so the client reads why), and nothing it sends
   * meanwhile is looked at. A refused peer must handshake again to try again.
   */
  private refuse(id: number, s: Omit<Status, 'type'>): void {
    this.stopAwaiting(id)
    this.release(id)
    try {
      this.node.sendControl(id, encode({ type: 'status', ...s }))
    } catch {
      // the transport is already gone; closing it below is a no-op
    }
    if (this.closing.has(id)) return
    const timer = setTimeout(() => {
      this.closing.delete(id)
      this.node.closeTransport(id)
    }, this.limits.closeAfterStatusMs)
    timer.unref()
    this.closing.set(id, { timer, answered: false })
  }

  /**
   * The core takes a new handshake from the same peer and address as a rekey of
   * the transport it still holds, so a client refused a moment ago that dials
   * again says its hello on this closing transport. Unanswered, it would wait out
   * its hello timeout; told once to dial again after the close, it gets a fresh
   * transport. Anything else, and any further hello, is ignored.
   */
  private answerWhileClosing(id: number, data: Buffer): void {
    const c = this.closing.get(id)
    if (!c || c.answered) return
    try {
      if (decode(data).type !== 'hello') return
    } catch {
      return
    }
    c.answered = true
    try {
      this.node.sendControl(
        id,
        encode({
          type: 'status',
          status: 'error',
          message: 'the previous transport is closing; dial again',
          retryAfterMs: this.limits.closeAfterStatusMs + 500,
        }),
      )
    } catch {
      // the transport is already gone
    }
  }

  private passcodeVerdict(pk: string, given: string | undefined) {
    const expected = this.opts.passcode as string
    // A new passcode (configure) starts a new count.
    if (!this.passcodeGate || this.passcodeGateFor !== expected) {
      this.passcodeGate = new PasscodeGate(expected, this.limits.passcode)
      this.passcodeGateFor = expected
    }
    return this.passcodeGate.check(pk, given)
  }

  /**
   * A control message on an inbound transport. One hello per VPN connection:
   * a hello on a transport that already holds an address is refused and the
   * transport closed. After a bye the transport is idle and may say hello again
   * (within the hello timeout): a client that stops and starts again over
   * the same transport (--existing-tp, or SUDPH from the same address, which
   * the core treats as the same session rekeying) does exactly that.
   * Returns true when the message was ours.
   */
  onControl(id: number, data: Buffer): boolean {
    const info = this.node.transport(id)
    if (!info || info.initiator) return false
    if (!this.running) return this.holdEarly(id, data)
    if (this.closing.has(id)) {
      this.answerWhileClosing(id, data)
      return true
    }
    const peer = info.peer
    let hello
    try {
      const msg = decode(data)
      if (msg.type === 'bye') {
        // A bye before any hello changes nothing: the hello timer keeps running.
        if (this.clients.has(id)) {
          this.release(id)
          this.awaitHello(id, peer)
        }
        return true
      }
      if (msg.type === 'exit-info') {
        // Only for a client that holds an address; before the hello it changes nothing.
        if (this.clients.has(id)) this.answerExit(id)
        return true
      }
      if (msg.type !== 'hello') throw new ProtocolError('expected a hello')
      hello = msg
    } catch (err) {
      this.log.warn({ peer, err: (err as Error).message }, 'bad vpn control message; closing the transport')
      this.refuse(id, { status: 'error', message: (err as Error).message })
      return true
    }
    this.onHello(id, info, hello)
    return true
  }

  /** Holds a frame that came before an expected start; false (not ours) when no start is expected or it is full. */
  private holdEarly(id: number, data: Buffer): boolean {
    const e = this.early
    if (!e || e.frames.length >= EARLY_FRAMES_MAX || e.bytes + data.length > EARLY_BYTES_MAX) return false
    e.frames.push({ id, data: Buffer.from(data) })
    e.bytes += data.length
    return true
  }

  /** A hello on an inbound transport: refused (the transport closes) or answered with an address. */
  private onHello(id: number, info: TransportDescription, hello: Hello): void {
    const peer = info.peer
    if (this.clients.has(id)) {
      this.log.warn({ peer }, 'second vpn hello on a transport; closing it')
      // The client may have lost this transport without a bye (crash, restart)
      // and, over SUDPH from the same address, reached it again: it may dial
      // anew once this one is closed.
      this.refuse(id, {
        status: 'error',
        message: 'one hello per transport (say bye first); closing the transport',
        retryAfterMs: this.limits.closeAfterStatusMs + 500,
      })
      return
    }
    this.stopAwaiting(id)
    const refusal = this.admissionRefusal(peer, hello)
    if (refusal) {
      this.refuse(id, refusal)
      return
    }
    const got = this.pool.allocateOrWhy(String(id), hello.usedNets)
    if (!got.ok || !this.tun) {
      if (got.ok) this.pool.release(String(id))
      const covered = !got.ok && got.reason === 'covered'
      this.log.warn({ peer, usedNets: hello.usedNets.length, covered }, 'vpn client refused: no free address')
      this.refuse(id, {
        status: 'no-free-address',
        message: covered
          ? `your networks cover the server's whole pool ${this.opts.pool}`
          : "no address left in the pool outside the client's networks",
      })
      return
    }
    this.admit(id, info, this.tun, got.ip)
  }

  /** Why this peer's hello is refused before any address is spent (version, whitelist, passcode), or null. */
  private admissionRefusal(peer: string, hello: Hello): Omit<Status, 'type'> | null {
    if (hello.v !== PROTOCOL_VERSION) {
      return { status: 'version-mismatch', message: `server speaks VPN protocol ${PROTOCOL_VERSION}, client ${hello.v}` }
    }
    if (this.opts.whitelist.length > 0 && !this.opts.whitelist.includes(peer)) {
      this.log.warn({ peer }, 'vpn client refused: not on the whitelist')
      return { status: 'forbidden', message: 'this server only admits whitelisted public keys' }
    }
    if (this.opts.passcode) {
      const v = this.passcodeVerdict(peer, hello.passcode)
      if (v !== 'ok') {
        this.log.warn({ peer, verdict: v }, 'vpn client refused: passcode')
        return { status: 'forbidden', message: v === 'wrong' ? 'wrong passcode' : 'too many wrong passcodes; try again later' }
      }
    }
    return null
  }

  /** Attach the client with its addresses (cryptokey routing) and answer ok. */
  private admit(id: number, info: TransportDescription, tun: string, ip: string): void {
    const peer = info.peer
    // A /64 outlasts any number of clients; a narrow routed pool6 may not: such a client gets IPv4 only.
    const ip6 = this.pool6?.allocate(String(id)) ?? null
    if (this.pool6 && ip6 === null) this.log.warn({ peer }, 'IPv6 pool exhausted: this client gets IPv4 only')
    // Cryptokey routing: the session may send from these two addresses and no other.
    this.node.attach(tun, id, ip6 === null ? [`${ip}/32`] : [`${ip}/32`, `${ip6}/128`])
    this.clients.set(id, {
      pk: peer,
      transportId: id,
      tunnelIp: ip,
      tunnelIp6: ip6,
      transport: info.transport,
      remote: info.remote,
      connectedAt: new Date(),
    })
    try {
      this.node.sendControl(
        id,
        encode({
          type: 'status',
          status: 'ok',
          address: ip,
          gateway: this.pool.gateway,
          prefix: this.pool.prefix,
          mtu: this.opts.mtu,
          // An IPv6 resolver is useless to a client without IPv6 through the tunnel: it would be blocked.
          dns: ip6 === null ? this.opts.dns.filter((d) => isIP(d) === 4) : this.opts.dns,
          ...(ip6 !== null && this.pool6 ? { address6: ip6, gateway6: this.pool6.gateway, prefix6: this.pool6.prefix } : {}),
          features: [FEATURE_EXIT_INFO],
        }),
      )
    } catch (err) {
      this.log.warn({ peer, err: (err as Error).message }, 'cannot answer vpn hello')
    }
    this.log.info({ peer, tunnelIp: ip, tunnelIp6: ip6, transport: info.transport }, 'vpn client connected')
  }

  /** Answers an exit-info question from the cache (EXIT_INFO_TTL_MS), looking up anew when it is stale. */
  private answerExit(id: number): void {
    const now = Date.now()
    if (!this.exitCache || now - this.exitCache.at >= EXIT_INFO_TTL_MS) this.exitCache = { at: now, claim: this.lookupExit() }
    void this.exitCache.claim.then((c) => {
      if (!this.clients.has(id)) return
      // Only what a client would accept: a field that does not validate is sent as unknown.
      const msg: Exit = { type: 'exit' }
      if (c.ip !== null && exitSchema.safeParse({ type: 'exit', ip: c.ip }).success) msg.ip = c.ip
      if (c.country !== null && exitSchema.safeParse({ type: 'exit', country: c.country }).success) msg.country = c.country
      try {
        this.node.sendControl(id, encode(msg))
      } catch {
        // the transport is already gone
      }
    })
  }

  private async lookupExit(): Promise<ExitClaim> {
    try {
      return (await this.opts.exitInfo?.()) ?? { ip: null, country: null }
    } catch (err) {
      this.log.debug({ err: (err as Error).message }, 'cannot tell where this exit meets the internet')
      return { ip: null, country: null }
    }
  }

  get clientCount(): number {
    return this.clients.size
  }

  status(): VpnServerStatus {
    return {
      running: this.running,
      netifc: this.netifc,
      secure: this.opts.secure,
      whitelist: [...this.opts.whitelist],
      tun: this.tun,
      gateway: this.running ? this.pool.gateway : null,
      gateway6: this.running ? (this.pool6?.gateway ?? null) : null,
      ipv6: this.ipv6Mode,
      clients: [...this.clients.values()].map((c) => {
        const s = this.node.transport(c.transportId)
        return {
          pk: c.pk,
          transportId: c.transportId,
          tunnelIp: c.tunnelIp,
          ...(c.tunnelIp6 !== null ? { tunnelIp6: c.tunnelIp6 } : {}),
          transport: c.transport,
          remote: c.remote,
          connectedAt: c.connectedAt.toISOString(),
          rxBytes: s?.stats.rxBytes ?? 0,
          txBytes: s?.stats.txBytes ?? 0,
          rekeys: s?.stats.rekeys ?? 0,
        }
      }),
    }
  }
}
