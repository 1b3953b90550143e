/**
 * Pre-authentication limits of a real visor's STCPR listener (issue 12 item 3):
 * strangers who open TCP connections and never finish a handshake must cost
 * the visor neither memory nor more than a bounded number of sockets.
 *
 * A real `skywire visor` process on loopback (no VPN server, discovery
 * services unreachable: not needed here); the attacker is this test, opening
 * thousands of connections from many loopback source addresses (127.0.0.0/8
 * is all on `lo`). The visor's memory is read from /proc/<pid>/status.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { readFileSync, writeFileSync } from 'node:fs'
import { connect, createServer, type Socket } from 'node:net'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { generateConfig } from '../../ts/config/file.js'
import { BIN } from './helpers/cli.js'
import { tempDir } from './helpers/visors.js'

/** The only valid first STCPR frame is a handshake initiation of this many bytes (docs/wire.md). */
const INITIATION_LEN = 180
/** What the test configures, small so that the caps are visible among 2000 connections. */
const PENDING = 64
const PENDING_PER_IP = 8
/** Growth of the visor's resident memory we accept for 2000 hostile connections. */
const MAX_GROWTH_KB = 40 * 1024
const CONNECTIONS = 2000

async function freePort(): Promise<number> {
  const srv = createServer()
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve))
  const port = (srv.address() as { port: number }).port
  await new Promise<void>((resolve) => srv.close(() => resolve()))
  return port
}

function rssKb(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8')
  const m = /^VmRSS:\s+(\d+) kB$/m.exec(status)
  if (!m) throw new Error(`no VmRSS in /proc/${pid}/status`)
  return Number(m[1])
}

interface Conn {
  sock: Socket
  connectedAt: number
  closed: boolean
  closedAt: number
}

/** The largest number of the connections' [connectedAt, closedAt] spans that overlap. */
function maxConcurrent(conns: Conn[]): number {
  const edges = conns.flatMap((c) => [
    [c.connectedAt, 1],
    [c.closedAt, -1],
  ])
  // Closes before opens at the same millisecond: a freed slot is reused, not double counted.
  edges.sort((a, b) => (a[0] as number) - (b[0] as number) || (a[1] as number) - (b[1] as number))
  let now = 0
  let peak = 0
  for (const [, d] of edges) {
    now += d as number
    peak = Math.max(peak, now)
  }
  return peak
}

/** The source address number `i`: 127.0.1.1, 127.0.1.2, ... (250 per /24). */
function sourceIp(i: number): string {
  return `127.0.${1 + Math.floor(i / 250)}.${1 + (i % 250)}`
}

/**
 * Open `n` connections to `port`, cycling over the `ips` source addresses
 * from number `firstIp` on, each writing `payload` once connected. Resolves
 * when all have connected (or failed), in batches so the listen backlog never
 * overflows.
 */
async function openMany(port: number, n: number, ips: number, payload: Buffer, firstIp = 0): Promise<Conn[]> {
  const conns: Conn[] = []
  const BATCH = 200
  for (let start = 0; start < n; start += BATCH) {
    const batch: Promise<void>[] = []
    for (let i = start; i < Math.min(n, start + BATCH); i++) {
      const localAddress = sourceIp(firstIp + (i % ips))
      const sock = connect({ host: '127.0.0.1', port, localAddress })
      const c: Conn = { sock, connectedAt: Date.now(), closed: false, closedAt: 0 }
      conns.push(c)
      const done = () => {
        if (!c.closed) {
          c.closed = true
          c.closedAt = Date.now()
        }
      }
      sock.on('error', done)
      sock.on('close', done)
      sock.on('end', done)
      sock.on('data', () => {})
      batch.push(
        new Promise<void>((resolve) => {
          sock.once('connect', () => {
            c.connectedAt = Date.now()
            sock.write(payload)
            resolve()
          })
          sock.once('close', () => resolve())
        }),
      )
    }
    await Promise.all(batch)
  }
  return conns
}

