/**
 * The VPN server (exit node): one TUN for all clients, an address per client
 * from the pool, the whitelist checked before any address is given, NAT and
 * secure mode through the host firewall, and a service-discovery entry while
 * running. Policy only: the packets themselves never leave Rust.
 */
import type { Logger } from 'pino'
import { SkywireError } from '../errors.js'
import type { CoreNode, SessionUp, TransportType } from '../visor/core-node.js'
import { AddressPool } from './pool.js'
import { PROTOCOL_VERSION, ProtocolError, decode, encode, type Status } from './protocol.js'
import type { ServerHost } from './host.js'

export interface VpnServerOptions {
  netifc: string
  secure: boolean
  whitelist: string[]
  pool: string
  dns: string[]
  mtu: number
  tunName: string
  passcode?: string
}

export interface ServerClientInfo {
  pk: string
  sessionId: number
  tunnelIp: string
  transport: TransportType
  remote: string
  connectedAt: string
  rxBytes: number
  txBytes: number
}

export interface VpnServerStatus {
  running: boolean
  netifc: string | null
  secure: boolean
  whitelist: string[]
  tun: string | null
  gateway: string | null
  clients: ServerClientInfo[]
}

interface Client {
  pk: string
  sessionId: number
  tunnelIp: string
  transport: TransportType
  remote: string
  connectedAt: Date
}

/** A client that connected but has not said hello is dropped after this long. */
const HELLO_TIMEOUT_MS = 10_000

export class VpnServer {
  private pool: AddressPool
  private readonly clients = new Map<number, Client>()
  private readonly awaitingHello = new Map<number, { timer: NodeJS.Timeout }>()
  private tun: string | null = null
  private netifc: string | null = null
  private running = false

  constructor(
    private readonly node: CoreNode,
    private readonly host: ServerHost,
    private readonly log: Logger,
    private opts: VpnServerOptions,
  ) {
    this.pool = new AddressPool(opts.pool)
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
    this.opts = { ...this.opts, ...patch }
    this.pool = new AddressPool(this.opts.pool)
  }

  async start(): Promise<void> {
    if (this.running) return
    const netifc = await this.host.resolveNetifc(this.opts.netifc)
    const tun = this.node.createTun({ name: this.opts.tunName, ipv4: `${this.pool.gateway}/${this.pool.prefix}`, mtu: this.opts.mtu })
    try {
      await this.host.up({ tun, netifc, pool: this.opts.pool, gateway: this.pool.gateway, secure: this.opts.secure, dns: this.opts.dns })
    } catch (err) {
      this.node.closeTun(tun)
      throw err
    }
    this.tun = tun
    this.netifc = netifc
    this.running = true
    this.log.info({ tun, netifc, secure: this.opts.secure, whitelist: this.opts.whitelist.length }, 'vpn server started')
    // Clients that connected while we were stopped have waited for nothing.
    for (const s of this.node.sessions()) {
      if (!s.initiator) this.onSessionUp({ id: s.id, peer: s.peer, transport: s.transport as TransportType, remote: s.remote, initiator: false })
    }
  }

  async stop(): Promise<void> {
    if (!this.running) return
    this.running = false
    for (const [id, w] of this.awaitingHello) {
      clearTimeout(w.timer)
      this.awaitingHello.delete(id)
    }
    for (const c of this.clients.values()) this.node.closeSession(c.sessionId)
    this.clients.clear()
    this.pool = new AddressPool(this.opts.pool)
    if (this.tun) this.node.closeTun(this.tun)
    this.tun = null
    await this.host.down()
    this.log.info('vpn server stopped')
  }

  /** Inbound sessions wait for a hello; nothing is assigned before it. */
  onSessionUp(up: SessionUp): void {
    if (!this.running || up.initiator) return
    const timer = setTimeout(() => {
      if (this.awaitingHello.delete(up.id)) {
        this.log.warn({ peer: up.peer }, 'no vpn hello in time; dropping the session')
        this.node.closeSession(up.id)
      }
    }, HELLO_TIMEOUT_MS)
    timer.unref()
    this.awaitingHello.set(up.id, { timer })
  }

