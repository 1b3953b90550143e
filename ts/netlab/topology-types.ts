/** The shapes a built topology hands out (see topology.ts for the picture). */
import type { DnsQueryLog } from './dns.js'
import type { Lab, LabOptions } from './netns.js'
import type { NatKind } from './nat-kinds.js'
import type { NetSnapshot, PingResult } from './probe.js'

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
  /** Its WAN port in the internet namespace: set it down to cut everyone behind it off. */
  port: { ns: string; ifname: string }
}

export interface Host {
  ns: string
  role: string
  /** The interface holding the default route. */
  uplink: string
  addr: string
  addr6: string | null
  gateway: string
  gateway6: string | null
  /** The address others on the internet see for it: its own, or its NAT's WAN. */
  publicAddr: string
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
  /** DNAT `proto` port on the router's WAN to a host behind it (e.g. STCPR to a NATed server). */
  forwardPort(nat: NatRouter, proto: 'tcp' | 'udp', port: number, toAddr: string, toPort?: number): Promise<void>
  /** Synchronous, idempotent; see Lab.teardown. */
  teardown(): void
  /** Graceful: SIGTERM to the lab's processes, wait, then teardown. */
  close(graceMs?: number): Promise<void>
}
