/**
 * Properties of the visor's control API bodies: the real Fastify app the
 * visor serves (controlApp + controlRoutes, driven with `inject`), on the unix
 * socket's variant (no token: every request reaches the body parsers). Any
 * body, query or id yields either a 2xx from a handler that got well-formed
 * arguments or a 4xx with a one-line JSON error; never a 500, never a stack.
 *
 * The visor behind the routes records what it is asked to do instead of
 * dialing, starting a TUN or touching the host's firewall: what is under test
 * is what reaches it, not what it then does (the lab tests run that).
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { EventEmitter } from 'node:events'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { FastifyInstance } from 'fastify'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { generateIdentity, isPublicKey } from '../../../ts/native/keys.js'
import { controlApp, controlRoutes } from '../../../ts/visor/control-api.js'
import type { Visor } from '../../../ts/visor/visor.js'
import { expectCleanHttp, fc, hex64, params, timeoutFor } from '../helpers/fc.js'

const RUNS = 300

type Call = { method: string; args: unknown[] }

/** The visor's surface the routes use, recording each call. */
function recordingVisor(dataDir: string, calls: Call[]): Visor {
  const rec =
    (method: string, result: unknown = { ok: true }) =>
    async (...args: unknown[]) => {
      calls.push({ method, args })
      return result
    }
  const client = Object.assign(new EventEmitter(), {
    status: () => ({ state: 'disconnected' }),
    start: rec('vpnClient.start'),
    stop: rec('vpnClient.stop'),
  })
  return {
    config: { dataDir, control: { listen: '' } },
    status: () => ({ transports: [] }),
    vpnClient: client,
    vpnServer: { status: () => ({ running: false }), isRunning: false },
    services: { listServices: rec('services.listServices', { entries: [] }), countServices: rec('services.countServices', { total: 0 }) },
    addTransport: rec('addTransport', { id: 1 }),
    removeTransport: (...args: unknown[]) => void calls.push({ method: 'removeTransport', args }),
    startVpnServer: rec('startVpnServer', { savedTo: null, changed: false }),
    stopVpnServer: rec('stopVpnServer'),
    cancelAutoConnect: () => void calls.push({ method: 'cancelAutoConnect', args: [] }),
    node: { publicKey: 'f'.repeat(64) },
  } as unknown as Visor
}

const keys = Array.from({ length: 3 }, () => generateIdentity().publicKey)
const pk = fc.oneof(fc.constantFrom(...keys), hex64, fc.string({ maxLength: 70 }))

/** Bodies shaped like the real ones, with any value in any field. */
const anyValue = fc.oneof(fc.jsonValue({ maxDepth: 2 }), pk, fc.integer({ min: -5, max: 4000 }), fc.boolean())
const startBody = fc.record(
  { pk, existingTp: fc.oneof(fc.boolean(), anyValue), timeoutS: fc.oneof(fc.integer({ min: 0, max: 4000 }), anyValue) },
  { requiredKeys: [] },
)
const tpBody = fc.record({ pk, type: fc.oneof(fc.constantFrom('stcpr', 'sudph'), anyValue), timeoutS: anyValue }, { requiredKeys: [] })
const serverBody = fc.record(
  { netifc: fc.oneof(fc.string({ maxLength: 20 }), anyValue), secure: anyValue, whitelist: fc.oneof(fc.array(pk, { maxLength: 4 }), anyValue) },
  { requiredKeys: [] },
)

/** The raw request body: JSON of a shaped or arbitrary value, or bytes that are no JSON at all. */
const payload = fc.oneof(
  fc.oneof(startBody, tpBody, serverBody, fc.jsonValue()).map((v) => JSON.stringify(v) ?? 'null'),
  fc.string({ maxLength: 200 }),
  fc.uint8Array({ maxLength: 200 }).map((b) => Buffer.from(b).toString('latin1')),
  fc.constantFrom('', '{', '{"__proto__":{"pk":1}}', '{"constructor":{"prototype":{}}}', '[]', 'null', '1e999'),
)

const contentType = fc.constantFrom(
  'application/json',
  'application/json; charset=utf-8',
  'text/plain',
  'application/x-www-form-urlencoded',
  undefined,
)

const POSTS = ['/api/vpn/start', '/api/tp', '/api/vpn/server/start', '/api/vpn/stop', '/api/vpn/server/stop']

