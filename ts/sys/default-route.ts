/**
 * A cheap fingerprint of the host's default routes, for noticing a roam or a
 * replaced default route while the VPN is up.
 *
 * The visor's own sockets carry SO_MARK and follow the main table by
 * themselves (ts/sys/bypass.ts), so nothing has to be moved when the network
 * changes. But a TCP transport cannot follow: its connection is bound to the
 * old source address or NAT mapping. The VPN client uses this fingerprint to
 * redial such a transport at once instead of after its dead-peer timeout.
 *
 * Reads /proc (no process spawned), so it can be polled every second.
 * /proc/net/route lists the main IPv4 table only; /proc/net/ipv6_route lists
 * every table, so the tunnel's own defaults (into the TUN, or unreachable via
 * lo) are left out by device name.
 */
import { readFileSync } from 'node:fs'

function read(p: string): string {
  try {
    return readFileSync(p, 'utf8')
  } catch {
    return ''
  }
}

/**
 * "dev gateway metric" of every default route, sorted; '' when there is none.
 * `ignoreDev` says which devices are ours (the TUN), never part of the path.
 */
export function defaultRouteFingerprint(ignoreDev: (dev: string) => boolean = () => false): string {
  const out: string[] = []
  // Iface Destination Gateway Flags RefCnt Use Metric Mask ...
  for (const f of read('/proc/net/route')
    .split('\n')
    .slice(1)
    .map((l) => l.trim().split(/\s+/))) {
    if (f.length >= 8 && f[1] === '00000000' && f[7] === '00000000' && !ignoreDev(f[0] as string)) out.push(`4 ${f[0]} ${f[2]} ${f[6]}`)
  }
  // dest plen src plen nexthop metric refcnt use flags dev
  for (const f of read('/proc/net/ipv6_route')
    .split('\n')
    .map((l) => l.trim().split(/\s+/))) {
    const dev = f[9]
    if (f.length >= 10 && dev !== undefined && /^0+$/.test(f[0] as string) && f[1] === '00' && dev !== 'lo' && !ignoreDev(dev))
      out.push(`6 ${dev} ${f[4]} ${f[5]}`)
  }
  return out.sort().join('\n')
}
