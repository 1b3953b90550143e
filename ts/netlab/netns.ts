/**
 * A network lab: a set of namespaces with a unique prefix, wired with veth
 * pairs that have BOTH ends inside lab namespaces, so the machine's own
 * namespace (routes, nftables, links) is never touched. Deleting a namespace
 * deletes its links, bridges and nftables tables with it, which is why
 * teardown only has to kill processes, delete namespaces and remove files.
 */
import { randomBytes } from 'node:crypto'
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs'
import { NetlabError } from './errors.js'
import { exec, execOk, execSync, sleepSync, spawn, waitForTcp, type ExecOptions, type ExecResult, type NsProcess, type SpawnOptions } from './exec.js'
import { LAB_NS_RE, isLabAlive, listRecords, removeRecord, writeRecord } from './registry.js'

export { exec, execOk, execSync, spawn, waitFor, waitForTcp } from './exec.js'
export type { ExecOptions, ExecResult, ExitInfo, NsProcess, SpawnOptions, WaitForOptions } from './exec.js'
export { CommandError, NetlabError, TimeoutError } from './errors.js'
export type { NetlabReason } from './errors.js'

export const NETNS_ETC = '/etc/netns'
/** Linux IFNAMSIZ - 1. */
export const MAX_IFNAME = 15
/** Where lab hosts send DNS by default: an address on the fake internet nobody answers on, so nothing leaks out. */
export const DEFAULT_LAB_DNS = '203.0.113.53'

const ROLE_RE = /^[a-z][a-z0-9-]{0,30}$/

export interface LabOptions {
  /** Remove leftovers of crashed labs first (default true). */
  sweep?: boolean
  /** Default resolv.conf for every namespace of this lab. */
  resolvConf?: string
}

export interface VethEnd {
  ns: string
  ifname: string
  /** CIDRs to add, IPv4 or IPv6. */
  addrs?: string[]
}

/** Namespaces currently listed by `ip netns list`. */
export function listNetns(): string[] {
  const r = execSync(null, ['ip', 'netns', 'list'])
  return r.stdout
    .split('\n')
    .map((l) => l.trim().split(/\s+/)[0] ?? '')
    .filter((n) => n.length > 0)
}

/** True when the lab can run here: root, iproute2, /dev/net/tun. Else the reason. */
export function labPrerequisites(): { ok: true } | { ok: false; reason: string } {
  if (process.platform !== 'linux') return { ok: false, reason: 'network namespaces need Linux' }
  if (process.getuid?.() !== 0) return { ok: false, reason: 'network namespaces need root' }
  if (!existsSync('/dev/net/tun')) return { ok: false, reason: '/dev/net/tun is missing' }
  try {
    if (execSync(null, ['ip', '-V']).code !== 0) return { ok: false, reason: '`ip` (iproute2) does not run' }
  } catch {
    return { ok: false, reason: '`ip` (iproute2) is not installed' }
  }
  return { ok: true }
}

function deleteNamespaceSync(name: string): void {
  // Processes keep a namespace (and its veths) alive after `ip netns del`: kill them first.
  const pids = execSync(null, ['ip', 'netns', 'pids', name]).stdout.split(/\s+/).filter(Boolean)
  for (const p of pids) {
    try {
      process.kill(Number(p), 'SIGKILL')
    } catch {
      // already gone
    }
  }
  execSync(null, ['ip', 'netns', 'del', name])
  rmSync(`${NETNS_ETC}/${name}`, { recursive: true, force: true })
}

/**
 * Removes namespaces, /etc/netns dirs and registry files of labs whose owner
 * process is dead. Labs of live processes (parallel runs) are left alone.
 * Returns the namespace names removed.
 */
export function sweepStale(prefix = 'sw-'): string[] {
  const owned = (n: string) => (n.startsWith(prefix) ? (LAB_NS_RE.exec(n)?.[1] ?? null) : null)
  const byLab = new Map<string, Set<string>>()
  const add = (lab: string, ns?: string) => {
    const s = byLab.get(lab) ?? new Set<string>()
    if (ns !== undefined) s.add(ns)
    byLab.set(lab, s)
  }
  for (const n of listNetns()) {
    const lab = owned(n)
    if (lab !== null) add(lab, n)
  }
  let etc: string[] = []
  try {
    etc = readdirSync(NETNS_ETC)
  } catch {
    // no /etc/netns at all
  }
  for (const n of etc) {
    const lab = owned(n)
    if (lab !== null) add(lab, n)
  }
  for (const lab of listRecords()) if (lab.startsWith(prefix)) add(lab)
  const removed: string[] = []
  for (const [lab, names] of byLab) {
    if (isLabAlive(lab)) continue
    for (const n of names) {
      deleteNamespaceSync(n)
      removed.push(n)
    }
    removeRecord(lab)
  }
  return removed
}

// One set of process handlers for all labs, so many labs do not pile up listeners.
const liveLabs = new Set<Lab>()
let handlersInstalled = false

