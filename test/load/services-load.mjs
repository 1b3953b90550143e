#!/usr/bin/env node
// Bounded load test of `skywire services` (not part of `npm test`):
//   npx tsc -p . && node test/load/services-load.mjs
// For each store (SQLite file, then a throwaway redis-server) it starts the
// services as a subprocess on loopback, runs CLIENTS concurrent visors for
// SECONDS (80% reads: list, get, count, resolve; 20% signed heartbeats), and
// prints requests/s and latency percentiles. Everything it starts, it stops.
import { spawn } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { ServicesClient } from '../../dist/discovery/client.js'
import { generateIdentity } from '../../dist/native/keys.js'

const CLIENTS = Number(process.env.LOAD_CLIENTS ?? 50)
const SECONDS = Math.min(Number(process.env.LOAD_SECONDS ?? 10), 120)
const BIN = fileURLToPath(new URL('../../bin/run.js', import.meta.url))
const children = new Set()
process.on('exit', () => {
  for (const c of children) c.kill('SIGKILL')
})

function freePort() {
  return new Promise((resolve, reject) => {
    const s = createServer()
    s.once('error', reject)
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address()
      s.close(() => resolve(port))
    })
  })
}

function track(proc) {
  children.add(proc)
  proc.once('exit', () => children.delete(proc))
  return proc
}

async function startRedis() {
  const port = await freePort()
  const proc = track(
    spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], {
      stdio: ['ignore', 'pipe', 'inherit'],
    }),
  )
  await new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error('redis-server did not start')), 5000)
    proc.stdout.on('data', (d) => {
      if (d.toString().includes('Ready to accept connections')) {
        clearTimeout(t)
        resolve()
      }
    })
  })
  return { url: `redis://127.0.0.1:${port}`, stop: () => stop(proc) }
}

function stop(proc) {
  return new Promise((resolve) => {
    if (proc.exitCode !== null) return resolve()
    proc.once('exit', () => resolve())
    proc.kill('SIGTERM')
    setTimeout(() => proc.kill('SIGKILL'), 5000).unref()
  })
}

async function startServices(storeArgs) {
  const proc = track(
    spawn(process.execPath, [BIN, 'services', '--http', '127.0.0.1:0', '--udp', '127.0.0.1:0', '--geoip', 'off', ...storeArgs], {
      // One loopback IP stands for 50 visors here, so the per-IP limit is off.
      env: { ...process.env, SKYWIRE_LOG_LEVEL: 'info', SKYWIRE_HTTP_RATE: '0' },
      stdio: ['ignore', 'pipe', 'inherit'],
    }),
  )
  const url = await new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error('services did not start')), 20_000)
    let buf = ''
    proc.stdout.on('data', (d) => {
      buf += d.toString()
      const line = buf.split('\n').find((l) => l.includes('discovery services listening'))
      if (line) {
        clearTimeout(t)
        resolve(JSON.parse(line).http)
      }
    })
    proc.once('exit', (c) => reject(new Error(`services exited with ${c}`)))
  })
  proc.stdout.resume()
  return { url, stop: () => stop(proc) }
}

function percentile(sorted, p) {
  if (sorted.length === 0) return NaN
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]
}

/** The same clients against a bare node:http server: the ceiling this machine and fetch allow. */
async function baseline() {
  const { createServer: createHttp } = await import('node:http')
  const srv = createHttp((_req, res) => res.writeHead(200, { 'content-type': 'application/json' }).end('{"status":"ok"}'))
  await new Promise((r) => srv.listen(0, '127.0.0.1', r))
  const url = `http://127.0.0.1:${srv.address().port}/health`
  const lat = []
  const deadline = Date.now() + SECONDS * 1000
  const t0 = process.hrtime.bigint()
  await Promise.all(
    Array.from({ length: CLIENTS }, async () => {
      while (Date.now() < deadline) {
        const start = process.hrtime.bigint()
        await (await fetch(url)).text()
        lat.push(Number(process.hrtime.bigint() - start) / 1e6)
      }
    }),
  )
  const elapsed = Number(process.hrtime.bigint() - t0) / 1e9
  await new Promise((r) => srv.close(r))
  lat.sort((a, b) => a - b)
  const r = {
    store: 'baseline',
    rps: Math.round(lat.length / elapsed),
    p50ms: +percentile(lat, 50).toFixed(1),
    p99ms: +percentile(lat, 99).toFixed(1),
  }
  console.log(`baseline (bare node:http, in-process, same fetch clients): ${r.rps} req/s, p50 ${r.p50ms} ms, p99 ${r.p99ms} ms`)
  return r
}

