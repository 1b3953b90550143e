/**
 * The addresses a visor publishes for a wildcard listener: its STCPR
 * registration at the address resolver, and the LAN addresses it hands over
 * with its SUDPH binding. A peer behind the same NAT (same observed IP) tries
 * the latter first: most home routers do not loop traffic to their own outside
 * address back in (no hairpinning), so without them two visors on one LAN
 * cannot punch to each other, though they could talk directly. The resolver
 * keeps only what the caller may publish (ts/sys/addr-policy.ts).
 *
 * `0.0.0.0` covers IPv4 only; `::` is dual-stack (the core turns IPV6_V6ONLY
 * off, crates/skywire-core/src/node/family.rs) and covers both families.
 */
import { parseHostPort } from '../config/schema.js'
import { hostAddresses, type InterfaceAddress } from '../sys/index.js'

/** At most this many (the resolver's limit for both lists). */
const MAX_ADDRS = 8

/**
 * `bound` with a wildcard host: every global address of this host in the families the wildcard covers, with
 * the port (IPv4 first, so a host with many IPv6 addresses still lists its IPv4 ones), at most 8; a concrete
 * host: itself. The VPN's own TUN addresses are never published.
 */
export function wildcardAddrs(bound: string, addrs: readonly InterfaceAddress[], port: number | null = null): string[] {
  const hp = parseHostPort(bound)
  if (!hp) return []
  const p = port ?? hp.port
  if (hp.host !== '0.0.0.0' && hp.host !== '::') return [bound]
  const usable = addrs.filter((a) => a.scope === 'global' && !a.ifname.startsWith('swvpn'))
  const v4 = usable.filter((a) => a.family === 4).map((a) => `${a.address}:${p}`)
  const v6 = hp.host === '::' ? usable.filter((a) => a.family === 6).map((a) => `[${a.address}]:${p}`) : []
  return [...v4, ...v6].slice(0, MAX_ADDRS)
}

/** The SUDPH binding's local addresses: those of a wildcard `listen` (a concrete one is announced by the core). */
export async function sudphLocalAddrs(listen: string, port: number | null = null): Promise<string[]> {
  const hp = parseHostPort(listen)
  if (!hp || (port ?? hp.port) === 0) return []
  if (hp.host !== '0.0.0.0' && hp.host !== '::') return []
  return wildcardAddrs(listen, await hostAddresses().catch(() => []), port)
}
