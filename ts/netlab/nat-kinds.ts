/**
 * NAT routers of each kind for the lab (RFC 4787 terms: how a NAT maps an
 * inside address to an outside port, and which outside senders it lets in).
 *
 *   full-cone           endpoint-independent mapping, endpoint-independent filtering
 *   address-restricted  endpoint-independent mapping, address-dependent filtering
 *   port-restricted     endpoint-independent mapping, address-and-port-dependent filtering
 *                       (Linux masquerade with conntrack: the lab's default router)
 *   symmetric           a random outside port per destination, address-and-port filtering
 *   icmp                port-restricted, but with no firewall of its own: an unsolicited
 *                       probe reaches the router's stack, which answers with ICMP port
 *                       unreachable (or a TCP RST), and the conntrack entry that probe leaves
 *                       makes the router pick ANOTHER port when the inside host later sends
 *                       to that prober (a common home-router accident)
 *   hairpin             port-restricted, and it loops traffic from its LAN to its own outside
 *                       address back in (so two hosts behind it reach each other's mappings)
 *
 * Endpoint-independent filtering is not something conntrack does, so full-cone and
 * address-restricted keep their own mapping table: a filter chain right after source NAT
 * records, for every packet a LAN host sends out, its outside port -> inside address and
 * port (and, for address-restricted, which outside addresses it sent to); new inbound
 * UDP to a recorded port is destination-NATed back to its owner. Entries live as long as
 * the host keeps sending (timeouts refresh on every packet), like a real NAT's.
 *
 * A double NAT is not a kind of router but two of them: see `addSite` below.
 * Every kind uses the topology's table (NAT_TABLE) with `prerouting`/`postrouting`
 * chains, so `forwardPort` works on all of them.
 */
import { NetlabError } from './errors.js'

/** Kinds one NAT router can be. */
export const NAT_KINDS = ['full-cone', 'address-restricted', 'port-restricted', 'symmetric', 'icmp', 'hairpin'] as const
export type NatKind = (typeof NAT_KINDS)[number]

/** Where a host sits: on the internet, behind one NAT of a kind, or behind two port-restricted NATs (a carrier's and a home router). */
export const SITE_KINDS = ['public', ...NAT_KINDS, 'double'] as const
export type SiteKind = (typeof SITE_KINDS)[number]

export function isNatKind(s: string): s is NatKind {
  return (NAT_KINDS as readonly string[]).includes(s)
}

export interface NatRouterAddrs {
  /** The router's own outside address (IPv4). */
  wanAddr: string
  /** Its inside network, e.g. 10.10.0.0/24. */
  lanCidr: string
  /** The table name (the topology's NAT_TABLE). */
  table: string
  /** What the router does with IPv6 (topology-types.ts RouterV6); default 'nat66'. */
  v6?: 'nat66' | 'routed' | 'none'
}

/**
 * The IPv6 part of a router's rules: the family its masquerade covers (both with NAT66, IPv4
 * otherwise), and for a routed LAN the stateful firewall of RFC 6092 (replies and ICMPv6 in,
 * new inbound connections dropped), in a `forward` chain forwardPort can open ports in.
 */
export function v6RouterRules(v6: 'nat66' | 'routed' | 'none' = 'nat66'): { masqFamily: string; forward: string } {
  const forward =
    v6 === 'routed'
      ? `  chain forward {
    type filter hook forward priority filter; policy accept;
    iifname "wan0" meta nfproto ipv6 ct state established,related accept
    iifname "wan0" meta nfproto ipv6 meta l4proto ipv6-icmp accept
    iifname "wan0" meta nfproto ipv6 drop
  }
`
      : ''
  return { masqFamily: v6 === 'nat66' ? '' : 'meta nfproto ipv4 ', forward }
}

/** The nft script that makes a router of `kind`; replaces nothing, load it into a fresh namespace or after deleting the table. */
export function natKindScript(kind: NatKind, r: NatRouterAddrs): string {
  if (!isNatKind(kind)) throw new NetlabError('EMISUSE', `unknown NAT kind ${JSON.stringify(kind)}: use one of ${NAT_KINDS.join(', ')}`)
  // A home router's firewall: unsolicited TCP/UDP to the router itself is dropped, and a dropped
  // packet's conntrack entry is never confirmed, so it clashes with nothing. The icmp kind lacks it.
  const input =
    kind === 'icmp'
      ? ''
      : `  chain input {
    type filter hook input priority filter; policy accept;
    iifname "wan0" ct state new meta l4proto { tcp, udp } drop
  }
`
  const cone = kind === 'full-cone' || kind === 'address-restricted'
  const maps = cone || kind === 'hairpin'
  const sets = maps
    ? `  map out_addr { type inet_service : ipv4_addr; flags dynamic, timeout; timeout 180s; }
  map out_port { type inet_service : inet_service; flags dynamic, timeout; timeout 180s; }
${kind === 'address-restricted' ? '  set peers { type inet_service . ipv4_addr; flags dynamic, timeout; timeout 180s; }\n' : ''}`
    : ''
  // After source NAT (priority srcnat + 1) the conntrack entry knows the outside port:
  // it is the reply direction's destination port. Only packets of connections the LAN
  // opened (original direction, source-NATed) define mappings.
  const record = maps
    ? `  chain mappings {
    type filter hook postrouting priority srcnat + 1; policy accept;
    oifname "wan0" meta nfproto ipv4 meta l4proto udp ct direction original ct status snat update @out_addr { ct reply proto-dst : ct original ip saddr }
    oifname "wan0" meta nfproto ipv4 meta l4proto udp ct direction original ct status snat update @out_port { ct reply proto-dst : ct original proto-src }
${kind === 'address-restricted' ? '    oifname "wan0" meta nfproto ipv4 meta l4proto udp ct direction original ct status snat update @peers { ct reply proto-dst . ip daddr }\n' : ''}  }
`
    : ''
  const inbound =
    kind === 'full-cone'
      ? `    iifname "wan0" meta nfproto ipv4 ct state new udp dport @out_addr dnat ip to udp dport map @out_addr : udp dport map @out_port\n`
      : kind === 'address-restricted'
        ? `    iifname "wan0" meta nfproto ipv4 ct state new udp dport . ip saddr @peers dnat ip to udp dport map @out_addr : udp dport map @out_port\n`
        : kind === 'hairpin'
          ? `    iifname "lan0" ip daddr ${r.wanAddr} ct state new udp dport @out_addr dnat ip to udp dport map @out_addr : udp dport map @out_port\n`
          : ''
  // Hairpinned traffic leaves by the LAN again: give it the router's outside address as
  // source, so the receiver answers through the router (and sees what an outsider would).
  const hairpinOut = kind === 'hairpin' ? `    oifname "lan0" ct status dnat ip saddr ${r.lanCidr} snat ip to ${r.wanAddr}\n` : ''
  const masq = kind === 'symmetric' ? 'masquerade random' : 'masquerade'
  const six = v6RouterRules(r.v6)
  return `table inet ${r.table} {
${sets}${input}${six.forward}  chain prerouting {
    type nat hook prerouting priority dstnat; policy accept;
${inbound}  }
  chain postrouting {
    type nat hook postrouting priority srcnat; policy accept;
    oifname "wan0" ${six.masqFamily}${masq}
${hairpinOut}  }
${record}}
`
}
