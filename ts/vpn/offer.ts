/**
 * What a VPN server hands the client (its ok status), checked before the
 * client changes anything on the host. A hostile server must not be able to
 * make the client put a loopback or multicast address on its TUN, shadow one
 * of the client's own networks, capture the addresses the client must keep
 * reaching outside the tunnel (the transport endpoint, the discovery
 * services), or send its DNS queries somewhere beside the tunnel.
 */
import { SkywireError } from '../contracts/errors.js'
import { contains, familyOf, formatIp, parsePrefix, type Prefix } from '../sys/cidr.js'
import type { Status } from './protocol.js'

/**
 * The tunnel prefix must be between these lengths. Narrower than /30 leaves
 * no address for both ends; broader than /8 is no pool a server would run,
 * only a way to claim half the internet is "the tunnel network".
 */
export const TUNNEL_PREFIX_MIN = 8
export const TUNNEL_PREFIX_MAX = 30

/**
 * The TUN's MTU bounds: 576 is the least every IPv4 host must take; above
 * 9000 (jumbo frames) no path carries the tunnel's packets unfragmented.
 */
export const MTU_MIN = 576
export const MTU_MAX = 9000
/** What a server that names no MTU gets: the transport's safe payload size. */
export const MTU_DEFAULT = 1420
/** IPv6 needs links of at least this MTU (RFC 8200); below it the kernel turns IPv6 off on the interface. */
export const IPV6_MIN_MTU = 1280

/** At most this many DNS servers (resolv.conf reads three; the protocol allows four). */
export const DNS_MAX = 4

/** The IPv6 side of an offer: the client's address, the server's, the pool's prefix length. */
export interface Offer6 {
  address: string
  gateway: string
  prefix: number
}

export interface Offer {
  address: string
  gateway: string
  prefix: number
  mtu: number
  dns: string[]
  /** Present when the server carries IPv6 (address6, gateway6, prefix6 in its status). */
  v6?: Offer6
}

/**
 * The IPv6 tunnel prefix bounds: a server's ULA pool is a /64, an operator's
 * routed pool anything from a /32 to a /120 (ts/vpn/pool.ts, POOL6_PREFIX_*).
 */
export const TUNNEL_PREFIX6_MIN = 32
export const TUNNEL_PREFIX6_MAX = 120

export interface OfferContext {
  /** Every network this host is on (not only those that fit in the hello). */
  usedNets: readonly string[]
  /** Addresses that must stay reachable outside the tunnel: the transport endpoint, the services. */
  mustReach: readonly string[]
  /** The server's DNS servers will be used (the user set none of their own). */
  useServerDns: boolean
}

/** Address ranges that are never a unicast host address a tunnel may use. */
const NOT_UNICAST: Array<[string, string]> = [
  ['0.0.0.0/8', 'unspecified ("this network")'],
  ['127.0.0.0/8', 'loopback'],
  ['169.254.0.0/16', 'link-local'],
  ['224.0.0.0/4', 'multicast'],
  ['255.255.255.255/32', 'broadcast'],
  ['240.0.0.0/4', 'reserved'],
]

/**
 * What an IPv6 tunnel or DNS address may be: global unicast (2000::/3) or
 * ULA (fc00::/7, a server's own pool and resolver). Everything else
 * (loopback, link-local, multicast, v4-mapped, discard, ...) lies outside.
 */
const UNICAST6: Array<[string, string]> = [
  ['2000::/3', 'global unicast'],
  ['fc00::/7', 'unique local'],
]

/**
 * Why `ip` cannot be a tunnel or DNS address, or null. IPv6 only when the
 * tunnel carries it (`v6`): otherwise it would be blocked on this host.
 */
export function notUnicastReason(ip: string, v6 = false): string | null {
  const fam = familyOf(ip)
  if (fam === 6 && v6) {
    const p = parsePrefix(ip)
    return UNICAST6.some(([net]) => contains(parsePrefix(net), p)) ? null : 'not a global or unique-local IPv6 unicast address'
  }
  if (fam !== 4) return v6 ? 'not an IP address' : 'not an IPv4 address (the tunnel carries IPv4 only)'
  const p = parsePrefix(ip)
  for (const [net, why] of NOT_UNICAST) if (contains(parsePrefix(net), p)) return why
  return null
}

