/**
 * The VPN client's changes to the host: policy routing, DNS and the optional
 * kill switch, applied from a plan that is first written to a state file and
 * undone from that same file (by `restore()`, or by `recoverStale()` after a
 * crash).
 *
 * Only the visor's own sockets bypass the tunnel: they carry BYPASS_MARK
 * (SO_MARK, set in the core), and policy rules send every unmarked packet to
 * a table whose default is the TUN (ts/sys/bypass.ts, wg-quick's way). No
 * address is exempted: a browser talking to a website on the discovery
 * services' host, or DNS to a resolver on the server's address, goes through
 * the tunnel like everything else. Lessons from Skywire's client: the main
 * table's default route is never replaced, so a disconnect cannot leave
 * several defaults behind; IPv6 is tunnelled or blocked, never leaked; and
 * every route we add carries our own protocol number in our own table, and
 * every rule our own preference, so deleting can never hit what somebody
 * else made.
 */
import { existsSync, readFileSync } from 'node:fs'
import { SkywireError } from '../contracts/errors.js'
import { formatPrefix, parsePrefix, type Family } from './cidr.js'
import { bootId, deleteState, readState, writeState, type ClientState, type PlannedRoute } from './client-state.js'
import { BYPASS_TABLE, bypassRules, PREF_SUPPRESS, PREF_TUNNEL, ruleLine, ruleMatches, rulesAtOurPrefs, type PlannedRule } from './bypass.js'
import { installKillSwitch, KILLSWITCH_TABLE, removeKillSwitch } from './killswitch.js'
import { nftIfname, tableExists } from './nft.js'
import { requireInterface } from './netifc.js'
import { backupResolvConf, reassertResolvConf, RESOLV_CONF, resolvConfIsOurs, restoreResolvConf, writeResolvConf } from './resolv-conf.js'
import { resolvedControl, type ResolvedControl, type ResolvedEnv } from './resolved.js'
import { ipJson, tryRun, commandError } from './run.js'
import { ownedByLiveProcess } from './state-file.js'

export type { ClientState, PlannedRoute } from './client-state.js'
export type { PlannedRule } from './bypass.js'

/** rtnetlink protocol of every route we add (unassigned in /etc/iproute2/rt_protos); `ip route show proto 158` lists ours. */
export const ROUTE_PROTO = '158'

/** Another VPN's (or an older visor's) way of taking all traffic; with them in main, ours would not see it. */
const HALVES: Record<Family, [string, string]> = { 4: ['0.0.0.0/1', '128.0.0.0/1'], 6: ['::/1', '8000::/1'] }
const ANY: Record<Family, string> = { 4: '0.0.0.0/0', 6: '::/0' }

export interface ClientRoutingOptions {
  /** The TUN the core created, already up with the tunnel address. */
  tunIf: string
  /** The tunnel's DNS servers; empty or absent leaves resolv.conf alone. */
  dns?: readonly string[]
  /** True when the tunnel carries IPv6; otherwise IPv6 to the internet is made unreachable. */
  tunnelIpv6?: boolean
  killSwitch?: boolean
  /** Allow LAN: prefixes the kill switch lets through (ts/sys/lan.ts). */
  lan?: readonly string[]
  /** Where the plan is written before any change (e.g. `<visor dir>/vpn-client.state.json`). */
  stateFile: string
  /** Default /etc/resolv.conf: in a namespace started by `ip netns exec`, that namespace's copy. */
  resolvConfPath?: string
  /** Where to look for systemd-resolved and which resolvectl to run (defaults: the real ones). */
  resolved?: ResolvedEnv
}

