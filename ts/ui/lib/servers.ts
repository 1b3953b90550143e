/** Filtering and ordering of the service-discovery list. */
import { countryName, entryPk } from './format.js'
import type { ServiceEntry } from '../../contracts/services.js'
import { score, uptimeOf } from '../../contracts/server-score.js'

/**
 * A discovery entry as the page reads it: address and type, the rest when the
 * visor sent it (an older or newer visor may leave fields out).
 */
export type ServerEntry = Pick<ServiceEntry, 'address' | 'type'> & Partial<Omit<ServiceEntry, 'address' | 'type'>>

export interface Filter {
  /** Two-letter code, or '' for every country. */
  country: string
  /** Free text matched against the PK, address, country code and name. */
  query: string
}

export function load(e: ServerEntry): number {
  return e.stats?.connectedClients ?? 0
}

/**
 * The servers that match, best first by the score of `vpn list` (contracts/server-score.ts; the
 * browser measures no latency, so load and uptime), then by PK for a stable order.
 */
export function filterServers(entries: ServerEntry[], f: Filter, now = Date.now()): ServerEntry[] {
  const q = f.query.trim().toLowerCase()
  const cc = f.country.toUpperCase()
  return entries
    .filter((e) => !cc || (e.country ?? '').toUpperCase() === cc)
    .filter((e) => {
      if (!q) return true
      const hay = `${entryPk(e)} ${e.address} ${e.country ?? ''} ${countryName(e.country)}`.toLowerCase()
      return q.split(/\s+/).every((w) => hay.includes(w))
    })
    .map((e) => ({ e, s: score(null, load(e), uptimeOf(e, now)) }))
    .sort((a, b) => b.s - a.s || load(a.e) - load(b.e) || entryPk(a.e).localeCompare(entryPk(b.e)))
    .map((x) => x.e)
}

/** Countries present in the list with their server counts, by name. */
export function countries(entries: ServerEntry[]): { code: string; count: number }[] {
  const m = new Map<string, number>()
  for (const e of entries) {
    const cc = (e.country ?? '').toUpperCase()
    if (/^[A-Z]{2}$/.test(cc)) m.set(cc, (m.get(cc) ?? 0) + 1)
  }
  return [...m.entries()].map(([code, count]) => ({ code, count })).sort((a, b) => countryName(a.code).localeCompare(countryName(b.code)))
}
