/**
 * This visor as a hop: it answers a client's `forward {to, circuit}`
 * (ts/vpn/hop-protocol.ts) by opening (or reusing) a transport to `to` and
 * asking the node to splice the client's circuit onto it. From then on the
 * core moves the circuit's datagrams between the two transports in Rust: the
 * hop holds neither layer's inner keys, sees ciphertext and the next visor's
 * key, and no packet reaches JavaScript. Policy only, like the VPN server:
 * opt-in (config `hop.enabled`), a whitelist of client keys, and limits on
 * clients, circuits per client and each circuit's rate.
 */
import type { Logger } from 'pino'
import { type Forward, type ForwardStatus, type ForwardStatusCode, decodeHop, encodeHop } from './hop-protocol.js'

/** What the hop uses of the node (ts/native/node.ts); the unit tests pass an in-memory fake. */
export interface HopNode {
  readonly publicKey: string
  transport(id: number): { id: number; peer: string } | null
  transports(): { id: number; peer: string; via?: number | null }[]
  sendControl(id: number, data: Buffer): void
  closeTransport(id: number): void
  /** Forward circuit `fromCircuit` of transport `fromId` onto a new circuit of `toId` (and back); returns the new circuit. */
  splice(fromId: number, fromCircuit: number, toId: number, bytesPerSec: number): number
  unsplice(fromId: number, fromCircuit: number): void
}

export interface HopOptions {
  enabled: boolean
  /** Client keys allowed; empty: anyone. */
  whitelist: string[]
  maxSessionsPerClient: number
  /** Each circuit's cap in bytes per second (0: none). */
  bytesPerSecPerClient: number
  maxClients: number
}

/** Opens a transport to `pk` before `deadline` (dialTransport in the visor); resolves to its id. */
export type HopDial = (pk: string, deadline: number) => Promise<number>

/** How long the hop tries to reach the next visor for one forward request. */
export const HOP_DIAL_TIMEOUT_MS = 10_000

interface Splice {
  client: string
  fromId: number
  circuit: number
  toId: number
  toCircuit: number
  to: string
}

export interface HopStatus {
  enabled: boolean
  clients: number
  circuits: { client: string; to: string; fromId: number; circuit: number; toId: number }[]
}

const key = (id: number, circuit: number) => `${id}/${circuit}`

export class HopService {
  /** By `${fromId}/${circuit}`: live splices and requests still dialing (toId -1), so both count against the limits. */
  private readonly splices = new Map<string, Splice>()
  /** Transports this hop dialed for forwarding: closed when no splice uses them any more. */
  private readonly owned = new Set<number>()

  constructor(
    private readonly node: HopNode,
    private readonly dial: HopDial,
    private readonly log: Logger,
    private opts: HopOptions,
  ) {}

  get enabled(): boolean {
    return this.opts.enabled
  }

  /**
   * A `forward` control frame on transport `id`: answers forward-status on
   * the same transport and resolves to what it answered (null: the frame was
   * unreadable, so there is no circuit to answer for; it is dropped).
   */
  async onControl(id: number, data: Buffer): Promise<ForwardStatus | null> {
    let msg
    try {
      msg = decodeHop(data)
    } catch (err) {
      this.log.debug({ id, err: (err as Error).message }, 'unreadable hop control message; dropped')
      return null
    }
    // A forward-status is an answer to our own request (the route builder's); a hop never gets one.
    if (msg.type !== 'forward') return null
    const answer = await this.forward(id, msg)
    try {
      this.node.sendControl(id, encodeHop(answer))
    } catch {
      // The client's transport is gone: its splice (if any) ends with it.
    }
    return answer
  }

