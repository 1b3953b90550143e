/**
 * The topology's building blocks: namespaces with their forwarding settings, the
 * internet bridge's ports, NAT routers and the hosts behind them or on the
 * internet. Each method does one of these; topology.ts decides which to build.
 */
import { INTERNET, NAT_TABLE } from './lab-addresses.js'
import type { Lab } from './netns.js'
import { natKindScript, type NatKind } from './nat-kinds.js'
import type { Host, NatRouter } from './topology-types.js'

export function natScript(): string {
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

/** The addresses of one NAT router: WAN on the internet, LAN a /24 (and a /64). */
export interface NatRouterPlan {
  role: string
  wanAddr: string
  wanAddr6: string
  lanCidr: string
  lanAddr: string
  lanAddr6: string
  kind?: NatKind | undefined
}

export class HostWiring {
  /** The internet namespace, once internet() has built it. */
  inet = ''

  constructor(
    readonly lab: Lab,
    readonly v6: boolean,
  ) {}

  /** `a/plen` as an address list when IPv6 is on, else nothing. */
  six(a: string, plen = 64): string[] {
    return this.v6 ? [`${a}/${plen}`] : []
  }

  /** The IPv6 address when IPv6 is on, else null (how the topology reports a missing one). */
  v6addr(a: string): string | null {
    return this.v6 ? a : null
  }

  /** A lab namespace whose forwarding (and IPv6) settings say whether it routes. */
  async namespace(role: string, router: boolean): Promise<string> {
    const ns = await this.lab.addNamespace(role)
    // Explicit even where it matches the kernel default: a new namespace inherits
    // IPv4 settings from the host's, and the lab must not depend on the host.
    const sysctls: Record<string, number> = { 'net.ipv4.ip_forward': router ? 1 : 0 }
    if (this.v6) sysctls['net.ipv6.conf.all.forwarding'] = router ? 1 : 0
    else Object.assign(sysctls, { 'net.ipv6.conf.all.disable_ipv6': 1, 'net.ipv6.conf.default.disable_ipv6': 1 })
    await this.lab.sysctl(ns, sysctls)
    return ns
  }

  async defaultRoutes(ns: string, gw: string, gw6: string | null): Promise<void> {
    await this.lab.route(ns, 'default', { via: gw })
    if (this.v6 && gw6 !== null) await this.lab.route(ns, 'default', { via: gw6 })
  }

  /** The internet: a bridge every public host hangs off through a `p-<role>` port. */
  async internet(): Promise<string> {
    this.inet = await this.namespace('internet', true)
    const six = (a: string) => this.six(a)
    await this.lab.bridge(this.inet, 'br0', [
      `${INTERNET.gateway}/24`,
      `${INTERNET.whoami}/24`,
      `${INTERNET.dns}/24`,
      ...six(INTERNET.gateway6),
      ...six(INTERNET.whoami6),
    ])
    return this.inet
  }

  /** Plugs `ns`'s `ifname` into the internet bridge through the port `p-<role>`. */
  async attach(ns: string, role: string, ifname: string, addr: string, addr6: string | null): Promise<void> {
    const port = `p-${role}`
    await this.lab.veth({ ns: this.inet, ifname: port }, { ns, ifname, addrs: [`${addr}/24`, ...(addr6 ? this.six(addr6) : [])] })
    await this.lab.bridgePort(this.inet, 'br0', port)
  }

  /** A router with its WAN on the internet, a LAN bridge and the nftables NAT of its kind. */
  async natRouter(p: NatRouterPlan): Promise<NatRouter> {
    const { role, wanAddr, wanAddr6, lanCidr, lanAddr, lanAddr6, kind } = p
    const ns = await this.namespace(role, true)
    await this.attach(ns, role, 'wan0', wanAddr, this.v6addr(wanAddr6))
    await this.defaultRoutes(ns, INTERNET.gateway, this.v6addr(INTERNET.gateway6))
    await this.lab.bridge(ns, 'lan0', [`${lanAddr}/24`, ...this.six(lanAddr6)])
    await this.lab.nft(ns, kind === undefined ? natScript() : natKindScript(kind, { wanAddr, lanCidr, table: NAT_TABLE }))
    return {
      ns,
      role,
      wanIf: 'wan0',
      wanAddr,
      wanAddr6: this.v6addr(wanAddr6),
      lanIf: 'lan0',
      lanAddr,
      lanCidr,
      lanAddr6: this.v6addr(lanAddr6),
      port: { ns: this.inet, ifname: `p-${role}` },
    }
  }

  /** A host on `nat`'s LAN bridge, its default routes through the router. */
  async behind(nat: NatRouter, role: string, addr: string, addr6: string, uplink: string): Promise<Host> {
    const ns = await this.namespace(role, false)
    const port = `p-${role}`
    await this.lab.veth({ ns: nat.ns, ifname: port }, { ns, ifname: uplink, addrs: [`${addr}/24`, ...this.six(addr6)] })
    await this.lab.bridgePort(nat.ns, 'lan0', port)
    await this.defaultRoutes(ns, nat.lanAddr, nat.lanAddr6)
    return {
      ns,
      role,
      uplink,
      addr,
      addr6: this.v6addr(addr6),
      gateway: nat.lanAddr,
      gateway6: nat.lanAddr6,
      publicAddr: nat.wanAddr,
      nat,
      port: { ns: nat.ns, ifname: port },
    }
  }

  /** A host with a public address straight on the internet bridge. */
  async publicHost(role: string, addr: string, addr6: string): Promise<Host> {
    const ns = await this.namespace(role, false)
    await this.attach(ns, role, 'wan0', addr, this.v6addr(addr6))
    await this.defaultRoutes(ns, INTERNET.gateway, this.v6addr(INTERNET.gateway6))
    return {
      ns,
      role,
      uplink: 'wan0',
      addr,
      addr6: this.v6addr(addr6),
      gateway: INTERNET.gateway,
      gateway6: this.v6addr(INTERNET.gateway6),
      publicAddr: addr,
      nat: null,
      port: { ns: this.inet, ifname: `p-${role}` },
    }
  }
}
