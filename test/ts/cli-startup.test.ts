/**
 * What the CLI loads to start (bench/README.md, "The time a user waits"): `--version`, `cli vpn status` and
 * its --help stay clear of the addon, fastify and zod, and oclif finds a command through its manifest (written
 * by `npm run build:ts`, checked fresh here) instead of importing every command file. A later top-level import
 * that brings one of them back into these commands fails here, before it shows in the bench.
 */
import { spawnSync } from 'node:child_process'
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir, userInfo } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, describe, expect, it } from 'vitest'
import { BIN } from './helpers/cli.js'
import { skipUnlessAvailable } from './helpers/skip.js'

const ROOT = fileURLToPath(new URL('../..', import.meta.url))
const TRACE = join(ROOT, 'test/fixtures/module-trace.mjs')
const tmp = mkdtempSync(join(tmpdir(), 'skywire-startup-'))
afterAll(() => rmSync(tmp, { recursive: true, force: true }))

/** Runs the CLI under the module tracer; its exit code and every module file it loaded. */
function traced(args: string[], name: string): { code: number | null; stderr: string; loaded: string[] } {
  const out = join(tmp, `${name}.trace`)
  const r = spawnSync(process.execPath, ['--import', TRACE, BIN, ...args], {
    env: { ...process.env, MODULE_TRACE_OUT: out, SKYWIRE_DEBUG: '', NO_COLOR: '1' },
    encoding: 'utf8',
    timeout: 60_000,
  })
  if (r.error) throw r.error
  const loaded = [...new Set(readFileSync(out, 'utf8').split('\n').filter(Boolean))]
  return { code: r.status, stderr: r.stderr, loaded }
}

/** What none of the fast commands may load: the addon (its loader or .node), fastify, zod, semver (oclif's index). */
const HEAVY = [
  /\/native\/index\.js$/,
  /\.node$/,
  /\/dist\/native\//,
  /\/node_modules\/fastify\//,
  /\/node_modules\/zod\//,
  /\/node_modules\/semver\//,
]
const heavyIn = (loaded: string[]) => loaded.filter((f) => HEAVY.some((re) => re.test(f)))
const commandFiles = (loaded: string[]) => loaded.filter((f) => f.includes('/dist/commands/')).map((f) => f.replace(/^.*\/dist\/commands\//, ''))

describe('CLI start-up loads only what the command needs', () => {
  it('the oclif manifest is fresh (npm run build:ts writes it from dist/commands)', () => {
    const r = spawnSync(process.execPath, [join(ROOT, 'scripts/oclif-manifest.mjs'), '--check'], { encoding: 'utf8', timeout: 60_000 })
    expect(r.status, r.stderr).toBe(0)
    const manifest = JSON.parse(readFileSync(join(ROOT, 'oclif.manifest.json'), 'utf8'))
    expect(Object.keys(manifest.commands)).toContain('cli:vpn:status')
  })

  it('--version loads no command file, no addon, no fastify, no zod', () => {
    const r = traced(['--version'], 'version')
    expect(r.code, r.stderr).toBe(0)
    expect(commandFiles(r.loaded)).toEqual([])
    expect(heavyIn(r.loaded)).toEqual([])
  })

  it('cli vpn status --help loads no command file (the help comes from the manifest) and nothing heavy', () => {
    const r = traced(['cli', 'vpn', 'status', '--help'], 'status-help')
    expect(r.code, r.stderr).toBe(0)
    expect(commandFiles(r.loaded)).toEqual([])
    expect(heavyIn(r.loaded)).toEqual([])
  })

  it('cli vpn status (the call to the visor included) loads nothing heavy', () => {
    // No visor at this socket: the command runs through its RPC client to the one-line error.
    const r = traced(['cli', 'vpn', 'status', '--rpc', join(tmp, 'none.sock')], 'status')
    expect(r.code).toBe(3)
    expect(r.stderr).toMatch(/no visor is running/)
    expect(commandFiles(r.loaded)).toEqual(['cli/vpn/status.js'])
    expect(r.loaded.some((f) => f.endsWith('/dist/visor/rpc-client.js'))).toBe(true)
    expect(heavyIn(r.loaded)).toEqual([])
  })

  it('the tracer sees the addon where a command does need it (config gen makes a key)', () => {
    const r = traced(['cli', 'config', 'gen', '-o', join(tmp, 'c.json')], 'config-gen')
    expect(r.code, r.stderr).toBe(0)
    expect(heavyIn(r.loaded).some((f) => f.endsWith('.node'))).toBe(true)
  })
})

// Node 22 as `npm run test:node-lines` installs it (it runs before the vitest files in `npm test`).
const NODE22 = join(ROOT, '.ci/node22/node_modules/.bin/node')

describe.skipIf(skipUnlessAvailable(existsSync(NODE22) ? null : `no Node 22 at ${NODE22} (npm run test:node-lines installs it)`))(
  "Node's compile cache",
  () => {
    it("is kept in the user's home from the password database, never in the temp dir others can write", () => {
      // TMPDIR is where Node would put it by default; HOME is what sudo may leave pointing at another user's home.
      const fakeTmp = join(tmp, 'tmpdir')
      const fakeHome = join(tmp, 'home')
      mkdirSync(fakeTmp)
      mkdirSync(fakeHome)
      const env: NodeJS.ProcessEnv = { ...process.env, TMPDIR: fakeTmp, HOME: fakeHome }
      delete env.NODE_COMPILE_CACHE
      delete env.NODE_DISABLE_COMPILE_CACHE
      const r = spawnSync(NODE22, [BIN, '--version'], { env, encoding: 'utf8', timeout: 60_000 })
      expect(r.status, r.stderr).toBe(0)
      expect(r.stdout).toMatch(/node-v22\./)
      expect(readdirSync(fakeTmp)).toEqual([])
      expect(readdirSync(fakeHome)).toEqual([])
      const cache = join(userInfo().homedir, '.cache/skywire/node-compile-cache')
      expect(readdirSync(cache).some((d) => d.startsWith('v22.'))).toBe(true)
    })
  },
)
