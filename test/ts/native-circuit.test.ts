/**
 * Multi-hop through the napi binding and its TypeScript wrapper, three real
 * nodes on loopback (no root): a client reserves a circuit on its transport
 * to a hop, the hop splices it to its transport to the exit, the client dials
 * the exit through it. The exit's transport-up names the client's key and the
 * transport it came through; control messages cross both ways; the hop's
 * transport closing ends the splice (splice-down) and the circuit transports.
 * Bad numbers from JavaScript fail with a code, never wrap.
 */
import { afterEach, describe, expect, it } from 'vitest'
import { generateIdentity } from '../../ts/native/keys.js'
import { CIRCUIT_OVERHEAD, MAX_CIRCUITS, Node, type SpliceDown, type TransportUp } from '../../ts/native/node.js'

const nodes: Node[] = []
afterEach(() => {
  for (const n of nodes.splice(0)) n.close()
})

async function start(): Promise<Node> {
  const n = await Node.start({ secretKey: generateIdentity().secretKey, stcprListen: '127.0.0.1:0', sudphListen: '127.0.0.1:0' })
  nodes.push(n)
  return n
}

function next<T>(n: Node, ev: 'transport-up' | 'splice-down' | 'control' | 'transport-down', pick: (x: never) => T | undefined): Promise<T> {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`no ${ev} in time`)), 5000)
    const on = (x: never) => {
      const r = pick(x)
      if (r === undefined) return
      clearTimeout(t)
      n.off(ev, on as never)
      resolve(r)
    }
    n.on(ev, on as never)
  })
}

/** C → H → E; returns the ids on each node. */
async function chain() {
  const [c, h, e] = [await start(), await start(), await start()]
  const hUp = next(h, 'transport-up', (u: TransportUp) => u.id)
  const cH = await c.dial(h.publicKey, 'sudph', [h.sudphAddr as string], 5000)
  const hC = await hUp
  const eUp = next(e, 'transport-up', (u: TransportUp) => u)
  const hE = await h.dial(e.publicKey, 'stcpr', [e.stcprAddr as string], 5000)
  const eH = (await eUp).id
  const circuit = c.reserveCircuit(cH)
  h.splice(hC, circuit, hE, 0)
  const eCUp = next(e, 'transport-up', (u: TransportUp) => (u.via === undefined ? undefined : u))
  const cE = await c.dialVia(cH, circuit, e.publicKey, 5000)
  const up = await eCUp
  return { c, h, e, cH, hC, hE, eH, circuit, cE, eC: up.id, up }
}

describe('multi-hop through the binding', () => {
  it('dials the exit through a hop; the exit sees the client and the hop, control messages cross', async () => {
    const x = await chain()
    expect(x.up.peer).toBe(x.c.publicKey)
    expect(x.up.via).toBe(x.eH)
    expect(x.up.remote).toBe(x.e.transport(x.eH)?.remote)
    const desc = x.c.transport(x.cE)
    expect(desc?.via).toBe(x.cH)
    expect(desc?.transport).toBe('sudph')
    expect(x.c.transport(x.cH)?.via).toBeUndefined()
    expect(CIRCUIT_OVERHEAD).toBe(37)
    expect(MAX_CIRCUITS).toBe(1024)

    const atE = next(x.e, 'control', (m: { id: number; data: Buffer }) => m)
    x.c.sendControl(x.cE, Buffer.from('through the hop'))
    expect(await atE).toEqual({ id: x.eC, data: Buffer.from('through the hop') })
    const atC = next(x.c, 'control', (m: { id: number; data: Buffer }) => m)
    x.e.sendControl(x.eC, Buffer.from('and back'))
    expect(await atC).toEqual({ id: x.cE, data: Buffer.from('and back') })

    const s = x.h.splices()
    expect(s).toHaveLength(1)
    expect(s[0]).toMatchObject({ fromId: x.hC, fromCircuit: x.circuit, toId: x.hE, dropped: 0 })
    expect(s[0]?.relayed).toBeGreaterThanOrEqual(4)
  })

  it("the hop's transport closing ends the splice and both circuit transports", async () => {
    const x = await chain()
    const down = next(x.h, 'splice-down', (d: SpliceDown) => d)
    const eDown = next(x.e, 'transport-down', (d: { id: number }) => (d.id === x.eC ? d : undefined))
    const cDown = next(x.c, 'transport-down', (d: { id: number }) => (d.id === x.cE ? d : undefined))
    x.h.closeTransport(x.hE)
    expect(await down).toEqual({ fromId: x.hC, fromCircuit: x.circuit })
    await eDown
    await cDown
    expect(x.h.splices()).toEqual([])
    expect(x.c.transport(x.cH)).not.toBeNull()
  })

  it('refuses numbers that are not the caller’s, with codes', async () => {
    const [c, h] = [await start(), await start()]
    const hUp = next(h, 'transport-up', (u: TransportUp) => u.id)
    const cH = await c.dial(h.publicKey, 'stcpr', [h.stcprAddr as string], 5000)
    const hC = await hUp
    const code = (f: () => unknown) => {
      try {
        f()
      } catch (e) {
        return (e as { code?: string }).code
      }
      return 'no error'
    }
    // Wrapping numbers from JavaScript are refused before the binding.
    for (const bad of [-1, 1.5, Number.NaN, 2 ** 32, Number.POSITIVE_INFINITY]) {
      expect(code(() => h.splice(hC, bad, cH, 0))).toBe('EUSAGE')
      expect(code(() => h.unsplice(hC, bad))).toBe('EUSAGE')
      await expect(c.dialVia(cH, bad, h.publicKey, 100)).rejects.toMatchObject({ code: 'EUSAGE' })
    }
    for (const bad of [-1, Number.NaN, 0.5, Number.POSITIVE_INFINITY]) {
      expect(code(() => h.splice(hC, 1, cH, bad))).toBe('EUSAGE')
    }
    // Circuit 0, a number from the hop's own half, the same transport twice, a circuit never spliced.
    expect(code(() => h.splice(hC, 0, hC, 0))).toBe('ENOCIRCUIT')
    expect(code(() => h.unsplice(hC, 7))).toBe('ENOCIRCUIT')
    expect(code(() => h.splice(999, 1, hC, 0))).toBe('ENOSESSION')
    expect(code(() => c.reserveCircuit(999))).toBe('ENOSESSION')
    await expect(c.dialVia(cH, 12345, h.publicKey, 100)).rejects.toMatchObject({ code: 'ENOCIRCUIT' })
    await expect(c.dialVia(cH, 1, 'not a key', 100)).rejects.toMatchObject({ code: 'EINVALIDPK' })
    // A dial through a circuit nobody forwards times out, and frees its number.
    const n = c.reserveCircuit(cH)
    await expect(c.dialVia(cH, n, generateIdentity().publicKey, 300)).rejects.toMatchObject({ code: 'ETIMEOUT' })
    expect(code(() => c.unsplice(cH, n))).toBe('ENOCIRCUIT')
  })
})
