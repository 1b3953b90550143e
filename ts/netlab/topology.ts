/**
 * The design's test network (design.md section 6), entirely inside lab namespaces:
 *
 *   internet  203.0.113.0/24 on bridge br0 (router .1, whoami .80), 2001:db8:203::/64
 *           (DNS .53: whoami.lab, services.lab; logs who asked)
 *     ├─ services  203.0.113.10              (discovery services listen here)
 *     ├─ server    203.0.113.20 ── lan0 192.168.50.1/24 ── lanhost 192.168.50.10 (whoami :80)
 *     ├─ server2   203.0.113.21  (servers: 2 only; public, no LAN)
 *     ├─ hop, hop2 203.0.113.22, .23 (hops: 1 or 2; public visors a multi-hop route crosses)
 *     │   or, serverBehindNat: nats 203.0.113.40 ── 10.20.0.1/24 ── server 10.20.0.10
 *     ├─ natc      203.0.113.30 ── 10.10.0.1/24 ── client 10.10.0.10
 *     └─ natcN     203.0.113.(29+N) ── 10.10.(N-1).1/24 ── clientN 10.10.(N-1).10   (clients > 1;
 *                  WAN .110 upwards from the 11th client on)
 *        or, clientsShareNat: clientN 10.10.0.(9+N) in natc's LAN
 *
 * IPv6 (default on): the fake internet is 2001:db8:203::/64 (documentation prefix,
 * the analogue of 203.0.113.0/24; DNS also at ::53), LANs get ULA /64s and the NAT
 * routers masquerade IPv6 too (NAT66), so a client has working IPv6 that bypasses a
 * tunnel unless the VPN handles it: exactly what an IPv6-leak test needs. `ipv6: false`
 * disables IPv6 in every lab namespace instead. Within an IPv6 lab, opt in per topology:
 *   clientV6 / serverV6: 'routed'  the router routes a global /64 (2001:db8:10:i::/64,
 *                                  2001:db8:20::/64) with a stateful firewall, no NAT66
 *                        'none'    the router and the hosts behind it have no IPv6
 *   stacks: { server: 'v6', client: 'v4', ... }  per host: IPv6-only (no IPv4 address
 *                                  or route) or IPv4-only (no global IPv6) uplinks
 *
 * Routers (internet, nats, natc*) forward; the server visor's namespace does NOT,
 * because turning forwarding on (and restoring it) is the VPN server's job.
 */
import { NetlabError } from './errors.js'
import type { NsProcess } from './exec.js'
import { INTERNET, NAT_TABLE, ROUTED6, SERVER_LAN } from './lab-addresses.js'
import { dnsQueries, startDns, startWhoami } from './lab-servers.js'
import { Lab } from './netns.js'
import { canHttpGet, httpGet, ping, snapshotNet } from './probe.js'
import { HostWiring } from './topology-hosts.js'
import {
  ROUTER_V6,
  STACKS,
  type ForwardCounter,
  type Host,
  type NatRouter,
  type RouterV6,
  type ServerHost,
  type Stack,
  type Topology,
  type TopologyOptions,
} from './topology-types.js'

// The public API of this module stays where it was; the pieces live in their own files.
export { INTERNET, LAB_NAMES, NAT_TABLE, ROUTED6, SERVER_LAN } from './lab-addresses.js'
export { labScript } from './lab-servers.js'
export type { ForwardCounter, Host, NatRouter, PacketCount, RouterV6, ServerHost, Stack, Topology, TopologyOptions } from './topology-types.js'

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

/** The options, checked and with their defaults. */
interface Shape {
  v6: boolean
  nClients: number
  nServers: 1 | 2
  behindNat: boolean
  shareNat: boolean
  stacks: ReadonlyMap<string, Stack>
  clientV6: RouterV6
  serverV6: RouterV6
}