function destroyAll(conns: Conn[]): void {
  for (const c of conns) c.sock.destroy()
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

function header(len: number): Buffer {
  const b = Buffer.alloc(4)
  b.writeUInt32BE(len)
  return b
}

describe('STCPR before authentication', () => {
  const tmp = tempDir('skywire-preauth-')
  let proc: ChildProcess | null = null
  let stcprPort = 0
  let pid = 0
  /** Everything the visor printed (pino JSON lines). */
  let out = ''

  beforeAll(async () => {
    stcprPort = await freePort()
    const config = generateConfig({
      dataDir: join(tmp.dir, 'data'),
      // Debug: refusals are logged there, and only now and then.
      logLevel: 'debug',
      // Nothing listens there: the visor carries on without discovery.
      services: { url: `http://127.0.0.1:${await freePort()}`, udp: `127.0.0.1:${await freePort()}` },
      transports: { stcpr: { listen: `127.0.0.1:${stcprPort}` }, sudph: { listen: `127.0.0.1:${await freePort()}` } },
      vpnServer: { autostart: false },
      control: { socket: join(tmp.dir, 'visor.sock'), listen: '' },
      limits: { pendingHandshakes: PENDING, pendingHandshakesPerIp: PENDING_PER_IP },
    })
    const file = join(tmp.dir, 'visor.json')
    writeFileSync(file, JSON.stringify(config), { mode: 0o600 })
    const p = spawn(process.execPath, [BIN, 'visor', '-c', file], { stdio: ['ignore', 'pipe', 'pipe'] })
    proc = p
    p.stdout?.on('data', (d: Buffer) => (out += d.toString()))
    p.stderr?.on('data', (d: Buffer) => (out += d.toString()))
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`visor did not start:\n${out}`)), 20_000)
      const onData = () => {
        if (/control API listening/.test(out)) {
          clearTimeout(timer)
          resolve()
        }
      }
      p.stdout?.on('data', onData)
      p.stderr?.on('data', onData)
      p.once('exit', (code) => {
        clearTimeout(timer)
        reject(new Error(`visor exited (${code}):\n${out}`))
      })
    })
    pid = p.pid ?? 0
    // Let start-up allocations settle before the baseline.
    await sleep(1000)
  }, 40_000)

  afterAll(async () => {
    if (proc && proc.exitCode === null) {
      const p = proc
      const exited = new Promise((r) => p.once('exit', r))
      p.kill('SIGTERM')
      await Promise.race([exited, sleep(5000)])
      if (p.exitCode === null) p.kill('SIGKILL')
    }
    tmp.cleanup()
  })

  it('2000 connections announcing a 256 KiB first frame cost no memory and are all closed at once', async () => {
    const before = rssKb(pid)
    // 256 KiB is the largest frame the old reader accepted: it allocated it up front.
    const conns = await openMany(stcprPort, CONNECTIONS, 500, header(256 * 1024))
    try {
      const t0 = Date.now()
      // Polled up to 4 s, still under the 5 s handshake timeout, so a connection held until then fails the test;
      // a fixed 2 s sleep failed when a busy machine took longer than that to close 2000 refused ones.
      while (Date.now() - t0 < 4000 && conns.some((c) => !c.closed)) await sleep(100)
      const after = rssKb(pid)
      const open = conns.filter((c) => !c.closed).length
      console.log(
        `huge first length: VmRSS ${before} kB -> ${after} kB (+${after - before} kB), ${open} of ${CONNECTIONS} still open after ${Date.now() - t0} ms`,
      )
      expect(after - before).toBeLessThan(MAX_GROWTH_KB)
      // A first length no initiation has is refused before anything is read or allocated.
      expect(open).toBe(0)
    } finally {
      destroyAll(conns)
    }
  }, 50_000)

  it('half-sent initiations: at most pendingHandshakes are held at once, per IP at most pendingHandshakesPerIp, the rest are closed at once, and all within the handshake timeout', async () => {
    await sleep(500)
    const before = rssKb(pid)
    // A valid initiation length, then only half of the initiation: the connection waits for the rest.
    const half = Buffer.concat([header(INITIATION_LEN), Buffer.alloc(INITIATION_LEN / 2, 7)])
    // 50 from one source address, then the rest from 500 others (about 4 each, under the per-IP cap).
    const oneIp = await openMany(stcprPort, 50, 1, half)
    const manyIps = await openMany(stcprPort, CONNECTIONS - 50, 500, half, 1)
    const all = [...oneIp, ...manyIps]
    try {
      const after = rssKb(pid)
      // Opening 2000 connections takes seconds on a busy machine, longer than the handshake
      // timeout: judge each connection by its own times, not by one snapshot.
      const deadline = Date.now() + 15_000
      while (Date.now() < deadline && all.some((c) => !c.closed)) await sleep(200)
      const stuck = all.filter((c) => !c.closed).length
      const heldMs = (c: Conn) => c.closedAt - c.connectedAt
      // Refused ones close within milliseconds; held ones at the handshake timeout (5 s).
      const held = all.filter((c) => heldMs(c) > 1500)
      const longest = Math.max(...all.map(heldMs))
      const peak = maxConcurrent(held)
      const peakOne = maxConcurrent(held.filter((c) => oneIp.includes(c)))
      console.log(
        `half initiations: VmRSS ${before} kB -> ${after} kB (+${after - before} kB); ${held.length} of ${all.length} held (at most ${peak} at once, ${peakOne} from one IP), the rest closed at once; longest ${longest} ms; ${stuck} never closed`,
      )
      expect(after - before).toBeLessThan(MAX_GROWTH_KB)
      expect(stuck).toBe(0)
      expect(peakOne).toBe(PENDING_PER_IP)
      expect(peak).toBeLessThanOrEqual(PENDING)
      // The total cap was reached (not just the per-source one) and the rest was refused.
      expect(peak).toBeGreaterThan(PENDING_PER_IP)
      expect(all.length - held.length).toBeGreaterThan(CONNECTIONS / 2)
      // The handshake stage has a deadline of a few seconds: nobody is left hanging.
      expect(longest).toBeLessThan(8000)
      // Thousands of refusals in both tests, a handful of log lines: at most one per 10 s.
      const reports = out.split('\n').filter((l) => l.includes('inbound dials refused by a limit'))
      console.log(`refusal reports in the visor's debug log: ${reports.length}`)
      expect(reports.length).toBeGreaterThanOrEqual(1)
      expect(reports.length).toBeLessThanOrEqual(4)
      // Once they are gone, a new one from the same address is held again (slots are given back).
      const again = await openMany(stcprPort, 1, 1, half)
      await sleep(300)
      expect(again[0]?.closed).toBe(false)
      destroyAll(again)
    } finally {
      destroyAll(all)
    }
  }, 50_000)
})