export interface AppliedClientRouting {
  readonly stateFile: string
  readonly state: ClientState
  /** `::/0` when IPv6 was asked to be tunnelled but is off on the TUN. */
  readonly skipped: readonly { addr: string; why: string }[]
  /** `tunnel`, `blocked`, or `none` when this host has no IPv6 at all (setTunnelIpv6 changes it). */
  readonly ipv6: 'tunnel' | 'blocked' | 'none'
  /**
   * Undoes everything and deletes the state file; safe to call twice. With
   * keepKillSwitch (a reconnect is coming), routes and DNS are undone but the
   * kill switch stays, recorded in the state file, for the next apply to adopt.
   */
  restore(opts?: { keepKillSwitch?: boolean }): Promise<void>
  /** Whether everything applied is still in place (for status; see `verifyClientRouting`). */
  verify(): Promise<ClientRoutingCheck>
  /** Puts the DNS setup back where somebody changed it (see `reassertClientDns`). */
  reassertDns(): Promise<DnsReassertion>
  /**
   * `vpn set --killswitch/--allow-lan` while connected: installs, replaces or
   * removes the kill switch now, and records it in the state file first (a
   * crash in between is still undone at the next start).
   */
  setKillSwitch(on: boolean, lan?: readonly string[]): Promise<void>

  /**
   * Another server's DNS servers on the same TUN (a switch, a reconnect):
   * rewrites only the DNS setup (state file first), leaving routes, rules and
   * kill switch as they are, so traffic never leaves the tunnel meanwhile.
   * false (nothing changed) where that cannot be done in place: DNS was left
   * alone at connect, or the new list is empty; then apply anew.
   */
  setDns(dns: readonly string[]): Promise<boolean>

  /**
   * A switch to a server that carries IPv6 where the last did not, or the
   * other way round: the tunnel table's IPv6 default becomes the TUN or
   * unreachable in one `ip -6 route replace` (state file first, holding both
   * while it happens), everything else untouched, so nothing leaves beside
   * the tunnel meanwhile. The IPv6 state it ends in; a host without IPv6, or
   * with IPv6 off on the TUN, stays as it was.
   */
  setTunnelIpv6(on: boolean): Promise<'tunnel' | 'blocked' | 'none'>
}

export interface ClientRoutingCheck {
  /** True when every route and rule, the kill switch and the DNS file are as applied. */
  intact: boolean
  /** Routes from the state that are no longer in their table (somebody or something deleted them). */
  missingRoutes: PlannedRoute[]
  /** Policy rules from the state that are gone. */
  missingRules: PlannedRule[]
  /** null when no kill switch was asked for. */
  killSwitch: boolean | null
  /** null when DNS was left alone; false when resolv.conf was rewritten, or resolved's link settings lost, behind our back. */
  dns: boolean | null
}

function ipv6Present(): boolean {
  return existsSync('/proc/sys/net/ipv6')
}

function ipv6EnabledOn(ifname: string): boolean {
  try {
    return readFileSync(`/proc/sys/net/ipv6/conf/${ifname}/disable_ipv6`, 'utf8').trim() === '0'
  } catch {
    return false
  }
}

/**
 * Destinations in main and in `table`, normalised, from one `ip -j -N route show table all` (one process
 * instead of one per table). Main's routes are printed without a table; -N prints the others by number,
 * so a name for `table` in rt_tables cannot hide it.
 */
async function mainAndTableDsts(family: Family, table: string): Promise<{ main: Set<string>; ours: Set<string> }> {
  const routes = await ipJson<{ dst?: string; table?: string }>(['-N', `-${family}`, 'route', 'show', 'table', 'all'])
  const main = new Set<string>()
  const ours = new Set<string>()
  for (const r of routes) {
    if (r.dst === undefined) continue
    const into = r.table === undefined || r.table === '254' || r.table === 'main' ? main : r.table === table ? ours : null
    if (into === null) continue
    into.add(formatPrefix(parsePrefix(r.dst === 'default' ? ANY[family] : r.dst)))
  }
  return { main, ours }
}

/** `ip -j route show table T [more]`; a table the kernel never had (none of its routes yet) is empty, not an error. */
async function tableRoutes<T>(family: Family, table: string, more: readonly string[] = []): Promise<T[]> {
  try {
    return await ipJson<T>([`-${family}`, 'route', 'show', 'table', table, ...more])
  } catch (e) {
    if (e instanceof SkywireError && /FIB table does not exist/.test(e.message)) return []
    throw e
  }
}

