/**
 * The default store: one embedded SQLite file (WAL), no set-up. Expired rows
 * are filtered out of every read and swept on a timer, so a restart keeps
 * live entries and forgets dead ones. The engine underneath is node:sqlite or
 * better-sqlite3 (see sqlite-driver.ts); the schema and the file are the same.
 */
import { mkdirSync } from 'node:fs'
import { dirname } from 'node:path'
import { openSqlDb, type SqlDb, type SqliteDriverName } from './sqlite-driver.js'
import { SkywireError } from '../../contracts/errors.js'
import {
  MAX_SCAN,
  type CounterScope,
  type EntryCounts,
  type Page,
  type ServiceCounts,
  type ServiceEntry,
  type ServiceQuery,
  type ServiceSource,
  type StcprRecord,
  type Store,
  type SudphRecord,
  type TransportEntry,
} from './store.js'

const SCHEMA = `
CREATE TABLE IF NOT EXISTS counters (
  scope TEXT NOT NULL, pk TEXT NOT NULL, value INTEGER NOT NULL, expires_at INTEGER,
  PRIMARY KEY (scope, pk)
);
CREATE TABLE IF NOT EXISTS stcpr (pk TEXT PRIMARY KEY, json TEXT NOT NULL, expires_at INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS sudph (pk TEXT PRIMARY KEY, json TEXT NOT NULL, expires_at INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS services (
  address TEXT PRIMARY KEY, type TEXT NOT NULL, country TEXT, version TEXT NOT NULL,
  json TEXT NOT NULL, expires_at INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS services_by_type ON services (type, address);
CREATE TABLE IF NOT EXISTS transports (
  id TEXT PRIMARY KEY, edge_a TEXT NOT NULL, edge_b TEXT NOT NULL, json TEXT NOT NULL, expires_at INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS transports_by_a ON transports (edge_a, id);
CREATE INDEX IF NOT EXISTS transports_by_b ON transports (edge_b, id);
`

// Columns added after the first release: a database from an older version gets them at open.
// pk: a key holds one entry; source: the per-source cap. Neither is part of the public entry JSON.
const SERVICE_COLUMNS: [string, string][] = [
  ['pk', 'TEXT'],
  ['source', 'TEXT'],
]
const SERVICE_INDEXES = `
UPDATE services SET pk = substr(address, 1, 64) WHERE pk IS NULL;
CREATE INDEX IF NOT EXISTS services_by_pk ON services (pk);
CREATE INDEX IF NOT EXISTS services_by_source ON services (source, expires_at);
CREATE INDEX IF NOT EXISTS counters_by_expiry ON counters (expires_at);
`

export interface SqliteStoreOptions {
  /** A file path, or ":memory:". */
  file: string
  /** How often expired rows are deleted (they are invisible before that anyway). */
  sweepIntervalMs?: number
  /** The SQLite engine; by default node:sqlite where this Node has it, else better-sqlite3. */
  driver?: SqliteDriverName
}

export class SqliteStore implements Store {
  readonly kind = 'sqlite' as const
  private readonly db: SqlDb
  /** The SQLite engine underneath. */
  readonly driver: SqliteDriverName
  private readonly sweepTimer: NodeJS.Timeout
  private readonly st: ReturnType<SqliteStore['prepare']>

  constructor(opts: SqliteStoreOptions) {
    try {
      if (opts.file !== ':memory:') mkdirSync(dirname(opts.file), { recursive: true })
      this.db = openSqlDb(opts.file, opts.driver)
      this.db.pragma('journal_mode = WAL')
      this.db.pragma('synchronous = NORMAL')
      this.db.pragma('busy_timeout = 5000')
      this.db.exec(SCHEMA)
      const have = new Set((this.db.prepare('PRAGMA table_info(services)').all() as { name: string }[]).map((c) => c.name))
      for (const [col, type] of SERVICE_COLUMNS) if (!have.has(col)) this.db.exec(`ALTER TABLE services ADD COLUMN ${col} ${type}`)
      this.db.exec(SERVICE_INDEXES)
    } catch (err) {
      throw new SkywireError('ECONFIG', `cannot open database ${opts.file}: ${(err as Error).message}`, { cause: err })
    }
    this.driver = this.db.driver
    this.st = this.prepare()
    this.sweepTimer = setInterval(() => this.sweep(), opts.sweepIntervalMs ?? 10_000)
    this.sweepTimer.unref()
  }

