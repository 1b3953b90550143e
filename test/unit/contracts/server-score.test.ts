/** The ranking shared by `vpn list`, `vpn start`, auto-connect and the UI. */
import { describe, expect, it } from 'vitest'
import type { ServiceEntry } from '../../../ts/contracts/services.js'
import { parseSortKey, rankServers, score } from '../../../ts/contracts/server-score.js'

const NOW = 1_800_000_000_000
const H = 3600 * 1000

function e(pk: string, o: { cc?: string | null; clients?: number; listedH?: number } = {}): ServiceEntry {
  const p = pk.repeat(64 / pk.length)
  return {
    address: `${p}:3`,
    pk: p,
    type: 'vpn',
    country: o.cc === undefined ? 'DE' : o.cc,
    version: '0.2.0',
    stats: { connectedClients: o.clients ?? 0 },
    ...(o.listedH !== undefined ? { since: NOW - o.listedH * H } : {}),
    updatedAt: NOW,
    expiresAt: NOW + 90_000,
  }
}

describe('score', () => {
  it('is 0..100 and follows the documented weights', () => {
    expect(score(0, 0, 24 * 3600)).toBe(100)
    expect(score(null, 0, null)).toBe(30)
    expect(score(250, 10, 12 * 3600)).toBe(25 + 15 + 10)
    expect(score(5000, 1e9, 1e9)).toBeCloseTo(20, 0)
    expect(score(-5, -3, -1)).toBeLessThanOrEqual(100)
  })

  it('a fresh server claiming no load does not outrank an established one with a few clients', () => {
    expect(score(40, 0, 0)).toBeLessThan(score(40, 3, 24 * 3600))
  })
})

describe('rankServers', () => {
  const entries = [
    e('a', { clients: 5, listedH: 24 }),
    e('b', { clients: 0, listedH: 1, cc: 'US' }),
    e('c', { clients: 1, listedH: 30 }),
    e('d', { cc: null }),
  ]
  const latencies = new Map<string, number | null>([
    ['a'.repeat(64), 20],
    ['b'.repeat(64), 300],
    ['c'.repeat(64), null],
  ])

  it('orders by score by default, and by each sort key', () => {
    const pks = (o: Parameters<typeof rankServers>[1]) => rankServers(entries, { latencies, nowMs: NOW, ...o }).map((r) => r.pk[0])
    // a: 48 + 20 + 20; b: 20 + 30 + 0.8; c: 0 + 27.3 + 20; d: 0 + 30 + 0.
    expect(pks({})).toEqual(['a', 'b', 'c', 'd'])
    expect(rankServers(entries, { latencies, nowMs: NOW }).map((r) => r.score)).toEqual([88, 50.8, 47.3, 30])
    expect(pks({ sort: 'latency' })).toEqual(['a', 'b', 'c', 'd'])
    expect(pks({ sort: 'load' })).toEqual(['b', 'd', 'c', 'a'])
    expect(pks({ sort: 'country' })).toEqual(['a', 'c', 'b', 'd'])
    expect(pks({ sort: 'uptime' })).toEqual(['c', 'a', 'b', 'd'])
  })

  it('filters by country, excludes this visor, drops duplicates and entries that are not keys', () => {
    const bad = { ...e('f'), address: '\u001b[31mevil:3', pk: '\u001b[31mevil' }
    const r = rankServers([...entries, entries[0] as ServiceEntry, bad], { country: 'de', exclude: ['c'.repeat(64)], nowMs: NOW })
    expect(r.map((x) => x.pk[0])).toEqual(['a'])
  })

  it('shows no country that is not a two-letter code', () => {
    const r = rankServers([e('a', { cc: 'Germany<script>' })], { nowMs: NOW })
    expect(r[0]?.country).toBeNull()
  })

  it('refuses an unknown sort key', () => {
    expect(parseSortKey(' Latency ')).toBe('latency')
    expect(() => parseSortKey('fastest')).toThrow(/sort must be one of score, latency, load, country, uptime/)
    expect(() => parseSortKey('__proto__')).toThrow()
  })
})