interface Plan {
  routes: PlannedRoute[]
  rules: PlannedRule[]
  skipped: { addr: string; why: string }[]
  ipv6: 'tunnel' | 'blocked' | 'none'
}

async function plan(opts: ClientRoutingOptions): Promise<Plan> {
  const routes: PlannedRoute[] = []
  const skipped: { addr: string; why: string }[] = []
  const v6 = ipv6Present()
  const ipv6 = !v6 ? 'none' : opts.tunnelIpv6 && ipv6EnabledOn(opts.tunIf) ? 'tunnel' : 'blocked'
  if (opts.tunnelIpv6 && ipv6 === 'blocked')
    skipped.push({ addr: '::/0', why: `IPv6 is disabled on ${opts.tunIf}: blocking IPv6 instead of tunnelling it` })
  const families: Family[] = ipv6 === 'none' ? [4] : [4, 6]
  const table = String(BYPASS_TABLE)
  // Every read at once (they only read), then checked in the order below, so
  // the error reported is the one the sequential checks would have reported.
  const reads = families.map((f) => ({ tables: settled(mainAndTableDsts(f, table)), rules: settled(rulesAtOurPrefs(f)) }))
  for (const [i, f] of families.entries()) {
    const r = reads[i]!
    const { main, ours } = (await r.tables)()
    // Checked first: when another VPN holds these, that is the problem to report.
    for (const dst of HALVES[f]) {
      if (main.has(dst)) throw new SkywireError('EEXIST', `route ${dst} exists already (another VPN connected?); not touching it`)
    }
    if (ours.size > 0) throw new SkywireError('EEXIST', `routing table ${table} is in use already (another visor connected?); not touching it`)
    if ((await r.rules)().length > 0) {
      throw new SkywireError(
        'EEXIST',
        `IPv${f} policy rules at preference ${PREF_SUPPRESS}/${PREF_TUNNEL} exist already (another visor connected?); not touching them`,
      )
    }
    routes.push(
      f === 6
        ? ipv6Route(ipv6 === 'tunnel', opts.tunIf)
        : { family: 4, dst: ANY[4], type: 'unicast', dev: opts.tunIf, table, why: 'into the tunnel' },
    )
  }
  // Routes before rules: once the rule sends traffic to the table, the table is full.
  return { routes, rules: bypassRules(families), skipped, ipv6 }
}

/**
 * `p` as a promise that never rejects: it gives a getter that returns the
 * value or throws the error. Reads started together are then taken in the
 * order they would have been awaited one by one (same error first), and a
 * read left untaken after an earlier throw is no unhandled rejection.
 */
function settled<T>(p: Promise<T>): Promise<() => T> {
  return p.then(
    (v) => () => v,
    (e: unknown) => () => {
      throw e
    },
  )
}

/** The tunnel table's IPv6 default: into the TUN, or unreachable so IPv6 fails fast and never leaks. */
function ipv6Route(tunnel: boolean, tunIf: string): PlannedRoute {
  const table = String(BYPASS_TABLE)
  return tunnel
    ? { family: 6, dst: ANY[6], type: 'unicast', dev: tunIf, table, why: 'into the tunnel' }
    : { family: 6, dst: ANY[6], type: 'unreachable', table, why: 'IPv6 is not tunnelled: never leak it' }
}

/** One `ip -batch` line; the family follows from the destination. */
function routeLine(verb: 'add' | 'del', r: PlannedRoute): string {
  const words = ['route', verb]
  if (r.type === 'unreachable') words.push('unreachable', r.dst)
  else {
    words.push(r.dst)
    if (r.via !== undefined) words.push('via', r.via)
    if (r.dev !== undefined) words.push('dev', r.dev)
  }
  words.push('proto', ROUTE_PROTO, 'table', r.table ?? 'main')
  for (const w of words) if (!/^[A-Za-z0-9_.:/@+-]+$/.test(w)) throw new SkywireError('EUSAGE', `bad word in route: ${JSON.stringify(w)}`)
  return words.join(' ')
}

