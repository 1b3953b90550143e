/**
 * The VPN server's firewall: one nftables table (`inet skywire_vpn`) that
 * NATs the client pool out to the internet and, in secure mode, keeps clients
 * away from everything local to the server. Skywire's secure mode blocked only
 * the three RFC 1918 ranges; here "local" also means CGNAT, link-local,
 * loopback, multicast, reserved ranges, every subnet on the server's
 * interfaces and the server's own addresses, for IPv4 and IPv6.
 *
 * Our chains use policy accept: a base chain's accept is not final across
 * tables, so anything the host's own firewall drops stays dropped. The host
 * firewall must itself allow the forwarding (a FORWARD policy of drop in
 * another table wins over us).
 */
import { SkywireError } from '../contracts/errors.js'
import { familyOf, isPrivate, minimalPrefixes, parsePrefix, formatPrefix } from './cidr.js'
import { hostAddresses, requireInterface, type InterfaceAddress } from './netifc.js'
import { checkTableName, deleteTable, nftIfname, replaceTable, ruleCounters, tableExists } from './nft.js'

export const SERVER_TABLE = 'skywire_vpn'

/** Never the internet, whatever the server's own interfaces say. */
export const LOCAL_RANGES_V4 = [
  '0.0.0.0/8', // "this network"
  '10.0.0.0/8',
  '100.64.0.0/10', // CGNAT: the ISP's side of the server's NAT
  '127.0.0.0/8',
  '169.254.0.0/16', // link-local, also cloud metadata (169.254.169.254)
  '172.16.0.0/12',
  '192.0.0.0/24', // IETF protocol assignments (DS-Lite)
  '192.168.0.0/16',
  '198.18.0.0/15', // benchmarking, used as lab/LAN space
  '224.0.0.0/4', // multicast
  '240.0.0.0/4', // reserved, includes 255.255.255.255
] as const

export const LOCAL_RANGES_V6 = [
  '::/128',
  '::1/128',
  '::ffff:0:0/96', // IPv4-mapped: IPv4 by the back door
  '64:ff9b:1::/48', // local-use NAT64
  '100::/64', // discard
  'fc00::/7', // ULA
  'fe80::/10', // link-local
  'fec0::/10', // old site-local
  'ff00::/8', // multicast
] as const

export interface ServerFirewallOptions {
  /** The VPN's TUN (created by the core before this is called). */
  tunIf: string
  /** Where clients' traffic goes out, NATed (`--netifc`; see `defaultInterface()`). */
  netIf: string
  /** Client pool, e.g. 10.218.0.0/16; only sources from it are forwarded. */
  pool4: string
  /** The server's address on the TUN, the one address clients may ping. */
  gateway4: string
  /** IPv6 pool; without it clients' IPv6 is dropped. */
  pool6?: string
  gateway6?: string
  /**
   * Masquerade pool6 out (NAT66: a ULA pool behind the server's global
   * address). Default true; false for a routed pool6 the upstream routes to
   * this server, whose addresses leave as they are.
   */
  nat6?: boolean
  /** Default true. */
  secure?: boolean
  /**
   * A public subnet on `netIf` is, from the server's point of view, the
   * internet (a VPS's /24 is other customers; in the lab it is the fake
   * internet). It stays reachable unless this is true; the server's own
   * addresses on it are blocked either way, and private subnets always are.
   */
  blockUplinkSubnet?: boolean
  /** Services on the gateway address clients may use (e.g. a DNS resolver: udp/53, tcp/53). */
  gatewayServices?: { proto: 'tcp' | 'udp'; port: number }[]
  /**
   * The DNS servers handed to clients. Port 53 to them stays open even when
   * secure mode blocks the address (a resolver on the server's LAN, or the
   * server itself); everything else on those hosts stays blocked.
   */
  dns?: readonly string[]
  /** Default `skywire_vpn`. */
  table?: string
  /**
   * Drop IPv4 forwarded traffic that neither enters nor leaves the TUN. Turning
   * net.ipv4.ip_forward on makes the host route between ALL its interfaces;
   * the server needs it only for the TUN. Set it when forwarding was off
   * before the server started (a drop in any table's forward hook is final,
   * so this also overrides other tables' accepts: right for a host that was
   * not a router, wrong for one that was, which is why it is not the default).
   */
  dropOtherForwarding?: boolean
  /** The same for IPv6 forwarded traffic (set when IPv6 forwarding was off before the server turned it on for pool6). */
  dropOtherForwarding6?: boolean
}

