/** The store contract itself, on both implementations: counters are atomic and monotonic, TTLs hide entries. */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import Database from 'better-sqlite3'
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest'
import { SqliteStore } from '../../../ts/services/store/sqlite.js'
import type { ServiceEntry, Store } from '../../../ts/services/store/store.js'
import { eventually, sleep, stopSharedRedis, storeFactories } from './helpers.js'

afterAll(stopSharedRedis)

const PK = 'ab'.repeat(32)
const SRC = { key: '192.0.2.7', max: 8 }
const pkN = (i: number) => i.toString(16).padStart(64, '0')
const svc = (pk: string, port: number, extra: Partial<ServiceEntry> = {}) => ({
  address: `${pk}:${port}`,
  pk,
  type: 'vpn',
  country: null,
  version: '1',
  stats: { connectedClients: 0 },
  updatedAt: Date.now(),
  ...extra,
})

describe.each(storeFactories)('store contract on $name', (factory) => {
  let store: Store
  beforeEach(async () => {
    store = await factory.make()
  })
  afterEach(async () => {
    await store.close()
  })

  it('a counter only moves forward, per scope and PK', async () => {
    expect(await store.advanceCounter('http', PK, 10, 60_000)).toBe(true)
    expect(await store.advanceCounter('http', PK, 10, 60_000)).toBe(false)
    expect(await store.advanceCounter('http', PK, 9, 60_000)).toBe(false)
    expect(await store.advanceCounter('http', PK, 11, 60_000)).toBe(true)
    expect(await store.advanceCounter('udp-bind', PK, 5, 60_000)).toBe(true)
    expect(await store.advanceCounter('http', 'cd'.repeat(32), 1, 60_000)).toBe(true)
  })

  it('of many concurrent attempts with one value, exactly one wins', async () => {
    const results = await Promise.all(Array.from({ length: 50 }, () => store.advanceCounter('http', PK, 42, 60_000)))
    expect(results.filter(Boolean)).toHaveLength(1)
  })

  it('an expired counter accepts any value again (UDP timestamps are also bounded by the clock window)', async () => {
    // TTLs are far longer than one store call can take on a busy machine; expiry is then polled, not slept.
    expect(await store.advanceCounter('udp-connect', PK, 100, 1000)).toBe(true)
    expect(await store.advanceCounter('udp-connect', PK, 50, 1000)).toBe(false)
    await eventually(async () => store.advanceCounter('udp-connect', PK, 50, 1000), 10_000)
  })

  it('counters of one-off keys are forgotten after their TTL, so the store does not grow with them', async () => {
    // 30 writes must all be live when counted: a TTL of 300 ms was not, once a busy machine stalled the loop.
    for (let i = 1; i <= 30; i++) expect(await store.advanceCounter('http', pkN(i), 1_000 + i, 2000)).toBe(true)
    expect((await store.counts()).counters).toBe(30)
    // Polled, not slept: expiry is due after 2 s, the bound only keeps a broken store from hanging.
    await eventually(async () => (await store.counts()).counters === 0, 15_000)
  })

  it('a key holds one entry: 50 registrations on 50 ports (and a type change) leave one', async () => {
    for (let port = 1; port <= 50; port++) expect(await store.putService(svc(PK, port), 10_000, SRC)).not.toBeNull()
    const page = await store.listServices({ type: 'vpn', offset: 0, limit: 100 })
    expect(page.total).toBe(1)
    expect(page.entries[0]?.address).toBe(`${PK}:50`)
    expect(await store.getService(`${PK}:1`)).toBeNull()
    await store.putService(svc(PK, 51, { type: 'proxy' }), 10_000, SRC)
    expect((await store.listServices({ type: 'vpn', offset: 0, limit: 100 })).total).toBe(0)
    expect(await store.getService(`${PK}:50`)).toBeNull()
    expect((await store.counts()).services).toBe(1)
    expect(await store.countServices('vpn')).toEqual({ total: 0, byCountry: {} })
  })

  it('caps live entries per source; re-registering an own entry is not a new one; a freed slot can be reused', async () => {
    for (let i = 1; i <= 8; i++) expect(await store.putService(svc(pkN(i), 3), 10_000, SRC)).not.toBeNull()
    expect(await store.putService(svc(pkN(9), 3), 10_000, SRC)).toBeNull()
    expect(await store.getService(`${pkN(9)}:3`)).toBeNull()
    // The same keys heartbeat (and move port) at the cap.
    expect(await store.putService(svc(pkN(1), 3), 10_000, SRC)).not.toBeNull()
    expect(await store.putService(svc(pkN(2), 4), 10_000, SRC)).not.toBeNull()
    // Another source is not affected.
    expect(await store.putService(svc(pkN(9), 3), 10_000, { key: '192.0.2.8', max: 8 })).not.toBeNull()
    expect((await store.counts()).services).toBe(9)
    // Key 9 moving to the full source is refused and keeps its entry where it was.
    expect(await store.putService(svc(pkN(9), 5), 10_000, SRC)).toBeNull()
    expect(await store.getService(`${pkN(9)}:3`)).not.toBeNull()
    expect(await store.deleteService(`${pkN(3)}:3`)).toBe(true)
    expect(await store.putService(svc(pkN(9), 5), 10_000, SRC)).not.toBeNull()
    expect(await store.getService(`${pkN(9)}:3`)).toBeNull()
    expect((await store.counts()).services).toBe(8)
  })

  it('expired entries do not count against the source cap', async () => {
    for (let i = 1; i <= 2; i++) expect(await store.putService(svc(pkN(i), 3), 1000, { key: 'x', max: 2 })).not.toBeNull()
    expect(await store.putService(svc(pkN(3), 3), 1000, { key: 'x', max: 2 })).toBeNull()
    await eventually(async () => (await store.putService(svc(pkN(3), 3), 1000, { key: 'x', max: 2 })) !== null, 10_000)
  })

  it('since is kept over heartbeats of a key and starts again after its entry expired', async () => {
    const first = await store.putService(svc(PK, 3), 1000, SRC)
    await sleep(20)
    const again = await store.putService(svc(PK, 4), 1000, SRC)
    expect(again?.since).toBe(first?.since)
    expect(again!.updatedAt).toBeGreaterThanOrEqual(first!.since!)
    await eventually(async () => (await store.getService(`${PK}:4`)) === null, 10_000)
    const fresh = await store.putService(svc(PK, 4), 1000, SRC)
    expect(fresh!.since).toBeGreaterThan(first!.since!)
  })

  it('round-trips entries and hides them after their TTL', async () => {
    await store.putSudph({ pk: PK, observed: '192.0.2.1:1', local: ['10.0.0.1:1'], updatedAt: 1 }, 1000)
    await store.putStcpr({ pk: PK, addresses: ['192.0.2.1:2'], updatedAt: 1 }, 1000)
    const e = await store.putService(
      { address: `${PK}:1`, pk: PK, type: 'vpn', country: null, version: '1', stats: { connectedClients: 0 }, updatedAt: 1 },
      1000,
      SRC,
    )
    expect(e!.expiresAt).toBeGreaterThan(Date.now())
    expect(await store.getSudph(PK)).toEqual({ pk: PK, observed: '192.0.2.1:1', local: ['10.0.0.1:1'], updatedAt: 1 })
    expect(await store.counts()).toMatchObject({ stcpr: 1, sudph: 1, services: 1, transports: 0 })
    // The service was put last, so it expires last; wait for all three.
    await eventually(async () => (await store.getSudph(PK)) === null && (await store.getStcpr(PK)) === null && (await store.getService(`${PK}:1`)) === null, 10_000)
    expect(await store.getSudph(PK)).toBeNull()
    expect(await store.getStcpr(PK)).toBeNull()
    expect(await store.getService(`${PK}:1`)).toBeNull()
    expect(await store.counts()).toMatchObject({ stcpr: 0, sudph: 0, services: 0, transports: 0 })
  })

  it('changing a service\'s type moves it between type listings', async () => {
    const base = { address: `${PK}:1`, pk: PK, country: 'SE', version: '1', stats: { connectedClients: 0 }, updatedAt: 1 }
    await store.putService({ ...base, type: 'vpn' }, 10_000, SRC)
    await store.putService({ ...base, type: 'proxy' }, 10_000, SRC)
    expect((await store.listServices({ type: 'vpn', offset: 0, limit: 10 })).total).toBe(0)
    expect((await store.listServices({ type: 'proxy', offset: 0, limit: 10 })).total).toBe(1)
  })

  it('ping works and close is clean', async () => {
    await expect(store.ping()).resolves.toBeUndefined()
  })
})

