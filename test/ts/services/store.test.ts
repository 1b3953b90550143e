/** The store contract itself, on both implementations: counters are atomic and monotonic, TTLs hide entries. */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest'
import { SqliteStore } from '../../../ts/services/store/sqlite.js'
import { availableSqliteDrivers, openSqlDb, withoutSqliteExperimentalWarning } from '../../../ts/services/store/sqlite-driver.js'
import type { ServiceEntry, Store } from '../../../ts/services/store/store.js'
import { eventually, sleep, stopSharedRedis, storeFactories } from './helpers.js'

// Where this Node has both SQLite engines (node:sqlite and a better-sqlite3 built for it), the contract runs on each.
const DRIVERS = availableSqliteDrivers()
const contractFactories = [
  ...DRIVERS.map((driver) => ({ name: `sqlite (${driver})`, make: async (): Promise<Store> => new SqliteStore({ file: ':memory:', driver }) })),
  ...storeFactories.filter((f) => f.name !== 'sqlite'),
]

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

describe.each(contractFactories)('store contract on $name', (factory) => {
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
    await eventually(
      async () => (await store.getSudph(PK)) === null && (await store.getStcpr(PK)) === null && (await store.getService(`${PK}:1`)) === null,
      10_000,
    )
    expect(await store.getSudph(PK)).toBeNull()
    expect(await store.getStcpr(PK)).toBeNull()
    expect(await store.getService(`${PK}:1`)).toBeNull()
    expect(await store.counts()).toMatchObject({ stcpr: 0, sudph: 0, services: 0, transports: 0 })
  })

  it("changing a service's type moves it between type listings", async () => {
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
      const old = openSqlDb(file)
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

describe('SQLite engines', () => {
  it('this Node has at least one engine, and node:sqlite whenever Node ships it unflagged', () => {
    const [major = 0, minor = 0] = process.versions.node.split('.').map(Number)
    // Unflagged in 22.13 and 23.4 (flagged from 22.5, so 22.5-22.12 and 23.0-23.3 count as without).
    const nodeHasIt = major >= 24 || (major === 23 && minor >= 4) || (major === 22 && minor >= 13)
    expect(DRIVERS.length).toBeGreaterThan(0)
    expect(DRIVERS.includes('node:sqlite')).toBe(nodeHasIt)
    const store = new SqliteStore({ file: ':memory:' })
    expect(store.driver).toBe(DRIVERS[0])
    void store.close()
  })

  // Every writer/reader pair this Node can run: on Node 20 only better-sqlite3 (a reopened file keeps its rows);
  // where both engines load, a file written by one is read and written by the other.
  const pairs = DRIVERS.flatMap((writer) => DRIVERS.map((reader) => ({ writer, reader })))
  it.each(pairs)('a database file written with $writer opens with $reader, rows and schema intact', async ({ writer, reader }) => {
    const dir = mkdtempSync(join(tmpdir(), 'skywire-store-engines-'))
    try {
      const file = join(dir, 'services.db')
      const a = new SqliteStore({ file, driver: writer })
      expect(a.driver).toBe(writer)
      const t = { id: 'ee'.repeat(16), edges: [PK, pkN(2)] as [string, string], type: 'sudph' as const, updatedAt: Date.now() }
      try {
        expect(await a.putService(svc(PK, 7), 60_000, SRC)).not.toBeNull()
        await a.putTransport(t, 60_000)
        await a.putStcpr({ pk: pkN(3), addresses: ['192.0.2.1:7777'], updatedAt: 1 }, 60_000)
        expect(await a.advanceCounter('http', PK, 5, 60_000)).toBe(true)
      } finally {
        await a.close()
      }
      const b = new SqliteStore({ file, driver: reader })
      expect(b.driver).toBe(reader)
      try {
        expect(await b.getService(`${PK}:7`)).toMatchObject({ address: `${PK}:7`, type: 'vpn' })
        expect(await b.getTransport(t.id)).toMatchObject({ id: t.id, edges: t.edges })
        expect(await b.getStcpr(pkN(3))).toMatchObject({ addresses: ['192.0.2.1:7777'] })
        // The counter came along: the same value is refused, a larger one taken.
        expect(await b.advanceCounter('http', PK, 5, 60_000)).toBe(false)
        expect(await b.advanceCounter('http', PK, 6, 60_000)).toBe(true)
        expect(await b.counts()).toEqual({ stcpr: 1, sudph: 0, services: 1, transports: 1, counters: 1 })
        // The reader writes too, in a transaction over the writer's indexes: re-registering the key replaces its entry.
        expect(await b.putService(svc(PK, 8), 60_000, SRC)).not.toBeNull()
        expect((await b.listServices({ type: 'vpn', offset: 0, limit: 10 })).entries.map((e) => e.address)).toEqual([`${PK}:8`])
      } finally {
        await b.close()
      }
      const check = openSqlDb(file, writer)
      try {
        expect(check.prepare('PRAGMA integrity_check').get()).toEqual({ integrity_check: 'ok' })
        expect({ ...check.prepare('PRAGMA journal_mode').get() }).toEqual({ journal_mode: 'wal' })
      } finally {
        check.close()
      }
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })

  it('a transaction that throws leaves nothing behind', () => {
    for (const driver of DRIVERS) {
      const db = openSqlDb(':memory:', driver)
      try {
        db.exec('CREATE TABLE t (x INTEGER)')
        expect(() =>
          db.transaction(() => {
            db.prepare('INSERT INTO t VALUES (?)').run(1)
            throw new Error('boom')
          }),
        ).toThrow('boom')
        expect(db.transaction(() => db.prepare('INSERT INTO t VALUES (?)').run(2).changes)).toBe(1)
        expect(
          db
            .prepare('SELECT x FROM t')
            .all()
            .map((r) => r.x),
        ).toEqual([2])
      } finally {
        db.close()
      }
    }
  })

  it("Node 22's SQLite ExperimentalWarning is dropped while node:sqlite loads, and no other warning", async () => {
    const seen: string[] = []
    const onWarning = (w: Error) => seen.push(`${w.name}: ${w.message}`)
    process.on('warning', onWarning)
    try {
      const out = withoutSqliteExperimentalWarning(() => {
        process.emitWarning('SQLite is an experimental feature and might change at any time', 'ExperimentalWarning')
        process.emitWarning('Another is an experimental feature (store test)', 'ExperimentalWarning')
        process.emitWarning('SQLite is an experimental feature (as a plain warning, store test)')
        return 42
      })
      expect(out).toBe(42)
      expect(() =>
        withoutSqliteExperimentalWarning(() => {
          throw new Error('load failed')
        }),
      ).toThrow('load failed')
      // Restored afterwards, also after a throw.
      process.emitWarning('SQLite is an experimental feature (after loading, store test)', 'ExperimentalWarning')
      await new Promise((r) => setTimeout(r, 20))
      expect(seen).toEqual([
        'ExperimentalWarning: Another is an experimental feature (store test)',
        'Warning: SQLite is an experimental feature (as a plain warning, store test)',
        'ExperimentalWarning: SQLite is an experimental feature (after loading, store test)',
      ])
    } finally {
      process.off('warning', onWarning)
    }
  })

  it('an unknown engine name is one clear error', () => {
    expect(() => openSqlDb(':memory:', 'sqlite4' as never)).toThrow(/unknown SQLite driver "sqlite4"/)
  })
})
