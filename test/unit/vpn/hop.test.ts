/**
 * The hop (ts/vpn/hop.ts) against in-memory nodes: it refuses when forwarding
 * is off, for keys not on its whitelist, over its limits and for requests it
 * never serves; on ok it reuses or dials the next visor and splices; its
 * dialed transports go when their last circuit does. Hostile frames get no
 * answer, no splice and no crash.
 */
import { describe, expect, it } from 'vitest'
import { HopService, type HopOptions } from '../../../ts/vpn/hop.js'
import { type ForwardStatus, decodeHop, encodeHop } from '../../../ts/vpn/hop-protocol.js'
import { FakeNet } from '../fakes/node.js'
import { silentLog, wire } from '../fakes/visor.js'

const CLIENT = 'a'.repeat(64)
const CLIENT2 = 'b'.repeat(64)
const HOP = 'c'.repeat(64)
const EXIT = 'e'.repeat(64)
const OFFLINE = 'f'.repeat(64)

const OPTS: HopOptions = { enabled: true, whitelist: [], maxSessionsPerClient: 2, bytesPerSecPerClient: 1_000_000, maxClients: 1 }
const flush = () => new Promise<void>((r) => setTimeout(r, 100))

function setup(o: Partial<HopOptions> = {}) {
  const net = new FakeNet()
  const hopNode = net.node(HOP)
  net.node(EXIT)
  const hop = new HopService(hopNode, (pk, deadline) => hopNode.dial(pk, 'sudph', null, deadline - Date.now()), silentLog, { ...OPTS, ...o })
  wire(hopNode, { hop })
  return { net, hopNode, hop }
}

/** A client visor with a transport to the hop; `ask` sends a forward and resolves to the hop's answer. */
async function clientOf(net: FakeNet, pk: string) {
  const node = net.node(pk)
  const got: ForwardStatus[] = []
  node.on('control', ({ data }) => {
    try {
      const m = decodeHop(data)
      if (m.type === 'forward-status') got.push(m)
    } catch {
      // not a hop message
    }
  })
  const id = await node.dial(HOP, 'sudph', null, 1000)
  const ask = async (to: string, circuit: number): Promise<ForwardStatus> => {
    const n = got.length
    node.sendControl(id, encodeHop({ type: 'forward', to, circuit }))
    for (let i = 0; i < 50 && got.length === n; i++) await flush()
    const a = got[n]
    if (!a) throw new Error('no answer from the hop')
    return a
  }
  return { node, id, got, ask }
}

describe('hop: refusals', () => {
  it('answers disabled when forwarding is off, and splices nothing', async () => {
    const { net, hopNode } = setup({ enabled: false })
    const c = await clientOf(net, CLIENT)
    const a = await c.ask(EXIT, 7)
    expect(a).toMatchObject({ type: 'forward-status', circuit: 7, status: 'disabled' })
    expect(hopNode.spliceLog).toEqual([])
    expect(hopNode.dials).toEqual([])
  })

  it('refuses a client not on the whitelist, and serves one that is', async () => {
    const { net, hopNode } = setup({ whitelist: [CLIENT2], maxClients: 4 })
    const c = await clientOf(net, CLIENT)
    expect((await c.ask(EXIT, 1)).status).toBe('forbidden')
    expect(hopNode.spliceLog).toEqual([])
    const c2 = await clientOf(net, CLIENT2)
    expect((await c2.ask(EXIT, 1)).status).toBe('ok')
  })

  it('never forwards to itself or back to the client', async () => {
    const { net, hopNode } = setup()
    const c = await clientOf(net, CLIENT)
    expect((await c.ask(HOP, 1)).status).toBe('forbidden')
    expect((await c.ask(CLIENT, 2)).status).toBe('forbidden')
    expect(hopNode.spliceLog).toEqual([])
  })

  it('is busy over maxClients and over maxSessionsPerClient', async () => {
    const { net } = setup({ maxClients: 1, maxSessionsPerClient: 2 })
    const c = await clientOf(net, CLIENT)
    expect((await c.ask(EXIT, 1)).status).toBe('ok')
    expect((await c.ask(EXIT, 2)).status).toBe('ok')
    const third = await c.ask(EXIT, 3)
    expect(third.status).toBe('busy')
    expect(third.message).toMatch(/at most 2 circuits per client/)
    const c2 = await clientOf(net, CLIENT2)
    const other = await c2.ask(EXIT, 1)
    expect(other.status).toBe('busy')
    expect(other.message).toMatch(/serves 1 clients/)
  })

  it('refuses a circuit number already in use on that transport', async () => {
    const { net } = setup()
    const c = await clientOf(net, CLIENT)
    expect((await c.ask(EXIT, 9)).status).toBe('ok')
    expect((await c.ask(EXIT, 9)).status).toBe('forbidden')
  })

  it('answers unreachable when the next visor cannot be reached, and holds nothing for it', async () => {
    const { net, hop } = setup({ maxSessionsPerClient: 1 })
    const c = await clientOf(net, CLIENT)
    const a = await c.ask(OFFLINE, 1)
    expect(a.status).toBe('unreachable')
    expect(a.message).toMatch(/cannot reach/)
    // The failed request does not count against the limit.
    expect((await c.ask(EXIT, 2)).status).toBe('ok')
    expect(hop.status().circuits).toHaveLength(1)
  })

  it('answers busy when the core refuses the splice, and closes the transport it dialed for it', async () => {
    const { net, hopNode } = setup()
    hopNode.spliceError = new Error('circuit cap reached')
    const c = await clientOf(net, CLIENT)
    const a = await c.ask(EXIT, 1)
    expect(a.status).toBe('busy')
    await flush()
    expect(hopNode.idOf(EXIT)).toBeUndefined()
  })
})

