/**
 * Multi-hop in the page: which hop the user picked (none, one from discovery,
 * any from discovery, or a key typed in) as the start request's route fields,
 * the hops to offer, and the chain a status reports as one line. Pure, so the
 * tests need no browser.
 */
import { PK_PATTERN } from '../../contracts/constants.js'
import { countryName, entryPk, shortPk } from './format.js'
import type { ServerEntry } from './servers.js'

/** The hop picker's values besides a hop's key. */
export const DIRECT = ''
export const ANY_HOP = 'any'
export const KEY_HOP = 'key'

/** What `vpn start` takes for the route: `via` (hop keys, in order) or `hops` (how many to pick), or neither. */
export interface RouteChoice {
  via?: string[]
  hops?: number
}

/**
 * The picker's value (and the typed key when it is `KEY_HOP`) as the start
 * request's fields, or an error line for the banner. The exit cannot be its
 * own hop.
 */
export function routeChoice(value: string, typedKey: string, exitPk: string): RouteChoice | { error: string } {
  if (value === DIRECT) return {}
  if (value === ANY_HOP) return { hops: 1 }
  const pk = value === KEY_HOP ? typedKey.trim().toLowerCase() : value
  if (!PK_PATTERN.test(pk)) return { error: 'A hop is named by its public key: 64 hex characters.' }
  if (pk === exitPk) return { error: 'The hop and the exit must be different visors.' }
  return { via: [pk] }
}

export interface HopOption {
  pk: string
  label: string
}

/** The hops service discovery lists, one per key, by country name then key; `self` (this visor) left out. */
export function hopOptions(entries: ServerEntry[], self: string | null = null): HopOption[] {
  const seen = new Set<string>()
  const out: (HopOption & { by: string })[] = []
  for (const e of entries) {
    const pk = entryPk(e)
    if (!PK_PATTERN.test(pk) || pk === self || seen.has(pk)) continue
    seen.add(pk)
    const cc = e.country ? e.country.toUpperCase() : '??'
    out.push({ pk, label: `${cc} – ${countryName(e.country)} – ${shortPk(pk)}`, by: `${countryName(e.country)} ${pk}` })
  }
  return out.sort((a, b) => a.by.localeCompare(b.by)).map(({ pk, label }) => ({ pk, label }))
}

/** One visor of a route as a status reports it. */
export interface RouteStep {
  pk: string
  role: 'hop' | 'exit'
}

/** "you → hop 1a2b3c4d…ef01 → exit 5e6f…" for a chain; '' for a direct connection (no hop) or none. */
export function routeLine(route: readonly RouteStep[] | null | undefined): string {
  if (!route?.some((s) => s.role === 'hop')) return ''
  return ['you', ...route.map((s) => `${s.role} ${shortPk(s.pk)}`)].join(' → ')
}
