/**
 * DNS through systemd-resolved. Where resolved runs, programs resolve through
 * it (nss-resolve, D-Bus, the 127.0.0.53 stub) and never read
 * /etc/resolv.conf's nameservers, so rewriting that file is not enough: the
 * tunnel's link itself must carry the DNS servers, the catch-all routing
 * domain `~.` (so every name not claimed by a more specific domain goes
 * there) and the default route for DNS. The per-link settings live in
 * resolved only: `resolvectl revert` drops them, and so does the TUN going
 * away.
 *
 * Everything goes through `resolvectl` (argv only, bounded in time), behind a
 * small interface so the visor and its tests agree on one implementation.
 */
import { existsSync, lstatSync, readFileSync, readlinkSync } from 'node:fs'
import { dirname, resolve as resolvePath } from 'node:path'
import { SkywireError } from '../contracts/errors.js'
import { familyOf } from './cidr.js'
import { nftIfname } from './nft.js'
import { RESOLV_CONF } from './resolv-conf.js'
import { commandError, isNotInstalled, tryRun } from './run.js'

/** resolved's runtime directory (RuntimeDirectory= of its unit). */
export const RESOLVED_RUN_DIR = '/run/systemd/resolve'

/** resolved's stub listeners: a resolv.conf naming only these sends every lookup through resolved. */
export const RESOLVED_STUB_ADDRESSES: readonly string[] = ['127.0.0.53', '127.0.0.54']

/**
 * One resolvectl call is a D-Bus round trip to a local daemon (milliseconds).
 * A call that takes longer than this means resolved or the bus is stuck: the
 * connect fails with that reason rather than hanging the visor.
 */
export const RESOLVECTL_TIMEOUT_MS = 5_000

/**
 * The shape of resolv.conf as far as resolved is concerned:
 * `stub`: lookups go to resolved (symlink to stub-resolv.conf, or only stub nameservers);
 * `uplink`: resolved's list of upstream servers (libc bypasses resolved);
 * `other`: a file of somebody else's; `missing`: no file.
 */
export type ResolvConfShape = 'stub' | 'uplink' | 'other' | 'missing'

export interface ResolvedDetection {
  /** resolved answers on the bus (`resolvectl status` works). */
  running: boolean
  resolvConf: ResolvConfShape
  /** One line for logs: why we think so. */
  why: string
}

export interface ResolvedEnv {
  /** Default /run/systemd/resolve. Tests point it into a temp root. */
  runDir?: string
  /** Default /etc/resolv.conf. */
  resolvConfPath?: string
  /** The resolvectl to run; default `resolvectl` from PATH. */
  resolvectl?: string
}

/** What the visor needs from resolved; `resolvedControl()` is the real one. */
export interface ResolvedControl {
  detect(): Promise<ResolvedDetection>
  /** Sets the tunnel link's DNS servers, `~.` and default-route, then flushes resolved's cache. */
  apply(tunIf: string, dns: readonly string[]): Promise<void>
  /** Drops every per-link setting; a link or a resolved that is gone already counts as done. */
  revert(tunIf: string): Promise<void>
  /** Whether the link still has exactly our servers, `~.` and default-route (false when resolved forgot it). */
  isOurs(tunIf: string, dns: readonly string[]): Promise<boolean>
}

function stubNameservers(text: string): boolean {
  const servers = [...text.matchAll(/^\s*nameserver\s+(\S+)/gm)].map((m) => m[1] as string)
  return servers.length > 0 && servers.every((s) => RESOLVED_STUB_ADDRESSES.includes(s))
}

/** Reads the shape from the file system only (no process is run). */
export function resolvConfShape(path: string = RESOLV_CONF, runDir: string = RESOLVED_RUN_DIR): ResolvConfShape {
  let st
  try {
    st = lstatSync(path)
  } catch {
    return 'missing'
  }
  if (st.isSymbolicLink()) {
    let target: string
    try {
      target = resolvePath(dirname(path), readlinkSync(path))
    } catch {
      return 'other'
    }
    if (target === `${runDir}/stub-resolv.conf` || target === '/usr/lib/systemd/resolv.conf' || target === '/lib/systemd/resolv.conf') return 'stub'
    if (target === `${runDir}/resolv.conf`) return 'uplink'
  }
  try {
    // A copy of the stub file, or a bind mount of one (as in a network namespace), still sends lookups to resolved.
    return stubNameservers(readFileSync(path, 'utf8')) ? 'stub' : 'other'
  } catch {
    return st.isSymbolicLink() ? 'missing' : 'other'
  }
}

