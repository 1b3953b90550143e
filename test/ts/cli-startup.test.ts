/**
 * What the CLI loads to start (bench/README.md, "The time a user waits"): `--version`, `cli vpn status` and
 * its --help stay clear of the addon, fastify and zod, and oclif finds a command through its manifest (written
 * by `npm run build:ts`, checked fresh here) instead of importing every command file. A later top-level import
 * that brings one of them back into these commands fails here, before it shows in the bench. The hot commands'
 * fast entry (ts/cli/fast.ts, no oclif) must answer every command line byte for byte as oclif does
 * (SKYWIRE_CLI_FAST=0), against a fake of the control API.
 */
import { execFile, spawnSync } from 'node:child_process'
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir, userInfo } from 'node:os'
import { createServer } from 'node:http'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { errorBody } from '../../ts/contracts/http-error.js'
import { generateIdentity } from '../../ts/native/keys.js'
import { clientStatus } from '../unit/fakes/status.js'
import { BIN, type CliResult, expectOneLineError } from './helpers/cli.js'
import { skipUnlessAvailable } from './helpers/skip.js'

const ROOT = fileURLToPath(new URL('../..', import.meta.url))
const TRACE = join(ROOT, 'test/fixtures/module-trace.mjs')
const tmp = mkdtempSync(join(tmpdir(), 'skywire-startup-'))
afterAll(() => rmSync(tmp, { recursive: true, force: true }))

