/** The visor's UI routes: token, cookie, Origin, static files, the event stream, /api/ui. */
import { EventEmitter } from 'node:events'
import { request } from 'node:http'
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { FastifyInstance } from 'fastify'
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest'
import { controlApp } from '../../../ts/visor/control-api.js'
import { TOKEN_FILE, cookieName, loadOrCreateToken, uiAuth, uiUrl, type UiVisor } from '../../../ts/visor/ui-routes.js'
import type { VpnClientStatus } from '../../../ts/contracts/status.js'
import type { VpnServerStatus } from '../../../ts/vpn/server.js'
import { clientStatus } from '../fakes/status.js'

const dir = mkdtempSync(join(tmpdir(), 'skywire-ui-'))
afterAll(() => rmSync(dir, { recursive: true, force: true }))

const LISTEN = '127.0.0.1:3435'
const HOST = '127.0.0.1:3435'
const ORIGIN = `http://${HOST}`

function fakeVisor(dataDir: string, listen = LISTEN): UiVisor & { vpnClient: EventEmitter } {
  const client = Object.assign(new EventEmitter(), { status: () => clientStatus({ state: 'disconnected' }) })
  const server: VpnServerStatus = {
    running: true,
    netifc: 'eth0',
    secure: true,
    whitelist: ['x'],
    tun: 'swvpns0',
    gateway: '10.8.0.1',
    clients: [
      {
        pk: 'p',
        transportId: 1,
        tunnelIp: '10.8.0.2',
        transport: 'sudph',
        remote: '1.2.3.4:5',
        connectedAt: '',
        rxBytes: 10,
        txBytes: 20,
        rekeys: 0,
      },
    ],
  }
  return { config: { dataDir, control: { listen } }, vpnClient: client as never, vpnServer: { status: () => server } } as never
}

describe('UI token', () => {
  it('is made once, 0600, and reused', () => {
    const d = join(dir, 'tok')
    const a = loadOrCreateToken(d)
    expect(a).toMatch(/^[A-Za-z0-9_-]{43}$/)
    expect(statSync(join(d, TOKEN_FILE)).mode & 0o777).toBe(0o600)
    expect(loadOrCreateToken(d)).toBe(a)
    writeFileSync(join(d, TOKEN_FILE), 'garbage')
    expect(loadOrCreateToken(d)).not.toBe(a)
  })

  it('goes in the fragment of a loopback URL', () => {
    expect(uiUrl('127.0.0.1:3435', 'T')).toBe('http://127.0.0.1:3435/#token=T')
    expect(uiUrl('[::1]:8080', 'T')).toBe('http://[::1]:8080/#token=T')
    expect(cookieName('127.0.0.1:3435')).toBe('skywire_ui_3435')
  })
})

describe('web listener', () => {
  let app: FastifyInstance
  let token: string
  let staticDir: string

  beforeEach(async () => {
    const d = mkdtempSync(join(dir, 'web-'))
    staticDir = join(d, 'ui')
    mkdirSync(join(staticDir, 'assets'), { recursive: true })
    writeFileSync(join(staticDir, 'index.html'), '<!doctype html><title>ui</title>')
    writeFileSync(join(staticDir, 'assets', 'a.js'), 'console.log(1)')
    writeFileSync(join(d, 'secret.txt'), 'no')
    const v = fakeVisor(join(d, 'data'))
    // The same app the visor builds, with two stand-in routes of the control API's.
    app = controlApp(
      v,
      uiAuth(v),
      (api) => {
        api.post('/api/vpn/stop', async () => ({ stopped: true }))
        api.get('/api/status', async () => ({ ok: true }))
      },
      { staticDir },
    )
    token = readFileSync(join(d, 'data', TOKEN_FILE), 'utf8').trim()
    await app.ready()
  })
  afterEach(async () => app.close())

  it('serves the page to anyone on loopback, with headers that forbid framing and foreign scripts', async () => {
    const r = await app.inject({ url: '/', headers: { host: HOST } })
    expect(r.statusCode).toBe(200)
    expect(r.headers['content-type']).toMatch(/text\/html/)
    expect(r.headers['x-frame-options']).toBe('DENY')
    expect(r.headers['content-security-policy']).toMatch(/frame-ancestors 'none'/)
    expect(r.headers['content-security-policy']).toMatch(/script-src 'self'/)
    const js = await app.inject({ url: '/assets/a.js', headers: { host: HOST } })
    expect(js.statusCode).toBe(200)
    expect(js.headers['cache-control']).toMatch(/immutable/)
    const out = await app.inject({ url: '/assets/..%2F..%2Fsecret.txt', headers: { host: HOST } })
    expect(out.statusCode).toBe(400)
  })

  it('refuses the API without the token', async () => {
    const r = await app.inject({ url: '/api/status', headers: { host: HOST } })
    expect(r.statusCode).toBe(401)
    expect(r.json().error.code).toBe('EAUTH')
    const wrong = await app.inject({ url: '/api/status', headers: { host: HOST, cookie: `${cookieName(LISTEN)}=${'x'.repeat(43)}` } })
    expect(wrong.statusCode).toBe(401)
  })

  it('trades the token for an HttpOnly SameSite=Strict cookie that then opens the API', async () => {
    const bad = await app.inject({ method: 'POST', url: '/api/session', headers: { host: HOST, origin: ORIGIN, authorization: 'Bearer nope' } })
    expect(bad.statusCode).toBe(401)
    const s = await app.inject({ method: 'POST', url: '/api/session', headers: { host: HOST, origin: ORIGIN, authorization: `Bearer ${token}` } })
    expect(s.statusCode).toBe(200)
    const set = String(s.headers['set-cookie'])
    expect(set).toMatch(/HttpOnly/)
    expect(set).toMatch(/SameSite=Strict/)
    const cookie = set.split(';')[0] as string
    expect((await app.inject({ url: '/api/status', headers: { host: HOST, cookie } })).statusCode).toBe(200)
    const stop = await app.inject({ method: 'POST', url: '/api/vpn/stop', headers: { host: HOST, cookie, origin: ORIGIN } })
    expect(stop.json()).toEqual({ stopped: true })
  })

  it('refuses a mutating request from another origin, even with the cookie (SameSite ignores ports)', async () => {
    const cookie = `${cookieName(LISTEN)}=${token}`
    for (const origin of ['http://127.0.0.1:8080', 'null', undefined]) {
      const r = await app.inject({ method: 'POST', url: '/api/vpn/stop', headers: { host: HOST, cookie, ...(origin ? { origin } : {}) } })
      expect(r.statusCode, String(origin)).toBe(403)
      expect(r.json().error.code).toBe('EFORBIDDEN')
    }
  })

  it('tells the URL to a caller with the token', async () => {
    const r = await app.inject({ url: '/api/ui', headers: { host: HOST, authorization: `Bearer ${token}` } })
    expect(r.json()).toEqual({ url: `http://127.0.0.1:3435/#token=${token}`, listen: LISTEN })
  })
})