  private async forward(id: number, m: Forward): Promise<ForwardStatus> {
    const no = (status: ForwardStatusCode, message: string): ForwardStatus => {
      this.log.info({ id, to: m.to, circuit: m.circuit, status, message }, 'forward refused')
      return { type: 'forward-status', circuit: m.circuit, status, message }
    }
    if (!this.opts.enabled) return no('disabled', 'this visor does not forward for others (hop.enabled is false)')
    const client = this.node.transport(id)?.peer
    if (client === undefined) return no('unreachable', 'the transport closed')
    if (this.opts.whitelist.length > 0 && !this.opts.whitelist.includes(client)) return no('forbidden', 'not on this hop’s whitelist')
    if (m.to === this.node.publicKey) return no('forbidden', 'a hop does not forward to itself')
    if (m.to === client) return no('forbidden', 'a hop does not forward back to the client')
    if (this.splices.has(key(id, m.circuit))) return no('forbidden', `circuit ${m.circuit} is already in use`)
    const mine = [...this.splices.values()].filter((s) => s.client === client).length
    if (mine === 0 && this.clientCount() >= this.opts.maxClients) return no('busy', `this hop serves ${this.opts.maxClients} clients already`)
    if (mine >= this.opts.maxSessionsPerClient) return no('busy', `at most ${this.opts.maxSessionsPerClient} circuits per client`)
    // Held from here on, so requests in flight count against the limits too.
    const s: Splice = { client, fromId: id, circuit: m.circuit, toId: -1, toCircuit: -1, to: m.to }
    this.splices.set(key(id, m.circuit), s)
    let toId: number
    let dialed = false
    try {
      const direct = this.node.transports().find((t) => t.peer === m.to && (t.via === undefined || t.via === null))
      if (direct) toId = direct.id
      else {
        toId = await this.dial(m.to, Date.now() + HOP_DIAL_TIMEOUT_MS)
        dialed = true
      }
    } catch (err) {
      this.splices.delete(key(id, m.circuit))
      return no('unreachable', `cannot reach ${m.to}: ${(err as Error).message}`)
    }
    if (dialed) this.owned.add(toId)
    // The client left, or the hop was turned off, while we dialed.
    if (this.splices.get(key(id, m.circuit)) !== s || !this.node.transport(id)) {
      this.splices.delete(key(id, m.circuit))
      this.closeIfUnused(toId)
      return no('unreachable', 'the transport closed while the hop was dialing')
    }
    try {
      s.toCircuit = this.node.splice(id, m.circuit, toId, this.opts.bytesPerSecPerClient)
    } catch (err) {
      this.splices.delete(key(id, m.circuit))
      this.closeIfUnused(toId)
      return no('busy', `cannot splice: ${(err as Error).message}`)
    }
    s.toId = toId
    this.log.info({ client, to: m.to, circuit: m.circuit, toCircuit: s.toCircuit }, 'forwarding a circuit')
    return { type: 'forward-status', circuit: m.circuit, status: 'ok' }
  }

  private clientCount(): number {
    return new Set([...this.splices.values()].map((s) => s.client)).size
  }

  /** The core ended a splice (either transport closed). */
  onSpliceDown(fromId: number, fromCircuit: number): void {
    const s = this.splices.get(key(fromId, fromCircuit))
    if (!s || s.toId < 0) return
    this.splices.delete(key(fromId, fromCircuit))
    this.closeIfUnused(s.toId)
  }

  /** A transport ended: its splices end with it (the core's splice-down may say so too; both are fine). */
  onTransportDown(id: number): void {
    this.owned.delete(id)
    for (const [k, s] of this.splices) {
      if (s.fromId !== id && s.toId !== id) continue
      this.splices.delete(k)
      if (s.toId >= 0 && s.toId !== id) this.closeIfUnused(s.toId)
      // A splice whose far side went: the client's circuit is dead, tell the core (the client's transport stays).
      if (s.toId === id) this.unsplice(s)
    }
  }

  /** New settings (a config reload): turning it off ends every circuit. */
  configure(opts: HopOptions): void {
    this.opts = { ...opts, whitelist: [...opts.whitelist] }
    if (!opts.enabled) this.stop()
  }

  /** Ends every circuit this hop forwards (the visor stops, or forwarding was turned off). */
  stop(): void {
    for (const s of [...this.splices.values()]) {
      this.splices.delete(key(s.fromId, s.circuit))
      if (s.toId >= 0) {
        this.unsplice(s)
        this.closeIfUnused(s.toId)
      }
    }
  }

  status(): HopStatus {
    const live = [...this.splices.values()].filter((s) => s.toId >= 0)
    return {
      enabled: this.opts.enabled,
      clients: new Set(live.map((s) => s.client)).size,
      circuits: live.map((s) => ({ client: s.client, to: s.to, fromId: s.fromId, circuit: s.circuit, toId: s.toId })),
    }
  }

  private unsplice(s: Splice): void {
    try {
      this.node.unsplice(s.fromId, s.circuit)
    } catch {
      // already gone with its transport
    }
  }

  private closeIfUnused(toId: number): void {
    if (!this.owned.has(toId)) return
    if ([...this.splices.values()].some((s) => s.toId === toId)) return
    this.owned.delete(toId)
    this.node.closeTransport(toId)
  }
}