/** Runs the CLI under the module tracer; its exit code and every module file it loaded. */
function traced(args: string[], name: string, env: NodeJS.ProcessEnv = {}): { code: number | null; stderr: string; loaded: string[] } {
  const out = join(tmp, `${name}.trace`)
  const r = spawnSync(process.execPath, ['--import', TRACE, BIN, ...args], {
    env: { ...process.env, MODULE_TRACE_OUT: out, SKYWIRE_DEBUG: '', NO_COLOR: '1', ...env },
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
const oclifIn = (loaded: string[]) => loaded.filter((f) => f.includes('/node_modules/@oclif/'))
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

  it('cli vpn status (the call to the visor included) loads nothing heavy, and no oclif (the fast entry)', () => {
    // No visor at this socket: the command runs through its RPC client to the one-line error.
    const r = traced(['cli', 'vpn', 'status', '--rpc', join(tmp, 'none.sock')], 'status')
    expect(r.code).toBe(3)
    expect(r.stderr).toMatch(/no visor is running/)
    expect(commandFiles(r.loaded)).toEqual([])
    expect(oclifIn(r.loaded)).toEqual([])
    expect(r.loaded.some((f) => f.endsWith('/dist/visor/rpc-client.js'))).toBe(true)
    expect(heavyIn(r.loaded)).toEqual([])
  })

  it('--version loads no oclif (the fast entry), and the same command through oclif still loads no command file', () => {
    expect(oclifIn(traced(['--version'], 'version-fast').loaded)).toEqual([])
    const r = traced(['--version'], 'version-oclif', { SKYWIRE_CLI_FAST: '0' })
    expect(r.code, r.stderr).toBe(0)
    expect(oclifIn(r.loaded).length).toBeGreaterThan(0)
    expect(commandFiles(r.loaded)).toEqual([])
  })

  it('cli vpn status --rpc A --rpc B is not the fast form: oclif parses it (and refuses it in one line)', () => {
    const r = traced(['cli', 'vpn', 'status', '--rpc', 'a', '--rpc', 'b'], 'status-dup')
    expect(r.code).toBe(2)
    expect(r.stderr).toMatch(/--rpc can only be specified once/)
    expect(oclifIn(r.loaded).length).toBeGreaterThan(0)
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

/** The CLI, run without blocking this process (the fake visor below answers from it); optionally module-traced. */
function cli(args: string[], env: NodeJS.ProcessEnv = {}, trace?: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const pre = trace ? ['--import', TRACE] : []
    execFile(
      process.execPath,
      [...pre, BIN, ...args],
      { env: { ...process.env, SKYWIRE_DEBUG: '', NO_COLOR: '1', ...(trace ? { MODULE_TRACE_OUT: trace } : {}), ...env }, timeout: 60_000 },
      (err, stdout, stderr) => {
        if (err && typeof err.code !== 'number') return reject(err)
        resolve({ code: err ? (err.code as number) : 0, stdout, stderr })
      },
    )
  })
}

describe('the fast entry answers exactly as oclif does', () => {
  // A fake of our own control API on a unix socket: the status of a connected client, and `vpn start` that
  // connects to any key but REFUSED's (which it refuses as a visor does, with the error envelope).
  const sock = join(tmp, 'fake-visor.sock')
  const OK = generateIdentity().publicKey
  const REFUSED = generateIdentity().publicKey
  const connected = (server: string) =>
    clientStatus({
      state: 'connected',
      server,
      transport: 'sudph',
      remote: '192.0.2.7:47000',
      tunnelIp: '10.77.0.2',
      tun: 'skyvpn0',
      rxBytes: 123456,
      txBytes: 7890,
      rxPackets: 99,
      txPackets: 42,
      latencyMs: 12.5,
      lastPacketMs: 300,
      uptimeS: 3725,
      route: [{ role: 'exit', pk: server, transport: 'sudph' }],
    })
  let bodies: unknown[] = []
  const server = createServer((req, res) => {
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => {
      const send = (code: number, body: unknown) => {
        res.writeHead(code, { 'content-type': 'application/json' })
        res.end(JSON.stringify(body))
      }
      if (req.method === 'GET' && req.url === '/api/vpn/status') return send(200, connected(OK))
      if (req.method === 'POST' && req.url === '/api/vpn/start') {
        const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { pk: string }
        bodies.push(body)
        if (body.pk === REFUSED) return send(409, errorBody('EREMOTE', 'the server refused: no room'))
        return send(200, connected(body.pk))
      }
      send(404, errorBody('ENOTFOUND', 'no such route'))
    })
  })
  beforeAll(() => new Promise<void>((resolve) => server.listen(sock, resolve)))
  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())))

  const none = join(tmp, 'none.sock')
  const cases: [string, string[]][] = [
    ['status', ['cli', 'vpn', 'status', '--rpc', sock]],
    ['status --json', ['cli', 'vpn', 'status', '--json', '--rpc', sock]],
    ['status --rpc= --json', ['cli', 'vpn', 'status', `--rpc=${sock}`, '--json']],
    ['status, no visor', ['cli', 'vpn', 'status', '--rpc', none]],
    ['status --json, no visor', ['cli', 'vpn', 'status', '--rpc', none, '--json']],
    ['status --rpc of a bad shape', ['cli', 'vpn', 'status', '--rpc', 'nonsense']],
    ['status --rpc of a bad shape, --json', ['cli', 'vpn', 'status', '--rpc', 'nonsense', '--json']],
    ['status, an unknown flag', ['cli', 'vpn', 'status', '--rpc', sock, '--bogus']],
    ['status, --rpc twice', ['cli', 'vpn', 'status', '--rpc', sock, '--rpc', sock]],
    ['start -k', ['cli', 'vpn', 'start', '-k', OK, '--rpc', sock]],
    ['start positional --json', ['cli', 'vpn', 'start', OK, '--json', '--rpc', sock]],
    ['start --pk= --existing-tp -t 5 --json', ['cli', 'vpn', 'start', `--pk=${OK}`, '--existing-tp', '-t', '5', '--json', '--rpc', sock]],
    ['start -t 0 (no deadline)', ['cli', 'vpn', 'start', '-k', OK, '--timeout', '0', '--rpc', sock]],
    ['start, an upper-case key', ['cli', 'vpn', 'start', '-k', OK.toUpperCase(), '--rpc', sock]],
    ['start, refused by the visor', ['cli', 'vpn', 'start', '-k', REFUSED, '--rpc', sock]],
    ['start, refused by the visor, --json', ['cli', 'vpn', 'start', '-k', REFUSED, '--json', '--rpc', sock]],
    ['start, no visor, --json', ['cli', 'vpn', 'start', '-k', OK, '--json', '--rpc', none]],
    ['start, a bad key', ['cli', 'vpn', 'start', '-k', 'abc', '--rpc', sock]],
    ['start, a bad key, --json', ['cli', 'vpn', 'start', '-k', 'zz'.repeat(32), '--json', '--rpc', sock]],
    ['start, a bad positional key', ['cli', 'vpn', 'start', 'abc', '--rpc', sock]],
    ['start, a bad timeout', ['cli', 'vpn', 'start', '-k', OK, '-t', '9999', '--rpc', sock]],
    ['start, a bad timeout, --json', ['cli', 'vpn', 'start', '-k', OK, '-t', 'abc', '--json', '--rpc', sock]],
    ['start, two different keys', ['cli', 'vpn', 'start', OK, '-k', REFUSED, '--rpc', sock]],
    ['start, -k without a value', ['cli', 'vpn', 'start', '--rpc', sock, '-k']],
  ]
  for (const [what, argv] of cases) {
    it(what, async () => {
      bodies = []
      const fast = await cli(argv)
      const fastBodies = bodies
      bodies = []
      const oclif = await cli(argv, { SKYWIRE_CLI_FAST: '0' })
      // Node prefixes its warnings with the pid (oclif warns on a --json parse error).
      const pidless = (r: typeof fast) => ({ ...r, stderr: r.stderr.replace(/^\(node:\d+\)/gm, '(node)') })
      expect(pidless(fast)).toEqual(pidless(oclif))
      // What the visor was asked, too.
      expect(fastBodies).toEqual(bodies)
    })
  }

  it('the comparisons above compare something: success prints the status, errors are one line with their code', async () => {
    const st = await cli(['cli', 'vpn', 'status', '--rpc', sock])
    expect(st.code).toBe(0)
    expect(st.stdout).toMatch(/^state: {6}connected\n/)
    expect(st.stdout).toMatch(/uptime: {5}1h2m5s/)
    const j = await cli(['cli', 'vpn', 'status', '--json', '--rpc', sock])
    expect(JSON.parse(j.stdout)).toEqual(connected(OK))
    bodies = []
    const s = await cli(['cli', 'vpn', 'start', '-k', OK, '--existing-tp', '-t', '5', '--rpc', sock])
    expect(s).toEqual({ code: 0, stdout: `connected to ${OK} over sudph; tunnel IP 10.77.0.2\n`, stderr: '' })
    expect(bodies).toEqual([{ pk: OK, existingTp: true, timeoutS: 5 }])
    const r = await cli(['cli', 'vpn', 'start', '-k', REFUSED, '--rpc', sock])
    expect(r.code).not.toBe(0)
    expect(expectOneLineError(r as CliResult)).toBe('skywire: the server refused: no room')
    const bad = await cli(['cli', 'vpn', 'start', '-k', OK, '-t', 'abc', '--rpc', sock])
    expect(bad.code).toBe(2)
    expect(bad.stderr).toMatch(/timeout must be a whole number/)
  })

  it('status and start against a visor load no oclif, no command file, nothing heavy but the addon for the key', async () => {
    const st = join(tmp, 'fast-status.trace')
    expect((await cli(['cli', 'vpn', 'status', '--json', '--rpc', sock], {}, st)).code).toBe(0)
    const stLoaded = readFileSync(st, 'utf8').split('\n').filter(Boolean)
    expect(oclifIn(stLoaded)).toEqual([])
    expect(commandFiles(stLoaded)).toEqual([])
    expect(heavyIn(stLoaded)).toEqual([])
    const sp = join(tmp, 'fast-start.trace')
    expect((await cli(['cli', 'vpn', 'start', '-k', OK, '--json', '--rpc', sock], {}, sp)).code).toBe(0)
    const spLoaded = readFileSync(sp, 'utf8').split('\n').filter(Boolean)
    expect(oclifIn(spLoaded)).toEqual([])
    expect(commandFiles(spLoaded)).toEqual([])
    // The key is checked by the addon, as the oclif command does; nothing else heavy.
    expect(heavyIn(spLoaded).filter((f) => !/native\/(index\.js|[^/]*\.node)$|dist\/native\//.test(f))).toEqual([])
  })
})
