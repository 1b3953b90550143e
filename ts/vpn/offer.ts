/**
 * What a VPN server hands the client (its ok status), checked before the
 * client changes anything on the host. A hostile server must not be able to
 * make the client put a loopback or multicast address on its TUN, shadow one
 * of the client's own networks, capture the addresses the client must keep
 * reaching outside the tunnel (the transport endpoint, the discovery
 * services), or send its DNS queries somewhere beside the tunnel.
 */
import { SkywireError } from '../contracts/errors.js'
import { contains, familyOf, parsePrefix, type Prefix } from '../sys/cidr.js'
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

/** At most this many DNS servers (resolv.conf reads three; the protocol allows four). */
export const DNS_MAX = 4

export interface Offer {
  address: string
  gateway: string
  prefix: number
  mtu: number
  dns: string[]
}

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

/** Why `ip` cannot be a tunnel or DNS address, or null. */
export function notUnicastReason(ip: string): string | null {
  if (familyOf(ip) !== 4) return 'not an IPv4 address (the tunnel carries IPv4 only)'
  const p = parsePrefix(ip)
  for (const [net, why] of NOT_UNICAST) if (contains(parsePrefix(net), p)) return why
  return null
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
  const mtu = s.mtu ?? MTU_DEFAULT
  if (mtu < MTU_MIN || mtu > MTU_MAX) throw bad(`MTU ${mtu} is outside ${MTU_MIN}..${MTU_MAX}`)
  const dns = s.dns ?? []
  if (ctx.useServerDns) {
    if (dns.length > DNS_MAX) throw bad(`${dns.length} DNS servers (at most ${DNS_MAX})`)
    for (const d of dns) {
      const why = notUnicastReason(d)
      if (why) throw bad(`DNS server ${d} is ${why}`)
      // Queries to it would be routed beside the tunnel (our own network's
      // route is more specific than the tunnel's default route): a leak.
      const lan = inside(d, ctx.usedNets)
      if (lan) throw bad(`DNS server ${d} lies in this host's own network ${lan}, outside the tunnel (set vpnClient.dns to use your own)`)
    }
  }
  return { address, gateway, prefix, mtu, dns: [...new Set(dns)] }
}