/** The v6 offer checked like the v4 one; undefined when the status carries none. */
function checkOffer6(s: Status, ctx: OfferContext, bad: (what: string) => SkywireError): Offer6 | undefined {
  const { address6: address, gateway6: gateway, prefix6: prefix } = s
  if (address === undefined && gateway === undefined && prefix === undefined) return undefined
  if (!address || !gateway || prefix === undefined) throw bad('an IPv6 setup without its address, gateway or prefix')
  for (const [name, ip] of [
    ['IPv6 tunnel address', address],
    ['IPv6 gateway', gateway],
  ] as const) {
    if (familyOf(ip) !== 6) throw bad(`${name} ${ip} is not an IPv6 address`)
    const why = notUnicastReason(ip, true)
    if (why) throw bad(`${name} ${ip} is ${why}`)
  }
  if (prefix < TUNNEL_PREFIX6_MIN || prefix > TUNNEL_PREFIX6_MAX) {
    throw bad(`IPv6 tunnel prefix /${prefix} is outside /${TUNNEL_PREFIX6_MIN}../${TUNNEL_PREFIX6_MAX}`)
  }
  const net = parsePrefix(`${gateway}/${prefix}`)
  const addr = parsePrefix(address)
  if (!contains(net, addr)) throw bad(`IPv6 tunnel address ${address} is not in the gateway's network ${gateway}/${prefix}`)
  if (addr.addr === parsePrefix(gateway).addr) throw bad(`IPv6 tunnel address ${address} is the gateway itself`)
  // The all-zero host is the subnet-router anycast address (RFC 4291 2.6.1), never a host's.
  if (addr.addr === net.addr) throw bad(`IPv6 tunnel address ${address} is the subnet-router anycast address of /${prefix}`)
  const ours = inside(address, ctx.usedNets)
  if (ours) throw bad(`IPv6 tunnel address ${address} lies in this host's own network ${ours}`)
  for (const ip of ctx.mustReach) {
    if (familyOf(ip) === 6 && contains(net, parsePrefix(ip))) {
      throw bad(`the IPv6 tunnel network ${gateway}/${prefix} contains ${ip}, which must stay reachable outside the tunnel`)
    }
  }
  return { address: formatIp(6, addr.addr), gateway: formatIp(6, parsePrefix(gateway).addr), prefix }
}

function inside(ip: string, nets: readonly string[]): string | null {
  const p = parsePrefix(ip)
  for (const n of nets) {
    let q: Prefix
    try {
      q = parsePrefix(n)
    } catch {
      continue
    }
    if (contains(q, p)) return n
  }
  return null
}

/**
 * The validated offer, or a one-line SkywireError naming the first thing
 * wrong with it. `server` names the server in the message.
 */
export function checkOffer(server: string, s: Status, ctx: OfferContext): Offer {
  const bad = (what: string) => new SkywireError('EREMOTE', `server ${server} sent an unusable VPN setup: ${what}; nothing was changed`)
  const { address, gateway, prefix } = s
  if (!address || !gateway || prefix === undefined) throw bad('no tunnel address, gateway or prefix')
  for (const [name, ip] of [
    ['tunnel address', address],
    ['gateway', gateway],
  ] as const) {
    const why = notUnicastReason(ip)
    if (why) throw bad(`${name} ${ip} is ${why}`)
  }
  if (prefix < TUNNEL_PREFIX_MIN || prefix > TUNNEL_PREFIX_MAX) {
    throw bad(`tunnel prefix /${prefix} is outside /${TUNNEL_PREFIX_MIN}../${TUNNEL_PREFIX_MAX}`)
  }
  const net = parsePrefix(`${gateway}/${prefix}`)
  const addr = parsePrefix(address)
  if (!contains(net, addr)) throw bad(`tunnel address ${address} is not in the gateway's network ${gateway}/${prefix}`)
  if (address === gateway) throw bad(`tunnel address ${address} is the gateway itself`)
  const hostBits = (1n << BigInt(32 - prefix)) - 1n
  for (const ip of [addr, parsePrefix(gateway)]) {
    const host = ip.addr & hostBits
    if (host === 0n || host === hostBits) throw bad(`${ip === addr ? 'tunnel address' : 'gateway'} is the network or broadcast address of /${prefix}`)
  }
  // The TUN holds only address/32, so only the address itself would shadow a
  // network of ours; the gateway is never routed to, and a legitimate
  // server's fixed gateway may well fall inside some client's LAN.
  const ours = inside(address, ctx.usedNets)
  if (ours) throw bad(`tunnel address ${address} lies in this host's own network ${ours}`)
  for (const ip of ctx.mustReach) {
    if (familyOf(ip) === 4 && contains(net, parsePrefix(ip))) {
      throw bad(`the tunnel network ${gateway}/${prefix} contains ${ip}, which must stay reachable outside the tunnel`)
    }
  }
  const v6 = checkOffer6(s, ctx, bad)
  const mtu = s.mtu ?? MTU_DEFAULT
  if (mtu < MTU_MIN || mtu > MTU_MAX) throw bad(`MTU ${mtu} is outside ${MTU_MIN}..${MTU_MAX}`)
  const dns = s.dns ?? []
  if (ctx.useServerDns) {
    if (dns.length > DNS_MAX) throw bad(`${dns.length} DNS servers (at most ${DNS_MAX})`)
    for (const d of dns) {
      const why = notUnicastReason(d, v6 !== undefined)
      if (why) throw bad(`DNS server ${d} is ${why}`)
      // Queries to it would be routed beside the tunnel (our own network's
      // route is more specific than the tunnel's default route): a leak.
      const lan = inside(d, ctx.usedNets)
      if (lan) throw bad(`DNS server ${d} lies in this host's own network ${lan}, outside the tunnel (set vpnClient.dns to use your own)`)
    }
  }
  return { address, gateway, prefix, mtu, dns: [...new Set(dns)], ...(v6 ? { v6 } : {}) }
}