describe('control API bodies (properties, Fastify inject)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'skywire-fuzz-ctl-'))
  const calls: Call[] = []
  let app: FastifyInstance
  beforeAll(async () => {
    const visor = recordingVisor(dir, calls)
    app = controlApp(visor, null, (api) => controlRoutes(api, visor))
    await app.ready()
  })
  afterAll(async () => {
    await app.close()
    rmSync(dir, { recursive: true, force: true })
  })

  /** What reached the visor is what the schemas promise. */
  function expectWellFormedCalls(): void {
    for (const c of calls.splice(0)) {
      if (c.method === 'vpnClient.start' || c.method === 'addTransport') {
        expect(isPublicKey(c.args[0] as string), JSON.stringify(c)).toBe(true)
        const t = c.method === 'addTransport' ? c.args[2] : (c.args[1] as { timeoutS: number }).timeoutS
        expect(Number.isInteger(t) && (t as number) >= 1 && (t as number) <= 3600, JSON.stringify(c)).toBe(true)
      }
      if (c.method === 'addTransport') expect([null, 'stcpr', 'sudph']).toContain(c.args[1])
      if (c.method === 'startVpnServer') {
        const p = c.args[0] as { netifc?: unknown; secure?: unknown; whitelist?: unknown[] }
        if (p.netifc !== undefined) expect(typeof p.netifc === 'string' && p.netifc.length <= 15).toBe(true)
        if (p.secure !== undefined) expect(typeof p.secure).toBe('boolean')
        for (const w of p.whitelist ?? []) expect(isPublicKey(w as string)).toBe(true)
      }
    }
  }

  it(
    'any POST body yields 2xx with well-formed arguments or a one-line 4xx',
    async () => {
      await fc.assert(
        fc.asyncProperty(fc.constantFrom(...POSTS), payload, contentType, async (url, body, ct) => {
          const r = await app.inject({ method: 'POST', url, payload: body, headers: ct ? { 'content-type': ct } : {} })
          expectCleanHttp(r, `POST ${url} ${JSON.stringify(body)} (${ct})`)
          expectWellFormedCalls()
        }),
        params(RUNS),
      )
    },
    timeoutFor(RUNS, 10),
  )

  it(
    'any query of the server list and any transport id yields 2xx or a one-line 4xx',
    async () => {
      const queryValue = fc.oneof(
        fc.string({ maxLength: 12 }),
        fc.integer({ min: -10, max: 1000 }).map(String),
        fc.constantFrom('1e3', 'NaN', '0x10', ' 5', 'us', 'USA'),
      )
      const query = fc.dictionary(fc.constantFrom('country', 'offset', 'limit', 'x'), queryValue, { maxKeys: 4 })
      await fc.assert(
        fc.asyncProperty(query, fc.oneof(fc.nat().map(String), fc.string({ maxLength: 30 })), async (q, id) => {
          const r = await app.inject({ method: 'GET', url: '/api/vpn/servers', query: q })
          expectCleanHttp(r, `GET /api/vpn/servers ${JSON.stringify(q)}`)
          const t = await app.inject({ method: 'POST', url: `/api/tp/${encodeURIComponent(id)}/close` })
          expectCleanHttp(t, `POST /api/tp/${id}/close`)
          for (const c of calls.splice(0)) {
            if (c.method === 'removeTransport') expect(Number.isInteger(c.args[0]) && (c.args[0] as number) >= 1).toBe(true)
            if (c.method === 'services.listServices') {
              const o = c.args[0] as { country?: string; offset?: number; limit?: number }
              if (o.country !== undefined) expect(o.country).toMatch(/^[A-Z]{2}$/)
              if (o.limit !== undefined) expect(o.limit >= 1 && o.limit <= 100).toBe(true)
            }
          }
        }),
        params(RUNS),
      )
    },
    timeoutFor(RUNS, 10),
  )

  it('an oversized body is a one-line 413', async () => {
    const r = await app.inject({
      method: 'POST',
      url: '/api/tp',
      payload: JSON.stringify({ pk: 'a'.repeat(70 * 1024) }),
      headers: { 'content-type': 'application/json' },
    })
    expect(r.statusCode).toBe(413)
    expectCleanHttp(r, 'oversized')
  })
})
