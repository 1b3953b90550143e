/**
 * Every HTTP endpoint and its errors, run against both stores: the APIs must
 * not behave differently on SQLite and Redis.
 */
import { randomUUID } from 'node:crypto'
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest'
import { ServicesClient, ServicesRequestError } from '../../../ts/discovery/client.js'
import { HEADER_NONCE, HEADER_PK, HEADER_SIG, signingMessage } from '../../../ts/discovery/signing.js'
import { native } from '../../../ts/native/loader.js'
import type { Identity } from '../../../ts/native/keys.js'
import type { RunningServices } from '../../../ts/services/server.js'
import type { Store } from '../../../ts/services/store/store.js'
import { eventually, identities, sleep, startTest, stopSharedRedis, storeFactories } from './helpers.js'

afterAll(stopSharedRedis)

interface RawOpts {
  id?: Identity
  nonce?: string
  body?: string
  contentType?: string
  /** Sign these instead of what is sent. */
  signPath?: string
  signBody?: string
  signer?: Identity
  headers?: Record<string, string>
}

let nonceBase = Date.now() * 1000

/** A hand-made request, so tests can break any part of the signature. */
async function raw(svc: RunningServices, method: string, path: string, o: RawOpts = {}) {
  const headers: Record<string, string> = { ...o.headers }
  if (o.body !== undefined) headers['content-type'] = o.contentType ?? 'application/json'
  if (o.id) {
    const nonce = o.nonce ?? String(++nonceBase)
    const msg = signingMessage(method, o.signPath ?? path, Buffer.from(o.signBody ?? o.body ?? ''), nonce)
    headers[HEADER_PK] = o.id.publicKey
    headers[HEADER_NONCE] = nonce
    headers[HEADER_SIG] = native.sign((o.signer ?? o.id).secretKey, msg).toString('hex')
  }
  const res = await fetch(svc.url + path, { method, headers, body: o.body })
  const text = await res.text()
  let json: unknown = null
  try {
    json = JSON.parse(text)
  } catch {
    json = text
  }
  // Typed as what the tests read; a missing field fails the test at that line.
  return { status: res.status, json: json as Answer }
}

/** The fields of a services answer these tests look at. */
interface Answer {
  error: { code: string; message: string }
  addresses: string[]
}

function expectError(r: { status: number; json: Answer }, status: number, code: string, message?: RegExp) {
  expect(r.status).toBe(status)
  expect(r.json.error.code).toBe(code)
  expect(r.json.error.message).not.toContain('\n')
  if (message) expect(r.json.error.message).toMatch(message)
}

const vpnReg = (port: number, extra: Record<string, unknown> = {}) => ({
  port,
  version: '1.0.0',
  stats: { connectedClients: 0 },
  ...extra,
})

