/**
 * `skywire cli vpn list` (and `vpn start`'s input checks) as a user runs it,
 * without a visor and without root: the real CLI against a services HTTP
 * endpoint that speaks the services' API and can be told to lie (a total
 * that is wrong, a list that never ends), as a hostile services host would.
 */
import { execFile } from 'node:child_process'
import { writeFileSync } from 'node:fs'
import { createServer as createHttp, type Server as HttpServer } from 'node:http'
import { createServer as createTcp, type Server as TcpServer } from 'node:net'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { generateConfig } from '../../ts/config/file.js'
import type { ServiceEntry } from '../../ts/contracts/services.js'
import { BIN, expectOneLineError, type CliResult } from './helpers/cli.js'
import { tempDir } from './helpers/visors.js'

const run = promisify(execFile)

/** The CLI in a child process, without blocking this one (the fake services answer from here). */
async function cli(args: string[]): Promise<CliResult> {
  try {
    const r = await run(process.execPath, [BIN, ...args], {
      env: { ...process.env, SKYWIRE_DEBUG: '', NO_COLOR: '1' },
      timeout: 60_000,
      cwd: tmp.dir,
    })
    return { code: 0, stdout: r.stdout, stderr: r.stderr }
  } catch (e) {
    const err = e as { code?: number; stdout?: string; stderr?: string }
    return { code: typeof err.code === 'number' ? err.code : -1, stdout: err.stdout ?? '', stderr: err.stderr ?? '' }
  }
}

const tmp = tempDir('skywire-vpnlist-')
const NOW = Date.now()
const pkOf = (i: number) => i.toString(16).padStart(64, '0')

function entry(i: number): ServiceEntry {
  return {
    address: `${pkOf(i)}:3`,
    pk: pkOf(i),
    type: 'vpn',
    country: ['DE', 'US', 'FR'][i % 3] as string,
    version: '0.2.0',
    // Load falls with i, so the score rises with it: the order is checkable.
    stats: { connectedClients: 1000 - i },
    since: NOW - 48 * 3600_000,
    updatedAt: NOW,
    expiresAt: NOW + 90_000,
  }
}

type Mode = 'honest' | 'lying-total' | 'endless'
let mode: Mode = 'honest'
let requests = 0
const ALL = Array.from({ length: 250 }, (_, i) => entry(i + 1))
/** A visor config whose key is listed too (replacing entry 10): the list run with it must leave it out. */
const selfCfg = generateConfig({})
const SELF = selfCfg.pk
ALL[9] = { ...(ALL[9] as ServiceEntry), address: `${SELF}:3`, pk: SELF }
let http: HttpServer
let tcp: TcpServer
let url = ''
let tcpPort = 0
/** The one server whose STCPR address answers: it gets a latency, and ranks first. */
const FAST = pkOf(6)

beforeAll(async () => {
  tcp = createTcp((s) => s.destroy())
  await new Promise<void>((r) => tcp.listen(0, '127.0.0.1', r))
  tcpPort = (tcp.address() as { port: number }).port
  http = createHttp((req, res) => {
    requests++
    const u = new URL(req.url ?? '/', 'http://x')
    const json = (b: unknown) => {
      res.setHeader('content-type', 'application/json')
      res.end(JSON.stringify(b))
    }
    if (u.pathname.startsWith('/ar/resolve/')) {
      const pk = u.pathname.split('/').pop()
      return json({ pk, stcpr: pk === FAST ? [`127.0.0.1:${tcpPort}`] : [], sudph: null })
    }
    if (u.pathname === '/sd/services/count') return json({ type: 'vpn', total: ALL.length, byCountry: { DE: 84, US: 83, FR: 83 } })
    if (u.pathname !== '/sd/services') {
      res.statusCode = 404
      return json({ error: { code: 'not_found', message: 'no' } })
    }
    const offset = Number(u.searchParams.get('offset') ?? 0)
    const limit = Math.min(100, Number(u.searchParams.get('limit') ?? 100))
    const cc = u.searchParams.get('country')
    if (mode === 'endless') {
      return json({ entries: Array.from({ length: limit }, (_, i) => entry(1000 + offset + i)), total: 1e12, offset, limit })
    }
    const list = ALL.filter((e) => !cc || e.country === cc)
    json({ entries: list.slice(offset, offset + limit), total: mode === 'lying-total' ? 3 : list.length, offset, limit })
  })
  await new Promise<void>((r) => http.listen(0, '127.0.0.1', r))
  url = `http://127.0.0.1:${(http.address() as { port: number }).port}`
})

afterAll(async () => {
  await new Promise<void>((r) => http.close(() => r()))
  await new Promise<void>((r) => tcp.close(() => r()))
  tmp.cleanup()
})

