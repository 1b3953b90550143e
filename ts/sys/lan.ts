/**
 * The LAN that "allow LAN" keeps reachable beside the tunnel: the private
 * subnets (RFC 1918, CGNAT, link-local, ULA) of the interfaces this host is
 * directly on, the VPN's own TUNs left out. Public subnets are never "the
 * LAN": on a VPS the neighbours in the provider's /24 are strangers, and
 * reaching them outside the tunnel would leak like any other address.
 */
import { formatPrefix, isPrivate, minimalPrefixes, parsePrefix } from './cidr.js'
import { hostAddresses } from './netifc.js'

/** Interfaces whose subnets are never the LAN: loopback and the VPN's TUNs (client swvpn0, server swvpns0). */
const NOT_LAN = /^(lo|swvpn)/

export async function lanPrefixes(): Promise<string[]> {
  const out: string[] = []
  for (const a of await hostAddresses()) {
    if (NOT_LAN.test(a.ifname) || a.scope === 'host') continue
    // A /32 or /128 is an address, not a network anybody else is on.
    if (a.prefixLen >= (a.family === 4 ? 32 : 128)) continue
    if (isLanPrefix(a.subnet)) out.push(a.subnet)
  }
  return minimalPrefixes(out)
}

/** Private, and not loopback: what may be exempted from the kill switch and lockdown as "the LAN". */
export function isLanPrefix(cidr: string): boolean {
  const p = parsePrefix(cidr)
  if (!isPrivate(formatPrefix(p))) return false
  return !(p.family === 4 ? formatPrefix(p).startsWith('127.') : formatPrefix(p) === '::1/128')
}
