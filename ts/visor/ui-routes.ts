/**
 * The web UI's side of the control API: the static page, its token, live
 * events (SSE) and GET /api/ui, which tells the CLI the UI's URL.
 *
 * The TCP listener answers only loopback Host names, but any local web page
 * can still send requests to 127.0.0.1. So on that listener every /api call
 * needs the visor's UI token (the URL printed by `skywire cli vpn url` carries
 * it in the fragment, which browsers never send to servers or in Referer; the
 * page trades it for an HttpOnly SameSite=Strict cookie), and every mutating
 * call also needs an Origin equal to the UI's own: SameSite does not tell
 * ports apart, so a page on 127.0.0.1:8080 would otherwise ride the cookie.
 * The unix socket is root's alone and needs no token. Those checks live in
 * http-guard.ts and apply to the matched route; this module only says which
 * of its routes are exceptions (the token-for-cookie trade takes the bearer
 * header only) and serves the public page.
 */
import { randomBytes } from 'node:crypto'
import { existsSync, mkdirSync, readFileSync } from 'node:fs'
import { readFile } from 'node:fs/promises'
import { extname, join, normalize, sep } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { FastifyInstance, FastifyReply } from 'fastify'
import { parseHostPort } from '../config/schema.js'
import { SkywireError } from '../contracts/errors.js'
import { writeFileAtomic } from '../sys/safe-file.js'
import { ROUTES, deny, serve, type TokenAuth } from './http-guard.js'
import type { ServerSummary, StateEvent, TickEvent } from '../contracts/status.js'
import type { VpnClient, VpnClientStatus } from '../vpn/client.js'
import type { VpnServerStatus } from '../vpn/server.js'

/** What the UI routes need from a visor (narrow, so tests can fake it). */
export interface UiVisor {
  config: { dataDir: string; control: { listen: string } }
  vpnClient: Pick<VpnClient, 'status' | 'on' | 'off'>
  vpnServer: { status(): VpnServerStatus }
}

export interface UiOptions {
  /** Where the built UI lives (default: dist/ui next to this module). */
  staticDir?: string
  /** Stats tick of /api/events (default 1000 ms). */
  tickMs?: number
}

export const TOKEN_FILE = 'ui-token'
const DEFAULT_STATIC = fileURLToPath(new URL('../ui/', import.meta.url))
const TOKEN_RE = /^[A-Za-z0-9_-]{43}$/

/** Cookie names ignore ports, so two visors on one host need two names. */
export function cookieName(listen: string): string {
  return `skywire_ui_${parseHostPort(listen)?.port ?? 0}`
}

/** The visor's UI token: made once (32 random bytes), kept mode 0600 in dataDir so printed URLs survive restarts. */
export function loadOrCreateToken(dataDir: string): string {
  const file = join(dataDir, TOKEN_FILE)
  if (existsSync(file)) {
    const t = readFileSync(file, 'utf8').trim()
    if (TOKEN_RE.test(t)) return t
  }
  mkdirSync(dataDir, { recursive: true, mode: 0o700 })
  const t = randomBytes(32).toString('base64url')
  writeFileAtomic(file, `${t}\n`, { mode: 0o600 })
  return t
}

/** The browser URL of the UI at `listen`, token in the fragment. */
export function uiUrl(listen: string, token: string): string {
  const hp = parseHostPort(listen)
  if (!hp) throw new SkywireError('ECONFIG', `control.listen must be HOST:PORT, got ${listen}`)
  let host = hp.host
  if (host.includes(':')) host = `[${host}]`
  return `http://${host}:${hp.port}/#token=${token}`
}

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.json': 'application/json',
  '.webmanifest': 'application/manifest+json',
}

// Nothing from elsewhere, no framing (clickjacking a Connect button), no inline script.
const PAGE_HEADERS = {
  'content-security-policy':
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; " +
    "frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
  'x-frame-options': 'DENY',
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'cross-origin-opener-policy': 'same-origin',
  'cross-origin-resource-policy': 'same-origin',
}

