/** What every route module needs: the store, the geo lookup, the TTLs and the limits. */
import type { CountryLookup } from './geo.js'
import type { AuthOptions } from './http/auth.js'
import type { Store } from './store/store.js'

export interface Ttls {
  /** STCPR address registrations. */
  stcprMs: number
  /** SUDPH UDP bindings (docs/wire.md: 60 s after the last bind). */
  sudphMs: number
  /** Service discovery entries without a heartbeat. */
  serviceMs: number
  /** Transport discovery entries without a refresh. */
  transportMs: number
}

export const DEFAULT_TTLS: Ttls = {
  stcprMs: 180_000,
  sudphMs: 60_000,
  serviceMs: 90_000,
  transportMs: 90_000,
}

/**
 * What one attacker with many keys can make the store hold. Keys cost
 * nothing, source addresses do: entries are capped per source (an IPv4
 * address or an IPv6 /64), transports per reporting key.
 */
export interface Limits {
  /** Live service entries per source; a home or VPS IP rarely runs more than a few servers. */
  maxEntriesPerSource: number
  /** Live transports a key may report; a busy VPN server has one per connected client. */
  maxTransportsPerKey: number
}

export const DEFAULT_LIMITS: Limits = {
  maxEntriesPerSource: 8,
  maxTransportsPerKey: 1024,
}

export interface ServicesContext {
  store: Store
  geo: CountryLookup
  ttl: Ttls
  auth: AuthOptions
  limits: Limits
}