/** What secure mode blocks, computed from the host; returned for logs and status. */
export interface BlockedSets {
  v4: string[]
  v6: string[]
}

/** The prefixes secure mode drops, given the host's addresses. */
export function blockedDestinations(opts: ServerFirewallOptions, addrs: readonly InterfaceAddress[]): BlockedSets {
  const v4: string[] = [...LOCAL_RANGES_V4]
  const v6: string[] = [...LOCAL_RANGES_V6]
  for (const a of addrs) {
    const list = a.family === 4 ? v4 : v6
    list.push(a.address)
    if (a.ifname === opts.tunIf) continue
    if (a.ifname === opts.netIf && !(opts.blockUplinkSubnet ?? false) && !isPrivate(a.subnet)) continue
    list.push(a.subnet)
  }
  return { v4: minimalPrefixes(v4), v6: minimalPrefixes(v6) }
}

function checkFamily(what: string, value: string, family: 4 | 6, cidr: boolean): string {
  const ip = cidr ? (value.split('/')[0] ?? '') : value
  if (familyOf(ip) !== family || (cidr && !value.includes('/'))) {
    throw new SkywireError('EUSAGE', `${what} must be an IPv${family} ${cidr ? 'prefix (a.b.c.d/n)' : 'address'}, got ${JSON.stringify(value)}`)
  }
  return cidr ? formatPrefix(parsePrefix(value)) : value
}

