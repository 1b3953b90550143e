/**
 * Ranking VPN servers: one quality score, used by `vpn list`, `vpn start`
 * without a key, auto-connect and the web UI, so they agree on "best".
 * No node: imports: the web UI bundles it (it lives in contracts for that reason).
 *
 * The score, from 0 to 100, higher is better:
 * - latency, up to 50: 50 × (1 − ms/500), so 0 ms is 50 and 500 ms or more
 *   is 0; no measured latency (no answer, or not probed) is 0 as well;
 * - load, up to 30: 30 / (1 + clients/10): an idle server 30, 10 clients 15;
 * - uptime, up to 20: 20 × min(1, hours listed / 24): how long the server has
 *   been in service discovery without a gap, the one thing a server cannot
 *   fake (its client count is self-reported), so a fresh entry claiming zero
 *   load does not outrank an established one.
 * Ties (the score is rounded to 0.1) go to the lower latency, then the lower load, then the key, so the order is stable.
 */
import { PK_PATTERN } from './constants.js'
import type { ServiceEntry } from './services.js'

export const SORT_KEYS = ['score', 'latency', 'load', 'country', 'uptime'] as const
export type SortKey = (typeof SORT_KEYS)[number]

export interface RankedServer {
  pk: string
  address: string
  country: string | null
  version: string
  /** Connected clients, as the server reports it. */
  load: number
  /** Seconds since the entry was first listed (null: the services did not say). */
  uptimeS: number | null
  /** Measured by this machine; null when not measured or no answer. */
  latencyMs: number | null
  score: number
  entry: ServiceEntry
}

const LATENCY_WEIGHT = 50
const LATENCY_ZERO_MS = 500
const LOAD_WEIGHT = 30
const LOAD_HALF = 10
const UPTIME_WEIGHT = 20
const UPTIME_FULL_S = 24 * 3600

export function loadOf(e: Pick<ServiceEntry, 'stats'>): number {
  const n = e.stats?.connectedClients
  return typeof n === 'number' && Number.isFinite(n) && n >= 0 ? n : 0
}

export function uptimeOf(e: Pick<ServiceEntry, 'since'>, nowMs: number): number | null {
  const since = e.since
  if (typeof since !== 'number' || !Number.isFinite(since)) return null
  return Math.max(0, Math.round((nowMs - since) / 1000))
}

export function score(latencyMs: number | null, load: number, uptimeS: number | null): number {
  const lat = latencyMs === null ? 0 : LATENCY_WEIGHT * Math.max(0, 1 - latencyMs / LATENCY_ZERO_MS)
  const ld = LOAD_WEIGHT / (1 + Math.max(0, load) / LOAD_HALF)
  const up = uptimeS === null ? 0 : UPTIME_WEIGHT * Math.min(1, uptimeS / UPTIME_FULL_S)
  return Math.round((lat + ld + up) * 10) / 10
}

/** The key of an entry (`pk:port` → pk). */
export function entryPk(e: Pick<ServiceEntry, 'address'> & { pk?: string }): string {
  return e.pk ?? e.address.split(':')[0] ?? e.address
}

export function rankServer(e: ServiceEntry, latencyMs: number | null, nowMs: number): RankedServer {
  const load = loadOf(e)
  const uptimeS = uptimeOf(e, nowMs)
  return {
    pk: entryPk(e),
    address: e.address,
    country: typeof e.country === 'string' && /^[A-Z]{2}$/.test(e.country) ? e.country : null,
    version: typeof e.version === 'string' ? e.version : '?',
    load,
    uptimeS,
    latencyMs,
    score: score(latencyMs, load, uptimeS),
    entry: e,
  }
}

const byLatency = (a: RankedServer, b: RankedServer) => (a.latencyMs ?? Number.POSITIVE_INFINITY) - (b.latencyMs ?? Number.POSITIVE_INFINITY) || 0
const byCountry = (a: string | null, b: string | null) => (a === b ? 0 : a === null ? 1 : b === null ? -1 : a < b ? -1 : 1)
const byPk = (a: RankedServer, b: RankedServer) => (a.pk < b.pk ? -1 : a.pk > b.pk ? 1 : 0)

const ORDERS: Record<SortKey, (a: RankedServer, b: RankedServer) => number> = {
  score: (a, b) => b.score - a.score || byLatency(a, b) || a.load - b.load || byPk(a, b),
  latency: (a, b) => byLatency(a, b) || b.score - a.score || byPk(a, b),
  load: (a, b) => a.load - b.load || b.score - a.score || byPk(a, b),
  // Unknown countries last.
  country: (a, b) => byCountry(a.country, b.country) || b.score - a.score || byPk(a, b),
  uptime: (a, b) => (b.uptimeS ?? -1) - (a.uptimeS ?? -1) || b.score - a.score || byPk(a, b),
}

export function parseSortKey(s: string): SortKey {
  const k = s.trim().toLowerCase()
  if (!(SORT_KEYS as readonly string[]).includes(k)) throw new Error(`sort must be one of ${SORT_KEYS.join(', ')}, got "${s}"`)
  return k as SortKey
}

export function sortServers(servers: RankedServer[], by: SortKey = 'score'): RankedServer[] {
  return [...servers].sort(ORDERS[by])
}

export interface RankOptions {
  /** Latency per key, as measured (missing: not measured). */
  latencies?: ReadonlyMap<string, number | null>
  /** Only servers in this country (two-letter code, any case). */
  country?: string
  /** Keys never offered: this visor itself. */
  exclude?: readonly string[]
  sort?: SortKey
  nowMs?: number
}

/** Entries ranked: filtered by country, without the excluded keys (and duplicates), in the given order. */
export function rankServers(entries: readonly ServiceEntry[], o: RankOptions = {}): RankedServer[] {
  const now = o.nowMs ?? Date.now()
  const cc = o.country?.toUpperCase()
  const exclude = new Set(o.exclude ?? [])
  const seen = new Set<string>()
  const out: RankedServer[] = []
  for (const e of entries) {
    const pk = entryPk(e)
    // What the services say is shown in terminals and connected to: a key that is not one is dropped.
    if (!PK_PATTERN.test(pk) || exclude.has(pk) || seen.has(pk)) continue
    if (cc && (e.country ?? '').toUpperCase() !== cc) continue
    seen.add(pk)
    out.push(rankServer(e, o.latencies?.get(pk) ?? null, now))
  }
  return sortServers(out, o.sort ?? 'score')
}
