/**
 * Packet forwarding for the VPN server, through /proc/sys of the current
 * network namespace. Turning it on and back off exactly is harder than one
 * key: writing `net.ipv4.ip_forward` or `net.ipv6.conf.all.forwarding` also
 * rewrites every interface's `conf/<if>/forwarding`, so restoring only the
 * global key would leave per-interface settings the admin made changed. The
 * snapshot therefore holds every forwarding key of the family.
 */
import { readFile, readdir, writeFile } from 'node:fs/promises'
import { SkywireError } from '../contracts/errors.js'

const PROC = '/proc/sys'

/** `net.ipv4.ip_forward` -> /proc/sys/net/ipv4/ip_forward (keys with dotted interface names: use paths). */
export function sysctlPath(key: string): string {
  if (!/^[a-z0-9_]+(\.[a-z0-9_]+)+$/.test(key)) throw new SkywireError('EUSAGE', `bad sysctl key ${JSON.stringify(key)}`)
  return `${PROC}/${key.replaceAll('.', '/')}`
}

/** The value (trimmed), or null when the key does not exist (IPv6 disabled at boot, say). */
export async function readSysctl(key: string): Promise<string | null> {
  return readPath(sysctlPath(key))
}

/** Writes and returns the old value, so the caller can put it back on stop. */
export async function writeSysctl(key: string, value: string): Promise<string> {
  const path = sysctlPath(key)
  const old = await readPath(path)
  if (old === null) throw new SkywireError('ENOTAVAILABLE', `sysctl ${key} does not exist on this kernel`)
  await writePath(path, value)
  return old
}

async function readPath(path: string): Promise<string | null> {
  try {
    return (await readFile(path, 'utf8')).trim()
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null
    throw new SkywireError('ESYSCMD', `cannot read ${path}: ${(e as Error).message}`, { cause: e })
  }
}

async function writePath(path: string, value: string): Promise<void> {
  try {
    await writeFile(path, `${value}\n`)
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code
    if (code === 'EACCES' || code === 'EPERM' || code === 'EROFS') {
      throw new SkywireError('EPERM', `cannot write ${path}: ${code} (needs root in this network namespace)`, { cause: e })
    }
    throw new SkywireError('ESYSCMD', `cannot write ${path}: ${(e as Error).message}`, { cause: e })
  }
}

/** /proc/sys paths to their values before `enableForwarding`; pass it back to `restoreForwarding`. */
export interface ForwardingSnapshot {
  /** The keys that were written, in order. */
  globals: { path: string; value: string }[]
  /** Every per-interface forwarding value of the families touched. */
  perInterface: Record<string, string>
  /**
   * accept_ra of the uplink where it was 1 (see raKeep in snapshotForwarding),
   * set to 2 while forwarding; absent from snapshots of older visors.
   */
  acceptRa?: Record<string, string>
}

const GLOBAL = { 4: `${PROC}/net/ipv4/ip_forward`, 6: `${PROC}/net/ipv6/conf/all/forwarding` } as const

async function familyKeys(family: 4 | 6): Promise<string[]> {
  const dir = `${PROC}/net/ipv${family}/conf`
  let names: string[]
  try {
    names = await readdir(dir)
  } catch {
    return []
  }
  return names.filter((n) => n !== 'all').map((n) => `${dir}/${n}/forwarding`)
}

/**
 * Turns forwarding on for IPv4 (and IPv6 when asked and present) and returns
 * what it was. IPv6 forwarding makes the kernel ignore router advertisements
 * on interfaces with accept_ra=1, so a server that gets its IPv6 default
 * route from RAs would lose it when the route expires: `raKeep` names the
 * uplink, whose accept_ra goes from 1 to 2 (accept them while forwarding)
 * and back on restore.
 */
export async function enableForwarding(opts: ForwardingOptions = {}): Promise<ForwardingSnapshot> {
  const snap = await snapshotForwarding(opts)
  await applyForwarding(snap)
  return snap
}

/**
 * What `enableForwarding` would change, read but not written: the server
 * puts this in its state file before turning anything on, so a crash never
 * loses the original values.
 */
export async function snapshotForwarding(opts: ForwardingOptions = {}): Promise<ForwardingSnapshot> {
  const families: (4 | 6)[] = opts.ipv6 ? [4, 6] : [4]
  const snap: ForwardingSnapshot = { globals: [], perInterface: {} }
  if (opts.ipv6 && opts.raKeep !== undefined) {
    const path = `${PROC}/net/ipv6/conf/${opts.raKeep}/accept_ra`
    if (!ACCEPT_RA_PATH.test(path)) throw new SkywireError('EUSAGE', `bad interface name ${JSON.stringify(opts.raKeep)}`)
    if ((await readPath(path)) === '1') snap.acceptRa = { [path]: '1' }
  }
  for (const f of families) {
    const old = await readPath(GLOBAL[f])
    if (old === null) {
      if (f === 4) throw new SkywireError('ENOTAVAILABLE', 'this kernel has no IPv4 forwarding switch')
      continue
    }
    for (const k of await familyKeys(f)) {
      const v = await readPath(k)
      if (v !== null) snap.perInterface[k] = v
    }
    snap.globals.push({ path: GLOBAL[f], value: old })
  }
  return snap
}