describe.each(storeFactories)('HTTP API on $name', (factory) => {
  let store: Store
  let svc: RunningServices
  let a: Identity
  let b: Identity
  let c: Identity
  let ca: ServicesClient
  let cb: ServicesClient

  beforeEach(async () => {
    store = await factory.make()
    svc = await startTest(store, { ttl: { serviceMs: 60_000, transportMs: 60_000, stcprMs: 60_000 } })
    ;[a, b, c] = identities(3) as [Identity, Identity, Identity]
    ca = new ServicesClient({ url: svc.url, secretKey: a.secretKey, retries: 0 })
    cb = new ServicesClient({ url: svc.url, secretKey: b.secretKey, retries: 0 })
  })

  afterEach(async () => {
    await svc?.close()
  })

  describe('general', () => {
    it('/health reports the store', async () => {
      const h = await ca.health()
      expect(h).toMatchObject({ status: 'ok', store: factory.name })
    })

    it('/metrics counts requests per route and status, and live entries', async () => {
      await ca.registerStcpr(['192.0.2.1:7777'])
      await ca.resolve(b.publicKey)
      const text = await (await fetch(`${svc.url}/metrics`)).text()
      expect(text).toMatch(/skywire_http_requests_total\{method="PUT",route="\/ar\/stcpr",status="200"\} 1/)
      expect(text).toMatch(/skywire_http_requests_total\{method="GET",route="\/ar\/resolve\/:pk",status="404"\} 1/)
      expect(text).toMatch(/skywire_http_request_duration_seconds_bucket\{method="PUT",route="\/ar\/stcpr",le="\+Inf"\} 1/)
      expect(text).toMatch(/skywire_entries\{kind="stcpr"\} 1/)
    })

    it('an unknown route is a JSON 404', async () => {
      expectError(await raw(svc, 'GET', '/nope'), 404, 'not_found', /no route GET \/nope/)
    })

    it('malformed JSON is a 400, a wrong media type 415, a body over 64 KiB 413', async () => {
      expectError(await raw(svc, 'POST', '/sd/services', { id: a, body: '{nope' }), 400, 'bad_request', /not valid JSON/)
      expectError(
        await raw(svc, 'POST', '/sd/services', { id: a, body: 'x', contentType: 'text/plain' }),
        415,
        'unsupported_media_type',
        /must be application\/json/,
      )
      expectError(await raw(svc, 'GET', `/sd/services/${'a'.repeat(300)}`), 414, 'bad_request', /^a path parameter is too long$/)
      const big = JSON.stringify({ x: 'y'.repeat(70 * 1024) })
      expectError(await raw(svc, 'POST', '/sd/services', { id: a, body: big }), 413, 'payload_too_large')
    })
  })

  describe('signed writes', () => {
    const body = JSON.stringify({ addresses: ['192.0.2.1:7777'] })

    it('accepts a correct signature', async () => {
      expect((await raw(svc, 'PUT', '/ar/stcpr', { id: a, body })).status).toBe(200)
    })

    it('401 without headers', async () => {
      expectError(await raw(svc, 'PUT', '/ar/stcpr', { body }), 401, 'unauthorized', /missing SW-PK header/)
    })

    it('401 for a signature by another key', async () => {
      expectError(await raw(svc, 'PUT', '/ar/stcpr', { id: a, signer: b, body }), 401, 'unauthorized', /signature does not verify/)
    })

    it('401 when the body or the path differs from what was signed', async () => {
      const other = JSON.stringify({ addresses: ['192.0.2.9:1'] })
      expectError(await raw(svc, 'PUT', '/ar/stcpr', { id: a, body, signBody: other }), 401, 'unauthorized', /does not verify/)
      expectError(await raw(svc, 'PUT', '/ar/stcpr', { id: a, body, signPath: '/ar/stcpr?x=1' }), 401, 'unauthorized', /does not verify/)
    })

    it('401 for a replayed or older nonce', async () => {
      const nonce = String(++nonceBase)
      expect((await raw(svc, 'PUT', '/ar/stcpr', { id: a, body, nonce })).status).toBe(200)
      expectError(await raw(svc, 'PUT', '/ar/stcpr', { id: a, body, nonce }), 401, 'unauthorized', /not greater than the last/)
      const older = String(Number(nonce) - 5)
      expectError(await raw(svc, 'PUT', '/ar/stcpr', { id: a, body, nonce: older }), 401, 'unauthorized', /not greater/)
      // Nonces are per key: b is unaffected by a's.
      expect((await raw(svc, 'PUT', '/ar/stcpr', { id: b, body, nonce })).status).toBe(200)
    })

    it('401 for malformed headers', async () => {
      const bad = (h: Record<string, string>) => raw(svc, 'PUT', '/ar/stcpr', { body, headers: h })
      const ok = { [HEADER_PK]: a.publicKey, [HEADER_NONCE]: '1', [HEADER_SIG]: 'ab'.repeat(64) }
      expectError(await bad({ ...ok, [HEADER_PK]: 'xyz' }), 401, 'unauthorized', /SW-PK must be a public key/)
      expectError(await bad({ ...ok, [HEADER_NONCE]: '-3' }), 401, 'unauthorized', /SW-Nonce/)
      expectError(await bad({ ...ok, [HEADER_NONCE]: '99999999999999999999' }), 401, 'unauthorized', /SW-Nonce/)
      expectError(await bad({ ...ok, [HEADER_SIG]: 'zz' }), 401, 'unauthorized', /SW-Sig/)
    })

    it('the client surfaces a 401 as a typed error', async () => {
      const wrong = new ServicesClient({ url: svc.url, secretKey: a.secretKey, retries: 0 })
      await wrong.registerStcpr(['192.0.2.1:1'])
      // A client whose nonces are behind (e.g. a second process with the same key and a clock set back).
      ;(wrong as unknown as { nonces: { next(): string } }).nonces = { next: () => '1' }
      const err = await wrong.registerStcpr(['192.0.2.1:1']).catch((e: unknown) => e)
      expect(err).toBeInstanceOf(ServicesRequestError)
      expect(err).toMatchObject({ code: 'EAUTH', status: 401, apiCode: 'unauthorized' })
    })
  })

  describe('address resolver', () => {
    it('registers STCPR addresses and resolves them', async () => {
      const r = await ca.registerStcpr(['192.0.2.1:7777', '[2001:db8::1]:7777', '192.0.2.1:7777'])
      expect(r.addresses).toEqual(['192.0.2.1:7777', '[2001:db8::1]:7777'])
      expect(await cb.resolve(a.publicKey)).toEqual({ pk: a.publicKey, stcpr: r.addresses, sudph: null })
      await ca.registerStcpr(['198.51.100.7:1'])
      expect((await cb.resolve(a.publicKey))?.stcpr).toEqual(['198.51.100.7:1'])
    })

    it('resolving an unknown PK is a 404 (null in the client)', async () => {
      expect(await ca.resolve(b.publicKey)).toBeNull()
      expectError(await raw(svc, 'GET', `/ar/resolve/${b.publicKey}`), 404, 'not_found', /no STCPR registration/)
    })

    it('rejects bad PKs and bad address lists with 400', async () => {
      expectError(await raw(svc, 'GET', '/ar/resolve/xyz'), 400, 'bad_request', /path: pk: must be a public key/)
      const bad = async (addresses: unknown) => raw(svc, 'PUT', '/ar/stcpr', { id: a, body: JSON.stringify({ addresses }) })
      expectError(await bad([]), 400, 'bad_request', /at least one/)
      expectError(await bad(['example.com:80']), 400, 'bad_request', /must be IP:PORT/)
      expectError(await bad(['192.0.2.1:0']), 400, 'bad_request', /must be IP:PORT/)
      expectError(await bad(Array.from({ length: 9 }, (_, i) => `192.0.2.1:${i + 1}`)), 400, 'bad_request', /at most 8/)
      expectError(await bad('192.0.2.1:1'), 400, 'bad_request', /addresses/)
      expectError(
        await raw(svc, 'PUT', '/ar/stcpr', { id: a, body: JSON.stringify({ addresses: ['192.0.2.1:1'], extra: 1 }) }),
        400,
        'bad_request',
        /extra/i,
      )
    })

    it('a visor deletes only its own registration', async () => {
      await ca.registerStcpr(['192.0.2.1:7777'])
      expect(await cb.deleteStcpr()).toBe(false)
      expect(await cb.resolve(a.publicKey)).not.toBeNull()
      expect(await ca.deleteStcpr()).toBe(true)
      expect(await cb.resolve(a.publicKey)).toBeNull()
    })
  })

  describe('service discovery', () => {
    it('registers, fetches and lists a VPN server', async () => {
      const { entry, ttlS } = await ca.registerService(vpnReg(3, { country: 'DE', stats: { connectedClients: 2, load: 0.5 } }))
      expect(ttlS).toBe(60)
      expect(entry).toMatchObject({ address: `${a.publicKey}:3`, pk: a.publicKey, type: 'vpn', country: 'DE', version: '1.0.0' })
      expect(entry.stats).toEqual({ connectedClients: 2, load: 0.5 })
      expect(await cb.getService(`${a.publicKey}:3`)).toMatchObject({ country: 'DE' })
      expect(await cb.getService(`${b.publicKey}:3`)).toBeNull()
      const page = await cb.listServices()
      expect(page).toMatchObject({ total: 1, offset: 0, limit: 50 })
      expect(page.entries[0]?.address).toBe(`${a.publicKey}:3`)
    })

    it('filters by type, country and version and pages in a stable order', async () => {
      const ids = identities(5)
      for (const [i, id] of ids.entries()) {
        const cl = new ServicesClient({ url: svc.url, secretKey: id.secretKey, retries: 0 })
        await cl.registerService(vpnReg(3, { country: i < 3 ? 'US' : 'NL', version: i === 0 ? '2.0.0' : '1.0.0' }))
      }
      await ca.registerService(vpnReg(5, { type: 'proxy', country: 'US' }))
      const all = await cb.listServices({ type: 'vpn' })
      expect(all.total).toBe(5)
      const sorted = ids.map((i) => `${i.publicKey}:3`).sort()
      expect(all.entries.map((e) => e.address)).toEqual(sorted)
      const pages = [0, 2, 4].map((offset) => cb.listServices({ offset, limit: 2 }))
      const got = (await Promise.all(pages)).flatMap((p) => p.entries.map((e) => e.address))
      expect(got).toEqual(sorted)
      expect((await cb.listServices({ country: 'US' })).total).toBe(3)
      expect((await cb.listServices({ country: 'NL' })).total).toBe(2)
      expect((await cb.listServices({ version: '2.0.0' })).entries[0]?.address).toBe(`${ids[0]!.publicKey}:3`)
      expect((await cb.listServices({ type: 'proxy' })).total).toBe(1)
      expect((await cb.listServices({ country: 'JP' })).total).toBe(0)
      expect(await cb.countServices()).toEqual({ type: 'vpn', total: 5, byCountry: { US: 3, NL: 2 } })
      expect(await cb.countServices('proxy')).toEqual({ type: 'proxy', total: 1, byCountry: { US: 1 } })
    })

    it('counts an entry with no known country as "unknown"', async () => {
      await ca.registerService(vpnReg(3))
      expect(await cb.countServices()).toMatchObject({ total: 1, byCountry: { unknown: 1 } })
    })

    it('rejects bad queries with 400', async () => {
      for (const q of ['limit=0', 'limit=101', 'offset=-1', 'limit=abc', 'country=us', 'type=VPN', 'bogus=1', 'country=US&country=DE']) {
        expectError(await raw(svc, 'GET', `/sd/services?${q}`), 400, 'bad_request', /^query: /)
      }
      expectError(await raw(svc, 'GET', '/sd/services/nope'), 400, 'bad_request', /must be PK:PORT/)
      expectError(await raw(svc, 'GET', `/sd/services/${a.publicKey}:70000`), 400, 'bad_request', /port/)
    })

    it('rejects bad registrations with 400', async () => {
      const post = (body: unknown) => raw(svc, 'POST', '/sd/services', { id: a, body: JSON.stringify(body) })
      const good = { address: `${a.publicKey}:3`, type: 'vpn', version: '1.0.0', stats: { connectedClients: 1 } }
      expect((await post(good)).status).toBe(200)
      expectError(await post({ ...good, stats: {} }), 400, 'bad_request', /connectedClients/)
      expectError(await post({ ...good, stats: { connectedClients: -1 } }), 400, 'bad_request', /connectedClients/)
      const many = Object.fromEntries(Array.from({ length: 20 }, (_, i) => [`s${i}`, i]))
      expectError(await post({ ...good, stats: { connectedClients: 1, ...many } }), 400, 'bad_request', /at most 16 stats/)
      expectError(await post({ ...good, country: 'Germany' }), 400, 'bad_request', /country/)
      expectError(await post({ ...good, version: '' }), 400, 'bad_request', /version/)
      expectError(await post({ ...good, address: 'x:3' }), 400, 'bad_request', /address/)
      expectError(await post([]), 400, 'bad_request', /^body: /)
    })

    it('403 when a visor registers or deletes an address of another PK', async () => {
      const body = JSON.stringify({ address: `${b.publicKey}:3`, type: 'vpn', version: '1', stats: { connectedClients: 0 } })
      expectError(await raw(svc, 'POST', '/sd/services', { id: a, body }), 403, 'forbidden', /belongs to another key/)
      await cb.registerService(vpnReg(3))
      expectError(await raw(svc, 'DELETE', `/sd/services/${b.publicKey}:3`, { id: a }), 403, 'forbidden')
      const err = await ca.deleteService(`${b.publicKey}:3`).catch((e: unknown) => e)
      expect(err).toMatchObject({ code: 'EFORBIDDEN', status: 403 })
      expect(await ca.getService(`${b.publicKey}:3`)).not.toBeNull()
    })

    it('a visor deletes its own entry', async () => {
      await ca.registerService(vpnReg(3))
      expect(await ca.deleteService(`${a.publicKey}:3`)).toBe(true)
      expect(await ca.getService(`${a.publicKey}:3`)).toBeNull()
      expect(await ca.deleteService(`${a.publicKey}:3`)).toBe(false)
      expect((await ca.countServices()).total).toBe(0)
    })
  })

  describe('transport discovery', () => {
    it('reports a transport and finds it by id and by either PK', async () => {
      const id = randomUUID()
      const { entry } = await ca.registerTransport({ id, edges: [a.publicKey, b.publicKey], type: 'sudph' })
      expect(entry.edges).toEqual([a.publicKey, b.publicKey].sort())
      expect(await cb.getTransport(id)).toMatchObject({ id, type: 'sudph' })
      expect((await cb.transportsOf(a.publicKey)).entries.map((t) => t.id)).toEqual([id])
      expect((await cb.transportsOf(b.publicKey)).total).toBe(1)
      expect((await cb.transportsOf(c.publicKey)).total).toBe(0)
      expect(await cb.getTransport(randomUUID())).toBeNull()
    })

    it('pages the transports of a PK', async () => {
      const ids = Array.from({ length: 5 }, () => randomUUID())
      for (const id of ids) await ca.registerTransport({ id, edges: [a.publicKey, c.publicKey], type: 'stcpr' })
      const p1 = await cb.transportsOf(a.publicKey, { limit: 3 })
      const p2 = await cb.transportsOf(a.publicKey, { offset: 3, limit: 3 })
      expect(p1.total).toBe(5)
      expect([...p1.entries, ...p2.entries].map((t) => t.id)).toEqual([...ids].sort())
    })

    it('403 for a reporter that is not an edge, or an id owned by others', async () => {
      const id = randomUUID()
      const body = JSON.stringify({ id, edges: [b.publicKey, c.publicKey], type: 'stcpr' })
      expectError(await raw(svc, 'POST', '/tpd/transports', { id: a, body }), 403, 'forbidden', /edge/)
      await cb.registerTransport({ id, edges: [b.publicKey, c.publicKey], type: 'stcpr' })
      const steal = JSON.stringify({ id, edges: [a.publicKey, c.publicKey], type: 'stcpr' })
      expectError(await raw(svc, 'POST', '/tpd/transports', { id: a, body: steal }), 403, 'forbidden', /belongs to other visors/)
      expectError(await raw(svc, 'DELETE', `/tpd/transports/${id}`, { id: a }), 403, 'forbidden')
    })

    it('either edge deletes it', async () => {
      const id = randomUUID()
      await ca.registerTransport({ id, edges: [a.publicKey, b.publicKey], type: 'stcpr' })
      expect(await cb.deleteTransport(id)).toBe(true)
      expect(await ca.getTransport(id)).toBeNull()
      expect(await ca.deleteTransport(id)).toBe(false)
    })

    it('rejects bad reports and queries with 400', async () => {
      const post = (body: unknown) => raw(svc, 'POST', '/tpd/transports', { id: a, body: JSON.stringify(body) })
      const good = { id: randomUUID(), edges: [a.publicKey, b.publicKey], type: 'stcpr' }
      expectError(await post({ ...good, id: 'not-a-uuid' }), 400, 'bad_request', /UUID/)
      expectError(await post({ ...good, edges: [a.publicKey, a.publicKey] }), 400, 'bad_request', /different/)
      expectError(await post({ ...good, edges: [a.publicKey] }), 400, 'bad_request', /edges/)
      expectError(await post({ ...good, type: 'dmsg' }), 400, 'bad_request', /stcpr/)
      expectError(await raw(svc, 'GET', '/tpd/transports'), 400, 'bad_request', /pk/)
      expectError(await raw(svc, 'GET', '/tpd/transports/zzz'), 400, 'bad_request', /UUID/)
    })
  })
})

