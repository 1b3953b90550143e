/**
 * Typed, promise-based face of the visor's Rust node (crates/skywire-napi).
 * It only relays: transports, control messages and lifecycle events come up
 * from Rust; data packets never do. The event and transport types are the
 * ones the binding generates (native/index.d.ts), so a change on the Rust side
 * is a type error here, not a silent `undefined`.
 */
import { EventEmitter } from 'node:events'
import { SkywireError } from '../contracts/errors.js'
import { callNative, fromNativeError, native } from './loader.js'
import type {
  Node as NativeNode,
  NodeEvent,
  NodeLimitStats,
  NodeLimits,
  SpliceDescription,
  TransportDescription,
  TransportKind,
  TunOptions,
} from '../../native/index.js'

export type { NodeLimitStats, NodeLimits, SpliceDescription, TransportDescription, TransportKind, TunOptions }

/**
 * Multi-hop: bytes each circuit layer adds to a packet (forward header and the
 * layer's own encryption). A tunnel over n circuits lowers its MTU by n × this.
 */
export const CIRCUIT_OVERHEAD: number = native.CIRCUIT_OVERHEAD
/** Multi-hop: circuits one transport may carry. */
export const MAX_CIRCUITS: number = native.MAX_CIRCUITS

/** The payload of the node event `K`, without its tag. */
type Payload<K extends NodeEvent['kind']> = Omit<Extract<NodeEvent, { kind: K }>, 'kind'>

/**
 * A transport came up: we dialed it, or a peer dialed us. `via` is set on a
 * circuit transport (multi-hop): the id of the transport it runs through.
 */
export type TransportUp = Payload<'transport-up'>
/** A splice this visor relayed ended because one of its transports closed. */
export type SpliceDown = Payload<'splice-down'>
export type TransportDown = Payload<'transport-down'>

export interface NodeEvents {
  'transport-up': [TransportUp]
  control: [Payload<'control'>]
  'transport-down': [TransportDown]
  punch: [{ peer: string; stage: string; addr: string | null }]
  bound: [Payload<'bound'>]
  /** Inbound dials refused by a limit: at most one event per 10 s, however large the flood. */
  refused: [{ reason: string; from: string; limits: NodeLimitStats }]
  'splice-down': [SpliceDown]
}

export interface NodeOptions {
  secretKey: string
  stcprListen?: string
  sudphListen?: string
  resolver?: string
  /** The resolver's address in the other family (IPv6 when `resolver` is IPv4): a binding over each. */
  resolver6?: string
  localAddrs?: string[]
  /** Caps on pending handshakes and inbound sessions (config `limits`); absent: the core's defaults. */
  limits?: NodeLimits
  /**
   * Workers on the data path, 1 to 64: SUDPH sockets on the one port (SO_REUSEPORT) and TUN queues
   * per tunnel, so a VPN server's clients spread over the cores. Absent: one per core; 1: one socket
   * and one queue (the behaviour before 0.4.0).
   */
  workers?: number
}

/** @deprecated Use `TransportKind`. */
export type TransportType = TransportKind
/** @deprecated Use `TransportUp`. */
export type SessionUp = TransportUp
/** @deprecated Use `NodeOptions`. */
export type CoreNodeOptions = NodeOptions
/** @deprecated Use `TransportDescription`. */
export type SessionDescription = TransportDescription

/** A circuit number or rate from JavaScript: the binding would wrap a negative or fractional number silently. */
function checkUint(what: string, v: number, max: number): void {
  if (!Number.isInteger(v) || v < 0 || v > max) {
    throw new SkywireError('EUSAGE', `${what} must be an integer from 0 to ${max}, got ${String(v)}`)
  }
}

/** A worker or queue count: the binding would truncate 1.5 and wrap -1 silently. */
function checkWorkers(what: string, v: number): void {
  if (!Number.isInteger(v) || v < 1 || v > 64) {
    throw new SkywireError('EUSAGE', `${what} must be an integer from 1 to 64, got ${String(v)}`)
  }
}

export class Node extends EventEmitter<NodeEvents> {
  private constructor(private readonly node: NativeNode) {
    super()
  }

  static async start(opts: NodeOptions): Promise<Node> {
    let self: Node | null = null
    const early: NodeEvent[] = []
    const onEvent = (ev: NodeEvent) => {
      if (self) self.dispatch(ev)
      else early.push(ev)
    }
    if (opts.workers !== undefined) checkWorkers('workers', opts.workers)
    let node: NativeNode
    try {
      node = await native.Node.start(
        {
          secretKey: opts.secretKey,
          stcprListen: opts.stcprListen,
          sudphListen: opts.sudphListen,
          resolver: opts.resolver,
          resolver6: opts.resolver6,
          localAddrs: opts.localAddrs,
          limits: opts.limits,
          workers: opts.workers,
        },
        onEvent,
      )
    } catch (err) {
      throw fromNativeError(err)
    }
    self = new Node(node)
    // Events that arrived before start() resolved (a fast resolver ack).
    queueMicrotask(() => {
      for (const e of early.splice(0)) self?.dispatch(e)
    })
    return self
  }