function shapeOf(opts: TopologyOptions): Shape {
  const nClients = opts.clients ?? 1
  if (!Number.isInteger(nClients) || nClients < 1 || nClients > 150) {
    throw new NetlabError('EMISUSE', `clients must be 1..150, got ${nClients}`)
  }
  const v6 = opts.ipv6 ?? true
  const nServers = opts.servers ?? 1
  const behindNat = (opts.serverBehindNat ?? false) || opts.serverNat !== undefined
  const routerV6 = (name: string, m: RouterV6 | undefined): RouterV6 => {
    if (m === undefined) return 'nat66'
    if (!ROUTER_V6.includes(m)) throw new NetlabError('EMISUSE', `${name} must be one of ${ROUTER_V6.join(', ')}, got ${JSON.stringify(m)}`)
    if (!v6 && m !== 'none') throw new NetlabError('EMISUSE', `${name}: ${m} needs IPv6, and this topology has ipv6: false`)
    return m
  }
  if (opts.serverV6 !== undefined && !behindNat) throw new NetlabError('EMISUSE', 'serverV6 needs serverBehindNat: a public server has no router')
  const roles = ['server', ...(nServers === 2 ? ['server2'] : []), ...Array.from({ length: nClients }, (_, i) => `client${i === 0 ? '' : i + 1}`)]
  const stacks = new Map<string, Stack>()
  for (const [role, stack] of Object.entries(opts.stacks ?? {})) {
    if (!roles.includes(role))
      throw new NetlabError('EMISUSE', `stacks: no host ${JSON.stringify(role)} in this topology (hosts: ${roles.join(', ')})`)
    if (!STACKS.includes(stack)) throw new NetlabError('EMISUSE', `stacks.${role} must be one of ${STACKS.join(', ')}, got ${JSON.stringify(stack)}`)
    if (!v6 && stack !== 'v4') throw new NetlabError('EMISUSE', `stacks.${role}: ${stack} needs IPv6, and this topology has ipv6: false`)
    stacks.set(role, stack)
  }
  return {
    v6,
    nClients,
    nServers,
    behindNat,
    shareNat: opts.clientsShareNat ?? false,
    stacks,
    clientV6: routerV6('clientV6', opts.clientV6),
    serverV6: routerV6('serverV6', opts.serverV6),
  }
}

async function build(lab: Lab, opts: TopologyOptions): Promise<Topology> {
  const shape = shapeOf(opts)
  const w = new HostWiring(lab, shape.v6)
  const inet = await w.internet()
  const services = await w.publicHost('services', INTERNET.services, INTERNET.services6)
  const { server, nats, server2, lanhost } = await buildServerSide(w, shape, opts)
  const hops = await buildHops(w, opts.hops ?? 0)
  const clients = await buildClients(w, shape, opts)
  const dnsProc = await startLabServers(lab, inet, shape.v6, lanhost, opts)
  const client = clients[0] as Host
  return handle(lab, shape.v6, inet, dnsProc, {
    services,
    server,
    server2,
    hops,
    lanhost,
    clients,
    client,
    natc: client.nat as NatRouter,
    nats,
  })
}

/** The server (public, or behind its NAT router `nats`), the optional server2, and the server's LAN. */
async function buildServerSide(w: HostWiring, shape: Shape, opts: TopologyOptions) {
  let nats: NatRouter | null = null
  let serverBase: Host
  if (shape.behindNat) {
    const lan6 = shape.serverV6 === 'routed' ? ROUTED6.serverLan : 'fd20::'
    nats = await w.natRouter({
      role: 'nats',
      wanAddr: INTERNET.nats,
      wanAddr6: INTERNET.nats6,
      lanCidr: '10.20.0.0/24',
      lanAddr: '10.20.0.1',
      lanAddr6: `${lan6}1`,
      kind: opts.serverNat,
      v6: shape.serverV6,
    })
    serverBase = await w.behind(nats, 'server', '10.20.0.10', `${lan6}10`, 'wan0', shape.stacks.get('server'))
  } else {
    serverBase = await w.publicHost('server', INTERNET.serverPublic, INTERNET.serverPublic6, shape.stacks.get('server'))
  }
  const nServers = shape.nServers
  if (nServers !== 1 && nServers !== 2) throw new NetlabError('EMISUSE', `servers must be 1 or 2, got ${String(nServers)}`)
  const server2 = nServers === 2 ? await w.publicHost('server2', INTERNET.server2Public, INTERNET.server2Public6, shape.stacks.get('server2')) : null
  const lanhost = await buildLanhost(w, serverBase)
  const server: ServerHost = { ...serverBase, lanIf: 'lan0', lanAddr: SERVER_LAN.gateway, lanAddr6: w.v6addr(SERVER_LAN.gateway6) }
  return { server, nats, server2, lanhost }
}

