/**
 * The visor: one long-running process holding the identity, the Rust node,
 * the discovery registrations, the VPN server and client, and the control
 * API. Library users get the same object the `skywire visor` command runs.
 *
 * ```ts
 * import { Visor, loadConfig } from 'skywire-vpn'
 * const visor = await Visor.start(await loadConfig('skywire-config.json'))
 * await visor.vpnClient.start(serverPk)
 * ```
 */
import { randomUUID } from 'node:crypto'
import { join } from 'node:path'
import pino, { type Logger } from 'pino'
import type { Config } from '../config/schema.js'
import { bypassMarkStatus } from '../discovery/marked-http.js'
import { ServicesClient } from '../discovery/client.js'
import { SkywireError } from '../contracts/errors.js'
import { hostAddresses } from '../sys/index.js'
import { checkTrustedFile, ensureTrustedDir } from '../sys/safe-file.js'
import { saveVpnServerSettings } from '../config/file.js'
import { TOKEN_FILE } from './ui-routes.js'
import { VpnClient, type VpnClientStatus } from '../vpn/client.js'
import { LinuxClientHost, LinuxServerHost } from '../vpn/linux-host.js'
import { VpnServer } from '../vpn/server.js'
import { HopService } from '../vpn/hop.js'
import { circuitUp, dispatchControl } from '../vpn/control-dispatch.js'
import { HOP_PORT, HOP_SERVICE_TYPE, HOP_STAT } from '../vpn/hop-pick.js'
import { CIRCUIT_OVERHEAD, Node, type TransportUp } from '../native/node.js'
import { ControlApi } from './control-api.js'
import { dialTransport } from '../discovery/dial.js'
import { sudphLocalAddrs, wildcardAddrs } from './sudph-locals.js'
import { resolverAddrs } from './resolver-addrs.js'
import { VERSION } from './version.js'
import { applyLockdownAtStart, LinuxLockdown, VpnSettingsManager } from './settings.js'
import type { AutoConnect } from './auto-connect.js'
import { autoConnectFor, rememberServer } from './auto-connect-wiring.js'

export interface VisorOptions {
  /** Skip the VPN server even if the config starts it. */
  noVpnServer?: boolean
  logger?: Logger
  /** Serve the control API (default true). */
  controlApi?: boolean
  /**
   * The config file the visor was loaded from (its real path): run-time VPN
   * server settings are saved there. Without it they last until the visor stops.
   */
  configFile?: string
}

/** Files in dataDir root acts on; each must be root's alone (the UI token is a credential: nobody else reads it either). */
const CLIENT_STATE_FILE = 'vpn-client.state.json'
const SERVER_STATE_FILE = 'vpn-server.state.json'
const SERVER_TUN = 'swvpns0'
const CLIENT_TUN = 'swvpn0'

/** Where `vpn server start` settings went: the config file, or null when the visor has none. */
export interface SavedSettings {
  savedTo: string | null
  changed: boolean
}

/** Skywire's VPN server port: the address in service discovery is `pk:3`. */
export const VPN_PORT = 3

export interface VisorStatus {
  pk: string
  version: string
  uptimeS: number
  stcpr: string | null
  sudph: string | null
  observed: string | null
  services: string
  transports: { id: number; peer: string; type: string; remote: string; rttMs: number | null; lastRxMs: number | null }[]
}

export class Visor {
  readonly started = new Date()
  readonly vpnServer: VpnServer
  readonly vpnClient: VpnClient
  /** Forwarding for others (config `hop`, off by default): ts/vpn/hop.ts. */
  readonly hop: HopService
  /** `vpn get` / `vpn set`: the client's persisted settings (ts/visor/settings.ts). */
  readonly settings: VpnSettingsManager
  /** Transport id → the id it is published under at transport discovery (a UUID, public). */
  private readonly discoveryIds = new Map<number, string>()
  private refresh: NodeJS.Timeout | null = null
  /** The refresh in flight: a slow or unreachable services host must not make refreshes pile up. */
  private refreshing: Promise<void> | null = null
  private api: ControlApi | null = null
  private closed = false
  /** Connects at start when vpnClient.autoConnect says so (ts/visor/auto-connect.ts); off until init. */
  autoConnect: AutoConnect | null = null

