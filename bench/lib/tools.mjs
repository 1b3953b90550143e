// The two WireGuard userspace peers the bench compares against, pinned to the versions below and
// installed on first use into the git-ignored .bench-tools/ from their registries: wireguard-go from
// its Go module, boringtun from crates.io. A tool found at another version is rebuilt at the pinned one,
// so every run of the same commit compares against the same peers. Update a pin on purpose (a commit
// that says why), never by accident: the JSON of each run records what was built.
import { spawn, spawnSync } from 'node:child_process'
import { existsSync, mkdirSync, renameSync, rmSync } from 'node:fs'
import { homedir } from 'node:os'
import { join } from 'node:path'

/**
 * wireguard-go: the project tags no semver releases, so the pin is the Go pseudo-version of a commit
 * (`go list -m -versions` lists none; `go list -m golang.zx2c4.com/wireguard@latest` names the newest).
 * The module's root package is the daemon's `main`, so `go install` names the binary `wireguard`.
 */
export const WIREGUARD_GO = { module: 'golang.zx2c4.com/wireguard', version: 'v0.0.0-20260522210424-ecfc5a8d5446' }
/** boringtun: the crates.io release of its command-line daemon, built with its own Cargo.lock (`--locked`). */
export const BORINGTUN = { crate: 'boringtun-cli', version: '0.7.1' }

function findTool(name, extra) {
  const r = spawnSync('sh', ['-c', `command -v ${name}`], { encoding: 'utf8' })
  if (r.status === 0 && r.stdout.trim()) return r.stdout.trim()
  for (const p of extra) if (existsSync(p)) return p
  return null
}

const findGo = () => findTool('go', ['/usr/local/go/bin/go', '/usr/lib/go/bin/go'])
const findCargo = () => findTool('cargo', [join(homedir(), '.cargo/bin/cargo'), '/root/.cargo/bin/cargo'])

/** Runs a command with a time limit, keeping the tail of its output; never throws. */
function run(argv, { env, timeoutMs, log }) {
  return new Promise((resolve) => {
    const child = spawn(argv[0], argv.slice(1), { env, stdio: ['ignore', 'pipe', 'pipe'] })
    let tail = ''
    const keep = (d) => {
      tail = (tail + d).slice(-4000)
    }
    child.stdout.setEncoding('utf8').on('data', keep)
    child.stderr.setEncoding('utf8').on('data', keep)
    const timer = setTimeout(() => {
      keep(`\n(killed after ${timeoutMs / 1000} s)`)
      child.kill('SIGKILL')
    }, timeoutMs)
    const tick = setInterval(() => log?.('  ... still building'), 60_000)
    child.on('error', (e) => {
      clearTimeout(timer)
      clearInterval(tick)
      resolve({ code: -1, tail: e.message })
    })
    child.on('close', (code) => {
      clearTimeout(timer)
      clearInterval(tick)
      resolve({ code, tail })
    })
  })
}

function lastLine(s) {
  const lines = s
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean)
  return lines.at(-1) ?? 'no output'
}

function firstLine(bin, args) {
  const r = spawnSync(bin, args, { encoding: 'utf8', timeout: 10_000 })
  return (r.stdout || r.stderr || '').split('\n')[0].trim() || null
}

/**
 * What `go version -m BIN` says a Go binary was built from: the Go release and the main module's version.
 * Pure, for the tests: `text` is that command's output.
 */
export function parseGoBuildInfo(text) {
  const go = /^\S+:\s+(go\S+)/m.exec(text)?.[1] ?? null
  const mod = /^\s+mod\s+(\S+)\s+(\S+)/m.exec(text)
  return { go, module: mod?.[1] ?? null, version: mod?.[2] ?? null }
}

/** The version of `crate` in `cargo install --list` output (`boringtun-cli v0.7.1:`), or null. Pure. */
export function parseCargoInstallList(text, crate) {
  for (const line of text.split('\n')) {
    const m = /^(\S+) v(\S+?):?$/.exec(line.trim())
    if (m && m[1] === crate) return m[2]
  }
  return null
}

/**
 * Ensures .bench-tools/wireguard-go is the pinned version, building it when missing or different.
 * Resolves to { bin, version (the binary's own), module (the module version built), go } or { error } (one line
 * saying why it cannot be had).
 */