function installExitHandlers(): void {
  if (handlersInstalled) return
  handlersInstalled = true
  process.on('exit', teardownAllLabs)
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    const onSignal = () => {
      // Someone else handles the signal (the demo, stopping its visors in
      // order): let them; the 'exit' handler still tears down what is left.
      if (process.listenerCount(sig) > 1) return
      teardownAllLabs()
      process.removeListener(sig, onSignal)
      // Installing a listener cancelled the default action; restore it.
      process.kill(process.pid, sig)
    }
    process.on(sig, onSignal)
  }
}

/** Tears down every lab of this process (the exit handlers call it). */
export function teardownAllLabs(): void {
  for (const lab of [...liveLabs]) lab.teardown()
}

export class Lab {
  /** 6 random chars; with `sw-` it prefixes every namespace of this lab. */
  readonly id: string
  readonly prefix: string
  private readonly resolvConf: string
  private readonly namespaces: string[] = []
  private readonly procs = new Set<NsProcess>()
  private torn = false

  constructor(opts: LabOptions = {}) {
    const pre = labPrerequisites()
    if (!pre.ok) throw new NetlabError('EPREREQ', `cannot build a network lab: ${pre.reason}`)
    if (opts.sweep ?? true) sweepStale()
    const alphabet = 'abcdefghijklmnopqrstuvwxyz0123456789'
    this.id = [...randomBytes(6)].map((b) => alphabet[b % alphabet.length]).join('')
    this.prefix = `sw-${this.id}`
    this.resolvConf = opts.resolvConf ?? `# skywire netlab\nnameserver ${DEFAULT_LAB_DNS}\n`
    // Before anything exists, so a crash at any later point leaves a record sweepStale can act on.
    writeRecord(this.prefix)
    liveLabs.add(this)
    installExitHandlers()
  }

  get tornDown(): boolean {
    return this.torn
  }

  /** The full namespace name for a role, e.g. `sw-k3x9q2-client`. */
  nsName(role: string): string {
    if (!ROLE_RE.test(role)) throw new NetlabError('EMISUSE', `bad role name ${JSON.stringify(role)}: use [a-z][a-z0-9-]*`)
    return `${this.prefix}-${role}`
  }

  /** Namespaces created so far, in creation order. */
  list(): string[] {
    return [...this.namespaces]
  }

  owns(ns: string): boolean {
    return this.namespaces.includes(ns)
  }

  private check(ns?: string): void {
    if (this.torn) throw new NetlabError('EMISUSE', `lab ${this.prefix} is torn down`)
    if (ns !== undefined && !this.owns(ns)) throw new NetlabError('EMISUSE', `namespace ${ns} does not belong to lab ${this.prefix}`)
  }

  resolvConfPath(ns: string): string {
    return `${NETNS_ETC}/${ns}/resolv.conf`
  }

  /**
   * Creates `<prefix>-<role>` with loopback up and its own resolv.conf, written
   * before anything can run there (ip netns exec bind-mounts it over /etc/resolv.conf).
   */
  async addNamespace(role: string, opts: { resolvConf?: string } = {}): Promise<string> {
    this.check()
    const ns = this.nsName(role)
    if (this.owns(ns)) throw new NetlabError('EMISUSE', `namespace ${ns} exists already`)
    // Tracked before creation so a half-made namespace is still torn down.
    this.namespaces.push(ns)
    mkdirSync(`${NETNS_ETC}/${ns}`, { recursive: true })
    writeFileSync(this.resolvConfPath(ns), opts.resolvConf ?? this.resolvConf)
    await execOk(null, ['ip', 'netns', 'add', ns])
    // No duplicate address detection: IPv6 link-local addresses then appear
    // when a link comes up, not ~1 s later, so a routing snapshot taken after
    // setup is final (-e: a kernel without IPv6 has no such keys).
    await execOk(ns, ['sysctl', '-qew', 'net.ipv6.conf.all.accept_dad=0', 'net.ipv6.conf.default.accept_dad=0'])
    await execOk(null, ['ip', '-n', ns, 'link', 'set', 'lo', 'up'])
    return ns
  }

  /** `ip -n ns ...args`, throwing on failure. */
  async ip(ns: string, args: readonly string[]): Promise<ExecResult> {
    this.check(ns)
    return execOk(null, ['ip', '-n', ns, ...args])
  }

  /**
   * A veth pair from a.ns to b.ns, both ends up, addresses added. Created
   * directly inside a.ns with its peer in b.ns: the root namespace never sees it.
   */
  async veth(a: VethEnd, b: VethEnd, opts: { mtu?: number } = {}): Promise<void> {
    this.check(a.ns)
    this.check(b.ns)
    for (const e of [a, b]) {
      if (e.ifname.length > MAX_IFNAME) throw new NetlabError('EMISUSE', `interface name ${e.ifname} is longer than ${MAX_IFNAME}`)
    }
    const mtu = opts.mtu === undefined ? [] : ['mtu', String(opts.mtu)]
    // `name` is not optional here: iproute2 reads a bare first word as `address`.
    await this.ip(a.ns, ['link', 'add', 'name', a.ifname, ...mtu, 'type', 'veth', 'peer', 'name', b.ifname, ...mtu, 'netns', b.ns])
    for (const e of [a, b]) {
      for (const cidr of e.addrs ?? []) await this.addr(e.ns, e.ifname, cidr)
      await this.ip(e.ns, ['link', 'set', e.ifname, 'up'])
    }
  }