describe.each(storeFactories)('flood limits on $name (issue 12 item 4)', (factory) => {
  let store: Store
  let svc: RunningServices

  afterEach(async () => {
    await svc?.close()
  })

  const serviceBody = (id: Identity, extra: Record<string, unknown> = {}) =>
    JSON.stringify({ address: `${id.publicKey}:3`, type: 'vpn', version: '1.0.0', stats: { connectedClients: 0 }, ...extra })

  it('a request that fails validation or authorization does not consume its nonce', async () => {
    store = await factory.make()
    svc = await startTest(store)
    const [a, b] = identities(2) as [Identity, Identity]
    const nonce = String(++nonceBase)
    expectError(await raw(svc, 'POST', '/sd/services', { id: a, nonce, body: serviceBody(a, { country: 'Germany' }) }), 400, 'bad_request')
    expectError(await raw(svc, 'POST', '/sd/services', { id: a, nonce, body: serviceBody(b) }), 403, 'forbidden')
    expectError(await raw(svc, 'PUT', '/ar/stcpr', { id: a, nonce, body: JSON.stringify({ addresses: ['0.0.0.0:1'] }) }), 400, 'bad_request')
    expect((await raw(svc, 'POST', '/sd/services', { id: a, nonce, body: serviceBody(a) })).status).toBe(200)
    // Once used, it is a replay.
    expectError(await raw(svc, 'POST', '/sd/services', { id: a, nonce, body: serviceBody(a) }), 401, 'unauthorized', /not greater/)
  })

  it('nonces are timestamps within the window; their counters expire, and an expired counter re-admits no replay', async () => {
    store = await factory.make()
    // The window is checked against an injected clock, moved by hand: with the real one, a request stalled
    // for 500 ms on a busy machine saw its fresh nonce refused. The counter's TTL is the store's real time.
    let clock = Date.now()
    svc = await startTest(store, { nonceWindowMs: 500, now: () => clock })
    const [a] = identities(1) as [Identity]
    const body = JSON.stringify({ addresses: ['192.0.2.1:7777'] })
    const now = clock * 1000
    expectError(
      await raw(svc, 'PUT', '/ar/stcpr', { id: a, body, nonce: String(now - 5_000_000) }),
      401,
      'unauthorized',
      /within 1 s of the server's clock/,
    )
    expectError(await raw(svc, 'PUT', '/ar/stcpr', { id: a, body, nonce: String(now + 5_000_000) }), 401, 'unauthorized', /SW-Nonce/)
    expectError(await raw(svc, 'PUT', '/ar/stcpr', { id: a, body, nonce: '1' }), 401, 'unauthorized', /SW-Nonce/)
    const nonce = String(clock * 1000)
    expect((await raw(svc, 'PUT', '/ar/stcpr', { id: a, body, nonce })).status).toBe(200)
    expect((await store.counts()).counters).toBe(1)
    // The counter lives 2 x window + 1 s; polled, not slept.
    await eventually(async () => (await store.counts()).counters === 0, 15_000, 100)
    // By then the services' clock has moved on with real time: the replayed nonce is outside the window.
    clock = Date.now()
    expect(clock * 1000 - Number(nonce)).toBeGreaterThan(2 * 500 * 1000)
    expectError(await raw(svc, 'PUT', '/ar/stcpr', { id: a, body, nonce }), 401, 'unauthorized', /SW-Nonce must be the time/)
  })

  it('the nonce window follows the injected clock', async () => {
    store = await factory.make()
    let clock = Date.now()
    svc = await startTest(store, { nonceWindowMs: 60_000, now: () => clock })
    const [a] = identities(1) as [Identity]
    const body = JSON.stringify({ addresses: ['192.0.2.1:7777'] })
    const nonce = String(Date.now() * 1000)
    clock += 61_000
    expectError(await raw(svc, 'PUT', '/ar/stcpr', { id: a, body, nonce }), 401, 'unauthorized', /61 s off/)
    clock -= 61_000
    expect((await raw(svc, 'PUT', '/ar/stcpr', { id: a, body, nonce })).status).toBe(200)
  })

  it('50 registrations from one key on 50 ports leave one entry', async () => {
    store = await factory.make()
    svc = await startTest(store)
    const [a, b] = identities(2) as [Identity, Identity]
    const ca = new ServicesClient({ url: svc.url, secretKey: a.secretKey, retries: 0 })
    for (let port = 1; port <= 50; port++) await ca.registerService(vpnReg(port))
    const page = await new ServicesClient({ url: svc.url }).listServices()
    expect(page.total).toBe(1)
    expect(page.entries.map((e) => e.address)).toEqual([`${a.publicKey}:50`])
    await new ServicesClient({ url: svc.url, secretKey: b.secretKey, retries: 0 }).registerService(vpnReg(1))
    expect((await ca.countServices()).total).toBe(2)
  })

  it('entries from one source beyond the cap are refused with a clear error; other sources are not affected', async () => {
    store = await factory.make()
    svc = await startTest(store, { limits: { maxEntriesPerSource: 3 }, trustProxy: 1 })
    const ids = identities(5)
    const post = (id: Identity, ip: string) => raw(svc, 'POST', '/sd/services', { id, body: serviceBody(id), headers: { 'x-forwarded-for': ip } })
    for (const id of ids.slice(0, 3)) expect((await post(id, '198.51.100.1')).status).toBe(200)
    expectError(
      await post(ids[3]!, '198.51.100.1'),
      403,
      'limit_reached',
      /^198\.51\.100\.1 already holds 3 service entries of other keys \(the limit per source address\)/,
    )
    // A heartbeat of a key already there is not a new entry.
    expect((await post(ids[0]!, '198.51.100.1')).status).toBe(200)
    expect((await post(ids[3]!, '198.51.100.2')).status).toBe(200)
    // IPv6: the source is the /64, so new addresses in one /64 do not buy more entries.
    for (const [i, id] of ids.slice(0, 3).entries()) expect((await post(id, `2001:db8:1:2::${i + 1}`)).status).toBe(200)
    expectError(await post(ids[4]!, '2001:db8:1:2:ffff::9'), 403, 'limit_reached', /^2001:db8:1:2::\/64 already holds 3/)
    expect((await new ServicesClient({ url: svc.url }).countServices()).total).toBe(4)
  })

  it('a key reports a bounded number of transports', async () => {
    store = await factory.make()
    svc = await startTest(store, { limits: { maxTransportsPerKey: 3 } })
    const [a, ...others] = identities(5) as [Identity, ...Identity[]]
    const ca = new ServicesClient({ url: svc.url, secretKey: a.secretKey, retries: 0 })
    const ids = Array.from({ length: 4 }, () => randomUUID())
    for (let i = 0; i < 3; i++) await ca.registerTransport({ id: ids[i]!, edges: [a.publicKey, others[i]!.publicKey], type: 'stcpr' })
    // Refreshing one it has is fine; a fourth is not.
    await ca.registerTransport({ id: ids[0]!, edges: [a.publicKey, others[0]!.publicKey], type: 'stcpr' })
    const err = await ca.registerTransport({ id: ids[3]!, edges: [a.publicKey, others[3]!.publicKey], type: 'stcpr' }).catch((e: unknown) => e)
    expect(err).toMatchObject({ status: 403, apiCode: 'limit_reached' })
    expect((err as Error).message).toMatch(/already has 3 live transports \(the limit per key\)/)
  })

  it('only ISO 3166-1 alpha-2 countries are accepted, in registrations and in queries', async () => {
    store = await factory.make()
    svc = await startTest(store)
    const [a] = identities(1) as [Identity]
    for (const cc of ['ZZ', 'XX', 'EU', 'UK', 'QO', 'AA']) {
      expectError(
        await raw(svc, 'POST', '/sd/services', { id: a, body: serviceBody(a, { country: cc }) }),
        400,
        'bad_request',
        /country: must be an ISO 3166-1 alpha-2/,
      )
      expectError(await raw(svc, 'GET', `/sd/services?country=${cc}`), 400, 'bad_request', /^query: country/)
    }
    expect((await raw(svc, 'POST', '/sd/services', { id: a, body: serviceBody(a, { country: 'GB' }) })).status).toBe(200)
    expect((await raw(svc, 'POST', '/sd/services', { id: a, body: serviceBody(a, { country: 'AQ' }) })).status).toBe(200)
  })

  it('public callers cannot register loopback, link-local, metadata or other non-routable STCPR addresses', async () => {
    store = await factory.make()
    svc = await startTest(store, { trustProxy: 1 })
    const [a] = identities(1) as [Identity]
    const put = (addresses: string[], from?: string) =>
      raw(svc, 'PUT', '/ar/stcpr', { id: a, body: JSON.stringify({ addresses }), headers: from ? { 'x-forwarded-for': from } : {} })
    const publicIp = '8.8.4.4'
    for (const bad of [
      '127.0.0.1:7777',
      '169.254.169.254:80',
      '[::1]:7777',
      '[fe80::1]:7777',
      '0.0.0.0:7777',
      '224.0.0.1:7777',
      '255.255.255.255:1',
      '240.0.0.1:1',
      '[ff02::1]:1',
      '[::ffff:127.0.0.1]:7777',
    ]) {
      expectError(await put(['8.8.8.8:7777', bad], publicIp), 400, 'bad_request', /is not one other visors may be sent to dial/)
    }
    // Private and lab addresses from a public caller are dropped (a NATed visor lists its LAN address too).
    const r = await put(['10.0.0.5:7777', '8.8.8.8:7777', '[fd00::5]:7777', '192.0.2.1:7777'], publicIp)
    expect(r.status).toBe(200)
    expect(r.json.addresses).toEqual(['8.8.8.8:7777'])
    expectError(await put(['10.0.0.5:7777'], publicIp), 400, 'bad_request', /no address left/)
    // A caller on a private network may register private addresses, never link-local or the metadata service.
    expect((await put(['10.0.0.5:7777', '[fd00::5]:7777'], '10.0.0.5')).json.addresses).toEqual(['10.0.0.5:7777', '[fd00::5]:7777'])
    expectError(await put(['169.254.169.254:80'], '10.0.0.5'), 400, 'bad_request', /not one other visors may/)
    expectError(await put(['127.0.0.1:7777'], '10.0.0.5'), 400, 'bad_request', /not one other visors may/)
    // Loopback is only for a caller on this host (tests, the lab, one-box set-ups).
    expect((await put(['127.0.0.1:7777'])).json.addresses).toEqual(['127.0.0.1:7777'])
    expectError(await put(['169.254.169.254:80']), 400, 'bad_request', /not one other visors may/)
  })

  it('the body limit is configurable and named in the 413; rate limits count an IPv6 /64 as one source', async () => {
    store = await factory.make()
    // The limiter's clock held still: a second's stall between the requests would refill the bucket.
    const t0 = Date.now()
    svc = await startTest(store, { bodyLimit: 2048, trustProxy: 1, httpRate: { ratePerSec: 1, burst: 2 }, now: () => t0 })
    const [a] = identities(1) as [Identity]
    expectError(
      await raw(svc, 'POST', '/sd/services', {
        id: a,
        body: JSON.stringify({ x: 'y'.repeat(3000) }),
        headers: { 'x-forwarded-for': '2001:db8:9::1' },
      }),
      413,
      'payload_too_large',
      /^body is larger than the limit of 2 KiB$/,
    )
    const get = (ip: string) => raw(svc, 'GET', '/sd/services', { headers: { 'x-forwarded-for': ip } })
    expect((await get('2001:db8:9::2')).status).toBe(200)
    expectError(await get('2001:db8:9::3'), 429, 'rate_limited', /^too many requests from 2001:db8:9:0::\/64; slow down$/)
    expect((await get('2001:db8:a::1')).status).toBe(200)
  })
})

