/**
 * dialTransport decides "offline" from error codes, never from messages: a
 * fake node (our own interface, in memory) fails its dials with chosen codes.
 */
import { describe, expect, it } from 'vitest'
import type { ServicesClient } from '../../../ts/discovery/client.js'
import { SkywireError, type ErrorCode } from '../../../ts/contracts/errors.js'
import type { Node } from '../../../ts/native/node.js'
import { dialTransport } from '../../../ts/discovery/dial.js'

const PK = 'ab'.repeat(32)

function failingNode(code: ErrorCode, message: string): Node {
  const fake = {
    sudphAddr: null,
    observedAddr: null,
    dial: async () => {
      throw new SkywireError(code, message)
    },
  }
  return fake as unknown as Node
}

/** A resolver that knows no TCP address for anyone. */
const noStcpr = { resolve: async () => null } as unknown as ServicesClient

async function failure(node: Node, order: ('stcpr' | 'sudph')[]): Promise<SkywireError> {
  const err = await dialTransport(node, noStcpr, PK, order, Date.now() + 5000).catch((e: unknown) => e)
  expect(err).toBeInstanceOf(SkywireError)
  return err as SkywireError
}

describe('dialTransport', () => {
  it('a peer not bound at the resolver and without TCP addresses is offline', async () => {
    const err = await failure(failingNode('ENOTBOUND', 'unreachable: whatever the core says'), ['sudph', 'stcpr'])
    expect(err.code).toBe('EOFFLINE')
  })

  it('a failed handshake is unreachable, even when its message mentions being offline', async () => {
    const err = await failure(failingNode('EHANDSHAKE', 'the peer is not bound (offline?)'), ['sudph'])
    expect(err.code).toBe('EUNREACHABLE')
  })

  it('no TCP address alone is offline', async () => {
    const err = await failure(failingNode('EHANDSHAKE', 'never called'), ['stcpr'])
    expect(err.code).toBe('EOFFLINE')
  })
})

/** A fake node whose dials end when the test says: per transport, after `ms`, with an id or an error code. */
function scriptedNode(script: Partial<Record<'sudph' | 'stcpr', { ms: number; id?: number; code?: ErrorCode }>>) {
  const t0 = Date.now()
  const calls: { transport: string; addrs: string[] | null; at: number }[] = []
  const closed: number[] = []
  const node = {
    sudphAddr: '[::]:7778',
    observedAddr: null,
    closeTransport: (id: number) => void closed.push(id),
    dial: (_pk: string, transport: 'sudph' | 'stcpr', addrs: string[] | null) => {
      calls.push({ transport, addrs, at: Date.now() - t0 })
      const s = script[transport]
      if (!s) return Promise.reject(new SkywireError('EUNREACHABLE', `${transport} not scripted`))
      return new Promise<number>((resolve, reject) =>
        setTimeout(() => (s.code ? reject(new SkywireError(s.code, `${transport} failed`)) : resolve(s.id ?? 1)), s.ms),
      )
    },
  }
  return { node: node as unknown as Node, calls, closed }
}

const V6_AND_V4 = ['[2001:db8::7]:7777', '203.0.113.7:7777']
const withStcpr = { resolve: async () => ({ pk: PK, stcpr: V6_AND_V4, sudph: null }) } as unknown as ServicesClient

describe('dialTransport: happy eyeballs between transports', () => {
  const STAGGER = 300

  it('a punch that works within the stagger wins alone: STCPR is never started', async () => {
    const { node, calls, closed } = scriptedNode({ sudph: { ms: 50, id: 7 }, stcpr: { ms: 10, id: 8 } })
    const r = await dialTransport(node, withStcpr, PK, ['sudph', 'stcpr'], Date.now() + 5000, undefined, STAGGER)
    expect(r).toEqual({ id: 7, transport: 'sudph' })
    expect(calls.map((c) => c.transport)).toEqual(['sudph'])
    expect(closed).toEqual([])
  })

  it('a slow punch: STCPR starts after the stagger, the first up is taken and the later one closed', async () => {
    const { node, calls, closed } = scriptedNode({ sudph: { ms: STAGGER + 400, id: 7 }, stcpr: { ms: 50, id: 8 } })
    const started = Date.now()
    const r = await dialTransport(node, withStcpr, PK, ['sudph', 'stcpr'], Date.now() + 5000, undefined, STAGGER)
    expect(r).toEqual({ id: 8, transport: 'stcpr' })
    expect(Date.now() - started).toBeLessThan(STAGGER + 350)
    const stcpr = calls.find((c) => c.transport === 'stcpr')
    expect(stcpr?.at).toBeGreaterThanOrEqual(STAGGER - 20)
    // Both families' addresses go to the core, which interleaves them.
    expect(stcpr?.addrs).toEqual(V6_AND_V4)
    // The punch completes later: that transport is closed, not leaked.
    await new Promise((res) => setTimeout(res, 600))
    expect(closed).toEqual([7])
  })

  it('a punch that fails at once starts STCPR at once, not after the stagger', async () => {
    const { node, calls } = scriptedNode({ sudph: { ms: 10, code: 'EUNREACHABLE' }, stcpr: { ms: 10, id: 8 } })
    const r = await dialTransport(node, withStcpr, PK, ['sudph', 'stcpr'], Date.now() + 5000, undefined, 2000)
    expect(r.transport).toBe('stcpr')
    expect(calls.find((c) => c.transport === 'stcpr')?.at).toBeLessThan(500)
  })

  it('the order decides who starts first', async () => {
    const { node, calls } = scriptedNode({ sudph: { ms: 10, id: 7 }, stcpr: { ms: STAGGER + 300, id: 8 } })
    const r = await dialTransport(node, withStcpr, PK, ['stcpr', 'sudph'], Date.now() + 5000, undefined, STAGGER)
    expect(calls.map((c) => c.transport)).toEqual(['stcpr', 'sudph'])
    expect(r).toEqual({ id: 7, transport: 'sudph' })
  })

  it('both failing keeps the messages as before: each transport, in the order, and the code', async () => {
    const { node } = scriptedNode({ sudph: { ms: 20, code: 'EHANDSHAKE' }, stcpr: { ms: 10, code: 'EUNREACHABLE' } })
    const err = (await dialTransport(node, withStcpr, PK, ['sudph', 'stcpr'], Date.now() + 5000, undefined, 5).catch((e) => e)) as SkywireError
    expect(err.code).toBe('EUNREACHABLE')
    expect(err.message).toBe(`cannot reach ${PK}: sudph: sudph failed; stcpr: stcpr failed`)
    const off = scriptedNode({ sudph: { ms: 10, code: 'ENOTBOUND' } })
    const e2 = (await dialTransport(off.node, noStcpr, PK, ['sudph', 'stcpr'], Date.now() + 5000, undefined, 5).catch((e) => e)) as SkywireError
    expect(e2.code).toBe('EOFFLINE')
    expect(e2.message).toBe(`${PK} is offline (sudph: sudph failed; stcpr: no TCP address registered (offline?))`)
  })

  it('a deadline already past tries nothing and times out', async () => {
    const { node, calls } = scriptedNode({ sudph: { ms: 10, id: 7 } })
    const err = (await dialTransport(node, withStcpr, PK, ['sudph', 'stcpr'], Date.now() - 1).catch((e) => e)) as SkywireError
    expect(err.code).toBe('ETIMEOUT')
    expect(calls).toEqual([])
  })
})
