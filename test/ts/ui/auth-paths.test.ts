/**
 * Attacks on a real visor's two control listeners with raw HTTP: every path
 * spelling a router might decode into an /api route (percent-encoding, case,
 * double slashes, dot segments, %2f, trailing slashes, absolute-form targets,
 * HEAD/OPTIONS) must be refused without the UI token, and no spelling may
 * start a VPN server. The visor runs in a lab namespace so that, on a tree
 * with the hole, the attack changes nothing on the machine itself.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { skipUnlessAvailable } from '../helpers/skip.js'
import { generateConfig, parseConfig } from '../../../ts/config/file.js'
import type { NsProcess } from '../../../ts/netlab/exec.js'
import { createLab, type Lab } from '../../../ts/netlab/netns.js'
import { BIN } from '../helpers/cli.js'
import { labSkipReason } from '../helpers/lab.js'

const FIXTURE = fileURLToPath(new URL('../../fixtures/raw-http.mjs', import.meta.url))
const LISTEN = '127.0.0.1:3435'
const ORIGIN = `http://${LISTEN}`

interface RawRequest {
  method: string
  target: string
  headers?: Record<string, string>
  body?: string
}
interface RawResponse {
  method: string
  target: string
  status: number
  body: string
}

/** Spellings of `/api/<rest>` that some layer (client, proxy, router) may decode or fold into the real route. */
function spellings(rest: string): string[] {
  const [first, ...more] = rest.split('/')
  const tail = more.length ? `/${more.join('/')}` : ''
  const enc = (s: string): string => `%${s.charCodeAt(0).toString(16)}${s.slice(1)}`
  return [
    `/%61pi/${rest}`,
    `/%41PI/${rest}`,
    `/%2561pi/${rest}`,
    `/API/${rest}`,
    `/Api/${rest}`,
    `//api/${rest}`,
    `/./api/${rest}`,
    `/%2e/api/${rest}`,
    `/x/../api/${rest}`,
    `/x/%2e%2e/api/${rest}`,
    `/api/./${rest}`,
    `/api//${rest}`,
    `/api%2f${rest}`,
    `/api%2F${rest}`,
    `/api/${rest}/`,
    `/api/${enc(first ?? '')}${tail}`,
    `/api/${rest};x`,
    `/api/${rest}%00`,
    `/api/${rest}%20`,
    `/api\\${rest}`,
    `/api/health/../${rest}`,
    `/api/health%2f..%2f${rest}`,
    `${ORIGIN}/%61pi/${rest}`,
    `${ORIGIN}/api/${rest}`,
  ]
}

