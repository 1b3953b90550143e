/**
 * One process, three HTTP APIs (/ar, /sd, /tpd) on one port, plus the
 * address resolver's UDP port. The process keeps no state of its own beyond
 * metrics and rate limits: everything lives in the store.
 */
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance } from 'fastify'
import { pino, type Logger } from 'pino'
import { SkywireError } from '../errors.js'
import { arRoutes } from './ar/routes.js'
import { UdpResolver } from './ar/udp-server.js'
import { formatAddr } from './ar/udp-wire.js'
import { DEFAULT_TTLS, type ServicesContext, type Ttls } from './context.js'
import { builtinGeoip, noGeoip, type CountryLookup } from './geo.js'
import { ApiError, clientError, errorHandler, sendError } from './http/errors.js'
import { Metrics } from './http/metrics.js'
import { RateLimiter, type RateLimitOptions } from './rate-limit.js'
import { sdRoutes } from './sd/routes.js'
import type { Store } from './store/store.js'
import { tpdRoutes } from './tpd/routes.js'

export const DEFAULT_BODY_LIMIT = 64 * 1024
export const DEFAULT_HTTP_RATE: RateLimitOptions = { ratePerSec: 50, burst: 100 }

export interface ServicesOptions {
  http: { host: string; port: number }
  /** null: no UDP resolver (HTTP-only replicas, some tests). */
  udp: { host: string; port: number } | null
  store: Store
  geoip?: 'builtin' | 'off' | CountryLookup
  ttl?: Partial<Ttls>
  bodyLimit?: number
  /** Take the client address from X-Forwarded-For (replicas behind a load balancer). */
  trustProxy?: boolean
  clockSkewMs?: number
  udpRate?: RateLimitOptions
  /** Per client IP over all API routes (not /health, /metrics); null turns it off. Default 50/s, burst 100. */
  httpRate?: RateLimitOptions | null
  logger?: Logger
}

export interface RunningServices {
  /** e.g. http://127.0.0.1:9090 */
  url: string
  udp: { ip: string; port: number } | null
  app: FastifyInstance
  /** Stops accepting, lets in-flight requests finish, closes the store. Safe to call twice. */
  close(): Promise<void>
}

function geoFrom(g: ServicesOptions['geoip']): CountryLookup {
  if (g === undefined || g === 'builtin') return builtinGeoip()
  if (g === 'off') return noGeoip
  return g
}

