/**
 * Building a route client → hop(s) → exit. The first hop gets an ordinary
 * transport (dialTransport: SUDPH, then STCPR). For each next visor the
 * client reserves a circuit on the transport it has so far, asks the visor at
 * its end to `forward` that circuit to the next one (ts/vpn/hop-protocol.ts),
 * and on ok runs a Noise IK handshake with the next visor through the
 * circuit (dialVia): a transport whose keys only the client and that visor
 * hold. The last one reaches the exit; the VPN's hello runs over it like
 * over any transport.
 *
 * Closing: a circuit transport ends when the transport it rides ends, so a
 * route is torn down by closing its first transport; when the client closes
 * the innermost one (stop, reconnect), onTransportDown closes the rest.
 */
import type { Logger } from 'pino'
import { SkywireError } from '../contracts/errors.js'
import type { ServicesClient } from '../discovery/client.js'
import { type DialNode, dialTransport } from '../discovery/dial.js'
import type { TransportKind } from '../native/node.js'
import { type ForwardStatus, decodeHop, encodeHop } from './hop-protocol.js'

/**
 * Bytes each extra layer adds to a tunnel packet: the inner session's
 * transport message header and tag (16 + 16) plus the forward message's kind
 * and circuit (1 + 4), rounded up. The core's own figure replaces it when the
 * binding exports one (CIRCUIT_OVERHEAD).
 */
export const LAYER_OVERHEAD = 40

/** What building a route uses of the node (ts/native/node.ts). */
export interface RouteNode extends DialNode {
  transport(id: number): { id: number; peer: string; transport: TransportKind; remote: string } | null
  sendControl(id: number, data: Buffer): void
  closeTransport(id: number): void
  /** A circuit number on transport `viaId`, for a forward request. */
  reserveCircuit(viaId: number): number
  /** The IK handshake with `remotePk` through circuit `circuit` of `viaId`; resolves to the new transport's id. */
  dialVia(viaId: number, circuit: number, remotePk: string, timeoutMs: number): Promise<number>
}

/** One visor on the route, as `vpn status` shows it. */
export interface RouteLink {
  pk: string
  role: 'hop' | 'exit'
  /** The transport kind under this link (a circuit rides its first hop's kind). */
  transport: TransportKind
  /** This visor's transport id on the client. */
  transportId: number
}

export interface BuiltRoute {
  /** The transport to the exit: the VPN's hello and tunnel ride it. */
  id: number
  /** The transport to the first hop (closing it ends the route). */
  firstId: number
  transport: TransportKind
  /** The first hop's address: the only one the client's packets go to. */
  firstRemote: string | null
  chain: RouteLink[]
  /** What the tunnel's MTU must be lowered by (one layer per hop). */
  overhead: number
}

export interface RouteBuilderOptions {
  order: TransportKind[]
  /** Per-layer overhead (the core's CIRCUIT_OVERHEAD when known). */
  layerOverhead?: number
}

interface Waiter {
  via: number
  circuit: number
  done: (s: ForwardStatus | Error) => void
}

export class RouteBuilder {
  private readonly waiters = new Set<Waiter>()
  /** Innermost transport id → the route's transports, first to last. */
  private readonly routes = new Map<number, number[]>()

  constructor(
    private readonly node: RouteNode,
    private readonly services: ServicesClient | null,
    private readonly log: Logger,
    private readonly opts: RouteBuilderOptions,
  ) {}