/** `lanhost` on the server's LAN: a machine only a tunnel into the server's network reaches. */
async function buildLanhost(w: HostWiring, server: Host): Promise<Topology['lanhost']> {
  const ns = await w.namespace('lanhost', false)
  await w.lab.veth(
    { ns: server.ns, ifname: 'lan0', addrs: [`${SERVER_LAN.gateway}/24`, ...w.six(SERVER_LAN.gateway6)] },
    { ns, ifname: 'eth0', addrs: [`${SERVER_LAN.lanhost}/24`, ...w.six(SERVER_LAN.lanhost6)] },
  )
  await w.defaultRoutes(ns, SERVER_LAN.gateway, w.v6addr(SERVER_LAN.gateway6))
  return {
    ns,
    role: 'lanhost',
    stack: 'dual',
    uplink: 'eth0',
    addr: SERVER_LAN.lanhost,
    addr6: w.v6addr(SERVER_LAN.lanhost6),
    gateway: SERVER_LAN.gateway,
    gateway6: w.v6addr(SERVER_LAN.gateway6),
    publicAddr: server.publicAddr,
    publicAddr6: null,
    nat: null,
    port: { ns: server.ns, ifname: 'lan0' },
    url: `http://${SERVER_LAN.lanhost}/`,
    url6: w.v6 ? `http://[${SERVER_LAN.lanhost6}]/` : null,
  }
}

/** Hops: public hosts `hop`, `hop2` (the chain's middle visors, each in its own place). */
async function buildHops(w: HostWiring, n: number): Promise<Host[]> {
  if (n !== 0 && n !== 1 && n !== 2) throw new NetlabError('EMISUSE', `hops must be 0, 1 or 2, got ${String(n)}`)
  const hops: Host[] = []
  for (let i = 0; i < n; i++) {
    const last = 22 + i
    hops.push(await w.publicHost(i === 0 ? 'hop' : `hop${i + 1}`, i === 0 ? INTERNET.hopFirst : `203.0.113.${last}`, `2001:db8:203::${last}`))
  }
  return hops
}

/** Clients: client/natc, then client2/natc2 ... (or all in natc's LAN). */
async function buildClients(w: HostWiring, shape: Shape, opts: TopologyOptions): Promise<Host[]> {
  const clients: Host[] = []
  const natcs: NatRouter[] = []
  const lan6 = (i: number) => (shape.clientV6 === 'routed' ? ROUTED6.clientLan(i) : `fd10:0:0:${i}::`)
  for (let i = 0; i < shape.nClients; i++) {
    const suffix = i === 0 ? '' : String(i + 1)
    let nat = natcs[0]
    if (nat === undefined || !shape.shareNat) {
      // .31-.39 for the first extra NATs, then .110 upwards: .40 is nats, .53 DNS, .80 whoami.
      const wan = i < 10 ? 30 + i : 100 + i
      nat = await w.natRouter({
        role: `natc${suffix}`,
        wanAddr: `203.0.113.${wan}`,
        wanAddr6: `2001:db8:203::${wan}`,
        lanCidr: `10.10.${i}.0/24`,
        lanAddr: `10.10.${i}.1`,
        lanAddr6: `${lan6(i)}1`,
        kind: opts.clientNat,
        v6: shape.clientV6,
      })
      natcs.push(nat)
    }
    const shared = shape.shareNat && i > 0
    const net = shared ? 0 : i
    const hostPart = shared ? 10 + i : 10
    const role = `client${suffix}`
    clients.push(await w.behind(nat, role, `10.10.${net}.${hostPart}`, `${lan6(net)}${hostPart}`, 'eth0', shape.stacks.get(role)))
  }
  return clients
}

/** whoami (internet and lanhost) and the DNS server, all started at once; the DNS process, if any. */
async function startLabServers(lab: Lab, inet: string, v6: boolean, lanhost: Host, opts: TopologyOptions): Promise<NsProcess | null> {
  const starting: Promise<unknown>[] = []
  if (opts.whoami ?? true) {
    starting.push(
      startWhoami(lab, inet, v6, INTERNET.whoami, INTERNET.whoami6),
      startWhoami(lab, lanhost.ns, v6, SERVER_LAN.lanhost, SERVER_LAN.lanhost6),
    )
  }
  let dnsProc: NsProcess | null = null
  if (opts.dns ?? true) {
    const dns = startDns(lab, inet, v6)
    dnsProc = dns.proc
    starting.push(dns.ready)
  }
  await Promise.all(starting)
  return dnsProc
}

type Hosts = Pick<Topology, 'services' | 'server' | 'server2' | 'hops' | 'lanhost' | 'clients' | 'client' | 'natc' | 'nats'>