/** Adds in order, one process; stops at the first failure (the caller then undoes the lot). */
async function addRoutes(routes: readonly PlannedRoute[]): Promise<void> {
  if (routes.length === 0) return
  const argv = ['ip', '-batch', '-']
  const res = await tryRun(argv, { input: routes.map((r) => routeLine('add', r)).join('\n') + '\n' })
  if (res.code !== 0) throw commandError(argv, res)
}

/** Adds the rules in order, one process per family; the first failure throws (the caller then undoes the lot). */
async function addRules(rules: readonly PlannedRule[]): Promise<void> {
  // The two families' rules do not depend on each other (each family's routes are in
  // already): both processes at once, the IPv4 failure reported first as before.
  const done = ([4, 6] as const).map((f) => {
    const mine = rules.filter((r) => r.family === f)
    if (mine.length === 0) return Promise.resolve(() => {})
    const argv = ['ip', `-${f}`, '-batch', '-']
    return settled(
      tryRun(argv, { input: mine.map((r) => ruleLine('add', r)).join('\n') + '\n' }).then((res) => {
        if (res.code !== 0) throw commandError(argv, res)
      }),
    )
  })
  for (const d of done) (await d)()
}

// A rule already gone: what we wanted.
const RULE_GONE = /No such file or directory|No such process/i

/** Deletes every rule it can (`-force`), by its full selector; only failures other than "already gone" throw. */
async function delRules(rules: readonly PlannedRule[]): Promise<void> {
  for (const f of [4, 6] as const) {
    const mine = rules.filter((r) => r.family === f)
    if (mine.length === 0) continue
    const argv = ['ip', `-${f}`, '-force', '-batch', '-']
    const res = await tryRun(argv, { input: mine.map((r) => ruleLine('del', r)).join('\n') + '\n' })
    if (res.code === 0) continue
    const real = res.stderr
      .split('\n')
      .map((l) => l.trim())
      .filter((l) => l !== '' && !/^Command failed/.test(l) && !RULE_GONE.test(l))
    if (real.length > 0) throw commandError(argv, { ...res, stderr: real.join('\n') })
  }
}

// A route whose device went away (the TUN of a crashed core) went with it; that is what we wanted.
const GONE = /No such process|Cannot find device|No such device/i

/** Deletes every route it can (`-force` goes on past failures); only failures other than "already gone" throw. */
async function delRoutes(routes: readonly PlannedRoute[]): Promise<void> {
  if (routes.length === 0) return
  const argv = ['ip', '-force', '-batch', '-']
  const res = await tryRun(argv, { input: routes.map((r) => routeLine('del', r)).join('\n') + '\n' })
  if (res.code === 0) return
  const real = res.stderr
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && !/^Command failed/.test(l) && !GONE.test(l))
  if (real.length > 0) throw commandError(argv, { ...res, stderr: real.join('\n') })
}

/**
 * Undoes what a state describes, in reverse order, tolerating pieces that are
 * gone (the TUN vanished with a crashed core, taking its routes along). Tries
 * every step; throws one error naming all that failed.
 */
async function undo(s: ClientState, resolved: ResolvedControl = resolvedControl()): Promise<void> {
  const failures: string[] = []
  const attempt = async (f: () => unknown) => {
    try {
      await f()
    } catch (e) {
      failures.push((e as Error).message)
    }
  }
  if (s.resolvConf !== null) {
    const backup = s.resolvConf
    await attempt(() => restoreResolvConf(backup))
  }
  if (s.resolved != null) {
    const link = s.resolved.tunIf
    await attempt(() => resolved.revert(link))
  }
  // Rules first: traffic goes back to main's default before the tunnel's table empties.
  await attempt(() => delRules([...(s.rules ?? [])].reverse()))
  await attempt(() => delRoutes([...s.routes].reverse()))
  if (s.killSwitch !== null) {
    const table = s.killSwitch.table
    await attempt(() => removeKillSwitch(table))
  }
  if (failures.length > 0) throw new SkywireError('ESTATE', `could not undo all VPN host changes: ${failures.join('; ')}`)
}

