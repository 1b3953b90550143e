/**
 * An in-memory node and the network between such nodes, for unit tests of
 * the logic above the node (VPN client and server). It keeps the real node's
 * contract where that logic depends on it:
 * - events: 'transport-up' on both ends when a dial succeeds, 'control' for a
 *   control frame from the peer, 'transport-down' on both ends when a transport
 *   ends (a local close says "closed locally"); all delivered asynchronously
 *   (microtasks), as the real ones come through the napi event pump;
 * - a transport's stats.lastRxMs grows only while nothing arrives: a live
 *   transport carries keepalives, so it stays 0 until the link is cut;
 * - sendControl, attach and createTun throw on what the real node refuses
 *   (a gone transport, an unknown or duplicate TUN).
 * What the logic asked for is recorded (sends, dials, TUNs, attachments).
 * Time comes from Date.now and setTimeout, so vitest's fake timers drive it.
 */
import { EventEmitter } from 'node:events'
import { SkywireError } from '../../../ts/contracts/errors.js'
import type { NodeEvents, TransportDescription, TransportKind, TunOptions } from '../../../ts/native/node.js'
import type { VpnClientNode } from '../../../ts/vpn/node.js'
import { type ControlMessage, decode } from '../../../ts/vpn/protocol.js'

interface End {
  /** `via`: the transport a circuit transport rides (multi-hop), as the core reports it. */
  info: Omit<TransportDescription, 'stats' | 'ageMs'> & { via?: number }
  stats: TransportDescription['stats']
  openedAt: number
  lastRxAt: number
  peerNode: FakeNode
  peerId: number
}

/** A dial the test holds: it completes (or fails) when the test says. */
export interface HeldDial {
  pk: string
  transport: TransportKind
  timeoutMs: number
  /** Completes the dial over the fake network now; resolves to the new transport id (or rejects like the dial). */
  complete(): Promise<number>
  fail(err: Error): void
}

export class FakeNet {
  readonly nodes = new Map<string, FakeNode>()
  /** Public keys whose dials fail (after dialFailMs): offline, or no path. */
  readonly unreachable = new Set<string>()
  /** How long a dial takes. */
  dialMs = 20
  /** How long a dial to an unreachable visor takes to fail. */
  dialFailMs = 50
  private remotePort = 40000

  node(pk: string): FakeNode {
    const n = new FakeNode(pk, this)
    this.nodes.set(pk, n)
    return n
  }

  /**
   * A circuit transport from `from` through circuit `circuit` of its transport `viaId`, following the hops'
   * splices to whatever visor the circuit reaches; the handshake fails unless that visor is `pk`.
   */
  connectVia(from: FakeNode, viaId: number, circuit: number, pk: string): number {
    let end = from.endOf(viaId)
    let c = circuit
    // Where the circuit arrives: the far end of each transport, across each splice on the way.
    for (let n = 0; ; n++) {
      if (!end || n > 16) throw new SkywireError('ETIMEOUT', `no handshake answer from ${pk} through the circuit`)
      const far = end.peerNode
      const farId = end.peerId
      const sp = far.splices.get(`${farId}/${c}`)
      if (!sp) {
        if (far.publicKey !== pk) throw new SkywireError('ETIMEOUT', `no handshake answer from ${pk} through the circuit`)
        const port = this.remotePort++
        const base = from.endOf(viaId)?.info.transport ?? 'sudph'
        const a = from.addEnd(pk, base, `198.51.100.2:${port}`, true, viaId)
        const b = far.addEnd(from.publicKey, base, `198.51.100.1:${port}`, false, farId)
        a.peerNode = far
        a.peerId = b.info.id
        b.peerNode = from
        b.peerId = a.info.id
        from.announce(a)
        far.announce(b)
        return a.info.id
      }
      end = far.endOf(sp.toId)
      c = sp.toCircuit
    }
  }

  /** Opens a transport from `from` to `pk`; the id is the dialer's. */
  connect(from: FakeNode, pk: string, transport: TransportKind): number {
    const to = this.nodes.get(pk)
    if (!to || this.unreachable.has(pk)) throw new Error(`no answer from ${pk}`)
    const port = this.remotePort++
    const a = from.addEnd(pk, transport, `198.51.100.2:${port}`, true)
    const b = to.addEnd(from.publicKey, transport, `198.51.100.1:${port}`, false)
    a.peerNode = to
    a.peerId = b.info.id
    b.peerNode = from
    b.peerId = a.info.id
    from.announce(a)
    to.announce(b)
    return a.info.id
  }
}

