/**
 * What the host's network looks like, read with `ip -j` in the current network
 * namespace: the default route (where NAT goes out, where the visor's marked sockets leave),
 * interfaces, and the host's own addresses and subnets (what the server's secure
 * mode blocks, and the "networks I already use" a client lists in its hello).
 */
import { SkywireError } from '../contracts/errors.js'
import { familyOf, networkOf, type Family } from './cidr.js'
import { ipJson, tryRun, commandError } from './run.js'

export interface DefaultRoute {
  family: Family
  dev: string
  /** null for an on-link default route (point-to-point links, some VPSes). */
  gateway: string | null
  metric: number
}

interface IpRoute {
  dst?: string
  type?: string
  gateway?: string
  dev?: string
  metric?: number
  prefsrc?: string
  nexthops?: { gateway?: string; dev?: string }[]
}

/**
 * The main table's default route for a family, the lowest metric when there are
 * several; null when there is none. With a VPN client up this still reports the
 * original route: the client sends unmarked traffic to its own table by policy
 * rules (bypass.ts) and never touches it.
 */
export async function defaultRoute(family: Family): Promise<DefaultRoute | null> {
  const routes = await ipJson<IpRoute>([`-${family}`, 'route', 'show', 'default', 'table', 'main'])
  const usable = routes.filter((r) => (r.type ?? 'unicast') === 'unicast')
  usable.sort((a, b) => (a.metric ?? 0) - (b.metric ?? 0))
  const r = usable[0]
  if (r === undefined) return null
  const hop = r.nexthops?.[0]
  const dev = r.dev ?? hop?.dev
  if (dev === undefined) return null
  return { family, dev, gateway: r.gateway ?? hop?.gateway ?? null, metric: r.metric ?? 0 }
}

/** The default route's interface, or ENOROUTE (the server's `--netifc` default). */
export async function defaultInterface(family: Family = 4): Promise<string> {
  const r = await defaultRoute(family)
  if (r === null) throw new SkywireError('ENOROUTE', `no IPv${family} default route: name the interface explicitly`)
  return r.dev
}

/**
 * The server's uplink when `--netifc` is not given: the IPv4 default route's
 * interface, or on an IPv6-only host the IPv6 one (a server there NATs only
 * IPv6, and must still start without being told the interface).
 */
export async function defaultUplink(): Promise<string> {
  const r = (await defaultRoute(4)) ?? (await defaultRoute(6))
  if (r === null) throw new SkywireError('ENOROUTE', 'no IPv4 or IPv6 default route: name the interface explicitly (-i/--netifc)')
  return r.dev
}

export interface RouteLookup {
  /** How the kernel routes `addr` right now. */
  addr: string
  family: Family
  dev: string
  gateway: string | null
  /** `local` for the host's own addresses, which no route change can divert. */
  type: string
}

/** `ip route get ADDR`: the path the kernel would use now; ENOROUTE when there is none. */
export async function routeGet(addr: string): Promise<RouteLookup> {
  const family = familyOf(addr)
  if (family === null) throw new SkywireError('EUSAGE', `not an IP address: ${JSON.stringify(addr)}`)
  const argv = ['ip', '-j', `-${family}`, 'route', 'get', addr]
  const r = await tryRun(argv)
  if (r.code !== 0) {
    if (/unreachable|No route/i.test(r.stderr)) throw new SkywireError('ENOROUTE', `no route to ${addr}`)
    throw commandError(argv, r)
  }
  const route = (JSON.parse(r.stdout) as IpRoute[])[0]
  if (route?.dev === undefined) throw new SkywireError('ENOROUTE', `no route to ${addr}`)
  return { addr, family, dev: route.dev, gateway: route.gateway ?? null, type: route.type ?? 'unicast' }
}

interface IpLink {
  ifname: string
  ifindex: number
  operstate?: string
  flags?: string[]
}

export interface Interface {
  name: string
  index: number
  up: boolean
}

export async function listInterfaces(): Promise<Interface[]> {
  const links = await ipJson<IpLink>(['link', 'show'])
  return links.map((l) => ({ name: l.ifname, index: l.ifindex, up: (l.flags ?? []).includes('UP') }))
}

export async function interfaceExists(name: string): Promise<boolean> {
  return (await listInterfaces()).some((i) => i.name === name)
}

/** Throws ENOIFACE with the interfaces that do exist, for `--netifc nosuchif`. */
export async function requireInterface(name: string): Promise<void> {
  const all = await listInterfaces()
  if (all.some((i) => i.name === name)) return
  const have = all.map((i) => i.name).join(', ')
  throw new SkywireError('ENOIFACE', `network interface ${JSON.stringify(name)} does not exist (this host has: ${have})`)
}

interface IpAddrInfo {
  family: 'inet' | 'inet6'
  local: string
  prefixlen: number
  scope?: string
}

interface IpAddrLink {
  ifname: string
  addr_info?: IpAddrInfo[]
}

export interface InterfaceAddress {
  ifname: string
  family: Family
  address: string
  prefixLen: number
  /** The subnet the address sits in, e.g. 192.168.50.0/24. */
  subnet: string
  /** `global`, `link`, `host` (loopback). */
  scope: string
}

/** Every address on every interface of this namespace. */
export async function hostAddresses(): Promise<InterfaceAddress[]> {
  const links = await ipJson<IpAddrLink>(['addr', 'show'])
  const out: InterfaceAddress[] = []
  for (const l of links) {
    for (const a of l.addr_info ?? []) {
      const family: Family = a.family === 'inet' ? 4 : 6
      out.push({
        ifname: l.ifname,
        family,
        address: a.local,
        prefixLen: a.prefixlen,
        subnet: networkOf(a.local, a.prefixlen),
        scope: a.scope ?? 'global',
      })
    }
  }
  return out
}

export interface SubnetFilter {
  /** Interfaces to leave out (the VPN's own TUN, say). */
  excludeInterfaces?: readonly string[]
  /** Loopback (127.0.0.0/8, ::1) is left out unless true. */
  includeLoopback?: boolean
  /** Link-local (169.254/16, fe80::/10) is left out unless true. */
  includeLinkLocal?: boolean
  family?: Family
}

/**
 * The subnets of this host's interfaces, de-duplicated. A client sends these in
 * its hello so the server never hands out a clashing pool.
 */
export async function localSubnets(filter: SubnetFilter = {}): Promise<string[]> {
  return subnetsOf(await hostAddresses(), filter)
}

/** `localSubnets` over addresses already read (one `ip -j addr` serves both the TUN lookup and the subnets). */
export function subnetsOf(addrs: readonly InterfaceAddress[], filter: SubnetFilter = {}): string[] {
  const skip = new Set(filter.excludeInterfaces ?? [])
  const out = new Set<string>()
  for (const a of addrs) {
    if (skip.has(a.ifname)) continue
    if (filter.family !== undefined && a.family !== filter.family) continue
    if (a.scope === 'host' && !(filter.includeLoopback ?? false)) continue
    if (a.scope === 'link' && !(filter.includeLinkLocal ?? false)) continue
    out.add(a.subnet)
  }
  return [...out]
}