  /** A bridge in `ns` (addresses optional), up. */
  async bridge(ns: string, ifname: string, addrs: string[] = []): Promise<void> {
    await this.ip(ns, ['link', 'add', 'name', ifname, 'type', 'bridge'])
    for (const cidr of addrs) await this.addr(ns, ifname, cidr)
    await this.ip(ns, ['link', 'set', ifname, 'up'])
  }

  /** Enslaves `port` to `bridge` in `ns`. */
  async bridgePort(ns: string, bridge: string, port: string): Promise<void> {
    await this.ip(ns, ['link', 'set', port, 'master', bridge])
  }

  /** Link up/down: how tests cut a host off (e.g. its internet port) and bring it back. */
  async setLink(ns: string, ifname: string, state: 'up' | 'down'): Promise<void> {
    await this.ip(ns, ['link', 'set', ifname, state])
  }

  /** IPv6 addresses skip DAD: a tentative address cannot be bound, and the lab has no duplicates. */
  async addr(ns: string, ifname: string, cidr: string): Promise<void> {
    const nodad = cidr.includes(':') ? ['nodad'] : []
    await this.ip(ns, ['addr', 'add', cidr, 'dev', ifname, ...nodad])
  }

  async route(ns: string, dst: string, via: { via?: string; dev?: string }): Promise<void> {
    const fam = dst.includes(':') || (via.via?.includes(':') ?? false) ? ['-6'] : []
    const args = [...fam, 'route', 'add', dst]
    if (via.via !== undefined) args.push('via', via.via)
    if (via.dev !== undefined) args.push('dev', via.dev)
    await this.ip(ns, args)
  }

  /** Sets one sysctl, or several in one process (`{ key: value }`). */
  async sysctl(ns: string, key: string | Record<string, string | number>, value?: string | number): Promise<void> {
    this.check(ns)
    const kv = typeof key === 'string' ? { [key]: value ?? '' } : key
    const args = Object.entries(kv).map(([k, v]) => `${k}=${v}`)
    if (args.length > 0) await execOk(ns, ['sysctl', '-qw', ...args])
  }

  /** Loads an nft script (`nft -f -`) in `ns`; its tables die with the namespace. */
  async nft(ns: string, script: string): Promise<void> {
    this.check(ns)
    await execOk(ns, ['nft', '-f', '-'], { input: script })
  }

  exec(ns: string, argv: readonly string[], opts?: ExecOptions): Promise<ExecResult> {
    this.check(ns)
    return exec(ns, argv, opts)
  }

  execOk(ns: string, argv: readonly string[], opts?: ExecOptions): Promise<ExecResult> {
    this.check(ns)
    return execOk(ns, argv, opts)
  }

  /** Starts a process in `ns`; teardown kills it if the caller has not. */
  spawn(ns: string, argv: readonly string[], opts?: SpawnOptions): NsProcess {
    this.check(ns)
    const p = spawn(ns, argv, opts)
    this.procs.add(p)
    void p.exited.then(() => this.procs.delete(p))
    return p
  }

  waitForTcp(ns: string, host: string, port: number, timeoutMs: number): Promise<void> {
    this.check(ns)
    return waitForTcp(ns, host, port, timeoutMs)
  }

  /**
   * Like teardown, but first stops the lab's processes without blocking the
   * event loop, giving each graceMs after SIGTERM: visors get to restore their
   * routes and DNS, and their output stays readable.
   */
  async close(graceMs = 2000): Promise<void> {
    if (this.torn) return
    await Promise.all([...this.procs].map((p) => p.kill('SIGTERM', graceMs)))
    this.teardown()
  }

  /**
   * Kills the lab's processes, deletes its namespaces (and with them every
   * link, bridge and nft table inside), /etc/netns dirs and registry record.
   * Synchronous so process.on('exit') can run it; idempotent.
   */
  teardown(): void {
    if (this.torn) return
    this.torn = true
    // SIGTERM first so visors get a chance to restore what they changed in their namespace.
    for (const p of this.procs) {
      try {
        process.kill(-p.pid, 'SIGTERM')
      } catch {
        // gone already
      }
    }
    const deadline = Date.now() + 1000
    while ([...this.procs].some((p) => p.exitInfo() === null && alive(p.pid)) && Date.now() < deadline) sleepSync(20)
    for (const p of this.procs) p.killNow()
    this.procs.clear()
    const present = new Set(listNetns())
    for (const ns of [...this.namespaces].reverse()) {
      if (present.has(ns)) deleteNamespaceSync(ns)
      else rmSync(`${NETNS_ETC}/${ns}`, { recursive: true, force: true })
    }
    removeRecord(this.prefix)
    liveLabs.delete(this)
  }
}

/** A zombie counts as dead: during a synchronous teardown nobody reaps our children. */
function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z'
  } catch {
    return false
  }
}

/** Creates a lab (sweeping crashed labs' leftovers first). */
export function createLab(opts: LabOptions = {}): Lab {
  return new Lab(opts)
}
