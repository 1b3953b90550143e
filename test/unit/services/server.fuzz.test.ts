/**
 * Properties of the discovery services' HTTP bodies (ts/services/http,
 * ts/services/schemas.ts and the three route modules), through the real app
 * (buildApp, a real in-memory SQLite store) with Fastify `inject`. Writes are
 * signed with real keys, so every body gets past authentication to the
 * schemas. Any body, query or path yields a 2xx whose stored entry reads back
 * well-formed, or a 4xx with a one-line `{error: {code, message}}`; never a
 * 500, never a stack.
 */
import { randomUUID } from 'node:crypto'
import type { FastifyInstance } from 'fastify'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { HEADER_NONCE, HEADER_PK, HEADER_SIG, NonceSource, signingMessage } from '../../../ts/discovery/signing.js'
import { generateIdentity } from '../../../ts/native/keys.js'
import { native } from '../../../ts/native/loader.js'
import { buildApp } from '../../../ts/services/server.js'
import { Metrics } from '../../../ts/services/http/metrics.js'
import { SqliteStore } from '../../../ts/services/store/sqlite.js'
import { quietLogger } from '../../ts/services/helpers.js'
import { expectCleanHttp, fc, hex64, params, timeoutFor } from '../helpers/fc.js'

const RUNS = 300

const ids = Array.from({ length: 4 }, () => ({ ...generateIdentity(), nonces: new NonceSource() }))
type Id = (typeof ids)[number]

function signedHeaders(id: Id, method: string, url: string, body: string): Record<string, string> {
  const nonce = id.nonces.next()
  const sig = native.sign(id.secretKey, signingMessage(method, url, Buffer.from(body, 'utf8'), nonce))
  return { [HEADER_PK]: id.publicKey, [HEADER_NONCE]: nonce, [HEADER_SIG]: sig.toString('hex') }
}

const anyValue = fc.oneof(fc.jsonValue({ maxDepth: 2 }), fc.string({ maxLength: 80 }), fc.integer(), fc.double())
const ipPort = fc.oneof(
  fc.tuple(fc.ipV4(), fc.integer({ min: 0, max: 70000 })).map(([a, p]) => `${a}:${p}`),
  fc.tuple(fc.ipV6(), fc.integer({ min: 0, max: 70000 })).map(([a, p]) => `[${a}]:${p}`),
  fc.string({ maxLength: 30 }),
)
const portText = fc.oneof(fc.integer({ min: 0, max: 70000 }).map(String), fc.constantFrom('00080', '0', '+1', '1e3', ''))
const svcAddress = fc.oneof(
  fc.tuple(fc.constantFrom(...ids.map((i) => i.publicKey)), portText).map(([k, p]) => `${k}:${p}`),
  fc.tuple(hex64, portText).map(([k, p]) => `${k}:${p}`),
  fc.string({ maxLength: 80 }),
)
const stats = fc.oneof(
  fc.record({ connectedClients: fc.oneof(fc.integer({ min: -1, max: 2_000_000 }), anyValue) }),
  fc.dictionary(
    fc.oneof(fc.constantFrom('connectedClients', 'latencyMs'), fc.string({ maxLength: 40 })),
    fc.oneof(fc.double(), fc.integer(), anyValue),
    { maxKeys: 20 },
  ),
  anyValue,
)

/** Bodies shaped like the real ones (each field sometimes any JSON), plus arbitrary JSON and non-JSON bytes. */
const stcprBody = fc.record({ addresses: fc.oneof(fc.array(ipPort, { maxLength: 10 }), anyValue) }, { requiredKeys: [] })
const serviceBody = fc.record(
  {
    address: fc.oneof(svcAddress, anyValue),
    type: fc.oneof(fc.constantFrom('vpn', 'VPN', 'a'.repeat(17), 'x-y'), anyValue),
    country: fc.oneof(fc.constantFrom('US', 'DE', 'XX', 'us', 'USA'), anyValue),
    version: fc.oneof(fc.constantFrom('1.0.0', '', 'v'.repeat(33), '1 0'), anyValue),
    stats,
    extra: anyValue,
  },
  { requiredKeys: [] },
)
const transportBody = fc.record(
  {
    id: fc.oneof(fc.uuid(), fc.constant(randomUUID().toUpperCase()), anyValue),
    edges: fc.oneof(
      fc.tuple(fc.constantFrom(...ids.map((i) => i.publicKey)), fc.oneof(hex64, fc.constantFrom(...ids.map((i) => i.publicKey)))),
      anyValue,
    ),
    type: fc.oneof(fc.constantFrom('stcpr', 'sudph', 'tcp'), anyValue),
  },
  { requiredKeys: [] },
)
const text = (a: fc.Arbitrary<unknown>) => a.map((v) => JSON.stringify(v) ?? 'null')
const rawBody = fc.oneof(
  fc.string({ maxLength: 200 }),
  fc.uint8Array({ maxLength: 200 }).map((b) => Buffer.from(b).toString('latin1')),
  fc.constantFrom('', '{', '{"__proto__":{"x":1}}', '{"constructor":{"prototype":{"a":1}}}', '[]', 'null', '1e999', '"\\ud800"'),
)