describe('unix socket side', () => {
  it('answers /api/ui without a token, and says so when the UI is off', async () => {
    const app = controlApp(fakeVisor(join(dir, 'sock')), null, () => {})
    const r = await app.inject({ url: '/api/ui' })
    expect(r.json().url).toMatch(/^http:\/\/127\.0\.0\.1:3435\/#token=[A-Za-z0-9_-]{43}$/)
    expect((await app.inject({ url: '/' })).statusCode).toBe(404)
    await app.close()
    const off = controlApp(fakeVisor(join(dir, 'off'), ''), null, () => {})
    const o = await off.inject({ url: '/api/ui' })
    expect(o.statusCode).toBe(500)
    await off.close()
  })

  it('streams a tick at once, state changes as they happen, and ends streams on close', async () => {
    const v = fakeVisor(join(dir, 'sse'))
    const app = controlApp(v, null, () => {}, { tickMs: 50 })
    await app.listen({ host: '127.0.0.1', port: 0 })
    const port = (app.server.address() as { port: number }).port
    const events: { event: string; data: unknown }[] = []
    const ended = new Promise<void>((resolve, reject) => {
      const req = request({ host: '127.0.0.1', port, path: '/api/events' }, (res) => {
        expect(res.headers['content-type']).toMatch(/text\/event-stream/)
        let buf = ''
        res.setEncoding('utf8')
        res.on('data', (c: string) => {
          buf += c
          for (let i = buf.indexOf('\n\n'); i >= 0; i = buf.indexOf('\n\n')) {
            const block = buf.slice(0, i)
            buf = buf.slice(i + 2)
            const ev = /^event: (.*)$/m.exec(block)?.[1]
            const data = /^data: (.*)$/m.exec(block)?.[1]
            if (ev && data) events.push({ event: ev, data: JSON.parse(data) })
          }
        })
        res.on('end', resolve)
      })
      req.on('error', reject)
      req.end()
    })
    await expect.poll(() => events.length, { timeout: 15_000 }).toBeGreaterThanOrEqual(1)
    v.vpnClient.emit('state', clientStatus({ state: 'connecting' }))
    await expect.poll(() => events.filter((e) => e.event === 'tick').length, { timeout: 15_000 }).toBeGreaterThanOrEqual(3)
    const first = events[0]?.data as { client: VpnClientStatus; server: { clients: number; rxBytes: number; running: boolean } }
    expect(events[0]?.event).toBe('tick')
    expect(first.server).toMatchObject({ running: true, clients: 1, rxBytes: 10, txBytes: 20 })
    expect(first.server).not.toHaveProperty('whitelist')
    expect(events.find((e) => e.event === 'state')?.data).toMatchObject({ client: { state: 'connecting' } })
    expect(v.vpnClient.listenerCount('state')).toBe(1)
    await app.close()
    await ended
    expect(v.vpnClient.listenerCount('state')).toBe(0)
  })
})
