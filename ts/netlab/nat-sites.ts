/**
 * Extra "sites" on a built topology's internet: a host that is public, behind
 * one NAT router of a kind (ts/netlab/nat-kinds.ts), or behind two (a
 * carrier-grade NAT on 100.64.0.0/10 with a home router behind it). The NAT
 * matrix puts one visor on each site, so every pairing of client and server NAT
 * runs in one lab. IPv4 only; addresses by index i (0..39):
 *
 *   public      host 203.0.113.(150+i)
 *   one NAT     router WAN 203.0.113.(150+i), LAN 10.(100+i).0.0/24 (.1), hosts .10, .11, ...
 *   double      CGN WAN 203.0.113.(150+i), CGN LAN 100.64.i.0/24 (.1), home router WAN 100.64.i.2,
 *               home LAN 10.(100+i).0.0/24, hosts .10, ...
 */
import { NetlabError } from './errors.js'
import { isNatKind, natKindScript, type NatKind, type SiteKind } from './nat-kinds.js'
import { INTERNET, NAT_TABLE, type Topology } from './topology.js'

export interface SiteHost {
  ns: string
  role: string
  addr: string
  /** What a peer on the internet sees as its address (its outermost NAT's WAN). */
  publicAddr: string
}

export interface SiteRouter {
  ns: string
  kind: NatKind
  wanAddr: string
  lanCidr: string
}

export interface Site {
  id: string
  kind: SiteKind
  hosts: SiteHost[]
  /** Outermost first. Empty for a public host. */
  routers: SiteRouter[]
}

export const MAX_SITES = 40

/** Builds site `id` (short: [a-z0-9]{1,6}, names its namespaces) of `kind` with `hosts` hosts (default 1; a public site has one). */
export async function addSite(topo: Topology, o: { id: string; kind: SiteKind; index: number; hosts?: number }): Promise<Site> {
  const { lab } = topo
  if (!/^[a-z0-9]{1,6}$/.test(o.id)) throw new NetlabError('EMISUSE', `site id must be 1-6 of [a-z0-9], got ${JSON.stringify(o.id)}`)
  if (!Number.isInteger(o.index) || o.index < 0 || o.index >= MAX_SITES) throw new NetlabError('EMISUSE', `site index must be 0..${MAX_SITES - 1}`)
  const nHosts = o.hosts ?? 1
  if (!Number.isInteger(nHosts) || nHosts < 1 || nHosts > 8) throw new NetlabError('EMISUSE', 'a site has 1..8 hosts')
  const wan = `203.0.113.${150 + o.index}`
  const inet = topo.internet.ns

  const ns = async (role: string, router: boolean) => {
    const n = await lab.addNamespace(role)
    await lab.sysctl(n, { 'net.ipv4.ip_forward': router ? 1 : 0 })
    return n
  }
  // On the internet bridge through a `p-<role>` port, like the topology's own hosts.
  const onInternet = async (n: string, role: string) => {
    await lab.veth({ ns: inet, ifname: `p-${role}` }, { ns: n, ifname: 'wan0', addrs: [`${wan}/24`] })
    await lab.bridgePort(inet, 'br0', `p-${role}`)
    await lab.route(n, 'default', { via: INTERNET.gateway })
  }
  const router = async (role: string, kind: NatKind, wanAddr: string, lanPrefix: string): Promise<SiteRouter> => {
    const n = await ns(role, true)
    await lab.bridge(n, 'lan0', [`${lanPrefix}.1/24`])
    const r: SiteRouter = { ns: n, kind, wanAddr, lanCidr: `${lanPrefix}.0/24` }
    await lab.nft(n, natKindScript(kind, { wanAddr, lanCidr: r.lanCidr, table: NAT_TABLE }))
    return r
  }
  const hostsBehind = async (r: SiteRouter, lanPrefix: string): Promise<SiteHost[]> => {
    const out: SiteHost[] = []
    for (let h = 0; h < nHosts; h++) {
      const role = `h${o.id}${h === 0 ? '' : String(h + 1)}`
      const n = await ns(role, false)
      const addr = `${lanPrefix}.${10 + h}`
      await lab.veth({ ns: r.ns, ifname: `p-${role}` }, { ns: n, ifname: 'eth0', addrs: [`${addr}/24`] })
      await lab.bridgePort(r.ns, 'lan0', `p-${role}`)
      await lab.route(n, 'default', { via: `${lanPrefix}.1` })
      out.push({ ns: n, role, addr, publicAddr: wan })
    }
    return out
  }

  const lanPrefix = `10.${100 + o.index}.0`
  if (o.kind === 'public') {
    const role = `h${o.id}`
    const n = await ns(role, false)
    await onInternet(n, role)
    return { id: o.id, kind: o.kind, hosts: [{ ns: n, role, addr: wan, publicAddr: wan }], routers: [] }
  }
  if (o.kind === 'double') {
    const cgn = await router(`g${o.id}`, 'port-restricted', wan, `100.64.${o.index}`)
    await onInternet(cgn.ns, `g${o.id}`)
    const home = await router(`r${o.id}`, 'port-restricted', `100.64.${o.index}.2`, lanPrefix)
    await lab.veth({ ns: cgn.ns, ifname: `p-r${o.id}` }, { ns: home.ns, ifname: 'wan0', addrs: [`${home.wanAddr}/24`] })
    await lab.bridgePort(cgn.ns, 'lan0', `p-r${o.id}`)
    await lab.route(home.ns, 'default', { via: `100.64.${o.index}.1` })
    return { id: o.id, kind: o.kind, hosts: await hostsBehind(home, lanPrefix), routers: [cgn, home] }
  }
  if (!isNatKind(o.kind)) throw new NetlabError('EMISUSE', `unknown site kind ${JSON.stringify(o.kind)}`)
  const r = await router(`r${o.id}`, o.kind, wan, lanPrefix)
  await onInternet(r.ns, `r${o.id}`)
  return { id: o.id, kind: o.kind, hosts: await hostsBehind(r, lanPrefix), routers: [r] }
}