describe.each(storeFactories)('expiry on $name', (factory) => {
  let svc: RunningServices

  afterEach(async () => {
    await svc?.close()
  })

  it('services, transports and STCPR registrations expire without a refresh; a heartbeat keeps them', async () => {
    const store = await factory.make()
    // A TTL ten heartbeats long: a 400 ms TTL with 200 ms heartbeats lost b's entry whenever a busy machine
    // stalled the test for 200 ms. Expiry is polled (bounded), never slept.
    const ttl = 2000
    svc = await startTest(store, { ttl: { serviceMs: ttl, transportMs: ttl, stcprMs: ttl } })
    const [a, b] = identities(2) as [Identity, Identity]
    const ca = new ServicesClient({ url: svc.url, secretKey: a.secretKey, retries: 0 })
    const cb = new ServicesClient({ url: svc.url, secretKey: b.secretKey, retries: 0 })
    const id = randomUUID()
    await ca.registerService(vpnReg(3))
    await cb.registerService(vpnReg(3))
    await ca.registerTransport({ id, edges: [a.publicKey, b.publicKey], type: 'stcpr' })
    await ca.registerStcpr(['192.0.2.1:1'])
    // b heartbeats every 200 ms until a's entries are gone; a does not.
    let beating = true
    const heartbeats = (async () => {
      while (beating) {
        await cb.registerService(vpnReg(3))
        await sleep(200)
      }
    })()
    try {
      await eventually(
        async () =>
          (await ca.getService(`${a.publicKey}:3`)) === null && (await ca.getTransport(id)) === null && (await ca.resolve(a.publicKey)) === null,
        20_000,
      )
      expect((await ca.transportsOf(a.publicKey)).total).toBe(0)
      expect(await ca.getService(`${b.publicKey}:3`)).not.toBeNull()
      expect(await ca.countServices()).toMatchObject({ total: 1 })
    } finally {
      beating = false
      await heartbeats
    }
    await eventually(async () => (await ca.listServices()).total === 0, 20_000)
    expect(await store.counts()).toMatchObject({ stcpr: 0, sudph: 0, services: 0, transports: 0 })
  })
})