async function sendStatic(reply: FastifyReply, root: string, rel: string): Promise<FastifyReply> {
  const file = normalize(join(root, rel))
  if (!file.startsWith(root.endsWith(sep) ? root : root + sep)) return deny(reply, 404, 'ENOTFOUND', 'no such file')
  let body: Buffer
  try {
    body = await readFile(file)
  } catch {
    if (rel === 'index.html') return deny(reply, 404, 'ENOTFOUND', 'the web UI is not built in this install (npm run build:ui)')
    return deny(reply, 404, 'ENOTFOUND', 'no such file')
  }
  // Vite names assets by content hash, so they never change; the page itself must be revalidated.
  const cache = rel.startsWith('assets/') ? 'public, max-age=31536000, immutable' : 'no-cache'
  return reply.headers({ ...PAGE_HEADERS, 'content-type': TYPES[extname(file)] ?? 'application/octet-stream', 'cache-control': cache }).send(body)
}

/** What the UI shows of the server side on every tick: the count, not the whitelist. */
export function serverSummary(s: VpnServerStatus): ServerSummary {
  return {
    running: s.running,
    secure: s.secure,
    netifc: s.netifc,
    gateway: s.gateway,
    clients: s.clients.length,
    rxBytes: s.clients.reduce((n, c) => n + c.rxBytes, 0),
    txBytes: s.clients.reduce((n, c) => n + c.txBytes, 0),
  }
}

/** The token and cookie name the web listener checks, or null when the UI is off. */
export function uiAuth(visor: UiVisor): TokenAuth | null {
  const listen = visor.config.control.listen
  return listen ? { token: loadOrCreateToken(visor.config.dataDir), cookie: cookieName(listen) } : null
}

/**
 * The UI's API routes, registered inside the control API's guarded scope
 * (http-guard.ts). `web` is the listener's credentials: null on the unix socket.
 */
export function registerUiApi(api: FastifyInstance, visor: UiVisor, web: TokenAuth | null, opts: UiOptions = {}): void {
  const listen = visor.config.control.listen
  // The unix socket hands the token to root's CLI (`vpn url`) as well.
  const token = web?.token ?? (listen ? loadOrCreateToken(visor.config.dataDir) : '')
  const tickMs = opts.tickMs ?? 1000
  // Fastify's close waits for open connections; an event stream never ends by itself.
  const streams = new Set<() => void>()
  api.addHook('preClose', async () => {
    for (const end of [...streams]) end()
  })

  serve(api, ROUTES.ui, async () => {
    if (!listen) throw new SkywireError('ENOTAVAILABLE', 'the web UI is off: set control.listen (e.g. 127.0.0.1:3435) in the visor config')
    return { url: uiUrl(listen, token), listen }
  })

  serve(api, ROUTES.events, (req, reply) => {
    reply.hijack()
    const res = reply.raw
    res.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-store',
      connection: 'keep-alive',
      'x-accel-buffering': 'no',
    })
    const send = (event: string, data: unknown): void => {
      res.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`)
    }
    const snapshot = (): TickEvent => ({
      t: Date.now(),
      client: visor.vpnClient.status(),
      server: serverSummary(visor.vpnServer.status()),
    })
    // A browser that lost the stream retries after this long.
    res.write('retry: 2000\n\n')
    send('tick', snapshot())
    const onState = (s: VpnClientStatus): void => send('state', { t: Date.now(), client: s } satisfies StateEvent)
    visor.vpnClient.on('state', onState)
    const timer = setInterval(() => send('tick', snapshot()), tickMs)
    const done = (): void => {
      clearInterval(timer)
      visor.vpnClient.off('state', onState)
      streams.delete(end)
    }
    const end = (): void => {
      done()
      res.end()
    }
    streams.add(end)
    req.raw.on('close', done)
    res.on('error', done)
  })

  if (!web) return
  // The page trades the fragment's token for a cookie so EventSource (which cannot send headers) is authorised too.
  serve(api, ROUTES.session, async (_req, reply) => {
    reply.header('set-cookie', `${web.cookie}=${web.token}; Path=/; HttpOnly; SameSite=Strict`)
    return { ok: true }
  })
}

/** The static page and its assets: public, read-only, served only on the web listener. */
export function registerUiPage(app: FastifyInstance, opts: UiOptions = {}): void {
  const root = opts.staticDir ?? DEFAULT_STATIC
  app.get('/', (_req, reply) => sendStatic(reply, root, 'index.html'))
  app.get('/assets/*', (req, reply) => sendStatic(reply, root, `assets/${(req.params as { '*': string })['*']}`))
  app.get('/favicon.svg', (_req, reply) => sendStatic(reply, root, 'favicon.svg'))
}
