/**
 * Country of an IP from the geo-IP database shipped inside the geoip-lite
 * package (no download at run time). The database is loaded on first use,
 * because it costs tens of MB and `--geoip off` should not pay for it.
 */
import { createRequire } from 'node:module'
import { isIP } from 'node:net'
import { unmapV4 } from './ar/udp-wire.js'

export type CountryLookup = (ip: string) => string | null

interface GeoipLite {
  lookup(ip: string): { country?: string } | null
}

let geoip: GeoipLite | null = null

export function builtinGeoip(): CountryLookup {
  if (!geoip) geoip = createRequire(import.meta.url)('geoip-lite') as GeoipLite
  const db = geoip
  return (ip) => {
    const addr = unmapV4(ip)
    if (isIP(addr) === 0) return null
    const c = db.lookup(addr)?.country
    return c && /^[A-Z]{2}$/.test(c) ? c : null
  }
}

export const noGeoip: CountryLookup = () => null

/**
 * Precedence: the database's answer for the address the request came from
 * (a visor on a public address cannot claim another country), else what the
 * visor says (private, CGNAT or unknown addresses), else null.
 */
export function resolveCountry(lookup: CountryLookup, sourceIp: string, claimed: string | undefined): string | null {
  return lookup(sourceIp) ?? claimed ?? null
}