export interface ForwardingOptions {
  ipv6?: boolean
  /** With ipv6: the interface that must keep taking router advertisements (the server's uplink). */
  raKeep?: string
}

/** Turns on every global switch a snapshot names (after keeping the uplink's router advertisements coming). */
export async function applyForwarding(snap: ForwardingSnapshot): Promise<void> {
  checkForwardingSnapshot(snap)
  for (const path of Object.keys(snap.acceptRa ?? {})) await writePath(path, '2')
  for (const g of snap.globals) await writePath(g.path, '1')
}

/** True when IPv4 forwarding was off before the snapshot's owner turned it on: the host was not a router. */
export function wasIpv4ForwardingOff(snap: ForwardingSnapshot): boolean {
  return snap.globals.some((g) => g.path === GLOBAL[4] && g.value === '0')
}

/** The same for IPv6: false when the snapshot did not touch IPv6 forwarding. */
export function wasIpv6ForwardingOff(snap: ForwardingSnapshot): boolean {
  return snap.globals.some((g) => g.path === GLOBAL[6] && g.value === '0')
}

/**
 * The only /proc/sys files a snapshot may name: the global and per-interface
 * forwarding switches. Interface names cannot contain '/' and are never '.'
 * or '..' (the kernel refuses them), so a path that matches stays in /proc/sys/net.
 */
const FORWARDING_PATH = /^\/proc\/sys\/net\/(ipv4\/ip_forward|ipv6\/conf\/all\/forwarding|ipv[46]\/conf\/(?!\.\.?\/)[^/\s:]{1,15}\/forwarding)$/
/** The one other key a snapshot may name: an interface's accept_ra. */
const ACCEPT_RA_PATH = /^\/proc\/sys\/net\/ipv6\/conf\/(?!\.\.?\/)[^/\s:]{1,15}\/accept_ra$/
/** Forwarding switches hold 0 or 1 (2 is not a value the kernel accepts for them, but costs nothing to allow). */
const FORWARDING_VALUE = /^[0-2]$/

/**
 * A snapshot read back from a state file is validated before root writes
 * what it says: only forwarding switches, only small integers.
 */
export function checkForwardingSnapshot(snap: ForwardingSnapshot): ForwardingSnapshot {
  const bad = (why: string) => new SkywireError('ESTATE', `bad forwarding snapshot: ${why}`)
  for (const g of snap.globals) {
    if (g.path !== GLOBAL[4] && g.path !== GLOBAL[6]) throw bad(`${JSON.stringify(g.path)} is not a global forwarding switch`)
    if (!FORWARDING_VALUE.test(g.value)) throw bad(`${g.path} = ${JSON.stringify(g.value)}`)
  }
  for (const [path, value] of Object.entries(snap.perInterface)) {
    if (!FORWARDING_PATH.test(path)) throw bad(`${JSON.stringify(path)} is not a forwarding switch`)
    if (!FORWARDING_VALUE.test(value)) throw bad(`${path} = ${JSON.stringify(value)}`)
  }
  const ra = Object.entries(snap.acceptRa ?? {})
  if (ra.length > 1) throw bad('more than one accept_ra')
  for (const [path, value] of ra) {
    if (!ACCEPT_RA_PATH.test(path)) throw bad(`${JSON.stringify(path)} is not an accept_ra switch`)
    if (!FORWARDING_VALUE.test(value)) throw bad(`${path} = ${JSON.stringify(value)}`)
  }
  return snap
}

/**
 * Puts every forwarding value back. The global key first, since writing it
 * overwrites the per-interface ones; then only those that now differ, skipping
 * interfaces that have gone.
 */
export async function restoreForwarding(snap: ForwardingSnapshot): Promise<void> {
  checkForwardingSnapshot(snap)
  for (const g of snap.globals) await writePath(g.path, g.value)
  for (const [path, value] of Object.entries({ ...snap.perInterface, ...snap.acceptRa })) {
    const now = await readPath(path)
    if (now !== null && now !== value) await writePath(path, value)
  }
}

/** Current forwarding values, for status output. */
export async function forwardingStatus(): Promise<{ ipv4: boolean; ipv6: boolean | null }> {
  const v4 = await readPath(GLOBAL[4])
  const v6 = await readPath(GLOBAL[6])
  return { ipv4: v4 === '1', ipv6: v6 === null ? null : v6 === '1' }
}