/** A state holding only a kill switch: what `restore({ keepKillSwitch: true })` leaves while the visor reconnects. */
function killSwitchOnly(s: ClientState): boolean {
  return s.killSwitch !== null && s.routes.length === 0 && (s.rules ?? []).length === 0 && s.resolvConf === null && s.resolved == null
}

/**
 * Connect: kill switch (if asked), the tunnel's table (a default into the TUN
 * per family; IPv6 unreachable when not tunnelled), the policy rules that
 * send every unmarked packet there, then DNS. The state file
 * is written first; a failure half-way undoes what was done and rethrows.
 *
 * Fails with ESTATE if a state file exists already (call `recoverStale` at
 * visor start), except one left by `restore({ keepKillSwitch: true })`: a
 * reconnect adopts that kill switch (replacing it atomically for the new TUN, so
 * nothing leaks in between), and on failure keeps it up rather than undoing it.
 */
export async function applyClientRouting(opts: ClientRoutingOptions): Promise<AppliedClientRouting> {
  nftIfname(opts.tunIf)
  const prev = readState(opts.stateFile)
  const reconnecting = prev !== null && killSwitchOnly(prev)
  if (prev !== null && !reconnecting) {
    throw new SkywireError('ESTATE', `VPN state file ${opts.stateFile} exists: restore or recover it before connecting again`)
  }
  if (reconnecting && !opts.killSwitch) {
    // Kill switch no longer wanted: plain disconnect of what is left, then a fresh connect.
    await undo(prev)
    deleteState(opts.stateFile)
  }
  const adopt = reconnecting && (opts.killSwitch ?? false)
  const dns = [...(opts.dns ?? [])]
  const resolvPath = opts.resolvConfPath ?? RESOLV_CONF
  const rc = resolvedControl({ resolvConfPath: resolvPath, ...opts.resolved })
  // The TUN check, the plan's reads and resolved's detection only read: they run
  // at once (each its own process), their errors taken in this order.
  const iface = settled(requireInterface(opts.tunIf))
  const planned = settled(plan(opts))
  // Under systemd-resolved the tunnel's link gets the DNS servers; resolv.conf is rewritten too unless it
  // already sends every lookup to resolved (the stub), where editing the manager's file would gain nothing.
  const detected = settled(dns.length > 0 ? rc.detect() : Promise.resolve(null))
  ;(await iface)()
  const p = (await planned)()
  const det = (await detected)()
  const viaResolved = det?.running === true
  const resolvConf = dns.length > 0 && !(viaResolved && det?.resolvConf === 'stub') ? backupResolvConf(resolvPath) : null
  const s: ClientState = {
    version: 1,
    pid: process.pid,
    bootId: bootId(),
    createdAt: new Date().toISOString(),
    tunIf: opts.tunIf,
    routes: p.routes,
    rules: p.rules,
    resolvConf,
    dns,
    killSwitch: opts.killSwitch ? { table: prev?.killSwitch?.table ?? KILLSWITCH_TABLE } : null,
    resolved: viaResolved ? { tunIf: opts.tunIf } : null,
  }
  writeState(opts.stateFile, s)
  try {
    if (s.killSwitch !== null) await installKillSwitch(s.tunIf, s.killSwitch.table, { lan: opts.lan ?? [] })
    await addRoutes(s.routes)
    await addRules(p.rules)
    if (resolvConf !== null) writeResolvConf(resolvConf, dns)
    if (s.resolved != null) await rc.apply(s.resolved.tunIf, dns)
  } catch (e) {
    try {
      await rollBack(opts.stateFile, s, adopt, rc)
    } catch (undoErr) {
      throw new SkywireError(
        'ESTATE',
        `${(e as Error).message}; and undoing failed, state kept in ${opts.stateFile}: ${(undoErr as Error).message}`,
        { cause: e },
      )
    }
    throw e
  }
  return handle(opts.stateFile, s, p, rc)
}