export class FakeNode extends EventEmitter<NodeEvents> implements VpnClientNode {
  readonly sudphAddr: string | null = '0.0.0.0:30000'
  readonly observedAddr: string | null = null
  /** Every control frame sent, decoded (null when it was not a VPN message). */
  readonly sent: Array<{ id: number; msg: ControlMessage | null }> = []
  /** Every control frame received, decoded likewise. */
  readonly received: Array<{ id: number; msg: ControlMessage | null }> = []
  readonly dials: Array<{ pk: string; transport: TransportKind; at: number }> = []
  readonly closed: number[] = []
  readonly tuns = new Map<string, { ipv4: string | undefined; mtu: number | undefined }>()
  /** Per transport id: the TUN and the networks attached to it. */
  readonly attached = new Map<number, { tun: string; allowed: string[] }>()
  /** When set, dials wait here until the test completes or fails them. */
  holdDials = false
  readonly held: HeldDial[] = []
  /** Multi-hop: splices this node (as a hop) holds, by `${fromId}/${fromCircuit}`, and every splice/unsplice asked. */
  readonly splices = new Map<string, { fromId: number; fromCircuit: number; toId: number; toCircuit: number; bytesPerSec: number }>()
  readonly spliceLog: Array<{ op: 'splice' | 'unsplice'; fromId: number; fromCircuit: number; toId?: number; bytesPerSec?: number }> = []
  /** When set, splice throws this (a core refusing: circuit cap). */
  spliceError: Error | null = null
  private nextCircuit = 1
  private readonly ends = new Map<number, End>()
  private readonly cuts = new Set<End>()
  private nextId = 1
  private tunCount = 0

  constructor(
    readonly publicKey: string,
    private readonly net: FakeNet,
  ) {
    super()
  }

  endOf(id: number): End | undefined {
    return this.ends.get(id)
  }

  addEnd(peer: string, transport: TransportKind, remote: string, initiator: boolean, via?: number): End {
    const id = this.nextId++
    const end: End = {
      info: { id, peer, transport, remote, initiator, ...(via !== undefined ? { via } : {}) },
      stats: { txBytes: 0, txPackets: 0, rxBytes: 0, rxPackets: 0, dropped: 0, rekeys: 0 },
      openedAt: Date.now(),
      lastRxAt: Date.now(),
      peerNode: this,
      peerId: 0,
    }
    this.ends.set(id, end)
    return end
  }

  announce(e: End): void {
    const up = { ...e.info, transport: e.info.transport as TransportKind }
    queueMicrotask(() => this.emit('transport-up', up))
  }

  async dial(pk: string, transport: TransportKind, _addrs: string[] | null, timeoutMs: number): Promise<number> {
    this.dials.push({ pk, transport, at: Date.now() })
    if (this.holdDials) {
      return new Promise<number>((resolve, reject) => {
        this.held.push({
          pk,
          transport,
          timeoutMs,
          complete: async () => {
            const id = this.net.connect(this, pk, transport)
            resolve(id)
            return id
          },
          fail: reject,
        })
      })
    }
    const known = this.net.nodes.has(pk)
    const ok = known && !this.net.unreachable.has(pk)
    await sleep(Math.min(ok ? this.net.dialMs : this.net.dialFailMs, timeoutMs))
    // Like the core: a visor that never registered is not bound (offline); one that is but does not answer times out.
    if (!known) throw new SkywireError('ENOTBOUND', `${pk} is not bound at the address resolver`)
    if (this.net.unreachable.has(pk)) throw new SkywireError('ETIMEOUT', `no answer from ${pk}`)
    return this.net.connect(this, pk, transport)
  }

  reserveCircuit(viaId: number): number {
    if (!this.ends.has(viaId)) throw new SkywireError('ENOSESSION', `no transport ${viaId}`)
    return this.nextCircuit++
  }

  async dialVia(viaId: number, circuit: number, pk: string, timeoutMs: number): Promise<number> {
    this.dials.push({ pk, transport: this.ends.get(viaId)?.info.transport ?? 'sudph', at: Date.now() })
    await sleep(Math.min(this.net.dialMs, timeoutMs))
    if (!this.ends.has(viaId)) throw new SkywireError('ENOSESSION', `no transport ${viaId}`)
    return this.net.connectVia(this, viaId, circuit, pk)
  }

  splice(fromId: number, fromCircuit: number, toId: number, bytesPerSec: number): number {
    if (this.spliceError) throw this.spliceError
    if (!this.ends.has(fromId) || !this.ends.has(toId)) throw new SkywireError('ENOSESSION', 'no such transport')
    const toCircuit = this.nextCircuit++
    this.splices.set(`${fromId}/${fromCircuit}`, { fromId, fromCircuit, toId, toCircuit, bytesPerSec })
    this.spliceLog.push({ op: 'splice', fromId, fromCircuit, toId, bytesPerSec })
    return toCircuit
  }

  unsplice(fromId: number, fromCircuit: number): void {
    this.spliceLog.push({ op: 'unsplice', fromId, fromCircuit })
    this.splices.delete(`${fromId}/${fromCircuit}`)
  }

  sendControl(id: number, data: Buffer): void {
    const e = this.ends.get(id)
    if (!e) throw new Error(`no transport ${id}`)
    this.sent.push({ id, msg: tryDecode(data) })
    e.stats.txPackets++
    e.stats.txBytes += data.length
    if (this.isCut(e)) return
    const to = e.peerNode
    const peerId = e.peerId
    queueMicrotask(() => to.receive(peerId, data))
  }