  private dispatch(ev: NodeEvent): void {
    switch (ev.kind) {
      case 'transport-up':
        this.emit('transport-up', {
          id: ev.id,
          peer: ev.peer,
          transport: ev.transport,
          remote: ev.remote,
          initiator: ev.initiator,
          ...(ev.via === undefined ? {} : { via: ev.via }),
        })
        break
      case 'control':
        this.emit('control', { id: ev.id, data: ev.data })
        break
      case 'transport-down':
        this.emit('transport-down', { id: ev.id, peer: ev.peer, reason: ev.reason })
        break
      case 'punch':
        this.emit('punch', { peer: ev.peer, stage: ev.stage, addr: ev.addr ?? null })
        break
      case 'bound':
        this.emit('bound', { observed: ev.observed })
        break
      case 'refused':
        this.emit('refused', { reason: ev.reason, from: ev.addr, limits: ev.limits })
        break
      case 'splice-down':
        this.emit('splice-down', { fromId: ev.fromId, fromCircuit: ev.fromCircuit })
        break
    }
  }

  get publicKey(): string {
    return this.node.publicKey
  }
  get stcprAddr(): string | null {
    return this.node.stcprAddr ?? null
  }
  /** Workers on the data path (SUDPH sockets; TUN queues of a tunnel created without `queues`). */
  get workers(): number {
    return this.node.workers
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

  /** Open a transport to `pk`; resolves to its transport id. */
  async dial(pk: string, transport: TransportKind, addrs: string[] | null, timeoutMs: number): Promise<number> {
    // The binding's type says stcpr | sudph; a caller in plain JavaScript gets a coded error too.
    if (transport !== 'stcpr' && transport !== 'sudph') {
      throw new SkywireError('EINVALIDTRANSPORT', `unknown transport ${JSON.stringify(transport)} (stcpr or sudph)`)
    }
    try {
      return await this.node.dial(pk, transport, addrs ?? undefined, Math.max(1, Math.round(timeoutMs)))
    } catch (err) {
      throw fromNativeError(err)
    }
  }

  /**
   * Multi-hop, client: pick a circuit number on transport `viaId` for a dial
   * through it. Tell the hop (its control) to splice it onwards, then `dialVia`.
   */
  reserveCircuit(viaId: number): number {
    return callNative(() => this.node.reserveCircuit(viaId))
  }

  /**
   * Multi-hop, client: the Noise handshake with `remotePk` through circuit
   * `circuit` of `viaId`; resolves to the new transport's id. The result is a
   * transport like any other (tunnel, control, status), with `via` set.
   */
  async dialVia(viaId: number, circuit: number, remotePk: string, timeoutMs: number): Promise<number> {
    checkUint('circuit', circuit, 0xffff_ffff)
    try {
      return await this.node.dialVia(viaId, circuit, remotePk, Math.max(1, Math.round(timeoutMs)))
    } catch (err) {
      throw fromNativeError(err)
    }
  }

  /**
   * Multi-hop, hop: relay circuit `fromCircuit` of transport `fromId` (the
   * number the client picked) to a new circuit of `toId`, returned; both ways,
   * at most `bytesPerSec` (0: no limit; over it messages drop and are counted).
   */
  splice(fromId: number, fromCircuit: number, toId: number, bytesPerSec: number): number {
    checkUint('circuit', fromCircuit, 0xffff_ffff)
    checkUint('bytesPerSec', bytesPerSec, Number.MAX_SAFE_INTEGER)
    return callNative(() => this.node.splice(fromId, fromCircuit, toId, bytesPerSec))
  }

  /** End a splice, or release a circuit number reserved for a dial. */
  unsplice(fromId: number, fromCircuit: number): void {
    checkUint('circuit', fromCircuit, 0xffff_ffff)
    callNative(() => this.node.unsplice(fromId, fromCircuit))
  }

  /** The splices this visor relays, with their counts. */
  splices(): SpliceDescription[] {
    return this.node.splices()
  }

  sendControl(id: number, data: Buffer): void {
    callNative(() => this.node.sendControl(id, data))
  }

  createTun(opts: TunOptions): string {
    if (opts.queues != null) checkWorkers('queues', opts.queues)
    return callNative(() => this.node.createTun(opts))
  }

  attach(tun: string, id: number, allowed: string[]): void {
    callNative(() => this.node.attach(tun, id, allowed))
  }

  closeTun(tun: string): void {
    callNative(() => this.node.closeTun(tun))
  }

  closeTransport(id: number): void {
    try {
      this.node.closeTransport(id)
    } catch {
      // Already gone: closing is idempotent for callers.
    }
  }

  transport(id: number): TransportDescription | null {
    return this.node.transport(id) ?? null
  }

  transports(): TransportDescription[] {
    return this.node.transports()
  }

  close(): void {
    this.node.close()
    this.removeAllListeners()
  }
}

/** @deprecated Use `Node`. */
export const CoreNode = Node
/** @deprecated Use `Node`. */
export type CoreNode = Node