/** The table body (what goes between `table inet NAME {` and `}`), pure so it can be unit-tested. */
export function serverFirewallBody(opts: ServerFirewallOptions, blocked: BlockedSets): string {
  const secure = opts.secure ?? true
  const tun = nftIfname(opts.tunIf)
  const net = nftIfname(opts.netIf)
  const pool4 = checkFamily('pool4', opts.pool4, 4, true)
  const gw4 = checkFamily('gateway4', opts.gateway4, 4, false)
  const pool6 = opts.pool6 === undefined ? null : checkFamily('pool6', opts.pool6, 6, true)
  const gw6 = opts.gateway6 === undefined ? null : checkFamily('gateway6', opts.gateway6, 6, false)
  const dns4 = (opts.dns ?? []).filter((a) => familyOf(a) === 4)
  const dns6 = (opts.dns ?? []).filter((a) => familyOf(a) === 6)
  if ((opts.dns ?? []).some((a) => familyOf(a) === null))
    throw new SkywireError('EUSAGE', `dns must be IP addresses, got ${JSON.stringify(opts.dns)}`)
  const dnsRules = (indent: string) => [
    ...(dns4.length > 0 ? [`${indent}iifname ${tun} ip daddr { ${dns4.join(', ')} } meta l4proto { tcp, udp } th dport 53 accept`] : []),
    ...(dns6.length > 0 && pool6 !== null
      ? [`${indent}iifname ${tun} ip6 daddr { ${dns6.join(', ')} } meta l4proto { tcp, udp } th dport 53 accept`]
      : []),
  ]
  const L: string[] = []
  const set = (name: string, type: string, elems: string[]) => {
    L.push(`  set ${name} {`, `    type ${type}`, '    flags interval', '    auto-merge')
    if (elems.length > 0) L.push(`    elements = { ${elems.join(', ')} }`)
    L.push('  }')
  }
  if (secure) {
    set('local4', 'ipv4_addr', blocked.v4)
    set('local6', 'ipv6_addr', blocked.v6)
  }

  L.push('  chain forward {', '    type filter hook forward priority filter; policy accept;')
  if (opts.dropOtherForwarding ?? false) {
    L.push(`    meta nfproto ipv4 iifname != ${tun} oifname != ${tun} counter drop comment "not-a-router"`)
  }
  if (opts.dropOtherForwarding6 ?? false) {
    L.push(`    meta nfproto ipv6 iifname != ${tun} oifname != ${tun} counter drop comment "not-a-router6"`)
  }
  // Clients never talk to each other through the server: each only sees the internet.
  L.push(`    iifname ${tun} oifname ${tun} counter drop comment "client-to-client"`)
  // The core's cryptokey routing already enforces this; a second line of defence costs nothing.
  L.push(`    iifname ${tun} meta nfproto ipv4 ip saddr != ${pool4} counter drop comment "spoofed"`)
  if (pool6 !== null) L.push(`    iifname ${tun} meta nfproto ipv6 ip6 saddr != ${pool6} counter drop comment "spoofed"`)
  else L.push(`    iifname ${tun} meta nfproto ipv6 counter drop comment "no-ipv6"`)
  L.push(...dnsRules('    '))
  if (secure) {
    L.push(`    iifname ${tun} ip daddr @local4 counter drop comment "secure-local"`)
    L.push(`    iifname ${tun} ip6 daddr @local6 counter drop comment "secure-local"`)
    L.push(`    iifname ${tun} oifname != ${net} counter drop comment "secure-other-interface"`)
  }
  L.push(`    iifname ${tun} accept`)
  L.push(`    oifname ${tun} ct state established,related accept`)
  // Nobody (LAN hosts of a non-secure server included) opens connections to clients.
  L.push(`    oifname ${tun} counter drop comment "unsolicited-to-client"`)
  L.push('  }')

  // The server's own services are not for clients; ping to the gateway is how they check the tunnel.
  L.push('  chain input {', '    type filter hook input priority filter; policy accept;')
  L.push(`    iifname ${tun} ip daddr ${gw4} icmp type echo-request accept`)
  if (gw6 !== null) L.push(`    iifname ${tun} ip6 daddr ${gw6} icmpv6 type echo-request accept`)
  for (const s of opts.gatewayServices ?? []) {
    if (!Number.isInteger(s.port) || s.port < 1 || s.port > 65535) throw new SkywireError('EUSAGE', `bad gateway service port ${s.port}`)
    const proto = s.proto === 'tcp' ? 'tcp' : 'udp'
    L.push(`    iifname ${tun} ip daddr ${gw4} ${proto} dport ${s.port} accept`)
    if (gw6 !== null) L.push(`    iifname ${tun} ip6 daddr ${gw6} ${proto} dport ${s.port} accept`)
  }
  L.push(...dnsRules('    '))
  L.push(`    iifname ${tun} ct state established,related accept`)
  // Link-layer plumbing, not a service: a TUN never carries it, but a TAP or veth in its place would die without it.
  L.push(`    iifname ${tun} icmpv6 type { nd-neighbor-solicit, nd-neighbor-advert } ip6 hoplimit 255 accept`)
  L.push(`    iifname ${tun} counter drop comment "server-itself"`)
  L.push('  }')

  // NAT out of whatever clients leave by (netIf; in secure mode also a LAN resolver, otherwise the
  // whole LAN), so a host whose router is not this server can still answer. The forward chain decides
  // where they may go.
  const out = `oifname != ${tun}`
  L.push('  chain postrouting {', '    type nat hook postrouting priority srcnat; policy accept;')
  L.push(`    ${out} ip saddr ${pool4} masquerade`)
  if (pool6 !== null && (opts.nat6 ?? true)) L.push(`    ${out} ip6 saddr ${pool6} masquerade`)
  L.push('  }')
  return L.join('\n') + '\n'
}

export interface AppliedServerFirewall {
  table: string
  secure: boolean
  /** Empty when not secure. */
  blocked: BlockedSets
}

/**
 * Installs (or atomically replaces) the server's table. Call after the TUN
 * exists and forwarding is on; call again whenever the host's addresses change
 * (secure mode's sets are computed from them).
 */
export async function applyServerFirewall(opts: ServerFirewallOptions): Promise<AppliedServerFirewall> {
  const table = checkTableName(opts.table ?? SERVER_TABLE)
  await requireInterface(opts.netIf)
  const secure = opts.secure ?? true
  const blocked = secure ? blockedDestinations(opts, await hostAddresses()) : { v4: [], v6: [] }
  await replaceTable(table, serverFirewallBody(opts, blocked))
  return { table, secure, blocked }
}

/** Deletes our table and nothing else; fine when it is already gone. */
export async function removeServerFirewall(table: string = SERVER_TABLE): Promise<void> {
  await deleteTable(table)
}

export interface ServerFirewallStatus {
  present: boolean
  /** Packets dropped per rule comment (client-to-client, secure-local, server-itself, ...). */
  drops: Record<string, number>
}

export async function serverFirewallStatus(table: string = SERVER_TABLE): Promise<ServerFirewallStatus> {
  if (!(await tableExists(table))) return { present: false, drops: {} }
  return { present: true, drops: await ruleCounters(table) }
}
