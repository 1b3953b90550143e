/**
 * The visor's control API: what `skywire cli ...` and the web UI talk to.
 * Served on a unix socket (mode 0600, so only root drives the VPN) and, for
 * the UI, on a loopback TCP port that only answers requests whose Host is a
 * loopback name (no DNS rebinding from a web page).
 */
import { chmodSync, mkdirSync, rmSync } from 'node:fs'
import { dirname } from 'node:path'
import Fastify, { type FastifyInstance, type FastifyReply } from 'fastify'
import type { Logger } from 'pino'
import { z } from 'zod'
import { parseHostPort, publicKeySchema } from '../config/schema.js'
import { SkywireError } from '../contracts/errors.js'
import { apiScope, loopbackHostOnly, refuseNonCanonicalPaths, type RouteAuth, type TokenAuth } from './http-guard.js'
import { registerUiApi, registerUiPage, uiAuth, type UiOptions, type UiVisor } from './ui-routes.js'
import type { Visor } from './visor.js'

const startBody = z.object({
  pk: publicKeySchema,
  existingTp: z.boolean().optional(),
  timeoutS: z.number().int().min(1).max(3600).optional(),
})

const serverStartBody = z.object({
  netifc: z.string().max(15).optional(),
  secure: z.boolean().optional(),
  whitelist: z.array(publicKeySchema).max(10000).optional(),
})

const tpBody = z.object({
  pk: publicKeySchema,
  type: z.enum(['stcpr', 'sudph']).optional(),
  timeoutS: z.number().int().min(1).max(3600).optional(),
})

const listQuery = z.object({
  country: z.string().regex(/^[A-Za-z]{2}$/).optional(),
  offset: z.coerce.number().int().min(0).optional(),
  limit: z.coerce.number().int().min(1).max(100).optional(),
})

/** HTTP status for an error a caller can act on. */
export function httpStatusOf(code: string): number {
  switch (code) {
    case 'EUSAGE':
    case 'EINVALIDPK':
    case 'EBADREQUEST':
      return 400
    case 'EFORBIDDEN':
      return 403
    case 'ENOTFOUND':
      return 404
    case 'ESTATE':
      return 409
    case 'EUNREACHABLE':
    case 'EOFFLINE':
      return 502
    case 'ETIMEOUT':
      return 504
    default:
      return 500
  }
}

function sendError(reply: FastifyReply, err: unknown): FastifyReply {
  if (err instanceof SkywireError) {
    return reply.code(httpStatusOf(err.code)).send({ error: { code: err.code, message: err.message } })
  }
  return reply.code(500).send({ error: { code: 'EINTERNAL', message: (err as Error).message ?? String(err) } })
}

function parse<T>(schema: z.ZodType<T>, v: unknown): T {
  const r = schema.safeParse(v ?? {})
  if (!r.success) {
    const i = r.error.issues[0]
    throw new SkywireError('EUSAGE', i ? `${i.path.join('.') || 'body'}: ${i.message}` : 'bad request')
  }
  return r.data
}

const PUBLIC: RouteAuth = { public: true }

