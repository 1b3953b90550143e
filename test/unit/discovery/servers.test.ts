/** Paging the VPN list against a fake services client that can lie about its totals or never end. */
import { describe, expect, it } from 'vitest'
import type { PageResult, ServiceEntry } from '../../../ts/contracts/services.js'
import { listAllServers, type FetchPage } from '../../../ts/discovery/servers.js'

function entry(i: number): ServiceEntry {
  const pk = i.toString(16).padStart(64, '0')
  return { address: `${pk}:3`, pk, type: 'vpn', country: 'DE', version: '0.2.0', stats: { connectedClients: 0 }, updatedAt: 0, expiresAt: 0 }
}

/** An honest services list of `n` entries, with at most `max` a page, counting requests. */
function honest(n: number, max = 100): FetchPage & { calls: number } {
  const all = Array.from({ length: n }, (_, i) => entry(i))
  const f = (async (offset: number, limit: number): Promise<PageResult<ServiceEntry>> => {
    f.calls++
    const l = Math.min(limit, max)
    return { entries: all.slice(offset, offset + l), total: n, offset, limit: l }
  }) as FetchPage & { calls: number }
  f.calls = 0
  return f
}

describe('listAllServers', () => {
  it('reads past the first 100 entries, every entry once', async () => {
    const f = honest(250)
    const r = await listAllServers(f)
    expect(r.entries).toHaveLength(250)
    expect(new Set(r.entries.map((e) => e.address)).size).toBe(250)
    expect(r.truncated).toBe(false)
    expect(f.calls).toBe(3)
  })

  it('an exact number of pages ends on the empty page after them', async () => {
    const f = honest(200)
    expect((await listAllServers(f)).entries).toHaveLength(200)
    expect(f.calls).toBe(3)
  })

  it('a server with a smaller page size than asked is still read to the end', async () => {
    const r = await listAllServers(honest(120, 50))
    expect(r.entries).toHaveLength(120)
  })

  it('a total that says less than there is does not stop the paging', async () => {
    const base = honest(230)
    const r = await listAllServers(async (o, l) => ({ ...(await base(o, l)), total: 5 }))
    expect(r.entries).toHaveLength(230)
  })

  it('a total that says more than there is does not make it ask forever', async () => {
    const base = honest(30)
    let calls = 0
    const r = await listAllServers(async (o, l) => {
      calls++
      return { ...(await base(o, l)), total: 1_000_000 }
    })
    expect(r.entries).toHaveLength(30)
    expect(calls).toBe(1)
  })

  it('a server that ignores the offset (the same page again) ends after the repeat', async () => {
    const base = honest(100)
    let calls = 0
    const r = await listAllServers(async (_o, l) => {
      calls++
      return base(0, l)
    })
    expect(r.entries).toHaveLength(100)
    expect(calls).toBe(2)
  })

  it('an endless list stops at the bound and says it was cut', async () => {
    let i = 0
    const endless: FetchPage = async (offset, limit) => ({
      entries: Array.from({ length: limit }, () => entry(i++)),
      total: Number.MAX_SAFE_INTEGER,
      offset,
      limit,
    })
    const r = await listAllServers(endless, { maxEntries: 1000 })
    expect(r.entries).toHaveLength(1000)
    expect(r.truncated).toBe(true)
  })

  it('pages with garbage entries or no entries array are survived', async () => {
    const r = await listAllServers(async () => ({
      entries: [null, { address: 7 }, entry(1)] as unknown as ServiceEntry[],
      total: Number.NaN,
      offset: 0,
      limit: 100,
    }))
    expect(r.entries.map((e) => e.pk)).toEqual([entry(1).pk])
    const empty = await listAllServers(async () => ({}) as PageResult<ServiceEntry>)
    expect(empty.entries).toEqual([])
  })
})
