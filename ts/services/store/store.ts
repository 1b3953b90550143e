/**
 * The one storage contract of the discovery services. SQLite (one process) and
 * Redis (many stateless replicas) both implement it and pass the same tests;
 * route handlers never know which one they talk to.
 *
 * Expiry is part of the contract: an entry put with a TTL is invisible to every
 * read once `ttlMs` has passed, whether or not it has been swept yet.
 */

// The records the discovery client reads back are a contract shared with the
// client (ts/contracts/services.ts); re-exported here for the store's users.
import type { Page, ServiceCounts, ServiceEntry, StcprRecord, SudphRecord, TransportEntry, TransportType } from '../../contracts/services.js'
export type { Page, ServiceCounts, ServiceEntry, StcprRecord, SudphRecord, TransportEntry, TransportType }

/** Who registered an entry, for the per-source cap; never part of the public entry. */
export interface ServiceSource {
  /** ts/sys/addr-policy.ts sourceKey(): an IPv4 address or an IPv6 /64. */
  key: string
  /** Most live entries one source may hold; a registration beyond it is refused. */
  max: number
}

export interface ServiceQuery {
  type: string
  country?: string
  version?: string
  offset: number
  limit: number
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