/** The control API's own routes; they are registered inside the guarded scope (http-guard.ts). Exported for the property tests. */
export function controlRoutes(app: FastifyInstance, visor: Visor): void {
  app.get('/api/health', { config: PUBLIC }, async () => ({ ok: true }))
  app.get('/api/status', async () => ({
    visor: visor.status(),
    client: visor.vpnClient.status(),
    server: visor.vpnServer.status(),
  }))
  app.get('/api/vpn/servers', async (req) => {
    const q = parse(listQuery, req.query)
    return visor.services.listServices({
      type: 'vpn',
      ...(q.country ? { country: q.country.toUpperCase() } : {}),
      ...(q.offset !== undefined ? { offset: q.offset } : {}),
      ...(q.limit !== undefined ? { limit: q.limit } : {}),
    })
  })
  app.get('/api/vpn/servers/count', async () => visor.services.countServices('vpn'))
  app.get('/api/tp', async () => visor.status().transports)
  app.post('/api/tp', async (req) => {
    const b = parse(tpBody, req.body)
    return visor.addTransport(b.pk, b.type ?? null, b.timeoutS ?? 20)
  })
  app.post('/api/tp/:id/close', async (req) => {
    const id = Number((req.params as { id: string }).id)
    if (!Number.isInteger(id) || id < 1) throw new SkywireError('EUSAGE', 'transport id must be a positive integer')
    visor.removeTransport(id)
    return { closed: id }
  })
  app.get('/api/vpn/status', async () => visor.vpnClient.status())
  app.post('/api/vpn/start', async (req) => {
    const b = parse(startBody, req.body)
    return visor.vpnClient.start(b.pk, { existingTp: b.existingTp ?? false, timeoutS: b.timeoutS ?? 20 })
  })
  app.post('/api/vpn/stop', async () => visor.vpnClient.stop())
  app.get('/api/vpn/server/status', async () => visor.vpnServer.status())
  app.post('/api/vpn/server/start', async (req) => {
    const b = parse(serverStartBody, req.body)
    if (visor.vpnServer.isRunning) throw new SkywireError('ESTATE', 'the VPN server is already running')
    const patch: Record<string, unknown> = {}
    if (b.netifc !== undefined) patch.netifc = b.netifc
    if (b.secure !== undefined) patch.secure = b.secure
    if (b.whitelist !== undefined) patch.whitelist = b.whitelist
    // Saved to the config file, so a restart does not reopen a whitelisted or secure server to everyone.
    const saved = await visor.startVpnServer(patch, { persist: true })
    return { ...visor.vpnServer.status(), ...saved }
  })
  app.post('/api/vpn/server/stop', async () => {
    await visor.stopVpnServer()
    return visor.vpnServer.status()
  })
}

/**
 * One listener's app: canonical paths only, then (web) loopback Host names
 * only, then every API route (`routes` and the UI's) in one scope that checks
 * credentials on the matched route, then (web) the public page. `web` is null
 * for the unix socket, which root alone can open.
 */
export function controlApp(
  visor: UiVisor,
  web: TokenAuth | null,
  routes: (api: FastifyInstance) => void,
  ui: UiOptions = {},
): FastifyInstance {
  const app = Fastify({ logger: false, bodyLimit: 64 * 1024 })
  app.setErrorHandler((err, _req, reply) => {
    const e = err as { statusCode?: number; message: string }
    if (e.statusCode && e.statusCode < 500) return reply.code(e.statusCode).send({ error: { code: 'EUSAGE', message: e.message } })
    return sendError(reply, err)
  })
  // Fastify's own 404 body has no `error.code`, so the CLI could only say EINTERNAL (an older visor, a typo'd route).
  app.setNotFoundHandler((req, reply) =>
    reply.code(404).send({ error: { code: 'ENOTFOUND', message: `no route ${req.method} ${(req.url.split('?')[0] ?? '').slice(0, 200)}` } }),
  )
  refuseNonCanonicalPaths(app)
  if (web) loopbackHostOnly(app)
  apiScope(app, web, (api) => {
    routes(api)
    registerUiApi(api, visor, web, ui)
  })
  if (web) registerUiPage(app, ui)
  return app
}

export class ControlApi {
  private readonly apps: FastifyInstance[] = []
  private socketPath: string | null = null

  constructor(
    private readonly visor: Visor,
    private readonly log: Logger,
  ) {}

  async listen(cfg: { socket: string; listen: string }): Promise<void> {
    const local = controlApp(this.visor, null, (api) => controlRoutes(api, this.visor))
    mkdirSync(dirname(cfg.socket), { recursive: true, mode: 0o755 })
    // A socket left by a visor that was killed would make listen fail.
    rmSync(cfg.socket, { force: true })
    await local.listen({ path: cfg.socket })
    chmodSync(cfg.socket, 0o600)
    this.socketPath = cfg.socket
    this.apps.push(local)
    this.log.info({ socket: cfg.socket }, 'control API listening')

    if (cfg.listen) {
      const hp = parseHostPort(cfg.listen)
      if (!hp) throw new SkywireError('ECONFIG', `control.listen must be HOST:PORT, got ${cfg.listen}`)
      const web = controlApp(this.visor, uiAuth(this.visor), (api) => controlRoutes(api, this.visor))
      try {
        await web.listen({ host: hp.host, port: hp.port })
      } catch (err) {
        throw new SkywireError('ELISTEN', `cannot listen on ${cfg.listen} for the web UI: ${(err as Error).message}`)
      }
      this.apps.push(web)
      this.log.info({ listen: cfg.listen }, 'web UI listening')
    }
  }

  async close(): Promise<void> {
    for (const a of this.apps.splice(0)) await a.close()
    if (this.socketPath) rmSync(this.socketPath, { force: true })
  }
}
