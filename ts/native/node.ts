/**
 * Typed, promise-based face of the Rust node (crates/skywire-napi). It only
 * relays: sessions, control messages and lifecycle events come up from Rust;
 * data packets never do.
 */
import { EventEmitter } from 'node:events'
import { callNative, fromNativeError, native } from './loader.js'
import type { NodeEvent, NodeLimitStats, NodeLimits, SessionDescription, TunOptions, VisorNode } from '../../native/index.js'

export type TransportType = 'stcpr' | 'sudph'

export interface SessionUp {
  id: number
  peer: string
  transport: TransportType
  remote: string
  initiator: boolean
}

export interface CoreNodeEvents {
  'session-up': [SessionUp]
  control: [{ id: number; data: Buffer }]
  'session-down': [{ id: number; peer: string; reason: string }]
  punch: [{ peer: string; stage: string; addr: string | null }]
  bound: [{ observed: string }]
  /** Inbound dials refused by a limit: at most one event per 10 s, however large the flood. */
  refused: [{ reason: string; from: string; limits: NodeLimitStats | null }]
}

export interface CoreNodeOptions {
  secretKey: string
  stcprListen?: string
  sudphListen?: string
  resolver?: string
  localAddrs?: string[]
  /** Caps on pending handshakes and inbound sessions (config `limits`); absent: the core's defaults. */
  limits?: NodeLimits
}

export type { NodeLimitStats, NodeLimits, SessionDescription }

export class CoreNode extends EventEmitter<CoreNodeEvents> {
  private constructor(private readonly node: VisorNode) {
    super()
  }

  static async start(opts: CoreNodeOptions): Promise<CoreNode> {
    let self: CoreNode | null = null
    const early: NodeEvent[] = []
    const onEvent = (ev: NodeEvent) => {
      if (self) self.dispatch(ev)
      else early.push(ev)
    }
    let node: VisorNode
    try {
      node = await native.VisorNode.start(
        {
          secretKey: opts.secretKey,
          stcprListen: opts.stcprListen,
          sudphListen: opts.sudphListen,
          resolver: opts.resolver,
          localAddrs: opts.localAddrs,
          limits: opts.limits,
        },
        onEvent,
      )
    } catch (err) {
      throw fromNativeError(err)
    }
    self = new CoreNode(node)
    // Events that arrived before start() resolved (a fast resolver ack).
    queueMicrotask(() => {
      for (const e of early.splice(0)) self?.dispatch(e)
    })
    return self
  }

  private dispatch(ev: NodeEvent): void {
    switch (ev.kind) {
      case 'session-up':
        this.emit('session-up', {
          id: ev.id ?? 0,
          peer: ev.peer ?? '',
          transport: (ev.transport ?? 'stcpr') as TransportType,
          remote: ev.remote ?? '',
          initiator: ev.initiator ?? false,
        })
        break
      case 'control':
        this.emit('control', { id: ev.id ?? 0, data: ev.data ?? Buffer.alloc(0) })
        break
      case 'session-down':
        this.emit('session-down', { id: ev.id ?? 0, peer: ev.peer ?? '', reason: ev.reason ?? '' })
        break
      case 'punch':
        this.emit('punch', { peer: ev.peer ?? '', stage: ev.stage ?? '', addr: ev.addr ?? null })
        break
      case 'bound':
        this.emit('bound', { observed: ev.observed ?? '' })
        break
      case 'refused':
        this.emit('refused', { reason: ev.reason ?? '', from: ev.addr ?? '', limits: ev.limits ?? null })
        break
    }
  }

  get publicKey(): string {
    return this.node.publicKey
  }
  get stcprAddr(): string | null {
    return this.node.stcprAddr ?? null
  }
  get sudphAddr(): string | null {
    return this.node.sudphAddr ?? null
  }
  get observedAddr(): string | null {
    return this.node.observedAddr ?? null
  }

  /** Pending handshakes and inbound sessions held now, and what each limit refused. */
  limitStats(): NodeLimitStats {
    return this.node.limitStats()
  }

  async dial(pk: string, transport: TransportType, addrs: string[] | null, timeoutMs: number): Promise<number> {
    try {
      return await this.node.dial(pk, transport, addrs ?? undefined, Math.max(1, Math.round(timeoutMs)))
    } catch (err) {
      throw fromNativeError(err)
    }
  }

  sendControl(id: number, data: Buffer): void {
    callNative(() => this.node.sendControl(id, data))
  }

  createTun(opts: TunOptions): string {
    return callNative(() => this.node.createTun(opts))
  }

  attach(tun: string, id: number, allowed: string[]): void {
    callNative(() => this.node.attach(tun, id, allowed))
  }

  closeTun(tun: string): void {
    callNative(() => this.node.closeTun(tun))
  }

  closeSession(id: number): void {
    try {
      this.node.closeSession(id)
    } catch {
      // Already gone: closing is idempotent for callers.
    }
  }

  session(id: number): SessionDescription | null {
    return this.node.session(id) ?? null
  }

  sessions(): SessionDescription[] {
    return this.node.sessions()
  }

  close(): void {
    this.node.close()
    this.removeAllListeners()
  }
}
