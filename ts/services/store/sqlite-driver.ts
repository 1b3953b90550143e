/**
 * The few SQLite calls the store makes, over either engine: Node's built-in
 * `node:sqlite` where this Node has it unflagged (22.13+, 23.4+, 24), else the
 * native addon better-sqlite3 (an optional peer dependency: only Node 20 needs
 * it, and npm installing it everywhere would compile it for minutes).
 * Both are the same SQLite library writing the same file format, so a database
 * written through one opens through the other. The engine is picked when a
 * database is opened; both are loaded lazily, so a Node with `node:sqlite`
 * never touches better-sqlite3 and an install without its build still works.
 */
import { createRequire } from 'node:module'
import { SkywireError } from '../../contracts/errors.js'

/** A bound value: the store only binds text, numbers and NULL. */
export type SqlValue = string | number | null

export interface SqlStatement {
  run(...args: SqlValue[]): { changes: number }
  get(...args: SqlValue[]): Record<string, unknown> | undefined
  all(...args: SqlValue[]): Record<string, unknown>[]
}

export interface SqlDb {
  /** Which engine is underneath: for logs and tests. */
  readonly driver: SqliteDriverName
  prepare(sql: string): SqlStatement
  exec(sql: string): void
  /** `PRAGMA <text>`, e.g. `journal_mode = WAL`. */
  pragma(text: string): void
  /** Runs `fn` in one transaction: committed when it returns, rolled back when it throws. */
  transaction<T>(fn: () => T): T
  close(): void
}

export type SqliteDriverName = 'node:sqlite' | 'better-sqlite3'

const require = createRequire(import.meta.url)

// ---- node:sqlite ----

/** The part of node:sqlite's DatabaseSync used here (@types/node 20 has no types for it). */
interface NodeDatabaseSync {
  prepare(sql: string): {
    run(...args: SqlValue[]): { changes: number | bigint }
    get(...args: SqlValue[]): Record<string, unknown> | undefined
    all(...args: SqlValue[]): Record<string, unknown>[]
  }
  exec(sql: string): void
  close(): void
}
type NodeSqliteModule = { DatabaseSync: new (file: string) => NodeDatabaseSync }

let nodeSqlite: NodeSqliteModule | null | undefined

/**
 * node:sqlite, or null where this Node lacks it (Node 20; 22.5 to 22.12 only behind
 * --experimental-sqlite, which we do not ask users for). Node 22 announces the module
 * with an ExperimentalWarning on first load; that one warning is dropped while the
 * module loads, every other warning (then or later) still goes through.
 */
export function loadNodeSqlite(): NodeSqliteModule | null {
  if (nodeSqlite !== undefined) return nodeSqlite
  try {
    nodeSqlite = withoutSqliteExperimentalWarning(() => require('node:sqlite') as NodeSqliteModule)
  } catch {
    nodeSqlite = null
  }
  return nodeSqlite
}

/**
 * Runs `load` with Node's "SQLite is an experimental feature" warning dropped; any other warning emitted
 * meanwhile goes out as usual, and process.emitWarning is restored afterwards (also when `load` throws).
 */
export function withoutSqliteExperimentalWarning<T>(load: () => T): T {
  const emit = process.emitWarning
  process.emitWarning = ((warning: string | Error, ...rest: unknown[]) => {
    const text = typeof warning === 'string' ? warning : warning.message
    const opt = rest[0]
    const type = warning instanceof Error ? warning.name : typeof opt === 'string' ? opt : (opt as { type?: string } | undefined)?.type
    if (type === 'ExperimentalWarning' && /^SQLite is an experimental feature/.test(text)) return
    return (emit as (...a: unknown[]) => void).call(process, warning, ...rest)
  }) as typeof process.emitWarning
  try {
    return load()
  } finally {
    process.emitWarning = emit
  }
}

class NodeSqliteDb implements SqlDb {
  readonly driver = 'node:sqlite' as const
  private readonly db: NodeDatabaseSync
  private depth = 0
  private closed = false

  constructor(mod: NodeSqliteModule, file: string) {
    this.db = new mod.DatabaseSync(file)
  }

