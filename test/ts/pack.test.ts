/**
 * What a user gets from `npm i -g`: pack the root package and this platform's
 * addon package, install both into a throwaway global prefix, and run the
 * installed `skywire` with a PATH that has node and nothing else (no cargo, no
 * rustc, no checkout). Nothing is compiled: the services' store is node:sqlite
 * (Node 22.13+), and better-sqlite3, which Node 20 needs, is an optional peer
 * dependency that npm leaves out.
 */
import { spawn, spawnSync, type SpawnSyncReturns } from 'node:child_process'
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, symlinkSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { skipReason, skipUnlessAvailable } from './helpers/skip.js'

const ROOT = fileURLToPath(new URL('../..', import.meta.url))
const PLATFORM = 'linux-x64-gnu'
const skip = skipReason(
  process.platform === 'linux' && process.arch === 'x64'
    ? null
    : `the packed tarballs are tested on linux x64 only (this is ${process.platform} ${process.arch})`,
  existsSync(join(ROOT, `native/skywire.${PLATFORM}.node`)) ? null : `native/skywire.${PLATFORM}.node is not built (npm run build:native)`,
)

function check(r: SpawnSyncReturns<string>, what: string): string {
  if (r.error) throw r.error
  if (r.status !== 0) throw new Error(`${what} exited ${r.status}:\n${r.stdout}\n${r.stderr}`)
  return r.stdout
}

