/** The shapes a built topology hands out (see topology.ts for the picture). */
import type { DnsQueryLog } from './dns.js'
import type { Lab, LabOptions } from './netns.js'
import type { NatKind } from './nat-kinds.js'
import type { NetSnapshot, PingResult } from './probe.js'

/**
 * The IP families of a host's uplink: both (the default with ipv6), IPv4 only (no
 * global IPv6 address or route: an ISP without IPv6), or IPv6 only (no IPv4 address
 * or route; its resolv.conf names the DNS server's IPv6 address).
 */
export type Stack = 'dual' | 'v4' | 'v6'
export const STACKS: readonly Stack[] = ['dual', 'v4', 'v6']

/**
 * What a NAT router does with IPv6 for its LAN:
 *   nat66   a ULA /64 inside, masqueraded to the router's WAN address (the default)
 *   routed  a global /64 from 2001:db8::/32 inside (ROUTED6), routed without NAT, and the
 *           stateful firewall home routers have (RFC 6092: new inbound connections dropped)
 *   none    no IPv6 at all (an ISP without it): hosts behind it are IPv4 only
 */
export type RouterV6 = 'nat66' | 'routed' | 'none'
export const ROUTER_V6: readonly RouterV6[] = ['nat66', 'routed', 'none']

/** Packets a counter saw (countForwarded). */
export interface PacketCount {
  packets: number
  bytes: number
}

export interface ForwardCounter {
  read(): Promise<PacketCount>
  /** Deletes the counter's chain. */
  remove(): Promise<void>
}

export interface TopologyOptions extends LabOptions {
  /** Put the server behind its own NAT router `nats` (for SUDPH with both sides NATed). */
  serverBehindNat?: boolean
  /** Server hosts: 1 (default) or 2 (adds a public `server2`, e.g. for the soak's two VPN servers). */
  servers?: 1 | 2
  /** Public hop hosts for a multi-hop chain (client → hop → server): 0 (default), 1 (`hop`) or 2 (`hop`, `hop2`). */
  hops?: 0 | 1 | 2
  /** Number of client hosts (default 1). */
  clients?: number
  /** Extra clients join natc's LAN instead of each getting its own NAT router. */
  clientsShareNat?: boolean
  /** Default true; see the file comment. */
  ipv6?: boolean
  /** Start the whoami servers (default true). */
  whoami?: boolean
  /** Start the DNS server at INTERNET.dns (default true). */
  dns?: boolean
  /** The kind of every client NAT router (ts/netlab/nat-kinds.ts); default: the port-restricted router below. */
  clientNat?: NatKind
  /** The kind of the server's NAT router; implies serverBehindNat. */
  serverNat?: NatKind
  /**
   * Per-host IP families (default 'dual'; needs ipv6), by role: `server`, `server2`, `client`,
   * `client2`, ... The stack is the uplink's: a server's own LAN keeps both families.
   */
  stacks?: Readonly<Record<string, Stack>>
  /** IPv6 behind every client NAT router (default 'nat66'). */
  clientV6?: RouterV6
  /** IPv6 behind the server's NAT router (default 'nat66'; only with serverBehindNat). */
  serverV6?: RouterV6
}

export interface NatRouter {
  ns: string
  role: string
  wanIf: 'wan0'
  wanAddr: string
  wanAddr6: string | null
  /** A bridge, so several hosts can share one NAT. */
  lanIf: 'lan0'
  lanAddr: string
  lanCidr: string
  lanAddr6: string | null
  /** Its LAN's IPv6 prefix (`fd10:0:0:0::/64`, `2001:db8:10:0::/64`), null without IPv6. */
  lanCidr6: string | null
  /** What it does with IPv6 ('none' also when the topology has ipv6: false). */
  v6: RouterV6
  /** Its WAN port in the internet namespace: set it down to cut everyone behind it off. */
  port: { ns: string; ifname: string }
}

export interface Host {
  ns: string
  role: string
  /** The IP families of its uplink. */
  stack: Stack
  /** The interface holding the default route. */
  uplink: string
  /** Its IPv4 address; on an IPv6-only host (stack 'v6') its IPv6 address. */
  addr: string
  addr6: string | null
  /** Like addr: IPv4, on an IPv6-only host IPv6. */
  gateway: string
  gateway6: string | null
  /** The address others on the internet see for it: its own, or its NAT's WAN (IPv6 on an IPv6-only host). */
  publicAddr: string
  /** The IPv6 address others see: its own (public or routed), its NAT66 router's WAN, or null. */
  publicAddr6: string | null
  nat: NatRouter | null
  /** The far end of its uplink (in the internet, NAT router or server namespace): set it down to cut the host off. */
  port: { ns: string; ifname: string }
}

export interface ServerHost extends Host {
  lanIf: 'lan0'
  lanAddr: string
  lanAddr6: string | null
}

export interface Topology {
  lab: Lab
  ipv6: boolean
  internet: { ns: string; bridge: 'br0'; whoamiUrl: string; whoamiUrl6: string | null }
  services: Host
  server: ServerHost
  /** The second server (servers: 2), else null. */
  server2: Host | null
  /** The hop hosts (hops: N), public on the internet, each in its own namespace; empty by default. */
  hops: Host[]
  lanhost: Host & { url: string; url6: string | null }
  /** clients[0] is `client`. */
  clients: Host[]
  client: Host
  natc: NatRouter
  nats: NatRouter | null
  /** Queries the lab DNS server has answered so far, oldest first (empty with dns: false). */
  dnsQueries(): DnsQueryLog[]
  /** Every namespace of the topology. */
  namespaces(): string[]
  /** The caller's IP as whoami sees it (IPv4 unless v6). */
  curlWhoami(ns: string, opts?: { v6?: boolean; timeoutMs?: number }): Promise<string>
  httpGet(ns: string, url: string, timeoutMs?: number): Promise<string>
  canHttpGet(ns: string, url: string, timeoutMs?: number): Promise<boolean>
  ping(ns: string, addr: string, count?: number): Promise<PingResult>
  snapshotNet(ns: string): Promise<NetSnapshot>
  /**
   * Counts the packets of one family a router forwards from its LAN to its WAN, from now on
   * (e.g. IPv6 that leaves a client's home network while its VPN should carry or block all of it).
   */
  countForwarded(nat: NatRouter, family: 'ipv4' | 'ipv6'): Promise<ForwardCounter>
  /**
   * Routes an IPv6 prefix to a public host, as an ISP delegates one to a customer (e.g. a VPN
   * server's routed `vpnServer.pool6`): the internet router sends it to the host's address.
   */
  delegatePrefix(host: Host, cidr6: string): Promise<void>
  /**
   * DNAT `proto` port on the router's WAN to a host behind it (e.g. STCPR to a NATed server); for an
   * IPv6 `toAddr` behind a 'routed' router, opens the port in its firewall instead (nothing to translate).
   */
  forwardPort(nat: NatRouter, proto: 'tcp' | 'udp', port: number, toAddr: string, toPort?: number): Promise<void>
  /** Synchronous, idempotent; see Lab.teardown. */
  teardown(): void
  /** Graceful: SIGTERM to the lab's processes, wait, then teardown. */
  close(graceMs?: number): Promise<void>
}