export async function ensureWireguardGo(toolsDir, log) {
  const bin = join(toolsDir, 'wireguard-go')
  const go = findGo()
  if (!go) return { error: 'wireguard-go: no `go` toolchain to build or check it with (install golang), skipping' }
  const built = () => parseGoBuildInfo(spawnSync(go, ['version', '-m', bin], { encoding: 'utf8', timeout: 10_000 }).stdout ?? '')
  if (existsSync(bin)) {
    const have = built()
    if (have.module === WIREGUARD_GO.module && have.version === WIREGUARD_GO.version) return described(bin, have)
    log(`wireguard-go in ${toolsDir} is ${have.version ?? 'of an unknown version'}, the bench pins ${WIREGUARD_GO.version}: rebuilding`)
    rmSync(bin, { force: true })
  }
  const target = `${WIREGUARD_GO.module}@${WIREGUARD_GO.version}`
  log(`installing wireguard-go: go install ${target} (once, into ${toolsDir})`)
  const gobin = join(toolsDir, '.gobin')
  rmSync(gobin, { recursive: true, force: true })
  mkdirSync(gobin, { recursive: true })
  // GOTOOLCHAIN=local: build with the Go installed here (recorded in the JSON), never a downloaded one.
  const r = await run([go, 'install', target], {
    env: { ...process.env, GOBIN: gobin, GOFLAGS: '-buildvcs=false', GOTOOLCHAIN: 'local' },
    timeoutMs: 10 * 60_000,
    log,
  })
  const out = join(gobin, 'wireguard')
  if (r.code !== 0 || !existsSync(out)) return { error: `wireguard-go: go install ${target} failed (${lastLine(r.tail)}), skipping` }
  renameSync(out, bin)
  rmSync(gobin, { recursive: true, force: true })
  const have = built()
  if (have.version !== WIREGUARD_GO.version) return { error: `wireguard-go: built ${have.version}, not the pinned ${WIREGUARD_GO.version}, skipping` }
  return described(bin, have)
}

const described = (bin, have) => ({ bin, version: firstLine(bin, ['--version']), module: have.version, go: have.go })

/**
 * Ensures .bench-tools/boringtun/bin/boringtun-cli is the pinned version (cargo install --locked from
 * crates.io), rebuilding it when another one is there. Resolves to { bin, version, installed, rustc } or { error }.
 */
export async function ensureBoringtun(toolsDir, log) {
  const root = join(toolsDir, 'boringtun')
  const bin = join(root, 'bin', 'boringtun-cli')
  const cargo = findCargo()
  if (!cargo) return { error: 'boringtun: no `cargo` to build or check it with (install Rust), skipping' }
  const installed = () =>
    parseCargoInstallList(
      spawnSync(cargo, ['install', '--list', '--root', root], { encoding: 'utf8', timeout: 30_000 }).stdout ?? '',
      BORINGTUN.crate,
    )
  const rustc = firstLine(join(cargo, '..', 'rustc'), ['--version']) ?? firstLine('rustc', ['--version'])
  if (existsSync(bin)) {
    const have = installed()
    if (have === BORINGTUN.version) return { bin, version: firstLine(bin, ['--version']), installed: have, rustc }
    log(`boringtun in ${root} is ${have ?? 'of an unknown version'}, the bench pins ${BORINGTUN.version}: rebuilding`)
  }
  const argv = [cargo, 'install', '--locked', '--force', '--version', BORINGTUN.version, BORINGTUN.crate, '--root', root]
  log(`installing boringtun: ${argv.slice(1).join(' ')} (once; several minutes on 2 cores)`)
  const r = await run(argv, { env: process.env, timeoutMs: 30 * 60_000, log })
  const have = installed()
  if (r.code !== 0 || !existsSync(bin) || have !== BORINGTUN.version) {
    return { error: `boringtun: cargo install --locked --version ${BORINGTUN.version} ${BORINGTUN.crate} failed (${lastLine(r.tail)}), skipping` }
  }
  return { bin, version: firstLine(bin, ['--version']), installed: have, rustc }
}

/** inferno: folds `perf script` output and draws the flame graphs of `--profile` (crates.io, its own Cargo.lock). */
export const INFERNO = { crate: 'inferno', version: '0.12.8' }

/**
 * Ensures .bench-tools/inferno/bin/{inferno-collapse-perf,inferno-flamegraph} are the pinned version (cargo
 * install --locked from crates.io), rebuilding them when another one is there. Resolves to { collapse,
 * flamegraph, installed } or { error } (one line).
 */
export async function ensureInferno(toolsDir, log) {
  const root = join(toolsDir, 'inferno')
  const collapse = join(root, 'bin', 'inferno-collapse-perf')
  const flamegraph = join(root, 'bin', 'inferno-flamegraph')
  const cargo = findCargo()
  if (!cargo) return { error: 'inferno: no `cargo` to build or check it with (install Rust), skipping the flame graphs' }
  const installed = () =>
    parseCargoInstallList(spawnSync(cargo, ['install', '--list', '--root', root], { encoding: 'utf8', timeout: 30_000 }).stdout ?? '', INFERNO.crate)
  if (existsSync(collapse) && existsSync(flamegraph)) {
    const have = installed()
    if (have === INFERNO.version) return { collapse, flamegraph, installed: have }
    log(`inferno in ${root} is ${have ?? 'of an unknown version'}, the bench pins ${INFERNO.version}: rebuilding`)
  }
  const argv = [cargo, 'install', '--locked', '--force', '--version', INFERNO.version, INFERNO.crate, '--root', root]
  log(`installing inferno: ${argv.slice(1).join(' ')} (once; a few minutes on 2 cores)`)
  const r = await run(argv, { env: process.env, timeoutMs: 30 * 60_000, log })
  const have = installed()
  if (r.code !== 0 || !existsSync(collapse) || !existsSync(flamegraph) || have !== INFERNO.version) {
    return {
      error: `inferno: cargo install --locked --version ${INFERNO.version} ${INFERNO.crate} failed (${lastLine(r.tail)}), skipping the flame graphs`,
    }
  }
  return { collapse, flamegraph, installed: have }
}