  /**
   * client → hops[0] → … → exit, before `deadline`. On any failure every
   * transport it opened is closed and the error names the visor that failed.
   */
  async build(hops: readonly string[], exit: string, deadline: number, progress: (s: string) => void = () => {}): Promise<BuiltRoute> {
    if (hops.length === 0) throw new SkywireError('EUSAGE', 'a route needs at least one hop')
    const visors = [...hops, exit]
    if (hops.includes(exit)) throw new SkywireError('EUSAGE', 'the exit cannot also be a hop of its own route')
    if (new Set(visors).size !== visors.length) throw new SkywireError('EUSAGE', 'a visor appears twice on the route')
    const first = hops[0] as string
    progress(`opening a transport to hop ${first}`)
    const t = await dialTransport(this.node, this.services, first, this.opts.order, deadline, progress)
    const ids = [t.id]
    const chain: RouteLink[] = [{ pk: first, role: 'hop', transport: t.transport, transportId: t.id }]
    try {
      for (let i = 1; i < visors.length; i++) {
        const next = visors[i] as string
        const via = ids[ids.length - 1] as number
        const hop = visors[i - 1] as string
        progress(`asking hop ${hop} to forward to ${next}`)
        const circuit = this.node.reserveCircuit(via)
        const s = await this.ask(via, circuit, next, deadline)
        if (s.status !== 'ok') throw forwardError(hop, next, s)
        progress(`handshake with ${next} through hop ${hop}`)
        const left = deadline - Date.now()
        if (left <= 0) throw new SkywireError('ETIMEOUT', `the route to ${exit} was not built in time (at ${next})`)
        const id = await this.node.dialVia(via, circuit, next, left)
        ids.push(id)
        chain.push({ pk: next, role: i === visors.length - 1 ? 'exit' : 'hop', transport: t.transport, transportId: id })
      }
    } catch (err) {
      // Closing the first transport ends every circuit that rides it.
      this.node.closeTransport(t.id)
      throw err
    }
    const id = ids[ids.length - 1] as number
    this.routes.set(id, ids)
    this.log.info({ chain: chain.map((l) => l.pk.slice(0, 8)), transport: t.transport }, 'route built')
    return {
      id,
      firstId: t.id,
      transport: t.transport,
      firstRemote: this.node.transport(t.id)?.remote ?? null,
      chain,
      overhead: hops.length * (this.opts.layerOverhead ?? LAYER_OVERHEAD),
    }
  }

  /** Sends `forward` and waits for its forward-status (or the deadline, or the transport going). */
  private ask(via: number, circuit: number, to: string, deadline: number): Promise<ForwardStatus> {
    return new Promise((resolve, reject) => {
      const w: Waiter = {
        via,
        circuit,
        done: (s) => {
          clearTimeout(timer)
          this.waiters.delete(w)
          if (s instanceof Error) reject(s)
          else resolve(s)
        },
      }
      const timer = setTimeout(
        () => w.done(new SkywireError('ETIMEOUT', `hop did not answer the forward request to ${to} in time`)),
        Math.max(1, deadline - Date.now()),
      )
      this.waiters.add(w)
      try {
        this.node.sendControl(via, encodeHop({ type: 'forward', to, circuit }))
      } catch (err) {
        w.done(err as Error)
      }
    })
  }

  /** A forward-status on a transport we asked on: true when it was ours. */
  onControl(id: number, data: Buffer): boolean {
    const mine = [...this.waiters].filter((w) => w.via === id)
    if (mine.length === 0) return false
    let msg
    try {
      msg = decodeHop(data)
    } catch {
      // Not a hop message (or garbage): not ours to judge; the VPN parts see it.
      return false
    }
    if (msg.type !== 'forward-status') return false
    const w = mine.find((x) => x.circuit === msg.circuit)
    w?.done(msg)
    return true
  }

  /** A transport ended: a pending request on it fails now; a route whose inner transport ended is closed whole. */
  onTransportDown(id: number): void {
    for (const w of [...this.waiters]) {
      if (w.via === id) w.done(new SkywireError('EUNREACHABLE', 'the transport to the hop closed while it was asked to forward'))
    }
    const ids = this.routes.get(id)
    if (ids) {
      this.routes.delete(id)
      this.node.closeTransport(ids[0] as number)
      return
    }
    // The first transport went: the route's entry goes (the inner one follows with its own down event).
    for (const [inner, list] of this.routes) if (list[0] === id) this.routes.delete(inner)
  }
}

function forwardError(hop: string, to: string, s: ForwardStatus): SkywireError {
  const why = s.message ? `: ${s.message}` : ''
  switch (s.status) {
    case 'forbidden':
      return new SkywireError('EFORBIDDEN', `hop ${hop} refused to forward to ${to}${why}`)
    case 'disabled':
      return new SkywireError('EFORBIDDEN', `${hop} does not forward for others (not a hop)${why}`)
    case 'unreachable':
      return new SkywireError('EUNREACHABLE', `hop ${hop} cannot reach ${to}${why}`)
    default:
      return new SkywireError('EREMOTE', `hop ${hop} is busy${why}`)
  }
}