  private prepare() {
    const db = this.db
    return {
      advance: db.prepare(
        `INSERT INTO counters (scope, pk, value, expires_at) VALUES (?, ?, ?, ?)
         ON CONFLICT (scope, pk) DO UPDATE SET value = excluded.value, expires_at = excluded.expires_at
         WHERE counters.value < excluded.value OR (counters.expires_at IS NOT NULL AND counters.expires_at <= ?)`,
      ),
      putStcpr: db.prepare('INSERT OR REPLACE INTO stcpr (pk, json, expires_at) VALUES (?, ?, ?)'),
      getStcpr: db.prepare('SELECT json FROM stcpr WHERE pk = ? AND expires_at > ?'),
      delStcpr: db.prepare('DELETE FROM stcpr WHERE pk = ? AND expires_at > ?'),
      putSudph: db.prepare('INSERT OR REPLACE INTO sudph (pk, json, expires_at) VALUES (?, ?, ?)'),
      getSudph: db.prepare('SELECT json FROM sudph WHERE pk = ? AND expires_at > ?'),
      putService: db.prepare(
        `INSERT OR REPLACE INTO services (address, type, country, version, json, expires_at, pk, source)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
      ),
      liveOfPk: db.prepare('SELECT json FROM services WHERE pk = ? AND expires_at > ? ORDER BY expires_at DESC LIMIT 1'),
      delOfPk: db.prepare('DELETE FROM services WHERE pk = ?'),
      countOfSource: db.prepare('SELECT COUNT(*) AS n FROM services WHERE source = ? AND expires_at > ? AND pk != ?'),
      getService: db.prepare('SELECT json, expires_at FROM services WHERE address = ? AND expires_at > ?'),
      delService: db.prepare('DELETE FROM services WHERE address = ? AND expires_at > ?'),
      countByCountry: db.prepare('SELECT country, COUNT(*) AS n FROM services WHERE type = ? AND expires_at > ? GROUP BY country'),
      putTransport: db.prepare('INSERT OR REPLACE INTO transports (id, edge_a, edge_b, json, expires_at) VALUES (?, ?, ?, ?, ?)'),
      getTransport: db.prepare('SELECT json, expires_at FROM transports WHERE id = ? AND expires_at > ?'),
      delTransport: db.prepare('DELETE FROM transports WHERE id = ? AND expires_at > ?'),
      listTransports: db.prepare(
        `SELECT json, expires_at FROM transports WHERE (edge_a = ? OR edge_b = ?) AND expires_at > ?
         ORDER BY id LIMIT ? OFFSET ?`,
      ),
      countTransports: db.prepare('SELECT COUNT(*) AS n FROM transports WHERE (edge_a = ? OR edge_b = ?) AND expires_at > ?'),
      // Positional parameters only: the two engines name parameters differently.
      counts: db.prepare(
        `SELECT (SELECT COUNT(*) FROM stcpr WHERE expires_at > ?) AS stcpr,
                (SELECT COUNT(*) FROM sudph WHERE expires_at > ?) AS sudph,
                (SELECT COUNT(*) FROM services WHERE expires_at > ?) AS services,
                (SELECT COUNT(*) FROM transports WHERE expires_at > ?) AS transports,
                (SELECT COUNT(*) FROM counters WHERE expires_at IS NULL OR expires_at > ?) AS counters`,
      ),
    }
  }

  private sweep(): void {
    const now = Date.now()
    for (const t of ['stcpr', 'sudph', 'services', 'transports']) {
      this.db.prepare(`DELETE FROM ${t} WHERE expires_at <= ?`).run(now)
    }
    this.db.prepare('DELETE FROM counters WHERE expires_at IS NOT NULL AND expires_at <= ?').run(now)
  }

  async advanceCounter(scope: CounterScope, pk: string, value: number, ttlMs: number): Promise<boolean> {
    if (!(ttlMs > 0)) throw new RangeError('a counter needs a positive TTL')
    const now = Date.now()
    const r = this.st.advance.run(scope, pk, value, now + ttlMs, now)
    return r.changes === 1
  }

  async putStcpr(rec: StcprRecord, ttlMs: number): Promise<void> {
    this.st.putStcpr.run(rec.pk, JSON.stringify(rec), Date.now() + ttlMs)
  }

  async getStcpr(pk: string): Promise<StcprRecord | null> {
    const row = this.st.getStcpr.get(pk, Date.now()) as { json: string } | undefined
    return row ? (JSON.parse(row.json) as StcprRecord) : null
  }

  async deleteStcpr(pk: string): Promise<boolean> {
    return this.st.delStcpr.run(pk, Date.now()).changes > 0
  }

  async putSudph(rec: SudphRecord, ttlMs: number): Promise<void> {
    this.st.putSudph.run(rec.pk, JSON.stringify(rec), Date.now() + ttlMs)
  }

  async getSudph(pk: string): Promise<SudphRecord | null> {
    const row = this.st.getSudph.get(pk, Date.now()) as { json: string } | undefined
    return row ? (JSON.parse(row.json) as SudphRecord) : null
  }

  async putService(entry: Omit<ServiceEntry, 'expiresAt' | 'since'>, ttlMs: number, source: ServiceSource): Promise<ServiceEntry | null> {
    // One transaction: the cap check, the removal of the key's other entries and the insert cannot interleave.
    return this.db.transaction((): ServiceEntry | null => {
      const now = Date.now()
      // The key's own entries are replaced, so they do not count against its source.
      const n = (this.st.countOfSource.get(source.key, now, entry.pk) as { n: number }).n
      if (n >= source.max) return null
      const prev = this.st.liveOfPk.get(entry.pk, now) as { json: string } | undefined
      const prevEntry = prev ? (JSON.parse(prev.json) as ServiceEntry) : null
      const full: ServiceEntry = { ...entry, since: prevEntry ? (prevEntry.since ?? prevEntry.updatedAt) : now, expiresAt: now + ttlMs }
      this.st.delOfPk.run(entry.pk)
      this.st.putService.run(full.address, full.type, full.country, full.version, JSON.stringify(full), full.expiresAt, full.pk, source.key)
      return full
    })
  }

  async getService(address: string): Promise<ServiceEntry | null> {
    const row = this.st.getService.get(address, Date.now()) as { json: string } | undefined
    return row ? (JSON.parse(row.json) as ServiceEntry) : null
  }

  async listServices(q: ServiceQuery): Promise<Page<ServiceEntry>> {
    // Filters are optional, so the WHERE clause is built from a fixed set of fragments, never from input.
    const where = ['type = ?', 'expires_at > ?']
    const args: (string | number)[] = [q.type, Date.now()]
    if (q.country !== undefined) {
      where.push('country = ?')
      args.push(q.country)
    }
    if (q.version !== undefined) {
      where.push('version = ?')
      args.push(q.version)
    }
    const cond = where.join(' AND ')
    const total = (this.db.prepare(`SELECT COUNT(*) AS n FROM services WHERE ${cond}`).get(...args) as { n: number }).n
    const rows = this.db.prepare(`SELECT json FROM services WHERE ${cond} ORDER BY address LIMIT ? OFFSET ?`).all(...args, q.limit, q.offset) as {
      json: string
    }[]
    return { entries: rows.map((r) => JSON.parse(r.json) as ServiceEntry), total: Math.min(total, MAX_SCAN) }
  }

  async countServices(type: string): Promise<ServiceCounts> {
    const rows = this.st.countByCountry.all(type, Date.now()) as { country: string | null; n: number }[]
    const byCountry: Record<string, number> = {}
    let total = 0
    for (const r of rows) {
      byCountry[r.country ?? 'unknown'] = r.n
      total += r.n
    }
    return { total, byCountry }
  }

  async deleteService(address: string): Promise<boolean> {
    return this.st.delService.run(address, Date.now()).changes > 0
  }

  async putTransport(entry: Omit<TransportEntry, 'expiresAt'>, ttlMs: number): Promise<TransportEntry> {
    const full: TransportEntry = { ...entry, expiresAt: Date.now() + ttlMs }
    this.st.putTransport.run(full.id, full.edges[0], full.edges[1], JSON.stringify(full), full.expiresAt)
    return full
  }

  async getTransport(id: string): Promise<TransportEntry | null> {
    const row = this.st.getTransport.get(id, Date.now()) as { json: string } | undefined
    return row ? (JSON.parse(row.json) as TransportEntry) : null
  }

  async listTransports(pk: string, offset: number, limit: number): Promise<Page<TransportEntry>> {
    const now = Date.now()
    const total = (this.st.countTransports.get(pk, pk, now) as { n: number }).n
    const rows = this.st.listTransports.all(pk, pk, now, limit, offset) as { json: string }[]
    return { entries: rows.map((r) => JSON.parse(r.json) as TransportEntry), total }
  }

  async deleteTransport(id: string): Promise<boolean> {
    return this.st.delTransport.run(id, Date.now()).changes > 0
  }

  async counts(): Promise<EntryCounts> {
    const now = Date.now()
    // A plain object: node:sqlite's rows have a null prototype.
    return { ...this.st.counts.get(now, now, now, now, now) } as unknown as EntryCounts
  }

  async ping(): Promise<void> {
    this.db.prepare('SELECT 1').get()
  }

  async close(): Promise<void> {
    clearInterval(this.sweepTimer)
    this.db.close()
  }
}