export function buildApp(opts: ServicesOptions, metrics: Metrics, log: Logger): FastifyInstance {
  const ctx: ServicesContext = { store: opts.store, geo: geoFrom(opts.geoip), ttl: { ...DEFAULT_TTLS, ...opts.ttl } }
  const bodyLimit = opts.bodyLimit ?? DEFAULT_BODY_LIMIT
  const app = Fastify({
    loggerInstance: log as FastifyBaseLogger,
    // Our onResponse hook logs one line per request at debug, without headers.
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit,
    trustProxy: opts.trustProxy ?? false,
    // Paths are short; a long one is a client mistake, answered 414 before routing.
    routerOptions: { maxParamLength: 200 },
    return503OnClosing: true,
    // Errors the router finds before any handler (over-long or malformed paths) get our error shape too.
    frameworkErrors: (err, _req, reply) => {
      void sendError(reply, clientError(err))
    },
  })

  // Writes are signed over the exact body bytes, so keep them next to the parsed value.
  app.removeAllContentTypeParsers()
  app.addContentTypeParser('application/json', { parseAs: 'buffer', bodyLimit }, (req, body, done) => {
    const raw = body as Buffer
    req.rawBody = raw
    if (raw.length === 0) return done(null, undefined)
    try {
      done(null, JSON.parse(raw.toString('utf8')))
    } catch {
      done(new ApiError(400, 'bad_request', 'body is not valid JSON'), undefined)
    }
  })

  const started = new WeakMap<object, bigint>()
  const limiter = opts.httpRate === null ? null : new RateLimiter(opts.httpRate ?? DEFAULT_HTTP_RATE)
  app.addHook('onRequest', async (req, reply) => {
    started.set(req, process.hrtime.bigint())
    if (limiter && req.url !== '/health' && req.url !== '/metrics' && !limiter.take(req.ip)) {
      reply.header('retry-after', '1')
      return sendError(reply, new ApiError(429, 'rate_limited', `too many requests from ${req.ip}; slow down`))
    }
  })
  app.addHook('onResponse', async (req, reply) => {
    const t0 = started.get(req)
    const seconds = t0 === undefined ? 0 : Number(process.hrtime.bigint() - t0) / 1e9
    const route = req.routeOptions.url ?? 'unmatched'
    metrics.observeHttp(req.method, route, reply.statusCode, seconds)
    // Only the route pattern and outcome: never headers, which carry signatures.
    req.log.debug({ method: req.method, route, status: reply.statusCode, ms: Math.round(seconds * 1000) }, 'request')
  })

  app.setErrorHandler(errorHandler(log, ctx.store))
  app.setNotFoundHandler((req, reply) =>
    sendError(reply, new ApiError(404, 'not_found', `no route ${req.method} ${req.url.split('?')[0]}`)),
  )

  app.get('/health', async (_req, reply) => {
    try {
      await ctx.store.ping()
    } catch (err) {
      return sendError(reply, new ApiError(503, 'unavailable', `store (${ctx.store.kind}) is not reachable: ${(err as Error).message}`))
    }
    return { status: 'ok', store: ctx.store.kind, uptimeS: Math.round(process.uptime()) }
  })

  app.get('/metrics', async (_req, reply) => {
    const counts = await ctx.store.counts().catch(() => null)
    return reply.type('text/plain; version=0.0.4').send(metrics.render(counts))
  })

  void app.register(async (i) => arRoutes(i, ctx), { prefix: '/ar' })
  void app.register(async (i) => sdRoutes(i, ctx), { prefix: '/sd' })
  void app.register(async (i) => tpdRoutes(i, ctx), { prefix: '/tpd' })
  return app
}

export function defaultLogger(level = process.env.SKYWIRE_LOG_LEVEL ?? 'info'): Logger {
  return pino({
    level,
    base: { svc: 'skywire-services' },
    // Belt and braces: nothing logs these, and if something ever does, they are censored.
    redact: ['req.headers["sw-sig"]', 'req.headers.authorization', 'headers["sw-sig"]', 'sk', 'secretKey'],
  })
}

export async function startServices(opts: ServicesOptions): Promise<RunningServices> {
  const log = opts.logger ?? defaultLogger()
  const metrics = new Metrics()
  const app = buildApp(opts, metrics, log)
  const where = formatAddr({ ip: opts.http.host, port: opts.http.port })
  try {
    await app.listen({ host: opts.http.host, port: opts.http.port })
  } catch (err) {
    await app.close().catch(() => {})
    const e = err as NodeJS.ErrnoException
    if (e.code === 'EADDRINUSE') throw new SkywireError('EADDRINUSE', `cannot listen on HTTP ${where}: address already in use`)
    throw new SkywireError('EINTERNAL', `cannot listen on HTTP ${where}: ${e.message}`, { cause: err })
  }
  let udp: UdpResolver | null = null
  if (opts.udp) {
    try {
      udp = await UdpResolver.start({
        host: opts.udp.host,
        port: opts.udp.port,
        ctx: { store: opts.store, geo: noGeoip, ttl: { ...DEFAULT_TTLS, ...opts.ttl } },
        log,
        metrics,
        clockSkewMs: opts.clockSkewMs,
        rate: opts.udpRate,
      })
    } catch (err) {
      await app.close().catch(() => {})
      throw err
    }
  }
  const addr = app.server.address()
  const port = typeof addr === 'object' && addr ? addr.port : opts.http.port
  const url = `http://${formatAddr({ ip: opts.http.host, port })}`
  log.info({ http: url, udp: udp ? formatAddr(udp.address()) : null, store: opts.store.kind }, 'discovery services listening')

  let closing: Promise<void> | null = null
  return {
    url,
    udp: udp ? udp.address() : null,
    app,
    close() {
      closing ??= (async () => {
        await app.close()
        if (udp) await udp.close()
        await opts.store.close()
      })()
      return closing
    },
  }
}
