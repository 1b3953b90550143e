/**
 * The design's test network (design.md section 6), entirely inside lab namespaces:
 *
 *   internet  203.0.113.0/24 on bridge br0 (router .1, whoami .80), 2001:db8:203::/64
 *           (DNS .53: whoami.lab, services.lab; logs who asked)
 *     ├─ services  203.0.113.10              (discovery services listen here)
 *     ├─ server    203.0.113.20 ── lan0 192.168.50.1/24 ── lanhost 192.168.50.10 (whoami :80)
 *     ├─ server2   203.0.113.21  (servers: 2 only; public, no LAN)
 *     │   or, serverBehindNat: nats 203.0.113.40 ── 10.20.0.1/24 ── server 10.20.0.10
 *     ├─ natc      203.0.113.30 ── 10.10.0.1/24 ── client 10.10.0.10
 *     └─ natcN     203.0.113.(29+N) ── 10.10.(N-1).1/24 ── clientN 10.10.(N-1).10   (clients > 1;
 *                  WAN .110 upwards from the 11th client on)
 *        or, clientsShareNat: clientN 10.10.0.(9+N) in natc's LAN
 *
 * IPv6 (default on): the fake internet is 2001:db8:203::/64 (documentation prefix,
 * the analogue of 203.0.113.0/24), LANs get ULA /64s and the NAT routers masquerade
 * IPv6 too, so a client has working IPv6 that bypasses a tunnel unless the VPN
 * handles it: exactly what an IPv6-leak test needs. `ipv6: false` disables IPv6
 * in every lab namespace instead.
 *
 * Routers (internet, nats, natc*) forward; the server visor's namespace does NOT,
 * because turning forwarding on (and restoring it) is the VPN server's job.
 */
import { existsSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { NetlabError } from './errors.js'
import type { DnsQueryLog } from './dns.js'
import type { NsProcess } from './exec.js'
import { DEFAULT_LAB_DNS, Lab, type LabOptions } from './netns.js'
import { canHttpGet, httpGet, ping, snapshotNet, type NetSnapshot, type PingResult } from './probe.js'
import { natKindScript, type NatKind } from './nat-kinds.js'

export const INTERNET = {
  cidr: '203.0.113.0/24',
  gateway: '203.0.113.1',
  services: '203.0.113.10',
  serverPublic: '203.0.113.20',
  /** The second server's address (servers: 2). */
  server2Public: '203.0.113.21',
  natcFirst: '203.0.113.30',
  nats: '203.0.113.40',
  whoami: '203.0.113.80',
  /** Every lab resolv.conf's nameserver. Assigned to the internet router so lookups fail fast (port unreachable) instead of hanging on ARP. */
  dns: DEFAULT_LAB_DNS,
  cidr6: '2001:db8:203::/64',
  gateway6: '2001:db8:203::1',
  whoami6: '2001:db8:203::80',
} as const

export const SERVER_LAN = {
  cidr: '192.168.50.0/24',
  gateway: '192.168.50.1',
  lanhost: '192.168.50.10',
  cidr6: 'fd50::/64',
  gateway6: 'fd50::1',
  lanhost6: 'fd50::10',
} as const

/** The NAT table every lab router owns; its chains are `postrouting` and `prerouting`. */
export const NAT_TABLE = 'netlab_nat'

export interface TopologyOptions extends LabOptions {
  /** Put the server behind its own NAT router `nats` (for SUDPH with both sides NATed). */
  serverBehindNat?: boolean
  /** Server hosts: 1 (default) or 2 (adds a public `server2`, e.g. for the soak's two VPN servers). */
  servers?: 1 | 2
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

/** dist/netlab/<name>.js, also when this file runs from ts/ under vitest (child processes need compiled JS). */
export function labScript(name: 'whoami' | 'dns'): string {
  const candidates = [new URL(`./${name}.js`, import.meta.url), new URL(`../../dist/netlab/${name}.js`, import.meta.url)]
  for (const u of candidates) {
    const p = fileURLToPath(u)
    if (existsSync(p)) return p
  }
  throw new NetlabError('EPREREQ', `dist/netlab/${name}.js is missing: build the TypeScript first (npx tsc -p .)`)
}

/** Names the lab DNS server answers; everything else is NXDOMAIN. */
export const LAB_NAMES = {
  whoami: 'whoami.lab',
  services: 'services.lab',
} as const

function natScript(): string {
  // The input chain is a home router's firewall: unsolicited TCP/UDP to the
  // router itself is dropped. Without it the first hole punch to arrive
  // leaves a conntrack entry on the router that makes its masquerade pick
  // another port for the answer, and the punch never meets (a dropped
  // packet's entry is never confirmed, so it clashes with nothing).
  return `table inet ${NAT_TABLE} {
  chain input {
    type filter hook input priority filter; policy accept;
    iifname "wan0" ct state new meta l4proto { tcp, udp } drop
  }
  chain prerouting {
    type nat hook prerouting priority dstnat; policy accept;
  }
  chain postrouting {
    type nat hook postrouting priority srcnat; policy accept;
    oifname "wan0" masquerade
  }
}
`
}

/**
 * Builds the topology. On any failure the half-built lab is torn down before
 * the error propagates, so a failed build leaves nothing behind.
 */
export async function buildTopology(opts: TopologyOptions = {}): Promise<Topology> {
  const lab = new Lab(opts)
  try {
    return await build(lab, opts)
  } catch (e) {
    lab.teardown()
    throw e
  }
}

async function build(lab: Lab, opts: TopologyOptions): Promise<Topology> {
  const v6 = opts.ipv6 ?? true
  const nClients = opts.clients ?? 1
  if (!Number.isInteger(nClients) || nClients < 1 || nClients > 150) {
    throw new NetlabError('EMISUSE', `clients must be 1..150, got ${nClients}`)
  }
  const behindNat = (opts.serverBehindNat ?? false) || opts.serverNat !== undefined
  const shareNat = opts.clientsShareNat ?? false

  const addNs = async (role: string, router: boolean) => {
    const ns = await lab.addNamespace(role)
    // Explicit even where it matches the kernel default: a new namespace inherits
    // IPv4 settings from the host's, and the lab must not depend on the host.
    const sysctls: Record<string, number> = { 'net.ipv4.ip_forward': router ? 1 : 0 }
    if (v6) sysctls['net.ipv6.conf.all.forwarding'] = router ? 1 : 0
    else Object.assign(sysctls, { 'net.ipv6.conf.all.disable_ipv6': 1, 'net.ipv6.conf.default.disable_ipv6': 1 })
    await lab.sysctl(ns, sysctls)
    return ns
  }
  const six = (a: string, plen = 64) => (v6 ? [`${a}/${plen}`] : [])
  const defaultRoutes = async (ns: string, gw: string, gw6: string | null) => {
    await lab.route(ns, 'default', { via: gw })
    if (v6 && gw6 !== null) await lab.route(ns, 'default', { via: gw6 })
  }

  // The internet: a bridge every public host hangs off through a `p-<role>` port.
  const inet = await addNs('internet', true)
  await lab.bridge(inet, 'br0', [`${INTERNET.gateway}/24`, `${INTERNET.whoami}/24`, `${INTERNET.dns}/24`, ...six(INTERNET.gateway6), ...six(INTERNET.whoami6)])
  const attach = async (ns: string, role: string, ifname: string, addr: string, addr6: string | null) => {
    const port = `p-${role}`
    await lab.veth({ ns: inet, ifname: port }, { ns, ifname, addrs: [`${addr}/24`, ...(addr6 ? six(addr6) : [])] })
    await lab.bridgePort(inet, 'br0', port)
  }
  const v6addr = (a: string) => (v6 ? a : null)

  const natRouter = async (role: string, wanAddr: string, wanAddr6: string, lanCidr: string, lanAddr: string, lanAddr6: string, kind?: NatKind): Promise<NatRouter> => {
    const ns = await addNs(role, true)
    await attach(ns, role, 'wan0', wanAddr, v6addr(wanAddr6))
    await defaultRoutes(ns, INTERNET.gateway, v6addr(INTERNET.gateway6))
    await lab.bridge(ns, 'lan0', [`${lanAddr}/24`, ...six(lanAddr6)])
    await lab.nft(ns, kind === undefined ? natScript() : natKindScript(kind, { wanAddr, lanCidr, table: NAT_TABLE }))
    return { ns, role, wanIf: 'wan0', wanAddr, wanAddr6: v6addr(wanAddr6), lanIf: 'lan0', lanAddr, lanCidr, lanAddr6: v6addr(lanAddr6), port: { ns: inet, ifname: `p-${role}` } }
  }
  const behind = async (nat: NatRouter, role: string, addr: string, addr6: string, uplink: string): Promise<Host> => {
    const ns = await addNs(role, false)
    const port = `p-${role}`
    await lab.veth({ ns: nat.ns, ifname: port }, { ns, ifname: uplink, addrs: [`${addr}/24`, ...six(addr6)] })
    await lab.bridgePort(nat.ns, 'lan0', port)
    await defaultRoutes(ns, nat.lanAddr, nat.lanAddr6)
    return { ns, role, uplink, addr, addr6: v6addr(addr6), gateway: nat.lanAddr, gateway6: nat.lanAddr6, publicAddr: nat.wanAddr, nat, port: { ns: nat.ns, ifname: port } }
  }
  const publicHost = async (role: string, addr: string, addr6: string): Promise<Host> => {
    const ns = await addNs(role, false)
    await attach(ns, role, 'wan0', addr, v6addr(addr6))
    await defaultRoutes(ns, INTERNET.gateway, v6addr(INTERNET.gateway6))
    return { ns, role, uplink: 'wan0', addr, addr6: v6addr(addr6), gateway: INTERNET.gateway, gateway6: v6addr(INTERNET.gateway6), publicAddr: addr, nat: null, port: { ns: inet, ifname: `p-${role}` } }
  }

  const services = await publicHost('services', INTERNET.services, '2001:db8:203::10')

  // The server, public or behind nats, and its LAN.
  let nats: NatRouter | null = null
  let serverBase: Host
  if (behindNat) {
    nats = await natRouter('nats', INTERNET.nats, '2001:db8:203::40', '10.20.0.0/24', '10.20.0.1', 'fd20::1', opts.serverNat)
    serverBase = await behind(nats, 'server', '10.20.0.10', 'fd20::10', 'wan0')
  } else {
    serverBase = await publicHost('server', INTERNET.serverPublic, '2001:db8:203::20')
  }
  const nServers = opts.servers ?? 1
  if (nServers !== 1 && nServers !== 2) throw new NetlabError('EMISUSE', `servers must be 1 or 2, got ${String(nServers)}`)
  const server2 = nServers === 2 ? await publicHost('server2', INTERNET.server2Public, '2001:db8:203::21') : null
  const lanhostNs = await addNs('lanhost', false)
  await lab.veth(
    { ns: serverBase.ns, ifname: 'lan0', addrs: [`${SERVER_LAN.gateway}/24`, ...six(SERVER_LAN.gateway6)] },
    { ns: lanhostNs, ifname: 'eth0', addrs: [`${SERVER_LAN.lanhost}/24`, ...six(SERVER_LAN.lanhost6)] },
  )
  await defaultRoutes(lanhostNs, SERVER_LAN.gateway, v6addr(SERVER_LAN.gateway6))
  const server: ServerHost = { ...serverBase, lanIf: 'lan0', lanAddr: SERVER_LAN.gateway, lanAddr6: v6addr(SERVER_LAN.gateway6) }
  const lanhost = {
    ns: lanhostNs,
    role: 'lanhost',
    uplink: 'eth0',
    addr: SERVER_LAN.lanhost,
    addr6: v6addr(SERVER_LAN.lanhost6),
    gateway: SERVER_LAN.gateway,
    gateway6: v6addr(SERVER_LAN.gateway6),
    publicAddr: server.publicAddr,
    nat: null,
    port: { ns: serverBase.ns, ifname: 'lan0' },
    url: `http://${SERVER_LAN.lanhost}/`,
    url6: v6 ? `http://[${SERVER_LAN.lanhost6}]/` : null,
  }

  // Clients: client/natc, then client2/natc2 ... (or all in natc's LAN).
  const clients: Host[] = []
  const natcs: NatRouter[] = []
  for (let i = 0; i < nClients; i++) {
    const suffix = i === 0 ? '' : String(i + 1)
    let nat = natcs[0]
    if (nat === undefined || !shareNat) {
      // .31-.39 for the first extra NATs, then .110 upwards: .40 is nats, .53 DNS, .80 whoami.
      const wan = i < 10 ? 30 + i : 100 + i
      nat = await natRouter(`natc${suffix}`, `203.0.113.${wan}`, `2001:db8:203::${wan}`, `10.10.${i}.0/24`, `10.10.${i}.1`, `fd10:0:0:${i}::1`, opts.clientNat)
      natcs.push(nat)
    }
    const shared = shareNat && i > 0
    const net = shared ? 0 : i
    const hostPart = shared ? 10 + i : 10
    clients.push(await behind(nat, `client${suffix}`, `10.10.${net}.${hostPart}`, `fd10:0:0:${net}::${hostPart}`, 'eth0'))
  }

  const starting: Promise<unknown>[] = []
  if (opts.whoami ?? true) {
    const script = labScript('whoami')
    const start = async (ns: string, addr: string, addr6: string) => {
      const listen = ['--listen', `${addr}:80`, ...(v6 ? ['--listen', `[${addr6}]:80`] : [])]
      const p = lab.spawn(ns, [process.execPath, script, ...listen])
      await p.waitForOutput(v6 ? /listening on \[.*\]:80/ : /listening on/, 10_000)
    }
    starting.push(start(inet, INTERNET.whoami, INTERNET.whoami6), start(lanhostNs, SERVER_LAN.lanhost, SERVER_LAN.lanhost6))
  }
  let dnsProc: NsProcess | null = null
  if (opts.dns ?? true) {
    const rec = (name: string, a: string, a6: string) => ['--record', `${name}=${a}`, ...(v6 ? ['--record', `${name}=${a6}`] : [])]
    dnsProc = lab.spawn(inet, [
      process.execPath,
      labScript('dns'),
      '--listen',
      `${INTERNET.dns}:53`,
      ...rec(LAB_NAMES.whoami, INTERNET.whoami, INTERNET.whoami6),
      ...rec(LAB_NAMES.services, INTERNET.services, '2001:db8:203::10'),
    ])
    starting.push(dnsProc.waitForOutput(/dns listening/, 10_000))
  }
  await Promise.all(starting)

  const client = clients[0] as Host
  const whoamiUrl = `http://${INTERNET.whoami}/`
  const whoamiUrl6 = v6 ? `http://[${INTERNET.whoami6}]/` : null
  return {
    lab,
    ipv6: v6,
    internet: { ns: inet, bridge: 'br0', whoamiUrl, whoamiUrl6 },
    services,
    server,
    server2,
    lanhost,
    clients,
    client,
    natc: client.nat as NatRouter,
    nats,
    namespaces: () => lab.list(),
    dnsQueries: () =>
      (dnsProc?.output().stdout ?? '')
        .split('\n')
        .filter((l) => l.startsWith('{'))
        .map((l) => JSON.parse(l) as DnsQueryLog),
    async curlWhoami(ns, o = {}) {
      if (o.v6 && whoamiUrl6 === null) throw new NetlabError('EMISUSE', 'this topology was built with ipv6: false')
      const body = await httpGet(ns, o.v6 ? (whoamiUrl6 as string) : whoamiUrl, o.timeoutMs ?? 5000)
      return body.trim()
    },
    httpGet: (ns, url, timeoutMs) => httpGet(ns, url, timeoutMs),
    canHttpGet: (ns, url, timeoutMs) => canHttpGet(ns, url, timeoutMs),
    ping: (ns, addr, count = 3) => ping(ns, addr, { count }),
    snapshotNet: (ns) => snapshotNet(ns, lab.resolvConfPath(ns)),
    async forwardPort(nat, proto, port, toAddr, toPort = port) {
      const fam = toAddr.includes(':') ? 'ip6' : 'ip'
      const dst = fam === 'ip6' ? `[${toAddr}]:${toPort}` : `${toAddr}:${toPort}`
      await lab.nft(nat.ns, `add rule inet ${NAT_TABLE} prerouting iifname "wan0" meta nfproto ${fam === 'ip6' ? 'ipv6' : 'ipv4'} ${proto} dport ${port} dnat ${fam} to ${dst}\n`)
    },
    teardown: () => lab.teardown(),
    close: (graceMs) => lab.close(graceMs),
  }
}
