/**
 * `skywire services` as real processes: replicas sharing one Redis, SQLite
 * keeping its data over a restart, graceful shutdown, and the one-line errors
 * of a taken port or an unreachable Redis.
 */
import { randomBytes, randomUUID } from 'node:crypto'
import { createSocket } from 'node:dgram'
import { existsSync, mkdtempSync, rmSync } from 'node:fs'
import { createServer, type Server } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest'
import { ServicesClient } from '../../../ts/discovery/client.js'
import { HEADER_NONCE, HEADER_PK, HEADER_SIG, signingMessage } from '../../../ts/discovery/signing.js'
import type { Identity } from '../../../ts/native/keys.js'
import { native } from '../../../ts/native/loader.js'
import { encodeBind } from '../../../ts/services/ar/udp-wire.js'
import { expectOneLineError, skywire } from '../helpers/cli.js'
import { eventually, identities, sharedRedis, stopSharedRedis } from './helpers.js'
import { runServices, type ServicesProcess } from './process.js'

// Every test here starts real processes, two or three in a row: at a load of 28 on 2 cores, stalled 400 ms a
// second, one took 29.7 s of the default 30 s. The bound only turns a hang into a failure.
vi.setConfig({ testTimeout: 90_000 })

const running: ServicesProcess[] = []
async function start(args: string[], env: NodeJS.ProcessEnv = {}) {
  const p = await runServices(args, env)
  running.push(p)
  return p
}

afterEach(async () => {
  await Promise.all(running.splice(0).map((p) => p.stop('SIGKILL')))
})
afterAll(stopSharedRedis)

describe('replicas on one Redis', () => {
  it("see each other's registrations, deletions, UDP bindings and nonces", async () => {
    const redis = await sharedRedis()
    const prefix = `replicas-${randomUUID()}:`
    // One challenge key for both, as replicas behind one UDP address without source affinity need.
    const env = { SKYWIRE_AR_COOKIE_SECRET: randomBytes(32).toString('hex') }
    const r1 = await start(['--redis', redis.url, '--redis-prefix', prefix, '--geoip', 'off'], env)
    const r2 = await start(['--redis', redis.url, '--redis-prefix', prefix, '--geoip', 'off'], env)
    const [a, b] = identities(2) as [Identity, Identity]
    const on1 = new ServicesClient({ url: r1.url, secretKey: a.secretKey, retries: 0 })
    const on2 = new ServicesClient({ url: r2.url, secretKey: a.secretKey, retries: 0 })

    await on1.registerService({ port: 3, version: '1.0.0', country: 'SE', stats: { connectedClients: 1 } })
    expect(await on2.getService(`${a.publicKey}:3`)).toMatchObject({ country: 'SE' })
    expect(await on2.countServices()).toMatchObject({ total: 1, byCountry: { SE: 1 } })

    const id = randomUUID()
    await on2.registerTransport({ id, edges: [a.publicKey, b.publicKey], type: 'stcpr' })
    expect((await on1.transportsOf(b.publicKey)).entries.map((t) => t.id)).toEqual([id])

    await on1.registerStcpr(['192.0.2.1:7777'])
    expect((await on2.resolve(a.publicKey))?.stcpr).toEqual(['192.0.2.1:7777'])

    // A UDP binding made at replica 1 is what replica 2 resolves; replica 2 accepts replica 1's challenge.
    const sock = createSocket('udp4')
    await new Promise<void>((r) => sock.bind(0, '127.0.0.1', r))
    try {
      const challenged = new Promise<Buffer>((r) => sock.once('message', r))
      const bind = encodeBind({ pk: b.publicKey, timestampMs: Date.now(), local: [] }, (m) => native.sign(b.secretKey, m))
      sock.send(bind, r1.udp!.port, r1.udp!.ip)
      const challenge = await challenged
      expect(challenge[0]).toBe(0x16)
      const ackd = new Promise<Buffer>((r) => sock.once('message', r))
      sock.send(Buffer.concat([Buffer.from([0x17]), challenge.subarray(1)]), r2.udp!.port, r2.udp!.ip)
      expect((await ackd)[0]).toBe(0x11)
      expect((await on2.resolve(b.publicKey))?.sudph?.observed).toBe(`127.0.0.1:${sock.address().port}`)
    } finally {
      sock.close()
    }

    // A request accepted by one replica cannot be replayed at the other: nonces live in the store
    // (b's nonce is set by hand, far ahead of what a's client will use).
    const body = Buffer.from(JSON.stringify({ addresses: ['192.0.2.2:1'] }))
    const nonce = String(Date.now() * 1000 + 10_000_000)
    const headers = {
      'content-type': 'application/json',
      [HEADER_PK]: b.publicKey,
      [HEADER_NONCE]: nonce,
      [HEADER_SIG]: native.sign(b.secretKey, signingMessage('PUT', '/ar/stcpr', body, nonce)).toString('hex'),
    }
    expect((await fetch(`${r1.url}/ar/stcpr`, { method: 'PUT', headers, body })).status).toBe(200)
    expect((await fetch(`${r2.url}/ar/stcpr`, { method: 'PUT', headers, body })).status).toBe(401)

    expect(await on2.deleteService(`${a.publicKey}:3`)).toBe(true)
    expect(await on1.getService(`${a.publicKey}:3`)).toBeNull()

    expect(await r1.stop()).toBe(0)
    expect(await r2.stop()).toBe(0)
  })

  it('entries registered at one replica expire for all (TTL from the environment)', async () => {
    const redis = await sharedRedis()
    const prefix = `replicas-${randomUUID()}:`
    // 2 s, so the read right after the write still sees it on a busy machine (500 ms did not always); then polled.
    const env = { SKYWIRE_TTL_SERVICE_MS: '2000' }
    const r1 = await start(['--redis', redis.url, '--redis-prefix', prefix], env)
    const r2 = await start(['--redis', redis.url, '--redis-prefix', prefix], env)
    const [a] = identities(1) as [Identity]
    const c1 = new ServicesClient({ url: r1.url, secretKey: a.secretKey, retries: 0 })
    const c2 = new ServicesClient({ url: r2.url, retries: 0 })
    await c1.registerService({ port: 1, version: '1', stats: { connectedClients: 0 } })
    expect((await c2.listServices()).total).toBe(1)
    await eventually(async () => (await c2.listServices()).total === 0, 15_000)
  })
})