/** Undoes `s`; with keepKillSwitch the kill switch stays up and the state file shrinks to just it. */
async function rollBack(stateFile: string, s: ClientState, keepKillSwitch: boolean, rc?: ResolvedControl): Promise<void> {
  if (keepKillSwitch && s.killSwitch !== null) {
    await undo({ ...s, killSwitch: null }, rc)
    writeState(stateFile, { ...s, routes: [], rules: [], resolvConf: null, dns: [], resolved: null })
    return
  }
  await undo(s, rc)
  deleteState(stateFile)
}

/**
 * Skywire showed "connected" while its routes were gone. This looks: every
 * route of the state still in its table with our protocol, every policy rule
 * at its preference, the kill switch table present, resolv.conf still the
 * tunnel's. The visor puts the result in status and, when not intact,
 * restores and applies again.
 */
export async function verifyClientRouting(s: ClientState, rc: ResolvedControl = resolvedControl()): Promise<ClientRoutingCheck> {
  const present = new Set<string>()
  const key = (table: string, type: string, dst: string, dev: string, via: string) =>
    `${table} ${type} ${dst} ${type === 'unreachable' ? '' : dev} ${via}`
  for (const f of [4, 6] as const) {
    const tables = new Set(s.routes.filter((r) => r.family === f).map((r) => r.table ?? 'main'))
    for (const table of tables) {
      const routes = await tableRoutes<{ dst?: string; type?: string; dev?: string; gateway?: string }>(f, table, ['proto', ROUTE_PROTO])
      for (const r of routes) {
        if (r.dst === undefined) continue
        const dst = formatPrefix(parsePrefix(r.dst === 'default' ? ANY[f] : r.dst))
        present.add(key(table, r.type ?? 'unicast', dst, r.dev ?? '', r.gateway ?? ''))
      }
    }
  }
  const missingRoutes = s.routes.filter((r) => !present.has(key(r.table ?? 'main', r.type, r.dst, r.dev ?? '', r.via ?? '')))
  const rules = s.rules ?? []
  const missingRules: PlannedRule[] = []
  for (const f of [4, 6] as const) {
    const mine = rules.filter((r) => r.family === f)
    if (mine.length === 0) continue
    const have = await rulesAtOurPrefs(f)
    missingRules.push(...mine.filter((r) => !ruleMatches(r, have)))
  }
  const killSwitch = s.killSwitch === null ? null : await tableExists(s.killSwitch.table)
  let dns: boolean | null = null
  if (s.resolvConf !== null) dns = resolvConfIsOurs(s.resolvConf.path, s.dns)
  if (s.resolved != null) dns = dns !== false && (await rc.isOurs(s.resolved.tunIf, s.dns))
  return {
    intact: missingRoutes.length === 0 && missingRules.length === 0 && killSwitch !== false && dns !== false,
    missingRoutes,
    missingRules,
    killSwitch,
    dns,
  }
}

/** `ip -6 route replace` of the tunnel table's default (same selector: table, protocol, destination). */
async function replaceRoute(r: PlannedRoute): Promise<void> {
  const argv = ['ip', '-batch', '-']
  const res = await tryRun(argv, { input: routeLine('add', r).replace(/^route add /, 'route replace ') + '\n' })
  if (res.code !== 0) throw commandError(argv, res)
}