describe('SQLite upgrade', () => {
  it('a database from before one-entry-per-key and per-source caps is upgraded at open, its entries kept', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'skywire-store-upgrade-'))
    try {
      const file = join(dir, 'services.db')
      const old = new Database(file)
      old.exec(`CREATE TABLE services (
        address TEXT PRIMARY KEY, type TEXT NOT NULL, country TEXT, version TEXT NOT NULL,
        json TEXT NOT NULL, expires_at INTEGER NOT NULL)`)
      const entry = { ...svc(PK, 7), expiresAt: Date.now() + 60_000 }
      old.prepare('INSERT INTO services VALUES (?, ?, ?, ?, ?, ?)').run(entry.address, 'vpn', null, '1', JSON.stringify(entry), entry.expiresAt)
      old.close()
      const store = new SqliteStore({ file })
      try {
        expect(await store.getService(`${PK}:7`)).toMatchObject({ address: `${PK}:7` })
        // The old row belongs to its key: a new registration of the key replaces it.
        expect(await store.putService(svc(PK, 8), 10_000, SRC)).not.toBeNull()
        expect(await store.getService(`${PK}:7`)).toBeNull()
        expect((await store.listServices({ type: 'vpn', offset: 0, limit: 10 })).total).toBe(1)
      } finally {
        await store.close()
      }
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })
})