describe('SQLite', () => {
  let dir: string
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'skywire-services-'))
  })
  afterAll(() => rmSync(dir, { recursive: true, force: true }))

  it('keeps entries and nonces over a restart', async () => {
    const db = join(dir, 'data', 'services.db')
    const [a] = identities(1) as [Identity]
    const s1 = await start(['--db', db])
    const c1 = new ServicesClient({ url: s1.url, secretKey: a.secretKey, retries: 0 })
    await c1.registerService({ port: 3, version: '1.0.0', country: 'FI', stats: { connectedClients: 4 } })
    await c1.registerStcpr(['192.0.2.1:7777'])
    const body = Buffer.from(JSON.stringify({ addresses: ['192.0.2.1:7777'] }))
    const nonce = String(Date.now() * 1000 + 10_000_000)
    const headers = {
      'content-type': 'application/json',
      [HEADER_PK]: a.publicKey,
      [HEADER_NONCE]: nonce,
      [HEADER_SIG]: native.sign(a.secretKey, signingMessage('PUT', '/ar/stcpr', body, nonce)).toString('hex'),
    }
    expect((await fetch(`${s1.url}/ar/stcpr`, { method: 'PUT', headers, body })).status).toBe(200)
    expect(await s1.stop('SIGINT')).toBe(0)

    const s2 = await start(['--db', db])
    const c2 = new ServicesClient({ url: s2.url, retries: 0 })
    expect(await c2.getService(`${a.publicKey}:3`)).toMatchObject({ country: 'FI', stats: { connectedClients: 4 } })
    expect((await c2.resolve(a.publicKey))?.stcpr).toEqual(['192.0.2.1:7777'])
    expect((await fetch(`${s2.url}/ar/stcpr`, { method: 'PUT', headers, body })).status).toBe(401)
    expect(await s2.stop()).toBe(0)
  })
})

describe('default database', () => {
  it('lives in SKYWIRE_DATA_DIR (never the working directory)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'skywire-datadir-'))
    try {
      const s = await start([], { SKYWIRE_DATA_DIR: join(dir, 'data') })
      expect(existsSync(join(dir, 'data', 'services.db'))).toBe(true)
      expect(await s.stop()).toBe(0)
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })
})

describe('flood limits from the command line', () => {
  const signedPost = (url: string, id: Identity, forwardedFor: string) => {
    const body = Buffer.from(JSON.stringify({ address: `${id.publicKey}:3`, type: 'vpn', version: '1', stats: { connectedClients: 0 } }))
    const nonce = String(Date.now() * 1000)
    return fetch(`${url}/sd/services`, {
      method: 'POST',
      body,
      headers: {
        'content-type': 'application/json',
        'x-forwarded-for': forwardedFor,
        [HEADER_PK]: id.publicKey,
        [HEADER_NONCE]: nonce,
        [HEADER_SIG]: native.sign(id.secretKey, signingMessage('POST', '/sd/services', body, nonce)).toString('hex'),
      },
    })
  }

  it('--trust-proxy 1 believes one hop of X-Forwarded-For, not what the client wrote before it; --max-entries-per-ip caps a source', async () => {
    const s = await start(['--db', ':memory:', '--geoip', 'off', '--trust-proxy', '1', '--max-entries-per-ip', '2'])
    const ids = identities(3)
    // Each client claims a fresh address on the left; the proxy appended the real one.
    for (const [i, id] of ids.slice(0, 2).entries()) expect((await signedPost(s.url, id, `203.0.113.${i + 1}, 198.51.100.7`)).status).toBe(200)
    const res = await signedPost(s.url, ids[2]!, '203.0.113.99, 198.51.100.7')
    expect(res.status).toBe(403)
    expect(((await res.json()) as { error: { message: string } }).error.message).toMatch(/^198\.51\.100\.7 already holds 2 service entries/)
  })

  it('a bad --trust-proxy is a one-line usage error', () => {
    for (const bad of ['true', 'not-an-ip', '10.0.0.0/99']) {
      const r = skywire(['services', '--http', '127.0.0.1:0', '--udp', '127.0.0.1:0', '--db', ':memory:', '--trust-proxy', bad])
      expect(r.code).toBe(2)
      expect(expectOneLineError(r)).toMatch(/--trust-proxy must be|trusted proxy ".*" must be an IP address or CIDR/)
    }
  })
})

