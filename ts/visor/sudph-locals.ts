/**
 * The LAN addresses a visor hands to the address resolver with its SUDPH
 * binding. A peer behind the same NAT (same observed IP) tries these first:
 * most home routers do not loop traffic to their own outside address back in
 * (no hairpinning), so without them two visors on one LAN cannot punch to each
 * other, though they could talk directly. The resolver keeps only what the
 * caller may publish (ts/sys/addr-policy.ts).
 */
import { parseHostPort } from '../config/schema.js'
import { hostAddresses } from '../sys/index.js'

/** `listen` with a wildcard host: every global IPv4 address of this host with its port; a concrete host: itself. At most 8. */
export async function sudphLocalAddrs(listen: string, port: number | null = null): Promise<string[]> {
  const hp = parseHostPort(listen)
  if (!hp) return []
  const p = port ?? hp.port
  if (p === 0) return []
  if (hp.host !== '0.0.0.0' && hp.host !== '::') return []
  const addrs = (await hostAddresses().catch(() => [])).filter((a) => a.scope === 'global' && a.family === 4 && !a.ifname.startsWith('swvpn'))
  return addrs.slice(0, 8).map((a) => `${a.address}:${p}`)
}
