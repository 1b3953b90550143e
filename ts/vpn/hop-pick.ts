/**
 * Finding hops in service discovery, for `vpn start --hops N` and
 * `skywire cli hop list`. A visor that forwards registers `type=hop`; one that
 * is also a VPN server keeps its single entry (the services hold one entry
 * per key) as `type=vpn` with the stat `hop: 1`. Both are hops here.
 */
import { MAX_ROUTE_HOPS } from '../contracts/control-api.js'
import { SkywireError } from '../contracts/errors.js'
import { rankServers, type RankedServer } from '../contracts/server-score.js'
import type { PageResult, ServiceEntry } from '../contracts/services.js'
import { listAllServers } from '../discovery/servers.js'

/** The service type a forwarding visor registers, and the stat a VPN entry carries when its visor forwards too. */
export const HOP_SERVICE_TYPE = 'hop'
export const HOP_STAT = 'hop'
/** The port of a hop's entry in service discovery (`pk:4`; the VPN's is 3). */
export const HOP_PORT = 4

/** At most this many hops on one route: each adds a layer of encryption, its overhead and a round trip (the control API's bound). */
export const MAX_HOPS = MAX_ROUTE_HOPS

/** What listing hops needs of the services client. */
export interface HopLister {
  listServices(q: { type: string; offset: number; limit: number }): Promise<PageResult<ServiceEntry>>
}

/** Every visor that says it forwards, ranked like VPN servers (load, uptime; no latency probe). */
export async function listHops(services: HopLister, o: { exclude?: string[] } = {}): Promise<RankedServer[]> {
  const [hops, vpns] = await Promise.all([
    listAllServers((offset, limit) => services.listServices({ type: HOP_SERVICE_TYPE, offset, limit })),
    listAllServers((offset, limit) => services.listServices({ type: 'vpn', offset, limit })),
  ])
  const entries = [...hops.entries, ...vpns.entries.filter((e) => e.stats?.[HOP_STAT] === 1)]
  return rankServers(entries, { exclude: o.exclude ?? [] })
}

export interface PickOptions {
  /** The exit's key (never a hop of its own route) and its country when known. */
  exit: string
  exitCountry: string | null
  /** This visor's key. */
  self: string | null
  /** Keys to leave out this time (hops that just failed). */
  avoid?: readonly string[]
  /** Allow hops in the exit's country (default: not, so one jurisdiction does not see both ends). */
  sameCountry?: boolean
}

/**
 * `n` hops for a route to `exit`, best score first, each in a country other
 * than the exit's (unless sameCountry) and none twice. A hop whose country is
 * unknown is taken only after every hop known to differ.
 */
export function pickHops(ranked: readonly RankedServer[], n: number, o: PickOptions): string[] {
  const skip = new Set([o.exit, ...(o.self ? [o.self] : []), ...(o.avoid ?? [])])
  const cc = o.exitCountry?.toUpperCase() ?? null
  const fit = ranked.filter((r) => !skip.has(r.pk) && (o.sameCountry || cc === null || (r.country ?? '').toUpperCase() !== cc))
  const known = fit.filter((r) => r.country)
  const unknown = fit.filter((r) => !r.country)
  const out = [...known, ...unknown].slice(0, n).map((r) => r.pk)
  if (out.length < n) {
    const where = cc && !o.sameCountry ? ` outside ${cc} (the exit's country)` : ''
    throw new SkywireError('ENOTFOUND', `asked for ${n} hop${n === 1 ? '' : 's'}, found ${out.length} usable${where} in service discovery`)
  }
  return out
}
