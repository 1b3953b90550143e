/**
 * The topology's building blocks: namespaces with their forwarding settings, the
 * internet bridge's ports, NAT routers and the hosts behind them or on the
 * internet. Each method does one of these; topology.ts decides which to build.
 */
import { NetlabError } from './errors.js'
import { INTERNET, NAT_TABLE } from './lab-addresses.js'
import type { Lab } from './netns.js'
import { natKindScript, v6RouterRules, type NatKind } from './nat-kinds.js'
import type { Host, NatRouter, RouterV6, Stack } from './topology-types.js'

/** The resolv.conf of an IPv6-only host: the lab DNS server's IPv6 address. */
const RESOLV_CONF6 = `# skywire netlab\nnameserver ${INTERNET.dns6}\n`

export function natScript(v6: RouterV6 = 'nat66'): string {
  // The input chain is a home router's firewall: unsolicited TCP/UDP to the
  // router itself is dropped. Without it the first hole punch to arrive
  // leaves a conntrack entry on the router that makes its masquerade pick
  // another port for the answer, and the punch never meets (a dropped
  // packet's entry is never confirmed, so it clashes with nothing).
  const six = v6RouterRules(v6)
  return `table inet ${NAT_TABLE} {
  chain input {
    type filter hook input priority filter; policy accept;
    iifname "wan0" ct state new meta l4proto { tcp, udp } drop
  }
${six.forward}  chain prerouting {
    type nat hook prerouting priority dstnat; policy accept;
  }
  chain postrouting {
    type nat hook postrouting priority srcnat; policy accept;
    oifname "wan0" ${six.masqFamily}masquerade
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
  /** Default 'nat66'; lanAddr6 should then be a ULA, with 'routed' a global address (ROUTED6). */
  v6?: RouterV6 | undefined
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
  async namespace(role: string, router: boolean, stack: Stack = 'dual'): Promise<string> {
    const ns = await this.lab.addNamespace(role, stack === 'v6' ? { resolvConf: RESOLV_CONF6 } : {})
    // Explicit even where it matches the kernel default: a new namespace inherits
    // IPv4 settings from the host's, and the lab must not depend on the host.
    const sysctls: Record<string, number> = { 'net.ipv4.ip_forward': router ? 1 : 0 }
    if (this.v6) sysctls['net.ipv6.conf.all.forwarding'] = router ? 1 : 0
    else Object.assign(sysctls, { 'net.ipv6.conf.all.disable_ipv6': 1, 'net.ipv6.conf.default.disable_ipv6': 1 })
    await this.lab.sysctl(ns, sysctls)
    return ns
  }

  async defaultRoutes(ns: string, gw: string, gw6: string | null, stack: Stack = 'dual'): Promise<void> {
    if (stack !== 'v6') await this.lab.route(ns, 'default', { via: gw })
    if (this.v6 && stack !== 'v4' && gw6 !== null) await this.lab.route(ns, 'default', { via: gw6 })
  }

  /** An uplink's address list for `stack`: IPv4 /24 and/or IPv6 /64. */
  uplinkAddrs(stack: Stack, addr: string, addr6: string | null): string[] {
    return [...(stack === 'v6' ? [] : [`${addr}/24`]), ...(stack === 'v4' || addr6 === null ? [] : this.six(addr6))]
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
      ...six(INTERNET.dns6),
    ])
    return this.inet
  }

  /** Plugs `ns`'s `ifname` into the internet bridge through the port `p-<role>`. */
  async attach(ns: string, role: string, ifname: string, addr: string, addr6: string | null, stack: Stack = 'dual'): Promise<void> {
    const port = `p-${role}`
    await this.lab.veth({ ns: this.inet, ifname: port }, { ns, ifname, addrs: this.uplinkAddrs(stack, addr, addr6) })
    await this.lab.bridgePort(this.inet, 'br0', port)
  }

  /** A router with its WAN on the internet, a LAN bridge and the nftables NAT of its kind. */
  async natRouter(p: NatRouterPlan): Promise<NatRouter> {
    const { role, wanAddr, wanAddr6, lanCidr, lanAddr, lanAddr6, kind } = p
    const v6: RouterV6 = this.v6 ? (p.v6 ?? 'nat66') : 'none'
    const has6 = v6 !== 'none'
    const ns = await this.namespace(role, true)
    await this.attach(ns, role, 'wan0', wanAddr, this.v6addr(wanAddr6), has6 ? 'dual' : 'v4')
    await this.defaultRoutes(ns, INTERNET.gateway, this.v6addr(INTERNET.gateway6), has6 ? 'dual' : 'v4')
    await this.lab.bridge(ns, 'lan0', [`${lanAddr}/24`, ...(has6 ? this.six(lanAddr6) : [])])
    await this.lab.nft(ns, kind === undefined ? natScript(v6) : natKindScript(kind, { wanAddr, lanCidr, table: NAT_TABLE, v6 }))
    const lanCidr6 = has6 ? `${lanAddr6.replace(/::[0-9a-f]*$/, '::')}/64` : null
    // Routed: the internet (the ISP) routes the LAN's prefix to the router's WAN address.
    if (v6 === 'routed' && lanCidr6 !== null) await this.lab.route(this.inet, lanCidr6, { via: wanAddr6 })
    return {
      ns,
      role,
      wanIf: 'wan0',
      wanAddr,
      wanAddr6: has6 ? wanAddr6 : null,
      lanIf: 'lan0',
      lanAddr,
      lanCidr,
      lanAddr6: has6 ? lanAddr6 : null,
      lanCidr6,
      v6,
      port: { ns: this.inet, ifname: `p-${role}` },
    }
  }

  /** The stack of a host behind `nat`: what was asked for, which a router without IPv6 cannot give. */
  stackBehind(nat: NatRouter, role: string, asked: Stack | undefined): Stack {
    if (nat.v6 !== 'none') return asked ?? 'dual'
    if (asked !== undefined && asked !== 'v4') {
      throw new NetlabError('EMISUSE', `${role} cannot be ${asked === 'v6' ? 'IPv6-only' : 'dual-stack'}: its router ${nat.role} has no IPv6`)
    }
    return 'v4'
  }

  /** A host on `nat`'s LAN bridge, its default routes through the router. */
  async behind(nat: NatRouter, role: string, addr: string, addr6: string, uplink: string, asked?: Stack): Promise<Host> {
    const stack = this.stackBehind(nat, role, asked)
    const ns = await this.namespace(role, false, stack)
    const port = `p-${role}`
    const a6 = stack === 'v4' ? null : this.v6addr(addr6)
    await this.lab.veth({ ns: nat.ns, ifname: port }, { ns, ifname: uplink, addrs: this.uplinkAddrs(stack, addr, a6) })
    await this.lab.bridgePort(nat.ns, 'lan0', port)
    await this.defaultRoutes(ns, nat.lanAddr, nat.lanAddr6, stack)
    const public6 = a6 === null ? null : nat.v6 === 'routed' ? a6 : nat.wanAddr6
    return {
      ns,
      role,
      stack,
      uplink,
      addr: stack === 'v6' ? (a6 as string) : addr,
      addr6: a6,
      gateway: stack === 'v6' ? (nat.lanAddr6 as string) : nat.lanAddr,
      gateway6: a6 === null ? null : nat.lanAddr6,
      publicAddr: stack === 'v6' ? (public6 as string) : nat.wanAddr,
      publicAddr6: public6,
      nat,
      port: { ns: nat.ns, ifname: port },
    }
  }

  /** A host with a public address straight on the internet bridge. */
  async publicHost(role: string, addr: string, addr6: string, stack: Stack = 'dual'): Promise<Host> {
    const ns = await this.namespace(role, false, stack)
    const a6 = stack === 'v4' ? null : this.v6addr(addr6)
    await this.attach(ns, role, 'wan0', addr, a6, stack)
    await this.defaultRoutes(ns, INTERNET.gateway, this.v6addr(INTERNET.gateway6), stack)
    const gw6 = a6 === null ? null : INTERNET.gateway6
    return {
      ns,
      role,
      stack,
      uplink: 'wan0',
      addr: stack === 'v6' ? (a6 as string) : addr,
      addr6: a6,
      gateway: stack === 'v6' ? INTERNET.gateway6 : INTERNET.gateway,
      gateway6: gw6,
      publicAddr: stack === 'v6' ? (a6 as string) : addr,
      publicAddr6: a6,
      nat: null,
      port: { ns: this.inet, ifname: `p-${role}` },
    }
  }
}