describe.each(storeFactories)('HTTP rate limit on $name', (factory) => {
  it('429 with Retry-After per client IP once the burst is spent; /health is exempt; the client backs off and retries', async () => {
    // The limiter goes by the services' clock, held still here: at 5/s, eight requests taking over 200 ms each on a
    // busy machine refilled the bucket and got no 429. `clock` counts readings, so the client's first try below sees
    // the bucket still empty and its retry sees a minute gone.
    const t0 = Date.now()
    let readings = 0
    let advanceAfter = Infinity
    const clock = () => (++readings > advanceAfter ? t0 + 60_000 : t0)
    const svc = await startTest(await factory.make(), { httpRate: { ratePerSec: 5, burst: 5 }, now: clock })
    try {
      const statuses: number[] = []
      for (let i = 0; i < 8; i++) statuses.push((await fetch(`${svc.url}/sd/services`)).status)
      expect(statuses).toEqual([200, 200, 200, 200, 200, 429, 429, 429])
      const res = await fetch(`${svc.url}/sd/services/count`)
      expect(res.status).toBe(429)
      expect(res.headers.get('retry-after')).toBe('1')
      expect(await res.json()).toEqual({ error: { code: 'rate_limited', message: 'too many requests from 127.0.0.1; slow down' } })
      expect((await fetch(`${svc.url}/health`)).status).toBe(200)
      const cl = new ServicesClient({ url: svc.url, retries: 3, backoffMs: 300 })
      const before = readings
      advanceAfter = before + 1
      expect((await cl.listServices()).total).toBe(0)
      // One 429 (the first reading), then the retry: two requests reached the limiter.
      expect(readings).toBe(before + 2)
    } finally {
      await svc.close()
    }
  })
})