  private constructor(
    readonly config: Config,
    readonly node: Node,
    readonly services: ServicesClient,
    readonly log: Logger,
    private readonly configFile: string | null = null,
  ) {
    this.vpnServer = new VpnServer(
      node,
      new LinuxServerHost(join(config.dataDir, SERVER_STATE_FILE), SERVER_TUN),
      log.child({ part: 'vpn-server' }),
      {
        netifc: config.vpnServer.netifc,
        secure: config.vpnServer.secure,
        whitelist: config.vpnServer.whitelist,
        pool: config.vpnServer.pool,
        ...(config.vpnServer.pool6 !== undefined ? { pool6: config.vpnServer.pool6 } : {}),
        dns: config.vpnServer.dns,
        mtu: 1420,
        tunName: SERVER_TUN,
        // What the clients' `vpn status` shows as the exit: our address as the resolver saw it, our entry's country.
        exitInfo: async () => ({
          ip: node.observedAddr?.replace(/:\d+$/, '').replace(/^\[|\]$/g, '') ?? null,
          country: (await services.getService(`${node.publicKey}:${VPN_PORT}`))?.country ?? config.vpnServer.country ?? null,
        }),
      },
    )
    this.vpnClient = new VpnClient(
      node,
      services,
      new LinuxClientHost(join(config.dataDir, CLIENT_STATE_FILE), undefined, {
        dnsRecheckMs: config.vpnClient.dnsRecheckS * 1000,
        log: log.child({ part: 'vpn-dns' }),
        allowLan: config.vpnClient.allowLan,
      }),
      log.child({ part: 'vpn-client' }),
      {
        order: config.transports.order,
        tunName: CLIENT_TUN,
        killswitch: config.vpnClient.killswitch,
        dns: config.vpnClient.dns,
        serviceHosts: [config.services.url, config.services.udp, config.services.udp6],
        reconnectTimeoutS: config.vpnClient.reconnectTimeoutS,
        staleAfterMs: config.vpnClient.staleAfterS * 1000,
        circuitOverhead: CIRCUIT_OVERHEAD,
      },
    )
    this.hop = new HopService(
      node,
      async (pk, deadline) => (await dialTransport(node, services, pk, config.transports.order, deadline)).id,
      log.child({ part: 'hop' }),
      config.hop,
    )
    this.settings = new VpnSettingsManager(
      config,
      configFile,
      this.vpnClient,
      new LinuxLockdown(CLIENT_TUN, SERVER_TUN),
      log.child({ part: 'settings' }),
    )
  }

  static async start(config: Config, opts: VisorOptions = {}): Promise<Visor> {
    // Before anything is created or read: root acts on what the state files say, so
    // a data dir (or a file in it) another user could have written is refused.
    const dataDir = ensureTrustedDir(config.dataDir, 'dataDir')
    checkTrustedFile(join(dataDir, TOKEN_FILE), { what: 'UI token', secret: true })
    checkTrustedFile(join(dataDir, CLIENT_STATE_FILE), { what: 'VPN client state file' })
    checkTrustedFile(join(dataDir, SERVER_STATE_FILE), { what: 'VPN server state file' })
    // The checked path, symlinks resolved, is the one used from now on.
    config = { ...config, dataDir }
    const log = opts.logger ?? pino({ level: config.logLevel, base: { pk: config.pk.slice(0, 8) } })
    // Lockdown goes up before the node opens its first socket: nothing leaves outside the tunnel from here on.
    await applyLockdownAtStart(config.vpnClient, new LinuxLockdown(CLIENT_TUN, SERVER_TUN), log)
    const node = await Node.start({
      secretKey: config.sk,
      stcprListen: config.transports.stcpr.listen,
      sudphListen: config.transports.sudph.listen,
      // So a peer behind the same NAT can reach us without hairpinning (ts/visor/sudph-locals.ts).
      localAddrs: await sudphLocalAddrs(config.transports.sudph.listen),
      // Over each family the resolver has (ts/visor/resolver-addrs.ts).
      ...(await resolverAddrs(config.services)),
      limits: config.limits,
      ...(config.transports.workers !== undefined ? { workers: config.transports.workers } : {}),
    })
    const services = new ServicesClient({ url: config.services.url, secretKey: config.sk, bypassMark: true })
    const visor = new Visor(config, node, services, log, opts.configFile ?? null)
    try {
      await visor.init(opts)
    } catch (err) {
      await visor.close()
      throw err
    }
    return visor
  }