function checkArgs(tunIf: string, dns: readonly string[]): void {
  nftIfname(tunIf)
  if (dns.length === 0) throw new SkywireError('EUSAGE', 'no DNS servers for the tunnel')
  for (const s of dns) if (familyOf(s) === null) throw new SkywireError('EUSAGE', `DNS server is not an IP address: ${JSON.stringify(s)}`)
}

/** The calls that point resolved's lookups at the tunnel, in order. */
export function resolvectlApplyArgv(tunIf: string, dns: readonly string[], resolvectl = 'resolvectl'): string[][] {
  checkArgs(tunIf, dns)
  return [
    [resolvectl, 'dns', tunIf, ...dns],
    // `~.` is a routing-only domain matching every name: lookups go to this link, not to whichever link has DNS.
    [resolvectl, 'domain', tunIf, '~.'],
    [resolvectl, 'default-route', tunIf, 'true'],
    // Answers cached from the network's resolver before the tunnel must not be served on through it.
    [resolvectl, 'flush-caches'],
  ]
}

export function resolvectlRevertArgv(tunIf: string, resolvectl = 'resolvectl'): string[] {
  nftIfname(tunIf)
  return [resolvectl, 'revert', tunIf]
}

// The link went with a crashed core, or resolved is no longer there: its per-link settings went too.
const GONE =
  /Link .* not known|No such device|Failed to resolve interface|Unit dbus-org\.freedesktop\.resolve1\.service not found|Could not activate remote peer|was not provided by any \.service files|Failed to connect to bus|No such file or directory|Connection refused/i

/** `Link 7 (swvpn0): a b c` → ['a', 'b', 'c']. */
function linkValues(stdout: string): string[] {
  const line = stdout.split('\n').find((l) => /^Link \d+ \(/.test(l.trim()))
  if (line === undefined) return []
  return line
    .slice(line.indexOf('):') + 2)
    .trim()
    .split(/\s+/)
    .filter((w) => w !== '')
}

export function resolvedControl(env: ResolvedEnv = {}): ResolvedControl {
  const runDir = env.runDir ?? RESOLVED_RUN_DIR
  const resolvConfPath = env.resolvConfPath ?? RESOLV_CONF
  const bin = env.resolvectl ?? 'resolvectl'
  const call = (argv: readonly string[]) => tryRun(argv, { timeoutMs: RESOLVECTL_TIMEOUT_MS })
  return {
    async detect() {
      const shape = resolvConfShape(resolvConfPath, runDir)
      if (!existsSync(runDir) && shape !== 'stub') return { running: false, resolvConf: shape, why: `no ${runDir}: systemd-resolved is not running` }
      // The directory outlives a stopped resolved (RuntimeDirectoryPreserve=yes) and a stub file proves
      // nothing by itself: only an answer on the bus says resolved is there to take our settings.
      let r
      try {
        r = await call([bin, 'status', '--no-pager'])
      } catch (e) {
        return { running: false, resolvConf: shape, why: (e as Error).message }
      }
      if (r.code !== 0) return { running: false, resolvConf: shape, why: `${bin} status failed: ${r.stderr.trim().split('\n')[0] ?? ''}` }
      return { running: true, resolvConf: shape, why: `systemd-resolved answers; resolv.conf is ${shape}` }
    },
    async apply(tunIf, dns) {
      for (const argv of resolvectlApplyArgv(tunIf, dns, bin)) {
        const r = await call(argv)
        if (r.code !== 0) throw commandError(argv, r)
      }
    },
    async revert(tunIf) {
      const argv = resolvectlRevertArgv(tunIf, bin)
      let r
      try {
        r = await call(argv)
      } catch (e) {
        // resolvectl itself is gone: so is the resolved whose settings we would revert.
        if (isNotInstalled(e)) return
        throw e
      }
      if (r.code !== 0 && !GONE.test(r.stderr)) throw commandError(argv, r)
    },
    async isOurs(tunIf, dns) {
      checkArgs(tunIf, dns)
      const get = async (what: string) => {
        const r = await call([bin, what, tunIf])
        return r.code === 0 ? linkValues(r.stdout) : null
      }
      const servers = await get('dns')
      if (servers === null || [...servers].sort().join(' ') !== [...dns].sort().join(' ')) return false
      const domains = await get('domain')
      if (domains === null || !domains.includes('~.')) return false
      const dr = await get('default-route')
      return dr !== null && dr[0] === 'yes'
    },
  }
}
