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
import type { z } from 'zod'
import { errorBody } from '../contracts/http-error.js'
import { parseHostPort } from '../config/schema.js'
import { SkywireError } from '../contracts/errors.js'
import { ROUTES, apiScope, loopbackHostOnly, refuseNonCanonicalPaths, serve, type TokenAuth } from './http-guard.js'
import { registerUiApi, registerUiPage, uiAuth, type UiOptions, type UiVisor } from './ui-routes.js'
import type { Visor, VisorStatus } from './visor.js'
import type * as Contract from '../contracts/status.js'
import type { ServiceEntry } from '../contracts/services.js'
import type { serviceEntrySchema } from '../contracts/services.js'
import type { VpnClientStatus } from '../vpn/client.js'
import type { VpnServerStatus } from '../vpn/server.js'
import { listHops } from '../vpn/hop-pick.js'

// The visor's and the VPN's own status types must be the contract's (contracts/status.ts, what the CLI's
// --json and the web UI read): when one side changes alone, this line stops compiling.
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false
const statusTypesAgree: [
  Same<VisorStatus, Contract.VisorStatus>,
  Same<VpnClientStatus, Contract.VpnClientStatus>,
  Same<VpnServerStatus, Contract.VpnServerStatus>,
  Same<ServiceEntry, z.infer<typeof serviceEntrySchema>>,
] = [true, true, true, true]
void statusTypesAgree

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
  if (err instanceof SkywireError) return reply.code(httpStatusOf(err.code)).send(errorBody(err.code, err.message))
  return reply.code(500).send(errorBody('EINTERNAL', (err as Error).message ?? String(err)))
}

function parse<T>(schema: z.ZodType<T>, v: unknown): T {
  const r = schema.safeParse(v ?? {})
  if (!r.success) {
    const i = r.error.issues[0]
    throw new SkywireError('EUSAGE', i ? `${i.path.join('.') || 'body'}: ${i.message}` : 'bad request')
  }
  return r.data
}

/** The control API's own routes; they are registered inside the guarded scope (http-guard.ts). Exported for the property tests. */
export function controlRoutes(app: FastifyInstance, visor: Visor): void {
  const R = ROUTES
  serve(app, R.health, async () => ({ ok: true }))
  serve(app, R.status, async () => ({
    visor: visor.status(),
    client: visor.vpnClient.status(),
    server: visor.vpnServer.status(),
  }))
  serve(app, R.vpnServers, async (req) => {
    const q = parse(R.vpnServers.query, req.query)
    const page = await visor.services.listServices({
      type: 'vpn',
      ...(q.country ? { country: q.country.toUpperCase() } : {}),
      ...(q.offset !== undefined ? { offset: q.offset } : {}),
      ...(q.limit !== undefined ? { limit: q.limit } : {}),
    })
    // This visor's own server is no server for its client (the CLI and the UI never offer it).
    const entries = page.entries.filter((e) => e.pk !== visor.node.publicKey)
    const removed = page.entries.length - entries.length
    return removed === 0 ? page : { ...page, entries, total: Math.max(0, page.total - removed) }
  })
  serve(app, R.vpnServerCount, async () => visor.services.countServices('vpn'))
  serve(app, R.vpnHops, async () => {
    // Every page, ranked; never this visor itself.
    const entries = (await listHops(visor.services, { exclude: [visor.node.publicKey] })).map((r) => r.entry)
    return { entries, total: entries.length }
  })
  serve(app, R.transports, async () => visor.status().transports)
  serve(app, R.addTransport, async (req) => {
    const b = parse(R.addTransport.body, req.body)
    return visor.addTransport(b.pk, b.type ?? null, b.timeoutS ?? 20)
  })
  serve(app, R.closeTransport, async (req) => {
    const id = Number((req.params as { id: string }).id)
    if (!Number.isInteger(id) || id < 1) throw new SkywireError('EUSAGE', 'transport id must be a positive integer')
    visor.removeTransport(id)
    return { closed: id }
  })
  serve(app, R.vpnStatus, async () => visor.vpnClient.status())
  serve(app, R.vpnStart, async (req) => {
    const b = parse(R.vpnStart.body, req.body)
    // The user's start wins over an auto-connect attempt in flight: that one is stopped, not waited for.
    if (visor.cancelAutoConnect()) await visor.vpnClient.stop()
    return visor.vpnClient.start(b.pk, {
      existingTp: b.existingTp ?? false,
      timeoutS: b.timeoutS ?? 20,
      ...(b.via ? { via: b.via } : {}),
      ...(b.hops ? { hops: b.hops } : {}),
    })
  })
  serve(app, R.vpnStop, async () => {
    // The user's stop holds until the next visor start: auto-connect does not undo it.
    visor.cancelAutoConnect()
    return visor.vpnClient.stop()
  })
  serve(app, R.serverStatus, async () => visor.vpnServer.status())
  serve(app, R.serverStart, async (req) => {
    const b = parse(R.serverStart.body, req.body)
    if (visor.vpnServer.isRunning) throw new SkywireError('ESTATE', 'the VPN server is already running')
    const patch: Record<string, unknown> = {}
    if (b.netifc !== undefined) patch.netifc = b.netifc
    if (b.secure !== undefined) patch.secure = b.secure
    if (b.whitelist !== undefined) patch.whitelist = b.whitelist
    // Saved to the config file, so a restart does not reopen a whitelisted or secure server to everyone.
    const saved = await visor.startVpnServer(patch, { persist: true })
    return { ...visor.vpnServer.status(), ...saved }
  })
  serve(app, R.serverStop, async () => {
    await visor.stopVpnServer()
    return visor.vpnServer.status()
  })
  serve(app, R.vpnSettings, async () => visor.settings.get())
  serve(app, R.vpnSetSettings, async (req) => visor.settings.set(parse(R.vpnSetSettings.body, req.body)))
}

/**
 * One listener's app: canonical paths only, then (web) loopback Host names
 * only, then every API route (`routes` and the UI's) in one scope that checks
 * credentials on the matched route, then (web) the public page. `web` is null
 * for the unix socket, which root alone can open.
 */
export function controlApp(visor: UiVisor, web: TokenAuth | null, routes: (api: FastifyInstance) => void, ui: UiOptions = {}): FastifyInstance {
  const app = Fastify({ logger: false, bodyLimit: 64 * 1024 })
  app.setErrorHandler((err, _req, reply) => {
    const e = err as { statusCode?: number; message: string }
    if (e.statusCode && e.statusCode < 500) return reply.code(e.statusCode).send(errorBody('EUSAGE', e.message))
    return sendError(reply, err)
  })
  // Fastify's own 404 body has no `error.code`, so the CLI could only say EINTERNAL (an older visor, a typo'd route).
  app.setNotFoundHandler((req, reply) =>
    reply.code(404).send(errorBody('ENOTFOUND', `no route ${req.method} ${(req.url.split('?')[0] ?? '').slice(0, 200)}`)),
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