  private async init(opts: VisorOptions): Promise<void> {
    // The node already answers handshakes: a client redialing at once after our restart may say its hello before
    // the VPN server below runs. It is held for the server (not dropped, which cost the client ~10 s), so the
    // control listener goes on before the first await.
    if (this.config.vpnServer.autostart && !opts.noVpnServer) this.vpnServer.expectStart()
    this.node.on('control', ({ id, data }) => this.onControl(id, data))
    // A visor that crashed while connected left routes and DNS behind.
    if (await this.vpnClient.recoverStale()) this.log.warn('restored routes and DNS left by a previous visor that did not stop cleanly')
    if (await this.vpnServer.recoverStale()) {
      this.log.warn('restored forwarding and removed the firewall table and TUN left by a previous visor that did not stop cleanly')
    }
    this.node.on('transport-up', (s) => this.onTransportUp(s))
    if (this.config.vpnClient.publishTransport) {
      this.vpnClient.on('state', (st: VpnClientStatus) => {
        if (st.state === 'connected' && st.transportId !== null) this.publishTransport(st.transportId)
      })
    }
    this.node.on('splice-down', ({ fromId, fromCircuit }) => this.hop.onSpliceDown(fromId, fromCircuit))
    this.node.on('transport-down', ({ id, peer, reason }) => {
      this.log.info({ peer, reason }, 'transport down')
      this.vpnServer.onTransportDown(id)
      this.vpnClient.onTransportDown(id, reason)
      this.hop.onTransportDown(id)
      const tid = this.discoveryIds.get(id)
      this.discoveryIds.delete(id)
      if (tid) this.services.deleteTransport(tid).catch(() => {})
    })
    this.node.on('bound', ({ observed }) => this.log.info({ observed }, 'SUDPH bound at the address resolver'))
    this.node.on('punch', (p) => this.log.debug(p, 'hole punching'))
    this.node.on('refused', (r) => this.log.debug(r, 'inbound dials refused by a limit (reported at most every 10 s)'))
    this.log.info({ stcpr: this.node.stcprAddr, sudph: this.node.sudphAddr, version: VERSION }, 'visor started')
    if (bypassMarkStatus().refused) {
      // Without the mark the VPN client's policy routing would send the transports into their own tunnel.
      this.log.warn("cannot mark the visor's sockets (SO_MARK needs CAP_NET_ADMIN): the VPN client will not work")
    }

    if (this.config.vpnServer.autostart && !opts.noVpnServer) await this.startVpnServer()
    await this.refreshOnce()
    // Every registration is an upsert, so this periodic refresh is also how a
    // visor comes back after the services lost their store (a new Redis, a
    // FLUSHALL): within one interval, with nothing to detect.
    this.refresh = setInterval(() => void this.refreshOnce(), this.config.services.refreshS * 1000)
    this.refresh.unref()
    this.settings.watchLan()
    if (opts.controlApi ?? true) {
      this.api = new ControlApi(this, this.log.child({ part: 'control' }))
      await this.api.listen(this.config.control)
    }
    // Last: the control API answers (and a `vpn stop` can cancel it) while it waits for the network.
    this.vpnClient.on('state', (st: VpnClientStatus) => {
      if (st.state === 'connected' && st.server) rememberServer(this.config.dataDir, st.server, this.log)
    })
    this.autoConnect = autoConnectFor(this)
    this.autoConnect.start()
  }

  /** The user started or stopped the VPN: auto-connect keeps out of it until the next visor start. True: an attempt was connecting. */
  cancelAutoConnect(): boolean {
    return this.autoConnect?.cancel() ?? false
  }

  /** Control messages by type (ts/vpn/control-dispatch.ts): forward to the hop, forward-status to the client's route builder, the rest to the VPN. */
  private onControl(id: number, data: Buffer): void {
    if (!dispatchControl({ client: this.vpnClient, server: this.vpnServer, hop: this.hop }, id, data)) {
      this.log.debug({ id }, 'control message for nobody')
    }
  }

