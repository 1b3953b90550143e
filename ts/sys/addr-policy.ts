/**
 * Which addresses a caller may publish for other visors to dial (STCPR
 * addresses, SUDPH local addresses), and how callers are grouped for limits.
 *
 * Discovery hands these addresses to every visor, which then connects to
 * them. An address a visor should never be made to dial (its own loopback,
 * a cloud metadata service on 169.254.169.254, multicast, "this host") must
 * not be accepted from anyone; an address only meaningful inside a network
 * (RFC 1918, CGNAT, ULA, documentation ranges used by labs) is accepted only
 * from a caller inside such a network. The rule, by the class of the address:
 *
 *   global                        from anyone
 *   private, special              from private, special and loopback callers; dropped from public callers
 *   loopback                      from loopback callers only (one host: tests, the lab, a single-box setup)
 *   link-local, unspecified,
 *   multicast, broadcast,
 *   reserved                      from nobody
 *
 * A caller is public when its address is global. Behind a reverse proxy the
 * caller is what --trust-proxy resolves; without it every caller looks like
 * the proxy (often loopback), so a proxy in front needs --trust-proxy.
 */
import { BlockList, isIP } from 'node:net'
import { unmapV4 } from './host-port.js'

export type AddrClass =
  | 'global'
  | 'private'
  | 'special'
  | 'loopback'
  | 'link-local'
  | 'unspecified'
  | 'multicast'
  | 'broadcast'
  | 'reserved'
  | 'invalid'

// Order matters: the first list that contains the address decides.
const TABLE: [AddrClass, [string, number, 'ipv4' | 'ipv6'][]][] = [
  [
    'unspecified',
    [
      ['0.0.0.0', 8, 'ipv4'],
      ['::', 128, 'ipv6'],
    ],
  ],
  [
    'loopback',
    [
      ['127.0.0.0', 8, 'ipv4'],
      ['::1', 128, 'ipv6'],
    ],
  ],
  // Includes 169.254.169.254, the metadata service of most clouds.
  [
    'link-local',
    [
      ['169.254.0.0', 16, 'ipv4'],
      ['fe80::', 10, 'ipv6'],
    ],
  ],
  [
    'multicast',
    [
      ['224.0.0.0', 4, 'ipv4'],
      ['ff00::', 8, 'ipv6'],
    ],
  ],
  ['broadcast', [['255.255.255.255', 32, 'ipv4']]],
  [
    'reserved',
    [
      ['240.0.0.0', 4, 'ipv4'],
      ['192.0.0.0', 24, 'ipv4'],
      ['::', 96, 'ipv6'], // IPv4-compatible (deprecated)
      ['100::', 64, 'ipv6'], // discard
      ['fec0::', 10, 'ipv6'], // site-local (deprecated)
    ],
  ],
  [
    'private',
    [
      ['10.0.0.0', 8, 'ipv4'],
      ['172.16.0.0', 12, 'ipv4'],
      ['192.168.0.0', 16, 'ipv4'],
      ['100.64.0.0', 10, 'ipv4'], // CGNAT
      ['fc00::', 7, 'ipv6'], // ULA
    ],
  ],
  [
    'special',
    [
      ['192.0.2.0', 24, 'ipv4'],
      ['198.51.100.0', 24, 'ipv4'],
      ['203.0.113.0', 24, 'ipv4'],
      ['198.18.0.0', 15, 'ipv4'], // benchmarking
      ['192.88.99.0', 24, 'ipv4'], // 6to4 relay anycast
      ['2001:db8::', 32, 'ipv6'], // documentation
      ['2001::', 23, 'ipv6'], // IETF protocol assignments, Teredo
      ['2002::', 16, 'ipv6'], // 6to4
      ['64:ff9b::', 96, 'ipv6'], // NAT64
      ['64:ff9b:1::', 48, 'ipv6'],
    ],
  ],
]

const LISTS: [AddrClass, BlockList][] = TABLE.map(([cls, nets]) => {
  const bl = new BlockList()
  for (const [net, prefix, fam] of nets) bl.addSubnet(net, prefix, fam)
  return [cls, bl]
})

const GLOBAL_V6 = (() => {
  const bl = new BlockList()
  bl.addSubnet('2000::', 3, 'ipv6')
  return bl
})()

export function classifyIp(ip: string): AddrClass {
  const addr = unmapV4(ip.replace(/^\[|\]$/g, ''))
  const fam = isIP(addr)
  if (fam === 0) return 'invalid'
  const type = fam === 4 ? 'ipv4' : 'ipv6'
  for (const [cls, bl] of LISTS) if (bl.check(addr, type)) return cls
  // Outside 2000::/3 nothing is assigned for global unicast.
  if (fam === 6 && !GLOBAL_V6.check(addr, 'ipv6')) return 'reserved'
  return 'global'
}

export type CallerClass = 'public' | 'private' | 'loopback'

export function callerClass(ip: string): CallerClass {
  const c = classifyIp(ip)
  if (c === 'global') return 'public'
  return c === 'loopback' ? 'loopback' : 'private'
}

export type Verdict = 'allow' | 'drop' | 'refuse'

/**
 * `drop`: harmless but useless to others from this caller (a NATed visor's
 * LAN address sent to a public resolver); the rest of its list is kept.
 * `refuse`: an address nobody may publish; the request fails.
 */
export function addressVerdict(addrIp: string, caller: CallerClass): Verdict {
  switch (classifyIp(addrIp)) {
    case 'global':
      return 'allow'
    case 'private':
    case 'special':
      return caller === 'public' ? 'drop' : 'allow'
    case 'loopback':
      return caller === 'loopback' ? 'allow' : 'refuse'
    default:
      return 'refuse'
  }
}

/**
 * The unit of per-source limits: an IPv4 address, or the /64 an IPv6 address
 * is in (one subscriber usually holds a whole /64, so per-address limits on
 * IPv6 would limit nothing).
 */
export function sourceKey(ip: string): string {
  const addr = unmapV4(ip)
  if (isIP(addr) !== 6) return addr
  const groups = expandV6(addr).slice(0, 4)
  return `${groups.join(':')}::/64`
}

function expandV6(ip: string): string[] {
  const [head, tail] = ip.split('::') as [string, string | undefined]
  const hs = head === '' ? [] : head.split(':')
  const ts = tail === undefined || tail === '' ? [] : tail.split(':')
  // An embedded dotted quad only appears in the last 32 bits; the /64 prefix never contains it.
  const fill = tail === undefined ? [] : Array<string>(Math.max(0, 8 - hs.length - ts.length)).fill('0')
  return [...hs, ...fill, ...ts].map((g) => (/^[0-9a-f]+$/i.test(g) ? parseInt(g, 16).toString(16) : g))
}