describe('start-up errors are one line with a non-zero exit', () => {
  let blocker: Server
  let port: number
  beforeAll(async () => {
    blocker = createServer()
    await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', r))
    port = (blocker.address() as { port: number }).port
  })
  afterAll(() => new Promise<void>((r) => blocker.close(() => r())))

  it('HTTP port taken', () => {
    const r = skywire(['services', '--http', `127.0.0.1:${port}`, '--udp', '127.0.0.1:0', '--db', ':memory:'])
    expect(r.code).toBe(1)
    expect(expectOneLineError(r)).toBe(`skywire: cannot listen on HTTP 127.0.0.1:${port}: address already in use`)
  })

  it('UDP port taken', async () => {
    const sock = createSocket('udp4')
    await new Promise<void>((r) => sock.bind(0, '127.0.0.1', r))
    try {
      const u = sock.address().port
      const r = skywire(['services', '--http', '127.0.0.1:0', '--udp', `127.0.0.1:${u}`, '--db', ':memory:'])
      expect(r.code).toBe(1)
      expect(expectOneLineError(r)).toBe(`skywire: cannot listen on UDP 127.0.0.1:${u}: address already in use`)
    } finally {
      sock.close()
    }
  })

  it('Redis unreachable: nothing listens', async () => {
    const probe = createServer()
    await new Promise<void>((r) => probe.listen(0, '127.0.0.1', r))
    const closed = (probe.address() as { port: number }).port
    await new Promise((r) => probe.close(r))
    const r = skywire(['services', '--http', '127.0.0.1:0', '--udp', '127.0.0.1:0', '--redis', `redis://127.0.0.1:${closed}`])
    expect(r.code).toBe(3)
    expect(expectOneLineError(r)).toBe(`skywire: redis at redis://127.0.0.1:${closed} is not reachable: connect ECONNREFUSED 127.0.0.1:${closed}`)
  })

  it('Redis unreachable: something that never answers', () => {
    const r = skywire(['services', '--http', '127.0.0.1:0', '--udp', '127.0.0.1:0', '--redis', `redis://127.0.0.1:${port}`])
    expect(r.code).toBe(3)
    expect(expectOneLineError(r)).toBe(`skywire: redis at redis://127.0.0.1:${port} is not reachable: no answer to PING within 3000 ms`)
  })

  it('a bad listen address', () => {
    const r = skywire(['services', '--http', 'nope', '--db', ':memory:'])
    expect(r.code).toBe(2)
    expect(expectOneLineError(r)).toMatch(/--http must be HOST:PORT/)
  })

  it('--db and --redis together', () => {
    const r = skywire(['services', '--db', 'x.db', '--redis', 'redis://127.0.0.1:1'])
    expect(r.code).toBe(2)
    expectOneLineError(r)
  })
})

describe('Redis going away while running', () => {
  it('answers 503 (not 500), /health says so, the client reports EUNREACHABLE, and it recovers', async () => {
    const { startRedis } = await import('../helpers/redis.js')
    const { RedisStore } = await import('../../../ts/services/store/redis.js')
    const { startTest } = await import('./helpers.js')
    let redis = await startRedis()
    const svc = await startTest(await RedisStore.connect({ url: redis.url, prefix: 'down:' }))
    try {
      const cl = new ServicesClient({ url: svc.url, retries: 1, backoffMs: 10, timeoutMs: 10_000 })
      expect((await cl.listServices()).total).toBe(0)
      await redis.stop()
      const res = await fetch(`${svc.url}/sd/services`)
      expect(res.status).toBe(503)
      expect(await res.json()).toEqual({ error: { code: 'unavailable', message: 'store (redis) is not reachable; try again later' } })
      expect((await fetch(`${svc.url}/health`)).status).toBe(503)
      await expect(cl.countServices()).rejects.toMatchObject({ code: 'EUNREACHABLE' })
      // Same port again: ioredis reconnects by itself.
      const { spawn } = await import('node:child_process')
      const again = spawn('redis-server', ['--port', String(redis.port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], {
        stdio: 'ignore',
      })
      redis = {
        url: redis.url,
        port: redis.port,
        stop: () =>
          new Promise<void>((r) => {
            again.once('exit', () => r())
            again.kill('SIGTERM')
          }),
      }
      const deadline = Date.now() + 10_000
      let ok = false
      while (!ok && Date.now() < deadline) {
        ok = (await fetch(`${svc.url}/health`)).status === 200
        if (!ok) await new Promise((r) => setTimeout(r, 200))
      }
      expect(ok).toBe(true)
    } finally {
      await svc.close()
      await redis.stop()
    }
  })
})