  private onTransportUp(s: TransportUp): void {
    this.log.info({ peer: s.peer, transport: s.transport, remote: s.remote, initiator: s.initiator, via: s.via }, 'transport up')
    circuitUp({ server: this.vpnServer }, s)
    this.vpnServer.onTransportUp(s)
  }

  /**
   * Reports a transport this visor dialed to transport discovery. Only on
   * request: an entry is public and links this visor's key to its peer, so a
   * VPN transport, whose peer is the user's exit, is published only when
   * vpnClient.publishTransport says so; `tp add` is the user asking.
   */
  private publishTransport(transportId: number): void {
    const s = this.node.transport(transportId)
    if (!s || this.discoveryIds.has(transportId)) return
    const tid = randomUUID()
    this.discoveryIds.set(transportId, tid)
    this.services
      .registerTransport({ id: tid, edges: [this.node.publicKey, s.peer], type: s.transport })
      .catch((err) => this.log.debug({ err: (err as Error).message }, 'transport discovery unreachable'))
  }

  /** Open a transport to `pk` (no VPN): what `skywire cli tp add` does. */
  async addTransport(pk: string, type: 'stcpr' | 'sudph' | null, timeoutS: number): Promise<VisorStatus['transports'][number]> {
    const order = type ? [type] : this.config.transports.order
    const { id } = await dialTransport(this.node, this.services, pk, order, Date.now() + timeoutS * 1000)
    this.publishTransport(id)
    const t = this.status().transports.find((x) => x.id === id)
    if (!t) throw new SkywireError('ENOSESSION', 'the transport closed right after it opened')
    return t
  }

  removeTransport(id: number): void {
    if (!this.node.transport(id)) throw new SkywireError('ENOTFOUND', `no transport ${id}`)
    if (id === this.vpnClient.status().transportId) {
      throw new SkywireError('ESTATE', `transport ${id} carries the VPN; run \`skywire cli vpn stop\` first`)
    }
    this.node.closeTransport(id)
  }

  /**
   * Starts the VPN server, with `patch` applied first. With `persist`, the
   * patched settings are then saved to the config file, so a restart brings
   * the server back as it runs now (not open to everyone after a `-w`); if
   * they cannot be saved, the server is stopped again and the error says why.
   */
  async startVpnServer(patch: Parameters<VpnServer['configure']>[0] = {}, opts: { persist?: boolean } = {}): Promise<SavedSettings> {
    const previous = this.vpnServer.options()
    if (Object.keys(patch).length > 0) this.vpnServer.configure(patch)
    try {
      await this.vpnServer.start()
    } catch (err) {
      // A bad flag (say, -i nosuchif) must not stick to the next start.
      this.vpnServer.configure(previous)
      throw err
    }
    // Transports already carrying circuits (ours as a hop, or a hop's to us) say no hello: the new server must not close them.
    for (const c of this.hop.status().circuits) this.vpnServer.carriesCircuits(c.fromId)
    for (const t of this.node.transports()) if (t.via !== undefined) this.vpnServer.carriesCircuits(t.via)
    let saved: SavedSettings = { savedTo: null, changed: false }
    if ((opts.persist ?? false) && this.configFile !== null) {
      const settings = { netifc: patch.netifc, secure: patch.secure, whitelist: patch.whitelist }
      try {
        const r = saveVpnServerSettings(this.configFile, settings)
        saved = { savedTo: r.path, changed: r.changed }
      } catch (err) {
        await this.vpnServer.stop().catch(() => {})
        this.vpnServer.configure(previous)
        throw new SkywireError(
          (err as SkywireError).code ?? 'ECONFIG',
          `${(err as Error).message}; the VPN server was not started, since these settings would be lost at restart`,
        )
      }
    }
    await this.registerVpn()
    return saved
  }

  async stopVpnServer(): Promise<void> {
    await this.vpnServer.stop()
    await this.services.deleteService(`${this.node.publicKey}:${VPN_PORT}`).catch(() => false)
    // The VPN entry carried the hop's flag; alone, the hop registers its own.
    await this.registerHop()
  }