describe.skipIf(skipUnlessAvailable(labSkipReason()))('control listeners refuse every path trick (real visor, raw HTTP)', () => {
  let lab: Lab
  let ns: string
  let dir: string
  let socket: string
  let token: string
  let visor: NsProcess

  beforeAll(async () => {
    lab = createLab()
    ns = await lab.addNamespace('auth')
    dir = mkdtempSync(join(tmpdir(), 'skywire-auth-'))
    socket = join(dir, 'visor.sock')
    const config = generateConfig({
      dataDir: join(dir, 'data'),
      // Discovery is down on purpose: the control API must not depend on it.
      services: { url: 'http://127.0.0.1:9', udp: '127.0.0.1:9' },
      control: { socket, listen: LISTEN },
      vpnServer: { autostart: false },
    })
    const file = join(dir, 'visor.json')
    writeFileSync(file, JSON.stringify(config), { mode: 0o600 })
    visor = lab.spawn(ns, [process.execPath, BIN, 'visor', '-c', file])
    await visor.waitForOutput(/web UI listening/, 20_000)
    token = readFileSync(join(dir, 'data', 'ui-token'), 'utf8').trim()
  }, 60_000)

  afterAll(async () => {
    await visor?.kill('SIGTERM', 5000)
    await lab?.close()
    if (dir) rmSync(dir, { recursive: true, force: true })
  })

  async function raw(where: string, reqs: RawRequest[]): Promise<RawResponse[]> {
    const r = await lab.execOk(ns, [process.execPath, FIXTURE, where, JSON.stringify(reqs)], { timeoutMs: 120_000 })
    return r.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as RawResponse)
  }

  async function serverRunning(): Promise<boolean> {
    const [r] = await raw(socket, [{ method: 'GET', target: '/api/vpn/server/status' }])
    expect(r?.status).toBe(200)
    return (JSON.parse(r?.body ?? '{}') as { running: boolean }).running
  }

  it('answers the canonical route with the token and refuses it without (so the checks below can fail)', async () => {
    const [withToken, without] = await raw(LISTEN, [
      { method: 'GET', target: '/api/ui', headers: { host: LISTEN, authorization: `Bearer ${token}` } },
      { method: 'GET', target: '/api/ui', headers: { host: LISTEN } },
    ])
    expect(withToken?.status).toBe(200)
    expect(withToken?.body).toContain(token)
    expect(without?.status).toBe(401)
  })

  it('leaks neither the UI token nor any status through a decoded, folded or re-cased path', async () => {
    const reqs: RawRequest[] = []
    for (const rest of ['ui', 'status', 'vpn/server/status', 'tp']) {
      for (const target of spellings(rest)) {
        for (const method of ['GET', 'HEAD', 'OPTIONS']) reqs.push({ method, target, headers: { host: LISTEN } })
      }
    }
    const out = await raw(LISTEN, reqs)
    expect(out).toHaveLength(reqs.length)
    for (const r of out) {
      expect(r.status, `${r.method} ${r.target}`).toBeGreaterThanOrEqual(400)
      expect(r.status, `${r.method} ${r.target}`).toBeLessThan(500)
      expect(r.body, `${r.method} ${r.target}`).not.toContain(token)
      expect(r.body, `${r.method} ${r.target}`).not.toMatch(/"running"|"transports"|"pk"/)
    }
  }, 120_000)

  it('starts no VPN server through any spelling, with or without a body', async () => {
    const reqs: RawRequest[] = []
    for (const target of spellings('vpn/server/start')) {
      const headers = { host: LISTEN, origin: ORIGIN }
      reqs.push({ method: 'POST', target, headers })
      reqs.push({ method: 'POST', target, headers: { ...headers, 'content-type': 'application/json' }, body: '{"secure":false}' })
    }
    const out = await raw(LISTEN, reqs)
    for (const r of out) {
      expect(r.status, `${r.method} ${r.target}`).toBeGreaterThanOrEqual(400)
      expect(r.status, `${r.method} ${r.target}`).toBeLessThan(500)
    }
    expect(await serverRunning()).toBe(false)
  }, 120_000)

  it('refuses paths that are not canonical with 400 on both listeners, even with the token', async () => {
    const auth = { host: LISTEN, authorization: `Bearer ${token}` }
    const bad = ['/%61pi/status', '//api/status', '/api/status/', '/api/./status', '/api%2fstatus', '/x/../api/status', `${ORIGIN}/api/status`]
    for (const where of [LISTEN, socket]) {
      const out = await raw(where, [
        ...bad.map((target) => ({ method: 'GET', target, headers: auth })),
        { method: 'GET', target: '/api/status', headers: auth },
      ])
      const ok = out.pop()
      expect(ok?.status, `${where} canonical`).toBe(200)
      for (const r of out) expect(r.status, `${where} ${r.target}`).toBe(400)
    }
  }, 60_000)

  it('answers no Host name but loopback ones, even with the token (DNS rebinding)', async () => {
    const auth = { authorization: `Bearer ${token}` }
    const out = await raw(
      LISTEN,
      ['evil.example:3435', 'evil.example', '127.0.0.1.evil.example:3435', 'localhost.:3435', ''].map((host) => ({
        method: 'GET',
        target: '/api/status',
        headers: { ...auth, host },
      })),
    )
    for (const r of out) expect(r.status, r.target).toBe(403)
    const [ok] = await raw(LISTEN, [{ method: 'GET', target: '/api/status', headers: { ...auth, host: 'localhost:3435' } }])
    expect(ok?.status).toBe(200)
  })

  it('refuses a weak key in a body at the door, with the reason', async () => {
    const weak = '0000000000000000000000000000000000000000000000000000000000000000'
    const json = { 'content-type': 'application/json' }
    const out = await raw(socket, [
      { method: 'POST', target: '/api/vpn/start', headers: json, body: JSON.stringify({ pk: weak }) },
      { method: 'POST', target: '/api/tp', headers: json, body: JSON.stringify({ pk: weak }) },
      { method: 'POST', target: '/api/vpn/server/start', headers: json, body: JSON.stringify({ whitelist: [weak] }) },
    ])
    for (const r of out) {
      expect(r.status, r.target).toBe(400)
      expect(JSON.parse(r.body).error.message, r.target).toMatch(/not a valid public key: small-order point/)
    }
    expect(await serverRunning()).toBe(false)
  })

  it('keeps the static page and its assets reachable without the token', async () => {
    const [page, dotfile] = await raw(LISTEN, [
      { method: 'GET', target: '/', headers: { host: LISTEN } },
      { method: 'GET', target: '/assets/../../ui-token', headers: { host: LISTEN } },
    ])
    expect([200, 404]).toContain(page?.status)
    expect(dotfile?.status).toBe(400)
    expect(dotfile?.body).not.toContain(token)
  })
})

describe('control.listen', () => {
  const base = (listen: string) => ({ ...generateConfig(), control: { socket: '/run/skywire/visor.sock', listen } })

  it('accepts only loopback addresses, so the UI is never on the network', () => {
    for (const listen of ['127.0.0.1:3435', '127.0.0.2:80', '[::1]:3435', 'localhost:3435', '']) {
      expect(() => parseConfig(base(listen), 'test'), listen).not.toThrow()
    }
    for (const listen of ['0.0.0.0:3435', '[::]:3435', '192.168.1.10:3435', '203.0.113.5:3435', 'example.com:3435', '[::ffff:8.8.8.8]:3435']) {
      expect(() => parseConfig(base(listen), 'test'), listen).toThrow(/control\.listen/)
    }
  })
})