  onSessionDown(id: number): void {
    const w = this.awaitingHello.get(id)
    if (w) {
      clearTimeout(w.timer)
      this.awaitingHello.delete(id)
    }
    this.release(id)
  }

  /** The client is gone (or said bye): its address goes back to the pool. */
  private release(id: number): void {
    const c = this.clients.get(id)
    if (!c) return
    this.clients.delete(id)
    this.pool.release(String(id))
    if (this.tun && this.node.session(id)) this.node.attach(this.tun, id, [])
    this.log.info({ peer: c.pk, tunnelIp: c.tunnelIp }, 'vpn client disconnected')
  }

  /**
   * A hello on an inbound session. Accepted at any time, not only right after
   * the handshake: a client that disconnected and dials again from the same
   * address is, on the wire, the same session rekeying, so its new hello
   * arrives on the session we already have. Returns true when it was ours.
   */
  onControl(id: number, data: Buffer): boolean {
    const w = this.awaitingHello.get(id)
    if (w) {
      clearTimeout(w.timer)
      this.awaitingHello.delete(id)
    }
    const info = this.node.session(id)
    if (!this.running || !info || info.initiator) return false
    const up: SessionUp = { id, peer: info.peer, transport: info.transport as TransportType, remote: info.remote, initiator: false }
    const reply = (s: Omit<Status, 'type'>) => {
      try {
        this.node.sendControl(id, encode({ type: 'status', ...s }))
      } catch (err) {
        this.log.warn({ peer: up.peer, err: (err as Error).message }, 'cannot answer vpn hello')
      }
    }
    let hello
    try {
      const msg = decode(data)
      if (msg.type === 'bye') {
        this.release(id)
        return true
      }
      if (msg.type !== 'hello') throw new ProtocolError('expected a hello')
      hello = msg
    } catch (err) {
      reply({ status: 'error', message: (err as Error).message })
      this.log.warn({ peer: up.peer, err: (err as Error).message }, 'bad vpn hello')
      return true
    }
    if (hello.v !== PROTOCOL_VERSION) {
      reply({ status: 'version-mismatch', message: `server speaks VPN protocol ${PROTOCOL_VERSION}, client ${hello.v}` })
      return true
    }
    if (this.opts.whitelist.length > 0 && !this.opts.whitelist.includes(up.peer)) {
      this.log.warn({ peer: up.peer }, 'vpn client refused: not on the whitelist')
      reply({ status: 'forbidden', message: 'this server only admits whitelisted public keys' })
      return true
    }
    if (this.opts.passcode && hello.passcode !== this.opts.passcode) {
      this.log.warn({ peer: up.peer }, 'vpn client refused: wrong passcode')
      reply({ status: 'forbidden', message: 'wrong passcode' })
      return true
    }
    const ip = this.pool.allocate(String(id), hello.usedNets)
    if (!ip || !this.tun) {
      reply({ status: 'no-free-address', message: 'no address left in the pool outside the client\'s networks' })
      return true
    }
    this.node.attach(this.tun, id, [`${ip}/32`])
    this.clients.set(id, {
      pk: up.peer,
      sessionId: id,
      tunnelIp: ip,
      transport: up.transport,
      remote: up.remote,
      connectedAt: new Date(),
    })
    reply({ status: 'ok', address: ip, gateway: this.pool.gateway, prefix: this.pool.prefix, mtu: this.opts.mtu, dns: this.opts.dns })
    this.log.info({ peer: up.peer, tunnelIp: ip, transport: up.transport }, 'vpn client connected')
    return true
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
      clients: [...this.clients.values()].map((c) => {
        const s = this.node.session(c.sessionId)
        return {
          pk: c.pk,
          sessionId: c.sessionId,
          tunnelIp: c.tunnelIp,
          transport: c.transport,
          remote: c.remote,
          connectedAt: c.connectedAt.toISOString(),
          rxBytes: s?.stats.rxBytes ?? 0,
          txBytes: s?.stats.txBytes ?? 0,
        }
      }),
    }
  }
}