async function run(name, url) {
  const ids = Array.from({ length: CLIENTS }, () => generateIdentity())
  const clients = ids.map((id) => new ServicesClient({ url, secretKey: id.secretKey, retries: 0, timeoutMs: 5000 }))
  // Every client has an entry, so reads find something.
  await Promise.all(
    clients.map((c, i) => c.registerService({ port: 1, version: '1.0.0', country: i % 2 ? 'US' : 'DE', stats: { connectedClients: i } })),
  )
  await Promise.all(clients.map((c) => c.registerStcpr(['192.0.2.1:7777'])))

  const lat = { read: [], write: [] }
  let errors = 0
  const deadline = Date.now() + SECONDS * 1000
  const t0 = process.hrtime.bigint()
  await Promise.all(
    clients.map(async (c, i) => {
      let n = 0
      while (Date.now() < deadline) {
        const kind = n % 5 === 4 ? 'write' : 'read'
        const other = ids[(i + n) % CLIENTS]
        const start = process.hrtime.bigint()
        try {
          if (kind === 'write') await c.registerService({ port: 1, version: '1.0.0', country: 'US', stats: { connectedClients: n } })
          else if (n % 5 === 0) await c.listServices({ country: 'US', limit: 20 })
          else if (n % 5 === 1) await c.getService(`${other.publicKey}:1`)
          else if (n % 5 === 2) await c.countServices()
          else await c.resolve(other.publicKey)
          lat[kind].push(Number(process.hrtime.bigint() - start) / 1e6)
        } catch {
          errors++
        }
        n++
      }
    }),
  )
  const elapsed = Number(process.hrtime.bigint() - t0) / 1e9
  const all = [...lat.read, ...lat.write].sort((a, b) => a - b)
  lat.read.sort((a, b) => a - b)
  lat.write.sort((a, b) => a - b)
  const fmt = (x) => x.toFixed(1)
  const r = {
    store: name,
    clients: CLIENTS,
    seconds: +elapsed.toFixed(1),
    requests: all.length,
    errors,
    rps: Math.round(all.length / elapsed),
    p50ms: +fmt(percentile(all, 50)),
    p99ms: +fmt(percentile(all, 99)),
    readP99ms: +fmt(percentile(lat.read, 99)),
    writeP99ms: +fmt(percentile(lat.write, 99)),
  }
  console.log(
    `${name.padEnd(7)} ${r.requests} requests in ${r.seconds}s: ${r.rps} req/s, p50 ${r.p50ms} ms, p99 ${r.p99ms} ms ` +
      `(reads p99 ${r.readP99ms} ms, signed writes p99 ${r.writeP99ms} ms), ${errors} errors`,
  )
  return r
}

const dir = mkdtempSync(join(tmpdir(), 'skywire-load-'))
const results = []
try {
  console.log(`${CLIENTS} concurrent clients, ${SECONDS} s per store, loopback`)
  if (process.env.LOAD_BASELINE !== '0') results.push(await baseline())
  {
    const svc = await startServices(['--db', join(dir, 'services.db')])
    try {
      results.push(await run('sqlite', svc.url))
    } finally {
      await svc.stop()
    }
  }
  {
    const redis = await startRedis()
    try {
      const svc = await startServices(['--redis', redis.url])
      try {
        results.push(await run('redis', svc.url))
      } finally {
        await svc.stop()
      }
    } finally {
      await redis.stop()
    }
  }
  console.log(JSON.stringify(results))
} finally {
  rmSync(dir, { recursive: true, force: true })
}
