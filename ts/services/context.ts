/** What every route module needs: the store, the geo lookup and the TTLs. */
import type { CountryLookup } from './geo.js'
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

export interface ServicesContext {
  store: Store
  geo: CountryLookup
  ttl: Ttls
}