describe('hop: forwarding', () => {
  it('dials the next visor, splices with the per-client rate, and reuses that transport', async () => {
    const { net, hopNode, hop } = setup({ maxClients: 2 })
    const c = await clientOf(net, CLIENT)
    expect((await c.ask(EXIT, 5)).status).toBe('ok')
    const toExit = hopNode.idOf(EXIT)
    expect(toExit).toBeDefined()
    const fromClient = hopNode.idOf(CLIENT)
    expect(hopNode.spliceLog).toEqual([{ op: 'splice', fromId: fromClient, fromCircuit: 5, toId: toExit, bytesPerSec: 1_000_000 }])
    const c2 = await clientOf(net, CLIENT2)
    expect((await c2.ask(EXIT, 5)).status).toBe('ok')
    // One transport to the exit carries both circuits.
    expect(hopNode.dials.filter((d) => d.pk === EXIT)).toHaveLength(1)
    expect(hop.status()).toMatchObject({ enabled: true, clients: 2 })
  })

  it('closes the transport it dialed when the last circuit over it ends', async () => {
    const { net, hopNode, hop } = setup()
    const c = await clientOf(net, CLIENT)
    expect((await c.ask(EXIT, 1)).status).toBe('ok')
    const toExit = hopNode.idOf(EXIT) as number
    c.node.closeTransport(c.id)
    await flush()
    expect(hop.status().circuits).toEqual([])
    expect(hopNode.closed).toContain(toExit)
  })

  it('keeps a transport it did not dial when the circuits over it end', async () => {
    const { net, hopNode, hop } = setup()
    const own = await hopNode.dial(EXIT, 'stcpr', null, 1000)
    const c = await clientOf(net, CLIENT)
    expect((await c.ask(EXIT, 1)).status).toBe('ok')
    expect(hopNode.spliceLog[0]?.toId).toBe(own)
    c.node.closeTransport(c.id)
    await flush()
    expect(hop.status().circuits).toEqual([])
    expect(hopNode.closed).not.toContain(own)
  })

  it('stop ends every circuit (unsplice) and closes what it dialed', async () => {
    const { net, hopNode, hop } = setup()
    const c = await clientOf(net, CLIENT)
    expect((await c.ask(EXIT, 3)).status).toBe('ok')
    hop.stop()
    expect(hopNode.spliceLog.at(-1)).toMatchObject({ op: 'unsplice', fromCircuit: 3 })
    expect(hop.status().circuits).toEqual([])
    await flush()
    expect(hopNode.idOf(EXIT)).toBeUndefined()
  })

  it('turning forwarding off (configure) ends the circuits and refuses new ones', async () => {
    const { net, hop } = setup()
    const c = await clientOf(net, CLIENT)
    expect((await c.ask(EXIT, 3)).status).toBe('ok')
    hop.configure({ ...OPTS, enabled: false })
    expect(hop.status().circuits).toEqual([])
    expect((await c.ask(EXIT, 4)).status).toBe('disabled')
  })

  it('a splice-down from the core forgets the circuit', async () => {
    const { net, hopNode, hop } = setup()
    const c = await clientOf(net, CLIENT)
    expect((await c.ask(EXIT, 3)).status).toBe('ok')
    hop.onSpliceDown(hopNode.idOf(CLIENT) as number, 3)
    expect(hop.status().circuits).toEqual([])
  })
})

describe('hop: hostile frames', () => {
  const frames = [
    'not json',
    '{"type":"forward"}',
    '{"type":"forward","to":"zz","circuit":1}',
    `{"type":"forward","to":"${EXIT}","circuit":-1}`,
    `{"type":"forward","to":"${EXIT}","circuit":4294967296}`,
    `{"type":"forward","to":"${EXIT}","circuit":1.5}`,
    `{"type":"forward","to":"${EXIT}","circuit":"1"}`,
    `{"type":"forward","to":"${EXIT}","circuit":1,"extra":true}`,
    `{"type":"forward","to":"${EXIT.toUpperCase()}","circuit":1}`,
    `{"type":"forward","to":"${EXIT}","circuit":1,"pad":"${'x'.repeat(5000)}"}`,
    '{"type":"forward-status","circuit":1,"status":"ok"}',
    '[]',
    'null',
    '{"__proto__":{"type":"forward"}}',
  ]
  it.each(frames)('%s: no answer, no splice, no dial', async (frame) => {
    const { net, hopNode, hop } = setup()
    const c = await clientOf(net, CLIENT)
    const fromClient = hopNode.idOf(CLIENT) as number
    await expect(hop.onControl(fromClient, Buffer.from(frame))).resolves.toBeNull()
    c.node.sendControl(c.id, Buffer.from(frame))
    await flush()
    expect(c.got).toEqual([])
    expect(hopNode.spliceLog).toEqual([])
    expect(hopNode.dials).toEqual([])
    // The transport stays: a hop does not close on garbage (the client's own transport, its own loss).
    expect(hopNode.transport(fromClient)).not.toBeNull()
  })

  it('keeps answering after garbage', async () => {
    const { net } = setup()
    const c = await clientOf(net, CLIENT)
    c.node.sendControl(c.id, Buffer.from('{"type":"forward",'))
    expect((await c.ask(EXIT, 1)).status).toBe('ok')
    expect(c.got).toHaveLength(1)
  })
})