function handle(stateFile: string, s: ClientState, p: Plan, rc: ResolvedControl): AppliedClientRouting {
  let done = false
  let cur = s
  let ipv6 = p.ipv6
  return {
    stateFile,
    get state() {
      return cur
    },
    skipped: p.skipped,
    get ipv6() {
      return ipv6
    },
    async setTunnelIpv6(on) {
      if (done || ipv6 === 'none') return ipv6
      const want = on && ipv6EnabledOn(cur.tunIf) ? 'tunnel' : 'blocked'
      if (want === ipv6) return ipv6
      const old = cur.routes.find((r) => r.family === 6 && r.dst === ANY[6] && r.table === String(BYPASS_TABLE))
      const next = ipv6Route(want === 'tunnel', cur.tunIf)
      const others = cur.routes.filter((r) => r !== old)
      // Both on record while the replace runs: a crash in between leaves nothing an undo would miss
      // (deleting the one that is not there is "already gone").
      writeState(stateFile, { ...cur, routes: [...others, ...(old ? [old] : []), next] })
      await replaceRoute(next)
      cur = { ...cur, routes: [...others, next] }
      writeState(stateFile, cur)
      ipv6 = want
      return ipv6
    },
    async restore(o = {}) {
      if (done) return
      await rollBack(stateFile, cur, o.keepKillSwitch ?? false, rc)
      done = true
    },
    verify: () => verifyClientRouting(cur, rc),
    reassertDns: () => reassertClientDns(cur, rc),
    async setKillSwitch(on, lan = []) {
      if (done) return
      if (on) {
        const table = cur.killSwitch?.table ?? KILLSWITCH_TABLE
        cur = { ...cur, killSwitch: { ...cur.killSwitch, table } }
        writeState(stateFile, cur)
        await installKillSwitch(cur.tunIf, table, { lan })
      } else if (cur.killSwitch !== null) {
        const table = cur.killSwitch.table
        await removeKillSwitch(table)
        cur = { ...cur, killSwitch: null }
        writeState(stateFile, cur)
      }
    },
    async setDns(dns) {
      const next = [...dns]
      if (done || next.length === 0 || (cur.resolvConf === null && cur.resolved == null)) return false
      const updated: ClientState = { ...cur, dns: next }
      // The plan first: a crash from here on restores the same backup, whichever servers were written.
      writeState(stateFile, updated)
      cur = updated
      if (cur.resolvConf !== null) reassertResolvConf(cur.resolvConf.path, next)
      if (cur.resolved != null) await rc.apply(cur.resolved.tunIf, next)
      return true
    },
  }
}

/** What `reassertClientDns` had to put back (empty: everything was still ours). */
export interface DnsReassertion {
  repaired: ('resolv.conf' | 'resolved')[]
}

/**
 * While connected, a DHCP client or NetworkManager may rewrite resolv.conf
 * (a lease renewal), and resolved may forget a link's settings (restarted,
 * or the link reconfigured): lookups would then leave beside the tunnel.
 * This puts back whatever of the state's DNS setup is no longer ours; the
 * visor calls it periodically. The backup is not retaken: disconnecting
 * restores what was there before the connect.
 */
export async function reassertClientDns(s: ClientState, rc: ResolvedControl = resolvedControl()): Promise<DnsReassertion> {
  const repaired: DnsReassertion['repaired'] = []
  if (s.resolvConf !== null && !resolvConfIsOurs(s.resolvConf.path, s.dns)) {
    reassertResolvConf(s.resolvConf.path, s.dns)
    repaired.push('resolv.conf')
  }
  if (s.resolved != null && !(await rc.isOurs(s.resolved.tunIf, s.dns))) {
    await rc.apply(s.resolved.tunIf, s.dns)
    repaired.push('resolved')
  }
  return { repaired }
}

/**
 * Disconnect by state file alone (the visor may have lost its handle). true when
 * there was something to restore.
 */
export async function restoreClientRouting(stateFile: string, opts: { keepKillSwitch?: boolean } = {}): Promise<boolean> {
  const s = readState(stateFile)
  if (s === null) return false
  await rollBack(stateFile, s, opts.keepKillSwitch ?? false)
  return true
}

/**
 * Visor start: undoes a state file a crashed visor left behind. Returns the
 * state it restored, or null when there was none. Refuses (ESTATE) when the
 * state's owner is another live process in this boot, since that is a visor
 * still connected, unless `force`.
 */
export async function recoverStale(stateFile: string, opts: { force?: boolean } = {}): Promise<ClientState | null> {
  const s = readState(stateFile)
  if (s === null) return null
  if (!(opts.force ?? false) && ownedByLiveProcess(s)) {
    throw new SkywireError('ESTATE', `VPN state file ${stateFile} belongs to running process ${s.pid}: stop that visor first`)
  }
  await undo(s)
  deleteState(stateFile)
  return s
}
