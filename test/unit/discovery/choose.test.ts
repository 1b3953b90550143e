/** Measuring latency within bounds, and connecting to the best server that works, against fakes. */
import { createServer, type Server } from 'node:net'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { SkywireError } from '../../../ts/contracts/errors.js'
import type { ServiceEntry } from '../../../ts/contracts/services.js'
import { connectFirst, rankedCandidates } from '../../../ts/discovery/choose.js'
import { defaultProbe, LatencyCache, measureLatencies, probeAddresses, tcpConnectProbe, type LatencyProbe } from '../../../ts/discovery/latency.js'

const pk = (c: string) => c.repeat(64)
const t = (c: string) => ({ pk: pk(c), addresses: ['192.0.2.1:7777'] })

describe('measureLatencies', () => {
  it('keeps at most `concurrency` probes in flight and returns each result', async () => {
    let inFlight = 0
    let most = 0
    const probe: LatencyProbe = async (x) => {
      inFlight++
      most = Math.max(most, inFlight)
      await new Promise((r) => setTimeout(r, 10))
      inFlight--
      return x.pk.startsWith('a') ? 12 : null
    }
    const r = await measureLatencies(['a', 'b', 'c', 'd', 'e', 'f'].map(t), probe, { concurrency: 2 })
    expect(most).toBe(2)
    expect(r.get(pk('a'))).toBe(12)
    expect(r.get(pk('b'))).toBeNull()
    expect(r.size).toBe(6)
  })

  it('a probe that never answers is dropped at its timeout, and the budget bounds the whole', async () => {
    const never: LatencyProbe = () => new Promise(() => {})
    const t0 = Date.now()
    const r = await measureLatencies(['a', 'b', 'c', 'd'].map(t), never, { concurrency: 1, timeoutMs: 100, budgetMs: 250 })
    const took = Date.now() - t0
    expect(took).toBeLessThan(1000)
    expect([...r.values()].every((v) => v === null)).toBe(true)
  })

  it('answers that are not a latency (negative, NaN, a string, a throw) count as none', async () => {
    const odd: Record<string, unknown> = { [pk('a')]: -1, [pk('b')]: Number.NaN, [pk('c')]: '5' }
    const probe: LatencyProbe = async (x) => {
      if (x.pk === pk('d')) throw new Error('boom')
      return odd[x.pk] as number
    }
    const r = await measureLatencies(['a', 'b', 'c', 'd'].map(t), probe)
    expect([...r.values()]).toEqual([null, null, null, null])
  })

  it('the cache answers within its lifetime, then probes again', async () => {
    let now = 0
    const cache = new LatencyCache(1000, () => now)
    let calls = 0
    const probe: LatencyProbe = async () => {
      calls++
      return 7
    }
    await measureLatencies([t('a')], probe, { cache })
    await measureLatencies([t('a')], probe, { cache })
    expect(calls).toBe(1)
    now = 2000
    await measureLatencies([t('a')], probe, { cache })
    expect(calls).toBe(2)
  })
})

describe('tcpConnectProbe', () => {
  let srv: Server
  let port = 0
  beforeAll(async () => {
    srv = createServer((s) => s.destroy())
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r))
    port = (srv.address() as { port: number }).port
  })
  afterAll(() => new Promise<void>((r) => srv.close(() => r())))

  it('times a connect, skips addresses that are not HOST:PORT, and is null when nothing answers', async () => {
    const ms = await tcpConnectProbe({ pk: pk('a'), addresses: ['nonsense', `127.0.0.1:${port}`] }, 1000)
    expect(ms).not.toBeNull()
    expect(ms as number).toBeGreaterThanOrEqual(0)
    expect(ms as number).toBeLessThan(1000)
    // A closed port on loopback: refused at once.
    srv.close()
    expect(await tcpConnectProbe({ pk: pk('a'), addresses: [`127.0.0.1:${port}`] }, 500)).toBeNull()
  })
})

