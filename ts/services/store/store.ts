/**
 * The one storage contract of the discovery services. SQLite (one process) and
 * Redis (many stateless replicas) both implement it and pass the same tests;
 * route handlers never know which one they talk to.
 *
 * Expiry is part of the contract: an entry put with a TTL is invisible to every
 * read once `ttlMs` has passed, whether or not it has been swept yet.
 */

export type TransportType = 'stcpr' | 'sudph'

/** A visor's STCPR listening addresses (HOST:PORT). */
export interface StcprRecord {
  pk: string
  addresses: string[]
  updatedAt: number
}

/** A visor's SUDPH binding: the address the resolver saw, and the addresses the visor reported for its LAN. */
export interface SudphRecord {
  pk: string
  observed: string
  local: string[]
  updatedAt: number
}

export interface ServiceEntry {
  /** `pk:port`, the key of the entry. */
  address: string
  pk: string
  type: string
  /** ISO 3166 alpha-2, or null when neither the geo-IP database nor the visor knew. */
  country: string | null
  version: string
  stats: Record<string, number>
  /**
   * When this key's entry was first registered (kept over heartbeats and
   * re-registrations while it stays live). Self-reported stats cannot be
   * checked; how long a server has been listed can, so a client may prefer
   * established servers over fresh ones claiming zero load.
   */
  since?: number
  updatedAt: number
  expiresAt: number
}

/** Who registered an entry, for the per-source cap; never part of the public entry. */
export interface ServiceSource {
  /** ts/services/addr-policy.ts sourceKey(): an IPv4 address or an IPv6 /64. */
  key: string
  /** Most live entries one source may hold; a registration beyond it is refused. */
  max: number
}

export interface TransportEntry {
  id: string
  /** Sorted, so one transport has one spelling whichever edge reports it. */
  edges: [string, string]
  type: TransportType
  updatedAt: number
  expiresAt: number
}

export interface ServiceQuery {
  type: string
  country?: string
  version?: string
  offset: number
  limit: number
}

export interface Page<T> {
  entries: T[]
  total: number
}

export interface ServiceCounts {
  total: number
  /** Entries with an unknown country are counted under "unknown". */
  byCountry: Record<string, number>
}

export interface EntryCounts {
  stcpr: number
  sudph: number
  services: number
  transports: number
  /** Live nonce/timestamp counters: bounded by the active keys of the last counter TTL. */
  counters: number
}

/** Namespaces of the monotonic counters (HTTP nonces, UDP timestamps per message type). */
export type CounterScope = 'http' | 'udp-bind' | 'udp-connect'

export interface Store {
  readonly kind: 'sqlite' | 'redis'

  /**
   * Atomically accept `value` when it is greater than the last accepted value
   * of (scope, pk); false when it is not (a replay or a stale message). The
   * counter is forgotten ttlMs after its last advance, so one-off keys do not
   * pile up; callers bound accepted values to a clock window shorter than the
   * TTL, which keeps an expired counter from re-admitting a replay. ttlMs must
   * be positive.
   */
  advanceCounter(scope: CounterScope, pk: string, value: number, ttlMs: number): Promise<boolean>

  putStcpr(rec: StcprRecord, ttlMs: number): Promise<void>
  getStcpr(pk: string): Promise<StcprRecord | null>
  deleteStcpr(pk: string): Promise<boolean>

  putSudph(rec: SudphRecord, ttlMs: number): Promise<void>
  getSudph(pk: string): Promise<SudphRecord | null>

  /**
   * Insert or replace; `entry.expiresAt` and `entry.since` are set by the
   * store. A key holds one entry: any other entry of `entry.pk` (another port
   * or type) is removed in the same step. Null, and nothing changed, when
   * `source` already holds `source.max` live entries of other keys.
   */
  putService(entry: Omit<ServiceEntry, 'expiresAt' | 'since'>, ttlMs: number, source: ServiceSource): Promise<ServiceEntry | null>
  getService(address: string): Promise<ServiceEntry | null>
  /** Ordered by address, so paging is stable. */
  listServices(q: ServiceQuery): Promise<Page<ServiceEntry>>
  countServices(type: string): Promise<ServiceCounts>
  deleteService(address: string): Promise<boolean>

  putTransport(entry: Omit<TransportEntry, 'expiresAt'>, ttlMs: number): Promise<TransportEntry>
  getTransport(id: string): Promise<TransportEntry | null>
  /** Transports with `pk` as one of their edges, ordered by id. */
  listTransports(pk: string, offset: number, limit: number): Promise<Page<TransportEntry>>
  deleteTransport(id: string): Promise<boolean>

  counts(): Promise<EntryCounts>
  /** Throws when the backing store cannot be reached. */
  ping(): Promise<void>
  close(): Promise<void>
}

/** The largest number of live entries a list or count scans; keeps one request's work bounded. */
export const MAX_SCAN = 100_000
