// The two WireGuard userspace peers the bench compares against, installed on
// first use into the git-ignored .bench-tools/ from their registries:
// wireguard-go from its Go module, boringtun from crates.io.
import { spawn, spawnSync } from 'node:child_process'
import { existsSync, mkdirSync, renameSync, rmSync } from 'node:fs'
import { homedir } from 'node:os'
import { join } from 'node:path'

/** Newest wireguard-go: the module's root package is `main`, so `go install` names the binary `wireguard`. */
export const WIREGUARD_GO_MODULE = 'golang.zx2c4.com/wireguard'

function findTool(name, extra) {
  const r = spawnSync('sh', ['-c', `command -v ${name}`], { encoding: 'utf8' })
  if (r.status === 0 && r.stdout.trim()) return r.stdout.trim()
  for (const p of extra) if (existsSync(p)) return p
  return null
}

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

function version(bin, args) {
  const r = spawnSync(bin, args, { encoding: 'utf8', timeout: 10_000 })
  return (r.stdout || r.stderr || '').split('\n')[0].trim() || null
}

/**
 * Ensures .bench-tools/wireguard-go exists. Resolves to { bin, version } or
 * { error } (one line saying why it cannot be had).
 */
export async function ensureWireguardGo(toolsDir, log) {
  const bin = join(toolsDir, 'wireguard-go')
  if (!existsSync(bin)) {
    const go = findTool('go', ['/usr/local/go/bin/go', '/usr/lib/go/bin/go'])
    if (!go) return { error: 'wireguard-go: no `go` toolchain to install it with (install golang), skipping' }
    log(`installing wireguard-go: go install ${WIREGUARD_GO_MODULE}@latest (once, into ${toolsDir})`)
    const gobin = join(toolsDir, '.gobin')
    rmSync(gobin, { recursive: true, force: true })
    mkdirSync(gobin, { recursive: true })
    const r = await run([go, 'install', `${WIREGUARD_GO_MODULE}@latest`], {
      env: { ...process.env, GOBIN: gobin, GOFLAGS: '-buildvcs=false' },
      timeoutMs: 10 * 60_000,
      log,
    })
    const built = join(gobin, 'wireguard')
    if (r.code !== 0 || !existsSync(built)) {
      return { error: `wireguard-go: go install ${WIREGUARD_GO_MODULE}@latest failed (${lastLine(r.tail)}), skipping` }
    }
    renameSync(built, bin)
    rmSync(gobin, { recursive: true, force: true })
  }
  // The binary's own version string is the release constant; `go version -m` gives the module version built.
  const go = findTool('go', ['/usr/local/go/bin/go'])
  let module = null
  if (go) {
    const m = spawnSync(go, ['version', '-m', bin], { encoding: 'utf8', timeout: 10_000 })
    module = /\bmod\s+\S+\s+(\S+)/.exec(m.stdout ?? '')?.[1] ?? null
  }
  return { bin, version: version(bin, ['--version']), module }
}

/** Ensures .bench-tools/boringtun/bin/boringtun-cli exists (cargo install from crates.io). */
export async function ensureBoringtun(toolsDir, log) {
  const root = join(toolsDir, 'boringtun')
  const bin = join(root, 'bin', 'boringtun-cli')
  if (!existsSync(bin)) {
    const cargo = findTool('cargo', [join(homedir(), '.cargo/bin/cargo'), '/root/.cargo/bin/cargo'])
    if (!cargo) return { error: 'boringtun: no `cargo` to install it with (install Rust), skipping' }
    log(`installing boringtun: cargo install boringtun-cli --root ${root} (once; several minutes on 2 cores)`)
    const r = await run([cargo, 'install', 'boringtun-cli', '--root', root], {
      env: process.env,
      timeoutMs: 30 * 60_000,
      log,
    })
    if (r.code !== 0 || !existsSync(bin)) {
      return { error: `boringtun: cargo install boringtun-cli failed (${lastLine(r.tail)}), skipping` }
    }
  }
  return { bin, version: version(bin, ['--version']) }
}