/** The Topology object: the hosts plus the probes and controls bound to this lab. */
function handle(lab: Lab, v6: boolean, inet: string, dnsProc: NsProcess | null, hosts: Hosts): Topology {
  let nextCounter = 0
  const whoamiUrl = `http://${INTERNET.whoami}/`
  const whoamiUrl6 = v6 ? `http://[${INTERNET.whoami6}]/` : null
  return {
    lab,
    ipv6: v6,
    internet: { ns: inet, bridge: 'br0', whoamiUrl, whoamiUrl6 },
    ...hosts,
    namespaces: () => lab.list(),
    dnsQueries: () => dnsQueries(dnsProc),
    async curlWhoami(ns, o = {}) {
      if (o.v6 && whoamiUrl6 === null) throw new NetlabError('EMISUSE', 'this topology was built with ipv6: false')
      const body = await httpGet(ns, o.v6 ? (whoamiUrl6 as string) : whoamiUrl, o.timeoutMs ?? 5000)
      return body.trim()
    },
    httpGet: (ns, url, timeoutMs) => httpGet(ns, url, timeoutMs),
    canHttpGet: (ns, url, timeoutMs) => canHttpGet(ns, url, timeoutMs),
    ping: (ns, addr, count = 3) => ping(ns, addr, { count }),
    snapshotNet: (ns) => snapshotNet(ns, lab.resolvConfPath(ns)),
    async delegatePrefix(host, cidr6) {
      if (host.nat !== null || host.addr6 === null)
        throw new NetlabError('EMISUSE', `${host.role} is not a public IPv6 host: only those get a delegated prefix`)
      if (!/^[0-9a-f:]+\/\d{1,3}$/i.test(cidr6) || !cidr6.includes(':'))
        throw new NetlabError('EMISUSE', `not an IPv6 prefix: ${JSON.stringify(cidr6)}`)
      await lab.route(inet, cidr6, { via: host.addr6 })
    },
    countForwarded: (nat, family) => countForwarded(lab, nat, family, nextCounter++),
    async forwardPort(nat, proto, port, toAddr, toPort = port) {
      const fam = toAddr.includes(':') ? 'ip6' : 'ip'
      if (fam === 'ip6' && nat.v6 === 'routed') {
        if (toPort !== port) throw new NetlabError('EMISUSE', `a routed IPv6 LAN has no translation: toPort must be ${port}`)
        // insert: ahead of the firewall's drop of new inbound connections.
        await lab.nft(nat.ns, `insert rule inet ${NAT_TABLE} forward iifname "wan0" ip6 daddr ${toAddr} ${proto} dport ${port} accept\n`)
        return
      }
      const dst = fam === 'ip6' ? `[${toAddr}]:${toPort}` : `${toAddr}:${toPort}`
      await lab.nft(
        nat.ns,
        `add rule inet ${NAT_TABLE} prerouting iifname "wan0" meta nfproto ${fam === 'ip6' ? 'ipv6' : 'ipv4'} ${proto} dport ${port} dnat ${fam} to ${dst}\n`,
      )
    },
    teardown: () => lab.teardown(),
    close: (graceMs) => lab.close(graceMs),
  }
}

/** The table of countForwarded's chains, one per counter; it dies with the router's namespace. */
const COUNT_TABLE = 'netlab_count'

async function countForwarded(lab: Lab, nat: NatRouter, family: 'ipv4' | 'ipv6', id: number): Promise<ForwardCounter> {
  if (family !== 'ipv4' && family !== 'ipv6') throw new NetlabError('EMISUSE', `family must be ipv4 or ipv6, got ${JSON.stringify(family)}`)
  const chain = `c${id}`
  // Before the NAT router's own forward chain (priority filter), so a drop there still counts.
  await lab.nft(
    nat.ns,
    `table inet ${COUNT_TABLE} {
  chain ${chain} {
    type filter hook forward priority filter - 10; policy accept;
    iifname "${nat.lanIf}" oifname "${nat.wanIf}" meta nfproto ${family} counter
  }
}
`,
  )
  return {
    async read() {
      const out = (await lab.execOk(nat.ns, ['nft', 'list', 'chain', 'inet', COUNT_TABLE, chain])).stdout
      const m = /counter packets (\d+) bytes (\d+)/.exec(out)
      if (!m) throw new NetlabError('EMISUSE', `no counter in ${COUNT_TABLE} ${chain} on ${nat.ns}: ${out}`)
      return { packets: Number(m[1]), bytes: Number(m[2]) }
    },
    async remove() {
      await lab.nft(nat.ns, `delete chain inet ${COUNT_TABLE} ${chain}\n`)
    },
  }
}