const WRITES = [
  { method: 'PUT', url: '/ar/stcpr', body: fc.oneof(text(stcprBody), text(fc.jsonValue()), rawBody) },
  { method: 'POST', url: '/sd/services', body: fc.oneof(text(serviceBody), text(fc.jsonValue()), rawBody) },
  { method: 'POST', url: '/tpd/transports', body: fc.oneof(text(transportBody), text(fc.jsonValue()), rawBody) },
] as const

const contentType = fc.constantFrom('application/json', 'application/json; charset=utf-8', 'text/plain', undefined)

describe('discovery services HTTP bodies (properties, Fastify inject, real SQLite store)', () => {
  let app: FastifyInstance
  let store: SqliteStore
  beforeAll(async () => {
    store = new SqliteStore({ file: ':memory:' })
    app = buildApp({ http: { host: '127.0.0.1', port: 0 }, udp: null, store, geoip: 'off', httpRate: null }, new Metrics(), quietLogger())
    await app.ready()
  })
  afterAll(async () => {
    await app.close()
    await store.close()
  })

  /** A 2xx write stored only what the schemas allow; read it back through the API. */
  async function expectStoredWellFormed(url: string, id: Id, body: string): Promise<void> {
    if (url === '/ar/stcpr') {
      const g = JSON.parse((await app.inject({ url: `/ar/resolve/${id.publicKey}` })).body) as { stcpr: string[] }
      expect(g.stcpr.length).toBeGreaterThanOrEqual(1)
      expect(g.stcpr.length).toBeLessThanOrEqual(8)
      for (const a of g.stcpr) expect(a).toMatch(/^(\d{1,3}(\.\d{1,3}){3}|\[[0-9a-f:.]+\]):[1-9][0-9]{0,4}$/i)
    } else if (url === '/sd/services') {
      const sent = JSON.parse(body) as { address: string }
      const r = await app.inject({ url: `/sd/services/${sent.address}` })
      expect(r.statusCode, r.body).toBe(200)
      const e = JSON.parse(r.body) as { address: string; pk: string; type: string; version: string; stats: Record<string, number> }
      expect(e.address.slice(0, 64)).toBe(id.publicKey)
      expect(Number(e.address.slice(65))).toBeGreaterThanOrEqual(1)
      expect(e.type).toMatch(/^[a-z][a-z0-9-]{0,15}$/)
      expect(Object.values(e.stats).every((v) => Number.isFinite(v))).toBe(true)
    } else {
      const sent = JSON.parse(body) as { id: string }
      const r = await app.inject({ url: `/tpd/transports/${sent.id}` })
      expect(r.statusCode, r.body).toBe(200)
      const e = JSON.parse(r.body) as { edges: string[]; type: string }
      expect(e.edges).toContain(id.publicKey)
      expect(['stcpr', 'sudph']).toContain(e.type)
    }
  }

  it(
    'any signed write body yields a 2xx that reads back well-formed, or a one-line 4xx',
    async () => {
      const write = fc.oneof(...WRITES.map((w) => fc.tuple(fc.constant(w.method), fc.constant(w.url), w.body)))
      await fc.assert(
        fc.asyncProperty(write, fc.constantFrom(...ids), contentType, async ([method, url, body], id, ct) => {
          const headers = { ...signedHeaders(id, method, url, body), ...(ct ? { 'content-type': ct } : {}) }
          const r = await app.inject({ method, url, payload: body, headers })
          expectCleanHttp(r, `${method} ${url} ${body} (${ct})`)
          if (r.statusCode < 300) await expectStoredWellFormed(url, id, body)
        }),
        params(RUNS),
      )
    },
    timeoutFor(RUNS, 20),
  )

  it(
    'a valid write with one field changed (or none) is stored well-formed, or refused with a one-line 4xx',
    async () => {
      const valid = fc.oneof(
        fc.tuple(
          fc.constant(WRITES[0]),
          fc
            .array(
              fc.tuple(fc.ipV4(), fc.integer({ min: 1, max: 65535 })).map(([a, p]) => `${a}:${p}`),
              { minLength: 1, maxLength: 8 },
            )
            .map((addresses) => ({ addresses })),
        ),
        fc.tuple(
          fc.constant(WRITES[1]),
          fc
            .integer({ min: 1, max: 65535 })
            .map((port) => ({ address: `PK:${port}`, type: 'vpn', version: '1.2.3', country: 'DE', stats: { connectedClients: 0 } })),
        ),
        fc.tuple(
          fc.constant(WRITES[2]),
          fc.tuple(fc.uuid(), hex64, fc.constantFrom('stcpr', 'sudph')).map(([id, other, type]) => ({ id, edges: ['PK', other], type })),
        ),
      )
      const change = fc.option(
        fc.record({
          key: fc.constantFrom('addresses', 'address', 'type', 'version', 'country', 'stats', 'id', 'edges', 'x'),
          value: fc.option(anyValue, { nil: undefined }),
        }),
        { nil: null },
      )
      let stored = 0
      await fc.assert(
        fc.asyncProperty(valid, fc.constantFrom(...ids), change, async ([w, b], id, c) => {
          const obj: Record<string, unknown> = JSON.parse(JSON.stringify(b).replaceAll('PK', id.publicKey))
          if (c) {
            if (c.value === undefined) delete obj[c.key]
            else obj[c.key] = c.value
          }
          const body = JSON.stringify(obj)
          const r = await app.inject({
            method: w.method,
            url: w.url,
            payload: body,
            headers: { ...signedHeaders(id, w.method, w.url, body), 'content-type': 'application/json' },
          })
          expectCleanHttp(r, `${w.method} ${w.url} ${body}`)
          if (r.statusCode < 300) {
            stored++
            await expectStoredWellFormed(w.url, id, body)
          }
        }),
        params(RUNS),
      )
      // The property must reach the store, not only the validators.
      expect(stored).toBeGreaterThan(0)
    },
    timeoutFor(RUNS, 20),
  )

  it(
    'any auth headers on a write yield a one-line 4xx (never a 500)',
    async () => {
      const hdr = fc.oneof(fc.string({ maxLength: 140 }), hex64, fc.nat().map(String), fc.constant(String(Date.now() * 1000)))
      await fc.assert(
        fc.asyncProperty(fc.constantFrom(...WRITES), hdr, hdr, hdr, async (w, pk, nonce, sig) => {
          const headers: Record<string, string> = { 'content-type': 'application/json' }
          // Header values with control characters cannot be sent at all; those are the client's problem.
          for (const [k, v] of [
            [HEADER_PK, pk],
            [HEADER_NONCE, nonce],
            [HEADER_SIG, sig],
          ] as const) {
            if (/^[\t\x20-\x7e]*$/.test(v)) headers[k] = v
          }
          const r = await app.inject({ method: w.method, url: w.url, payload: '{}', headers })
          expectCleanHttp(r, `${w.method} ${w.url} ${JSON.stringify(headers)}`)
          expect(r.statusCode).toBeGreaterThanOrEqual(400)
        }),
        params(RUNS),
      )
    },
    timeoutFor(RUNS, 10),
  )

  it(
    'any query or path on the read routes yields a 2xx or a one-line 4xx',
    async () => {
      const qv = fc.oneof(
        fc.string({ maxLength: 20 }),
        fc.integer({ min: -5, max: 200_000 }).map(String),
        fc.constantFrom('1e3', 'NaN', '0x10', ' 5', 'US', 'vpn', ''),
      )
      const query = fc.dictionary(fc.constantFrom('type', 'country', 'version', 'offset', 'limit', 'pk', 'x'), qv, { maxKeys: 5 })
      const seg = fc.oneof(fc.string({ maxLength: 90 }), hex64, fc.uuid(), svcAddress)
      const route = fc.constantFrom('/sd/services', '/sd/services/count', '/tpd/transports', '/ar/resolve/', '/sd/services/', '/tpd/transports/')
      await fc.assert(
        fc.asyncProperty(route, query, seg, async (base, q, s) => {
          const url = base.endsWith('/') ? base + encodeURIComponent(s) : base
          const r = await app.inject({ method: 'GET', url, query: q })
          expectCleanHttp(r, `GET ${url} ${JSON.stringify(q)}`)
        }),
        params(RUNS),
      )
    },
    timeoutFor(RUNS, 10),
  )
})