describe('vpn list without a visor', () => {
  it('reads every page, ranks by score, and the server it measured comes first', async () => {
    mode = 'honest'
    const r = await cli(['cli', 'vpn', 'list', '--services', url, '--keys'])
    expect(r.code, r.stderr).toBe(0)
    const keys = r.stdout.trim().split('\n')
    expect(keys).toHaveLength(250)
    expect(new Set(keys).size).toBe(250)
    expect(keys.indexOf(FAST), r.stderr).toBe(0)
    // The rest by load (all else equal): least loaded first.
    expect(keys[1]).toBe(pkOf(250))
    expect(keys[249]).toBe(pkOf(1))
  })

  it('the table shows country, load, uptime, latency, score and version; --json carries them', async () => {
    const r = await cli(['cli', 'vpn', 'list', '--services', url, '-c', 'de', '--limit', '3'])
    expect(r.code, r.stderr).toBe(0)
    const lines = r.stdout.trim().split('\n')
    expect(lines[0]).toMatch(/^KEY\s+CC\s+LOAD\s+UPTIME\s+LATENCY\s+SCORE\s+VERSION$/)
    expect(lines).toHaveLength(4)
    expect(lines[1]).toMatch(new RegExp(`^${FAST}\\s+DE\\s+994\\s+48h0m\\d+s\\s+[\\d.]+ ms\\s+[\\d.]+\\s+v0\\.2\\.0$`))
    const j = JSON.parse((await cli(['cli', 'vpn', 'list', '--services', url, '--sort', 'load', '--limit', '2', '--json'])).stdout)
    expect(j.entries.map((e: ServiceEntry) => e.pk)).toEqual([pkOf(250), pkOf(249)])
    expect(j.entries[0]).toMatchObject({ country: 'US', stats: { connectedClients: 750 }, version: '0.2.0' })
    expect(j.entries[0].uptimeS).toBeGreaterThan(47 * 3600)
    expect(typeof j.entries[0].score).toBe('number')
    expect(j).toMatchObject({ total: 250, limit: 2, sort: 'load', truncated: false })
  })

  it('never lists this visor itself (its key from --config)', async () => {
    const file = join(tmp.dir, 'self.json')
    writeFileSync(file, JSON.stringify({ ...selfCfg, services: { ...selfCfg.services, url } }), { mode: 0o600 })
    const r = await cli(['cli', 'vpn', 'list', '--config', file, '--keys', '--no-latency'])
    expect(r.code, r.stderr).toBe(0)
    const keys = r.stdout.trim().split('\n')
    expect(keys).toHaveLength(249)
    expect(keys).not.toContain(SELF)
  })

  it('a total that lies does not cut the list short', async () => {
    mode = 'lying-total'
    const r = await cli(['cli', 'vpn', 'list', '--services', url, '--keys', '--no-latency'])
    mode = 'honest'
    expect(r.code, r.stderr).toBe(0)
    expect(r.stdout.trim().split('\n')).toHaveLength(250)
  })

  it('an endless list stops at a bound and says so', async () => {
    mode = 'endless'
    requests = 0
    const r = await cli(['cli', 'vpn', 'list', '--services', url, '--no-latency', '--limit', '1', '--keys'])
    mode = 'honest'
    expect(r.code, r.stderr).toBe(0)
    expect(r.stderr).toMatch(/stopped after 10000 entries/)
    expect(requests).toBeLessThanOrEqual(101)
    expect(r.stdout.trim().split('\n')).toHaveLength(1)
  }, 60_000)

  it('bad input is one line and a non-zero exit', async () => {
    for (const args of [
      ['--sort', 'fastest'],
      ['--limit', '-1'],
      ['--limit', '0'],
      ['--limit', '1.5'],
      ['-c', 'XX'],
      ['--services', 'ftp://x'],
      ['--config', join(tmp.dir, 'nope.json')],
    ]) {
      const r = await cli(['cli', 'vpn', 'list', ...(args.includes('--services') ? [] : ['--services', url]), ...args])
      expect(r.code, args.join(' ')).not.toBe(0)
      expect(expectOneLineError(r)).not.toBe('')
    }
  })

  it('vpn start refuses a bad timeout, two different keys, and -c with a key, in one line', async () => {
    for (const args of [['-t', '-1'], ['-t', '3601'], ['-t', 'x'], [pkOf(1), '-k', pkOf(2)], [pkOf(1), '-c', 'DE'], ['nothex']]) {
      const r = await cli(['cli', 'vpn', 'start', ...args, '--rpc', join(tmp.dir, 'no.sock')])
      expect(r.code, args.join(' ')).not.toBe(0)
      expect(expectOneLineError(r)).not.toMatch(/connect ENOENT/)
    }
  })
})