  /**
   * The VPN entry. The services hold one entry per key, so a visor that also
   * forwards says so here (the stat `hop: 1`) rather than in a second entry
   * that would replace this one (ts/vpn/hop-pick.ts reads both forms).
   */
  private async registerVpn(): Promise<void> {
    if (!this.vpnServer.isRunning) return
    try {
      await this.services.registerService({
        port: VPN_PORT,
        type: 'vpn',
        version: VERSION,
        ...(this.config.vpnServer.country ? { country: this.config.vpnServer.country } : {}),
        stats: { connectedClients: this.vpnServer.clientCount, ...(this.hop.enabled ? { [HOP_STAT]: 1 } : {}) },
      })
    } catch (err) {
      this.log.warn({ err: (err as Error).message }, 'cannot register the VPN server in service discovery')
    }
  }

  /** A forwarding visor without a VPN server: `type=hop` at `pk:4`, with its country, so clients can pick it (--hops). */
  private async registerHop(): Promise<void> {
    if (!this.hop.enabled || this.vpnServer.isRunning) return
    try {
      await this.services.registerService({
        port: HOP_PORT,
        type: HOP_SERVICE_TYPE,
        version: VERSION,
        ...(this.config.hop.country ? { country: this.config.hop.country } : {}),
        stats: { connectedClients: this.hop.status().clients },
      })
    } catch (err) {
      this.log.warn({ err: (err as Error).message }, 'cannot register the hop in service discovery')
    }
  }

  private refreshOnce(): Promise<void> {
    this.refreshing ??= this.refreshRegistrations().finally(() => {
      this.refreshing = null
    })
    return this.refreshing
  }

  /** STCPR addresses at the address resolver, the VPN entry, and our transports. */
  private async refreshRegistrations(): Promise<void> {
    try {
      const addrs = await this.stcprAddresses()
      if (addrs.length > 0) await this.services.registerStcpr(addrs)
    } catch (err) {
      this.log.warn({ err: (err as Error).message }, 'cannot register STCPR addresses')
    }
    await this.registerVpn()
    await this.registerHop()
    for (const [sid, tid] of this.discoveryIds) {
      const s = this.node.transport(sid)
      if (s) {
        await this.services.registerTransport({ id: tid, edges: [this.node.publicKey, s.peer], type: s.transport }).catch(() => {})
      }
    }
  }

  /** The listen address, or every global address of this host (of the families the wildcard covers) with its port. */
  private async stcprAddresses(): Promise<string[]> {
    const bound = this.node.stcprAddr
    return bound ? wildcardAddrs(bound, await hostAddresses()) : []
  }

  status(): VisorStatus {
    return {
      pk: this.node.publicKey,
      version: VERSION,
      uptimeS: Math.round((Date.now() - this.started.getTime()) / 1000),
      stcpr: this.node.stcprAddr,
      sudph: this.node.sudphAddr,
      observed: this.node.observedAddr,
      services: this.config.services.url,
      transports: this.node.transports().map((s) => ({
        id: s.id,
        peer: s.peer,
        type: s.transport,
        remote: s.remote,
        rttMs: s.stats.rttMs ?? null,
        lastRxMs: s.stats.lastRxMs ?? null,
      })),
    }
  }

  /** Stop everything and undo every host change (routes, DNS, nftables, sysctls, TUNs). */
  async close(): Promise<void> {
    if (this.closed) return
    this.closed = true
    this.autoConnect?.cancel()
    if (this.refresh) clearInterval(this.refresh)
    this.settings.stop()
    const steps: [string, () => Promise<unknown>][] = [
      // Together: closing the API waits for requests in flight, and a `vpn
      // start` still dialing ends only when the client is stopped.
      ['control api and vpn client', () => Promise.all([this.api?.close(), this.vpnClient.stop()])],
      ['vpn server', () => this.stopVpnServer()],
      [
        'hop',
        async () => {
          this.hop.stop()
          await this.services.deleteService(`${this.node.publicKey}:${HOP_PORT}`).catch(() => false)
        },
      ],
      ['stcpr registration', () => this.services.deleteStcpr().catch(() => false)],
    ]
    for (const [what, step] of steps) {
      try {
        await step()
      } catch (err) {
        this.log.error({ err: (err as Error).message }, `stopping ${what} failed`)
      }
    }
    this.node.close()
    this.log.info('visor stopped')
  }
}