  prepare(sql: string): SqlStatement {
    const st = this.db.prepare(sql)
    return {
      run: (...args) => ({ changes: Number(st.run(...args).changes) }),
      get: (...args) => st.get(...args),
      all: (...args) => st.all(...args),
    }
  }

  exec(sql: string): void {
    this.db.exec(sql)
  }

  pragma(text: string): void {
    this.db.exec(`PRAGMA ${text}`)
  }

  transaction<T>(fn: () => T): T {
    // Nested calls join the outer transaction, as better-sqlite3's would (via savepoints there; not needed here).
    if (this.depth > 0) return fn()
    this.db.exec('BEGIN')
    this.depth++
    try {
      const out = fn()
      this.db.exec('COMMIT')
      return out
    } catch (err) {
      this.db.exec('ROLLBACK')
      throw err
    } finally {
      this.depth--
    }
  }

  close(): void {
    if (this.closed) return
    this.closed = true
    this.db.close()
  }
}

// ---- better-sqlite3 ----

type BetterSqlite3 = typeof import('better-sqlite3')

let betterSqlite3: BetterSqlite3 | undefined

/**
 * better-sqlite3 with its native binding loaded: the package's JavaScript loads anywhere, its binding only
 * when it was built (install script) for this Node's ABI, and that shows only once a database is opened.
 */
function loadBetterSqlite3(): BetterSqlite3 {
  if (betterSqlite3) return betterSqlite3
  try {
    const mod = require('better-sqlite3') as BetterSqlite3
    new mod(':memory:').close()
    betterSqlite3 = mod
    return mod
  } catch (err) {
    throw new SkywireError(
      'ECONFIG',
      `this Node (${process.version}) has no node:sqlite and better-sqlite3 is not installed or not built for it ` +
        `(${(err as Error).message.split('\n')[0]}): use Node 22.13 or later, or install it next to skywire ` +
        '(npm install -g better-sqlite3 --allow-scripts=better-sqlite3), or give the services --redis',
      { cause: err },
    )
  }
}

class BetterSqliteDb implements SqlDb {
  readonly driver = 'better-sqlite3' as const
  private readonly db: import('better-sqlite3').Database

  constructor(Database: BetterSqlite3, file: string) {
    this.db = new Database(file)
  }

  prepare(sql: string): SqlStatement {
    const st = this.db.prepare(sql)
    return {
      run: (...args) => ({ changes: st.run(...args).changes }),
      get: (...args) => st.get(...args) as Record<string, unknown> | undefined,
      all: (...args) => st.all(...args) as Record<string, unknown>[],
    }
  }

  exec(sql: string): void {
    this.db.exec(sql)
  }

  pragma(text: string): void {
    this.db.pragma(text)
  }

  transaction<T>(fn: () => T): T {
    return this.db.transaction(fn)()
  }

  close(): void {
    if (this.db.open) this.db.close()
  }
}

/** The engines this process can use, preferred first. */
export function availableSqliteDrivers(): SqliteDriverName[] {
  const out: SqliteDriverName[] = []
  if (loadNodeSqlite()) out.push('node:sqlite')
  try {
    loadBetterSqlite3()
    out.push('better-sqlite3')
  } catch {
    // not installed or not built: node:sqlite (if any) is the only engine
  }
  return out
}

/** Open `file` (or ":memory:") with `driver`, or with node:sqlite when this Node has it and better-sqlite3 otherwise. */
export function openSqlDb(file: string, want?: SqliteDriverName): SqlDb {
  if (want !== undefined && want !== 'node:sqlite' && want !== 'better-sqlite3') {
    throw new SkywireError('ECONFIG', `unknown SQLite driver ${JSON.stringify(want)} (node:sqlite or better-sqlite3)`)
  }
  if (want !== 'better-sqlite3') {
    const mod = loadNodeSqlite()
    if (mod) return new NodeSqliteDb(mod, file)
    if (want === 'node:sqlite') throw new SkywireError('ECONFIG', `this Node (${process.version}) has no node:sqlite (Node 22.13 or later has it)`)
  }
  return new BetterSqliteDb(loadBetterSqlite3(), file)
}