describe('probeAddresses', () => {
  it('takes STCPR addresses and the SUDPH binding (observed first), at most 8 each, strings only', () => {
    expect(probeAddresses(null)).toEqual({ addresses: [], sudph: [] })
    expect(probeAddresses({ pk: pk('a'), stcpr: ['1.2.3.4:7777'], sudph: { observed: '5.6.7.8:7778', local: ['10.0.0.2:7778'] } })).toEqual({
      addresses: ['1.2.3.4:7777'],
      sudph: ['5.6.7.8:7778', '10.0.0.2:7778'],
    })
    const hostile = { pk: pk('a'), stcpr: [...Array(100).fill('1.1.1.1:1'), 5, null], sudph: { observed: 7, local: 'nope' } }
    const r = probeAddresses(hostile as never)
    expect(r.addresses).toHaveLength(8)
    expect(r.sudph).toEqual([])
  })

  it('the default probe falls back to a TCP connect when there is no signed probe or no SUDPH binding', async () => {
    const srv = createServer((s) => s.destroy())
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r))
    const port = (srv.address() as { port: number }).port
    const ms = await defaultProbe({ pk: pk('a'), addresses: [`127.0.0.1:${port}`], sudph: [] }, 1000)
    await new Promise<void>((r) => srv.close(() => r()))
    expect(ms).not.toBeNull()
  })
})

function entry(c: string, cc: string, clients: number): ServiceEntry {
  return {
    address: `${pk(c)}:3`,
    pk: pk(c),
    type: 'vpn',
    country: cc,
    version: '0.2.0',
    stats: { connectedClients: clients },
    updatedAt: 0,
    expiresAt: 0,
  }
}

describe('rankedCandidates', () => {
  const entries = [entry('a', 'DE', 9), entry('b', 'DE', 0), entry('c', 'US', 0), entry('e', 'DE', 0)]
  const src = {
    fetchPage: (country: string | undefined) => async (offset: number, limit: number) => {
      const all = entries.filter((e) => !country || e.country === country)
      return { entries: all.slice(offset, offset + limit), total: all.length, offset, limit }
    },
    addresses: async (p: string) => ({ addresses: p === pk('e') ? [] : ['192.0.2.1:7777'], sudph: [] }),
    probe: (async (x) => ({ [pk('a')]: 10, [pk('b')]: 400, [pk('c')]: 5 })[x.pk] ?? null) as LatencyProbe,
  }

  it('ranks the country by score with measured latency, without this visor', async () => {
    const r = await rankedCandidates(src, { country: 'DE', self: pk('b') })
    expect(r.map((x) => x.pk)).toEqual([pk('a'), pk('e')])
    expect(r[0]?.latencyMs).toBe(10)
    // No address known: not probed, no latency.
    expect(r[1]?.latencyMs).toBeNull()
  })

  it('without a country, the best overall', async () => {
    expect((await rankedCandidates(src))[0]?.pk).toBe(pk('c'))
  })
})

describe('connectFirst', () => {
  it('skips a server that refuses or fails for the next best', async () => {
    const tried: string[] = []
    const r = await connectFirst(
      [{ pk: pk('a') }, { pk: pk('b') }, { pk: pk('c') }],
      async (p) => {
        tried.push(p)
        if (p === pk('a')) throw new SkywireError('EREMOTE', 'not on the whitelist')
        if (p === pk('b')) throw new SkywireError('ETIMEOUT', 'no answer')
        return 'ok'
      },
      Date.now() + 10_000,
    )
    expect(r.pk).toBe(pk('c'))
    expect(r.failed.map((f) => f.pk)).toEqual([pk('a'), pk('b')])
    expect(tried).toHaveLength(3)
  })

  it('gives each attempt only the time left, and stops when it runs out', async () => {
    const given: number[] = []
    const err = await connectFirst(
      [{ pk: pk('a') }, { pk: pk('b') }, { pk: pk('c') }],
      async (_p, s) => {
        given.push(s)
        await new Promise((r) => setTimeout(r, 1100))
        throw new Error('slow')
      },
      Date.now() + 2500,
    ).catch((e: unknown) => e as SkywireError)
    expect(given[0]).toBe(2)
    expect(given.length).toBeLessThanOrEqual(2)
    expect((err as SkywireError).code).toBe('ETIMEOUT')
    expect((err as SkywireError).message).toMatch(/tried \d: .*slow/)
  })

  it('no deadline: every candidate gets the per-attempt maximum', async () => {
    const given: number[] = []
    await connectFirst([{ pk: pk('a') }], async (_p, s) => given.push(s), null)
    expect(given).toEqual([3600])
  })

  it('a failure of our own side (the VPN already on) stops at once', async () => {
    let calls = 0
    const err = await connectFirst(
      [{ pk: pk('a') }, { pk: pk('b') }],
      async () => {
        calls++
        throw new SkywireError('ESTATE', 'the VPN is already connected')
      },
      null,
    ).catch((e: unknown) => e as SkywireError)
    expect((err as SkywireError).code).toBe('ESTATE')
    expect(calls).toBe(1)
  })

  it('no candidates is not found', async () => {
    await expect(connectFirst([], async () => 1, null)).rejects.toThrow(/no VPN server/)
  })
})
