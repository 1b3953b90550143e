// What a run measured: the commit and whether the tree was dirty, and the exact builds and tools it ran,
// so a number in a results file can be traced to the code that made it.
import { spawnSync } from 'node:child_process'
import { createHash } from 'node:crypto'
import { existsSync, readFileSync, statSync } from 'node:fs'
import { release } from 'node:os'
import { join } from 'node:path'

/** Runs git in `root`; the bench runs as root in a tree a user owns, which git refuses without safe.directory. */
function git(root, args) {
  const r = spawnSync('git', ['-c', `safe.directory=${root}`, ...args], { cwd: root, encoding: 'utf8', timeout: 30_000 })
  if (r.error) throw new Error(`git: ${r.error.message}`)
  if (r.status !== 0) throw new Error(`git ${args[0]}: ${(r.stderr || '').trim().split('\n')[0]}`)
  return r.stdout
}

/**
 * Paths of `git status --porcelain=v1 -z` output (renames give their new path). Results of earlier runs
 * (bench/results/) do not make a tree dirty: they are data the bench wrote, not code it ran. Pure.
 */
export function changedPaths(porcelainZ) {
  const out = []
  const parts = porcelainZ.split('\0')
  for (let i = 0; i < parts.length; i++) {
    const e = parts[i]
    if (e.length < 4) continue
    out.push(e.slice(3))
    if (e[0] === 'R' || e[0] === 'C') i++ // the entry after a rename is its old path
  }
  return out.filter((p) => !p.startsWith('bench/results/'))
}

/** { commit, subject, date, dirty, dirtyFiles (first 20) } or { error } when this is no git checkout. */
export function gitState(root) {
  try {
    const [commit, date, ...subject] = git(root, ['log', '-1', '--format=%H%n%cI%n%s']).trim().split('\n')
    const changed = changedPaths(git(root, ['status', '--porcelain=v1', '-z', '--untracked-files=all']))
    return { commit, date, subject: subject.join(' '), dirty: changed.length > 0, dirtyFiles: changed.slice(0, 20), dirtyCount: changed.length }
  } catch (e) {
    return { error: e.message.split('\n')[0] }
  }
}

function firstLine(cmd, args) {
  const r = spawnSync(cmd, args, { encoding: 'utf8', timeout: 10_000 })
  if (r.error || r.status !== 0) return null
  return (r.stdout || r.stderr || '').split('\n')[0].trim() || null
}

/** Tracked files under `paths` changed after `mtimeMs` (the first few): a build older than its sources. */
function newerThan(root, paths, mtimeMs) {
  try {
    const files = git(root, ['ls-files', '-z', '--', ...paths])
      .split('\0')
      .filter(Boolean)
    return files.filter((f) => existsSync(join(root, f)) && statSync(join(root, f)).mtimeMs > mtimeMs).slice(0, 5)
  } catch {
    return []
  }
}

/** The native addon the nodes load: its hash, when it was built, and sources edited since (should be none). */
function addonInfo(root) {
  const file = join('native', 'skywire.linux-x64-gnu.node')
  const full = join(root, file)
  if (!existsSync(full)) return { file, error: 'missing' }
  const st = statSync(full)
  return {
    file,
    sha256: createHash('sha256').update(readFileSync(full)).digest('hex'),
    builtAt: st.mtime.toISOString(),
    sourcesNewer: newerThan(root, ['crates', 'Cargo.lock', 'Cargo.toml'], st.mtimeMs),
  }
}

/** dist/netlab (the lab the bench builds its namespaces with), and TypeScript sources edited since. */
function distInfo(root) {
  const full = join(root, 'dist', 'netlab', 'index.js')
  if (!existsSync(full)) return { error: 'missing' }
  const st = statSync(full)
  return { builtAt: st.mtime.toISOString(), sourcesNewer: newerThan(root, ['ts/netlab', 'ts/contracts'], st.mtimeMs) }
}

/** Versions of everything the run used that is not a WireGuard peer (those are in res.tools). */
export function buildInfo(root) {
  const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'))
  return {
    skywire: pkg.version,
    addon: addonInfo(root),
    dist: distInfo(root),
    node: process.version,
    rustc: firstLine('rustc', ['--version']) ?? firstLine(join(process.env.HOME ?? '/root', '.cargo/bin/rustc'), ['--version']),
    kernel: release(),
    iperf3: firstLine('iperf3', ['--version']),
    ethtool: firstLine('ethtool', ['--version']),
    ping: firstLine('ping', ['-V']),
  }
}
