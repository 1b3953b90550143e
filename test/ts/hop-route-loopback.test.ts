/**
 * The hop service and the route builder (ts/vpn/hop.ts, ts/vpn/route.ts) over
 * real nodes (the Rust core through the binding) on loopback STCPR: no root,
 * no TUN. The client builds client → hop(s) → exit; the exit's transport-up
 * names the client's key and the transport it came through; control frames
 * cross the chain both ways through the hop's splice (that the hop sees only
 * ciphertext is the core's test, node/circuit.rs); a hop with forwarding off
 * refuses; closing the route ends the hop's splices. The VPN on top (TUN,
 * addresses, NAT) is the lab test's.
 */
import pino from 'pino'
import { afterEach, describe, expect, it } from 'vitest'
import { generateIdentity } from '../../ts/native/keys.js'
import { CIRCUIT_OVERHEAD, Node, type TransportUp } from '../../ts/native/node.js'
import { HopService } from '../../ts/vpn/hop.js'
import { hopMessageType } from '../../ts/vpn/hop-protocol.js'
import { RouteBuilder } from '../../ts/vpn/route.js'

const log = pino({ level: 'silent' })
const nodes: Node[] = []

afterEach(() => {
  for (const n of nodes.splice(0)) n.close()
})

async function visor(): Promise<Node> {
  const id = generateIdentity()
  const n = await Node.start({ secretKey: id.secretKey, stcprListen: '127.0.0.1:0' })
  nodes.push(n)
  return n
}

/** Where each visor listens: what the services would answer. */
function servicesOf(all: Node[]) {
  return {
    resolve: async (pk: string) => ({ stcpr: all.filter((n) => n.publicKey === pk).map((n) => n.stcprAddr as string), sudph: null }),
  }
}

function hopOn(n: Node, all: Node[], enabled = true): HopService {
  const s = servicesOf(all)
  const hop = new HopService(n, async (pk, deadline) => n.dial(pk, 'stcpr', (await s.resolve(pk)).stcpr, deadline - Date.now()), log, {
    enabled,
    whitelist: [],
    maxSessionsPerClient: 4,
    bytesPerSecPerClient: 0,
    maxClients: 8,
  })
  n.on('control', ({ id, data }) => {
    if (hopMessageType(data) === 'forward') void hop.onControl(id, data)
  })
  n.on('splice-down', ({ fromId, fromCircuit }) => hop.onSpliceDown(fromId, fromCircuit))
  n.on('transport-down', ({ id }) => hop.onTransportDown(id))
  return hop
}

function clientOn(n: Node, all: Node[]): RouteBuilder {
  const routes = new RouteBuilder(n, servicesOf(all) as never, log, { order: ['stcpr'], layerOverhead: CIRCUIT_OVERHEAD })
  n.on('control', ({ id, data }) => routes.onControl(id, data))
  n.on('transport-down', ({ id }) => routes.onTransportDown(id))
  return routes
}

/** Resolves to the first `control` frame on `n` that satisfies `f`. */
function nextControl(n: Node, f: (id: number, data: Buffer) => boolean): Promise<{ id: number; data: Buffer }> {
  return new Promise((resolve) => {
    const on = (m: { id: number; data: Buffer }) => {
      if (!f(m.id, m.data)) return
      n.off('control', on)
      resolve(m)
    }
    n.on('control', on)
  })
}

async function until(f: () => boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms
  while (!f()) {
    if (Date.now() > end) throw new Error('timed out waiting')
    await new Promise((r) => setTimeout(r, 20))
  }
}

describe('multi-hop route over real nodes (loopback STCPR)', () => {
  it('one hop: the exit sees the client key through the hop; control crosses both ways; closing ends the splice', async () => {
    const [c, h, e] = [await visor(), await visor(), await visor()]
    const all = [c, h, e]
    const hop = hopOn(h, all)
    const routes = clientOn(c, all)
    const ups: TransportUp[] = []
    e.on('transport-up', (u) => ups.push(u))

    const r = await routes.build([h.publicKey], e.publicKey, Date.now() + 10_000)
    expect(r.chain.map((l) => [l.pk, l.role])).toEqual([
      [h.publicKey, 'hop'],
      [e.publicKey, 'exit'],
    ])
    expect(r.overhead).toBe(CIRCUIT_OVERHEAD)
    expect(c.transport(r.id)?.via).toBe(r.firstId)
    await until(() => ups.some((u) => u.peer === c.publicKey))
    const inner = ups.find((u) => u.peer === c.publicKey) as TransportUp
    // The exit's transport to the client rides its transport from the hop: it never had one from the client's address.
    expect(inner.via).toBeDefined()
    expect(e.transport(inner.via as number)?.peer).toBe(h.publicKey)
    expect(e.transports().filter((t) => t.peer === c.publicKey && t.via === undefined)).toEqual([])

    const marker = Buffer.from(`secret-marker-${Math.random()}`)
    const got = nextControl(e, (id) => id === inner.id)
    c.sendControl(r.id, marker)
    expect((await got).data.equals(marker)).toBe(true)
    const back = nextControl(c, (id) => id === r.id)
    e.sendControl(inner.id, Buffer.from('pong'))
    expect((await back).data.toString()).toBe('pong')
    expect(hop.status().circuits).toHaveLength(1)
    expect(h.splices()[0]?.relayed).toBeGreaterThanOrEqual(2)

    c.closeTransport(r.id)
    await until(() => hop.status().circuits.length === 0 && h.splices().length === 0)
    await until(() => c.transports().length === 0)
  }, 30_000)

  it('two hops: each layer is its own session; the exit sees the client key via the second hop', async () => {
    const [c, h1, h2, e] = [await visor(), await visor(), await visor(), await visor()]
    const all = [c, h1, h2, e]
    hopOn(h1, all)
    hopOn(h2, all)
    const routes = clientOn(c, all)
    const ups: TransportUp[] = []
    e.on('transport-up', (u) => ups.push(u))
    const r = await routes.build([h1.publicKey, h2.publicKey], e.publicKey, Date.now() + 15_000)
    expect(r.chain.map((l) => l.role)).toEqual(['hop', 'hop', 'exit'])
    expect(r.overhead).toBe(2 * CIRCUIT_OVERHEAD)
    await until(() => ups.some((u) => u.peer === c.publicKey))
    const inner = ups.find((u) => u.peer === c.publicKey) as TransportUp
    expect(e.transport(inner.via as number)?.peer).toBe(h2.publicKey)
    // h1 relays to h2 and never holds a transport to the exit.
    expect(h1.transports().map((t) => t.peer)).not.toContain(e.publicKey)
    const got = nextControl(e, (id) => id === inner.id)
    c.sendControl(r.id, Buffer.from('through two hops'))
    expect((await got).data.toString()).toBe('through two hops')
  }, 30_000)

  it('a visor with forwarding off answers disabled; the client closes what it opened', async () => {
    const [c, h, e] = [await visor(), await visor(), await visor()]
    const all = [c, h, e]
    hopOn(h, all, false)
    const routes = clientOn(c, all)
    await expect(routes.build([h.publicKey], e.publicKey, Date.now() + 10_000)).rejects.toMatchObject({ code: 'EFORBIDDEN' })
    await until(() => c.transports().length === 0)
    expect(h.splices()).toEqual([])
  }, 30_000)
})