describe.skipIf(skipUnlessAvailable(skip))('npm i -g of the packed tarballs', () => {
  let tmp = ''
  let prefix = ''
  let env: NodeJS.ProcessEnv = {}
  let installSeconds = 0

  const skywire = (args: string[]) => spawnSync('skywire', args, { cwd: tmp, env, encoding: 'utf8', timeout: 60_000 })

  beforeAll(() => {
    tmp = mkdtempSync(join(tmpdir(), 'skywire-pack-'))
    prefix = join(tmp, 'prefix')
    const out = check(
      spawnSync('bash', [join(ROOT, 'scripts/pack.sh')], {
        cwd: ROOT,
        env: { ...process.env, PACK_DIR: join(tmp, 'pack'), SKYWIRE_PACK_NO_BUILD: '1' },
        encoding: 'utf8',
        timeout: 180_000,
      }),
      'scripts/pack.sh',
    )
    const tarballs = out.trim().split('\n')
    const platformTgz = tarballs.find((t) => t.includes(`skywire-vpn-${PLATFORM}-`))
    const rootTgz = tarballs.find((t) => /skywire-vpn-\d[^/]*\.tgz$/.test(t))
    if (!platformTgz || !rootTgz) throw new Error(`pack.sh printed no tarballs for both packages:\n${out}`)

    // The platform tarball is named on the command line, so npm takes it from there;
    // the other platforms' optional packages do not match os/cpu/libc and are skipped.
    const started = Date.now()
    check(
      spawnSync('npm', ['install', '-g', '--prefix', prefix, '--prefer-offline', '--no-audit', '--no-fund', platformTgz, rootTgz], {
        cwd: tmp,
        env: { ...process.env, npm_config_loglevel: 'error' },
        encoding: 'utf8',
        timeout: 540_000,
      }),
      'npm install -g',
    )
    installSeconds = (Date.now() - started) / 1000
    console.log(`npm install -g took ${installSeconds.toFixed(0)} s`)

    // Only node and the installed bin on PATH: a machine without Rust.
    const nodeDir = join(tmp, 'node-only')
    mkdirSync(nodeDir)
    symlinkSync(process.execPath, join(nodeDir, 'node'))
    env = {
      PATH: `${join(prefix, 'bin')}:${nodeDir}`,
      HOME: tmp,
      XDG_CACHE_HOME: join(tmp, 'cache'),
      XDG_CONFIG_HOME: join(tmp, 'config'),
      XDG_DATA_HOME: join(tmp, 'data'),
      NO_COLOR: '1',
    }
  }, 720_000)

  afterAll(() => {
    if (tmp) rmSync(tmp, { recursive: true, force: true })
  })

  it('the package holds no tests, Rust or TypeScript sources', () => {
    const pkg = join(prefix, 'lib/node_modules/skywire-vpn')
    for (const absent of ['ts', 'test', 'crates', 'src', 'Cargo.toml', 'dist/demo', 'dist/netlab', 'dist/index.js.map']) {
      expect(existsSync(join(pkg, absent)), absent).toBe(false)
    }
    for (const present of [
      'dist/index.js',
      'dist/index.d.ts',
      'dist/ui/index.html',
      'native/index.js',
      'native/index.d.ts',
      'native/package.json',
      'bin/run.js',
      'README.md',
      'oclif.manifest.json',
    ]) {
      expect(existsSync(join(pkg, present)), present).toBe(true)
    }
    expect(JSON.parse(readFileSync(join(pkg, 'native/package.json'), 'utf8')).type).toBe('commonjs')
  })

  it('skywire --version', () => {
    const version = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')).version as string
    const r = skywire(['--version'])
    expect(check(r, '--version')).toContain(`skywire-vpn/${version}`)
  })

  it('the packed oclif manifest is fresh: the one its own dist/commands give', () => {
    const pkg = join(prefix, 'lib/node_modules/skywire-vpn')
    const r = spawnSync(process.execPath, [join(ROOT, 'scripts/oclif-manifest.mjs'), '--check', '--root', pkg], { encoding: 'utf8', timeout: 60_000 })
    expect(r.status, r.stderr).toBe(0)
  })

  it('skywire --help', () => {
    const out = check(skywire(['--help']), '--help')
    expect(out).toMatch(/\bvisor\b/)
    expect(out).toMatch(/\bcli\b/)
    expect(out).toMatch(/\bautocomplete\b/)
  })

  it('skywire cli config gen writes a valid config, mode 0600', () => {
    const file = join(tmp, 'c.json')
    check(skywire(['cli', 'config', 'gen', '-o', file]), 'config gen')
    expect(statSync(file).mode & 0o777).toBe(0o600)
    const cfg = JSON.parse(readFileSync(file, 'utf8'))
    expect(cfg.pk).toMatch(/^[0-9a-f]{64}$/)
    check(skywire(['cli', 'config', 'show', '-c', file]), 'config show')
  })

  it('install-service --dry-run points the unit at the installed skywire', () => {
    const file = join(tmp, 'unit.json')
    check(skywire(['cli', 'config', 'gen', '-o', file]), 'config gen')
    const unit = check(skywire(['cli', 'visor', 'install-service', '-c', file, '--dry-run']), 'install-service')
    expect(unit).toContain(`ExecStart=${process.execPath} `)
    expect(unit).toContain(`/lib/node_modules/skywire-vpn/bin/run.js visor -c ${file}`)
  })

  it('the installed services open their SQLite store on node:sqlite, or say in one line what Node 20 lacks', async () => {
    expect(existsSync(join(prefix, 'lib/node_modules/skywire-vpn/node_modules/better-sqlite3')), 'better-sqlite3 left out').toBe(false)
    const [major = 0, minor = 0] = process.versions.node.split('.').map(Number)
    const args = ['services', '--db', join(tmp, 'services.db'), '--http', '127.0.0.1:0', '--udp', '127.0.0.1:0', '--geoip', 'off']
    const child = spawn('skywire', args, { cwd: tmp, env, stdio: ['ignore', 'pipe', 'pipe'] })
    let out = ''
    child.stdout.on('data', (d) => (out += d))
    child.stderr.on('data', (d) => (out += d))
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)))
    if (major >= 24 || (major === 23 && minor >= 4) || (major === 22 && minor >= 13)) {
      try {
        const deadline = Date.now() + 30_000
        while (!out.includes('discovery services listening') && child.exitCode === null && Date.now() < deadline)
          await new Promise((r) => setTimeout(r, 100))
        expect(out).toContain('discovery services listening')
        expect(out).not.toMatch(/ExperimentalWarning|Error/)
        expect(statSync(join(tmp, 'services.db')).size).toBeGreaterThan(0)
      } finally {
        child.kill('SIGTERM')
        await exited
      }
    } else {
      expect(await exited).not.toBe(0)
      const lines = out.trim().split('\n')
      expect(lines, out).toHaveLength(1)
      expect(lines[0]).toMatch(/has no node:sqlite and better-sqlite3 is not installed/)
    }
  }, 60_000)

  it('the library imports from the installed package and generates a config', async () => {
    const lib = await import(pathToFileURL(join(prefix, 'lib/node_modules/skywire-vpn/dist/index.js')).href)
    const cfg = lib.generateConfig()
    expect(cfg.pk).toMatch(/^[0-9a-f]{64}$/)
    expect(lib.isPublicKey(cfg.pk)).toBe(true)
  })
})