describe('client against a service that is down', () => {
  it('EUNREACHABLE after retries when nothing listens', async () => {
    const { createServer } = await import('node:net')
    const probe = createServer()
    await new Promise<void>((r) => probe.listen(0, '127.0.0.1', r))
    const port = (probe.address() as { port: number }).port
    await new Promise((r) => probe.close(r))
    const cl = new ServicesClient({ url: `http://127.0.0.1:${port}`, retries: 2, backoffMs: 10 })
    const t0 = Date.now()
    const err = await cl.listServices().catch((e: unknown) => e)
    expect(err).toMatchObject({ code: 'EUNREACHABLE', exitCode: 3 })
    expect((err as Error).message).toBe(`discovery services at http://127.0.0.1:${port} are not reachable: ECONNREFUSED`)
    // No waiting for a timeout: three refused connects and ~30 ms of backoff (5 s leaves a busy machine room).
    expect(Date.now() - t0).toBeLessThan(5000)
  })

  it('EUNREACHABLE with a timeout when the server never answers', async () => {
    const { createServer } = await import('node:net')
    const sockets: import('node:net').Socket[] = []
    const srv = createServer((s) => sockets.push(s))
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r))
    const port = (srv.address() as { port: number }).port
    try {
      const cl = new ServicesClient({ url: `http://127.0.0.1:${port}`, timeoutMs: 200, retries: 1, backoffMs: 10 })
      const err = await cl.health().catch((e: unknown) => e)
      expect(err).toMatchObject({ code: 'EUNREACHABLE' })
      expect((err as Error).message).toMatch(/no answer within 200 ms/)
    } finally {
      for (const s of sockets) s.destroy()
      await new Promise((r) => srv.close(r))
    }
  })

  it('retries a request that met a 5xx and succeeds when the service recovers', async () => {
    const { createServer } = await import('node:http')
    let calls = 0
    const srv = createServer((_req, res) => {
      calls++
      if (calls < 3) {
        res.writeHead(503, { 'content-type': 'application/json' }).end('{"error":{"code":"unavailable","message":"x"}}')
      } else {
        res.writeHead(200, { 'content-type': 'application/json' }).end('{"status":"ok","store":"sqlite","uptimeS":1}')
      }
    })
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r))
    try {
      const port = (srv.address() as { port: number }).port
      const cl = new ServicesClient({ url: `http://127.0.0.1:${port}`, retries: 2, backoffMs: 5 })
      expect(await cl.health()).toMatchObject({ status: 'ok' })
      expect(calls).toBe(3)
    } finally {
      await new Promise((r) => srv.close(r))
    }
  })
})
