/**
 * Keeping the VPN client's routes true while the network under it changes
 * (issue 13, chaos tests): the host roams to another LAN (new address, new
 * default route), the user replaces the default route, or a link goes down
 * and the kernel flushes every route through it, our bypass routes included.
 *
 * A bypass route pins a transport endpoint to the path it had before the
 * tunnel. When that path changes, the bypass must follow it: otherwise the
 * endpoint falls under the /1 halves and the transport's own packets head
 * into the tunnel, and no reconnect can ever succeed. So: for each bypass,
 * find the route the host would use without us (longest prefix, then lowest
 * metric, among the main table's routes that are not ours) and, where it
 * differs or the bypass is gone, `ip route replace` it. Replace is atomic:
 * unlike a restore and re-apply, the halves never leave, so nothing goes
 * around the tunnel while the routes are fixed. Halves somebody deleted are
 * put back the same way.
 *
 * Crash safety: the state file is rewritten first with both the old and the
 * new form of every changed route (deleting the one that is not there is a
 * harmless "already gone"), then the routes change, then the state file
 * shrinks to the new forms.
 */
import { readFileSync } from 'node:fs'
import { contains, formatPrefix, parsePrefix, type Family } from './cidr.js'
import { writeState, type ClientState, type PlannedRoute } from './client-state.js'
import { ROUTE_PROTO, routeLine } from './client-routing.js'
import { ipJson, tryRun, commandError } from './run.js'

interface IpRoute {
  dst?: string
  type?: string
  dev?: string
  gateway?: string
  protocol?: string
  metric?: number
}

/**
 * A cheap look at the routing tables (no process spawned): /proc/net/route
 * (IPv4 main table) and /proc/net/ipv6_route, without their use counters.
 * Equal fingerprints mean no route was added, removed or changed.
 */
export function routeFingerprint(): string {
  const read = (p: string) => {
    try {
      return readFileSync(p, 'utf8')
    } catch {
      return ''
    }
  }
  // IPv4: Iface Destination Gateway Flags RefCnt Use Metric Mask ...; drop RefCnt and Use.
  const v4 = read('/proc/net/route')
    .split('\n')
    .map((l) => l.trim().split(/\s+/))
    .map((f) => [...f.slice(0, 4), ...f.slice(6)].join(' '))
  // IPv6: dest plen src plen nexthop metric refcnt use flags dev; drop refcnt and use.
  const v6 = read('/proc/net/ipv6_route')
    .split('\n')
    .map((l) => l.trim().split(/\s+/))
    .map((f) => [...f.slice(0, 6), ...f.slice(8)].join(' '))
  return [...v4, '--', ...v6].join('\n')
}

/** Whether the main table has an IPv4 default route that is not ours: without one, no bypass has anywhere to go. */
export function hasDefaultRoute4(): boolean {
  return read4().some((f) => f[1] === '00000000' && f[7] === '00000000')
}

function read4(): string[][] {
  try {
    return readFileSync('/proc/net/route', 'utf8')
      .split('\n')
      .slice(1)
      .map((l) => l.trim().split(/\s+/))
      .filter((f) => f.length >= 8)
  } catch {
    return []
  }
}

/** The route the host would take to `addr` without our routes, or null when it has none. */
export function underlyingRoute(addr: string, family: Family, main: readonly IpRoute[]): { dev: string; gateway: string | null } | null {
  const target = parsePrefix(addr)
  let best: { len: number; metric: number; r: IpRoute } | null = null
  for (const r of main) {
    if (r.dst === undefined || r.protocol === ROUTE_PROTO) continue
    const dst = parsePrefix(r.dst === 'default' ? (family === 4 ? '0.0.0.0/0' : '::/0') : r.dst)
    if (!contains(dst, target)) continue
    const metric = r.metric ?? 0
    if (best === null || dst.len > best.len || (dst.len === best.len && metric < best.metric)) best = { len: dst.len, metric, r }
  }
  // An unreachable/blackhole/prohibit route, or a multipath one we cannot pin: no path to follow.
  if (best === null || (best.r.type ?? 'unicast') !== 'unicast' || best.r.dev === undefined) return null
  return { dev: best.r.dev, gateway: best.r.gateway ?? null }
}

const key = (r: PlannedRoute) => `${r.type} ${r.dst} ${r.type === 'unreachable' ? '' : (r.dev ?? '')} ${r.via ?? ''}`

/**
 * Brings `s`'s routes in line with the host's current paths (see the file
 * comment). Updates `s.routes` in place, so the handle that owns `s` later
 * removes the routes that are really there. Returns the routes it changed or
 * put back (empty: all were right).
 */
export async function followClientRoutes(stateFile: string, s: ClientState): Promise<PlannedRoute[]> {
  const families = [...new Set(s.routes.map((r) => r.family))]
  const main: Record<number, IpRoute[]> = {}
  for (const f of families) main[f] = await ipJson<IpRoute>([`-${f}`, 'route', 'show', 'table', 'main'])
  const present = new Set<string>()
  for (const f of families) {
    for (const r of main[f] ?? []) {
      if (r.dst === undefined || r.protocol !== ROUTE_PROTO) continue
      const dst = formatPrefix(parsePrefix(r.dst === 'default' ? (f === 4 ? '0.0.0.0/0' : '::/0') : r.dst))
      const type = r.type === 'unreachable' ? 'unreachable' : 'unicast'
      present.add(key({ family: f, dst, type, why: '', ...(type === 'unicast' && r.dev !== undefined ? { dev: r.dev } : {}), ...(r.gateway !== undefined ? { via: r.gateway } : {}) }))
    }
  }
  const next: PlannedRoute[] = []
  const changed: { old: PlannedRoute; now: PlannedRoute }[] = []
  for (const r of s.routes) {
    let want = r
    // A bypass is every unicast route that does not go into the TUN.
    if (r.type === 'unicast' && r.dev !== s.tunIf) {
      const u = underlyingRoute(r.dst, r.family, main[r.family] ?? [])
      // No path without us: leave the bypass as it is (or gone); a later change brings one.
      if (u !== null) {
        want = { family: r.family, dst: r.dst, type: 'unicast', dev: u.dev, ...(u.gateway === null ? {} : { via: u.gateway }), why: r.why }
      }
    }
    if (key(want) !== key(r) || !present.has(key(want))) changed.push({ old: r, now: want })
    next.push(want)
  }
  if (changed.length === 0) return []
  // Both forms on record while the change is under way, so a crash right now is still undone completely.
  writeState(stateFile, { ...s, routes: [...next, ...changed.filter((c) => key(c.old) !== key(c.now)).map((c) => c.old)] })
  const argv = ['ip', '-batch', '-']
  const res = await tryRun(argv, { input: changed.map((c) => routeLine('replace', c.now)).join('\n') + '\n' })
  if (res.code !== 0) throw commandError(argv, res)
  writeState(stateFile, { ...s, routes: next })
  s.routes = next
  return changed.map((c) => c.now)
}