  receive(id: number, data: Buffer): void {
    const e = this.ends.get(id)
    if (!e) return
    e.stats.rxPackets++
    e.stats.rxBytes += data.length
    e.lastRxAt = Date.now()
    this.received.push({ id, msg: tryDecode(data) })
    this.emit('control', { id, data })
  }

  /** The link of transport `id` goes silent both ways (a lost path): nothing is delivered and no transport-down comes. */
  cut(id: number): void {
    const e = this.ends.get(id)
    if (!e) throw new Error(`no transport ${id}`)
    e.lastRxAt = Date.now()
    this.cuts.add(e)
    const back = e.peerNode.ends.get(e.peerId)
    if (back) {
      back.lastRxAt = Date.now()
      e.peerNode.cuts.add(back)
    }
  }

  private isCut(e: End): boolean {
    return this.cuts.has(e)
  }

  /** The transport ends on both sides (a peer that closed it, or the core expiring it) with `reason`. */
  drop(id: number, reason: string): void {
    const e = this.ends.get(id)
    if (!e) return
    this.remove(id, reason)
    e.peerNode.remove(e.peerId, reason)
  }

  private remove(id: number, reason: string): void {
    const e = this.ends.get(id)
    if (!e) return
    this.ends.delete(id)
    this.cuts.delete(e)
    this.attached.delete(id)
    // Splices over this transport end with it (the core's splice-down).
    for (const [k, sp] of this.splices) {
      if (sp.fromId !== id && sp.toId !== id) continue
      this.splices.delete(k)
      queueMicrotask(() => this.emit('splice-down', { fromId: sp.fromId, fromCircuit: sp.fromCircuit }))
    }
    queueMicrotask(() => this.emit('transport-down', { id, peer: e.info.peer, reason }))
    // Circuit transports riding it end too, on both sides (the far side would expire; the fake ends it at once).
    for (const [cid, c] of this.ends) if (c.info.via === id) this.drop(cid, 'the transport it rides closed')
  }

  createTun(opts: TunOptions): string {
    const name = opts.name ?? `tun${this.tunCount++}`
    if (this.tuns.has(name)) throw new Error(`TUN ${name} exists`)
    this.tuns.set(name, { ipv4: opts.ipv4, mtu: opts.mtu })
    return name
  }

  attach(tun: string, id: number, allowed: string[]): void {
    if (!this.tuns.has(tun)) throw new Error(`no TUN ${tun}`)
    if (!this.ends.has(id)) throw new Error(`no transport ${id}`)
    if (allowed.length === 0) this.attached.delete(id)
    else this.attached.set(id, { tun, allowed: [...allowed] })
  }

  closeTun(tun: string): void {
    if (!this.tuns.delete(tun)) throw new Error(`no TUN ${tun}`)
    for (const [id, a] of this.attached) if (a.tun === tun) this.attached.delete(id)
  }

  closeTransport(id: number): void {
    const e = this.ends.get(id)
    if (!e) return
    this.closed.push(id)
    const wasCut = this.isCut(e)
    this.remove(id, 'closed locally')
    // A cut link cannot tell the peer: its side ends when its own core gives up on it.
    if (!wasCut) e.peerNode.remove(e.peerId, 'closed by the peer')
  }

  transport(id: number): TransportDescription | null {
    const e = this.ends.get(id)
    return e ? this.describe(e) : null
  }

  transports(): TransportDescription[] {
    return [...this.ends.values()].map((e) => this.describe(e))
  }

  private describe(e: End): TransportDescription {
    // A live link carries the core's keepalives: something arrived just now.
    const lastRxMs = this.cuts.has(e) ? Date.now() - e.lastRxAt : 0
    return { ...e.info, ageMs: Date.now() - e.openedAt, stats: { ...e.stats, lastRxMs } }
  }

  /** The messages sent on transport `id`, of one type. */
  sentOn(id: number, type?: ControlMessage['type']): ControlMessage[] {
    return pick(this.sent, id, type)
  }

  /** The messages received on transport `id`, of one type. */
  receivedOn(id: number, type?: ControlMessage['type']): ControlMessage[] {
    return pick(this.received, id, type)
  }

  /** This node's id of its transport to `pk` (the newest), or undefined. */
  idOf(pk: string): number | undefined {
    return this.transports()
      .filter((s) => s.peer === pk)
      .at(-1)?.id
  }
}

function pick(list: Array<{ id: number; msg: ControlMessage | null }>, id: number, type?: ControlMessage['type']): ControlMessage[] {
  return list.filter((s) => s.id === id && s.msg && (!type || s.msg.type === type)).map((s) => s.msg as ControlMessage)
}

/** Null for a frame that is not a VPN message (a test sending garbage on purpose). */
function tryDecode(data: Buffer): ControlMessage | null {
  try {
    return decode(data)
  } catch {
    return null
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms))
}
