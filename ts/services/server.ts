/**
 * One process, three HTTP APIs (/ar, /sd, /tpd) on one port, plus the
 * address resolver's UDP port. The process keeps no state of its own beyond
 * metrics and rate limits: everything lives in the store.
 */
import { BlockList, isIP } from 'node:net'
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance } from 'fastify'
import { pino, type Logger } from 'pino'
import { SkywireError } from '../contracts/errors.js'
import { arRoutes } from './ar/routes.js'
import { UdpResolver } from './ar/udp-server.js'
import { formatAddr, unmapV4 } from './ar/udp-wire.js'
import { sourceKey } from '../sys/addr-policy.js'
import { DEFAULT_LIMITS, DEFAULT_TTLS, type Limits, type ServicesContext, type Ttls } from './context.js'
import { builtinGeoip, noGeoip, type CountryLookup } from './geo.js'
import { DEFAULT_NONCE_WINDOW_MS } from './http/auth.js'
import { ApiError, clientError, errorHandler, sendError } from './http/errors.js'
import { Metrics } from './http/metrics.js'
import { RateLimiter, type RateLimitOptions } from './rate-limit.js'
import { sdRoutes } from './sd/routes.js'
import type { Store } from './store/store.js'
import { tpdRoutes } from './tpd/routes.js'

/**
 * The largest valid body (a service registration with 16 stats) is under
 * 2 KiB; 16 KiB leaves room for growth and keeps what one request can make us
 * buffer and hash small.
 */
export const DEFAULT_BODY_LIMIT = 16 * 1024
export const DEFAULT_HTTP_RATE: RateLimitOptions = { ratePerSec: 50, burst: 100 }
/** A request must arrive whole within this (slow senders hold a socket and memory); ours are tiny. */
export const REQUEST_TIMEOUT_MS = 10_000
/** Idle keep-alive connections are closed after this. */
export const KEEP_ALIVE_TIMEOUT_MS = 5_000
/** Open HTTP connections in total; beyond it new ones are closed at once, before any parsing. */
export const DEFAULT_MAX_CONNECTIONS = 2048

/**
 * Which X-Forwarded-For entries to believe: a number of proxy hops in front
 * of us (1: one load balancer; the client is the last entry it appended), or
 * the addresses/CIDRs of our proxies (entries are taken from the right while
 * they are one of these). Never the whole chain: its left end is whatever the
 * client wrote.
 */
export type TrustProxy = number | string[]

export interface ServicesOptions {
  http: { host: string; port: number }
  /** null: no UDP resolver (HTTP-only replicas, some tests). */
  udp: { host: string; port: number } | null
  store: Store
  geoip?: 'builtin' | 'off' | CountryLookup
  ttl?: Partial<Ttls>
  bodyLimit?: number
  /** Take the client address from X-Forwarded-For (replicas behind a load balancer); see TrustProxy. */
  trustProxy?: TrustProxy
  clockSkewMs?: number
  /** How far a signed write's nonce (a timestamp) may be from our clock; default 5 minutes. */
  nonceWindowMs?: number
  limits?: Partial<Limits>
  maxConnections?: number
  /** The clock the nonce window and the rate limits (HTTP and UDP) go by; tests inject one, so no limit depends on how fast a busy machine runs them. */
  now?: () => number
  udpRate?: RateLimitOptions
  /** All UDP sources together; see UdpResolverOptions.totalRate. */
  udpTotalRate?: RateLimitOptions
  /** Key of the UDP bind challenges; see UdpResolverOptions.cookieSecret. */
  udpCookieSecret?: Buffer
  /** Seconds a UDP bind challenge can be echoed (default 10). */
  udpChallengeTtlS?: number
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

function contextOf(opts: ServicesOptions, geo: CountryLookup): ServicesContext {
  return {
    store: opts.store,
    geo,
    ttl: { ...DEFAULT_TTLS, ...opts.ttl },
    auth: { nonceWindowMs: opts.nonceWindowMs ?? DEFAULT_NONCE_WINDOW_MS, now: opts.now ?? Date.now },
    limits: { ...DEFAULT_LIMITS, ...opts.limits },
  }
}

/**
 * Fastify's trust function is asked about the socket peer (hop 0), then each
 * X-Forwarded-For entry from the right; the client is the first untrusted one.
 */
export function trustProxyFn(t: TrustProxy | undefined): ((addr: string, hop: number) => boolean) | false {
  if (t === undefined) return false
  if (typeof t === 'number') {
    if (!Number.isInteger(t) || t < 0 || t > 16) throw new SkywireError('EUSAGE', `trusted proxy hops must be a whole number from 0 to 16, got ${t}`)
    return t === 0 ? false : (_addr, hop) => hop < t
  }
  if (t.length === 0) return false
  const list = new BlockList()
  for (const entry of t) {
    const m = /^([^/]+)(?:\/(\d{1,3}))?$/.exec(entry.trim())
    const ip = m?.[1] ? unmapV4(m[1]) : ''
    const fam = isIP(ip)
    const bits = m?.[2] === undefined ? (fam === 6 ? 128 : 32) : Number(m[2])
    if (fam === 0 || bits > (fam === 6 ? 128 : 32)) {
      throw new SkywireError('EUSAGE', `trusted proxy "${entry}" must be an IP address or CIDR like 10.0.0.0/8 or fd00::/8`)
    }
    list.addSubnet(ip, bits, fam === 6 ? 'ipv6' : 'ipv4')
  }
  return (addr) => {
    const a = unmapV4(addr)
    const fam = isIP(a)
    return fam !== 0 && list.check(a, fam === 6 ? 'ipv6' : 'ipv4')
  }
}

export function buildApp(opts: ServicesOptions, metrics: Metrics, log: Logger): FastifyInstance {
  const ctx = contextOf(opts, geoFrom(opts.geoip))
  const bodyLimit = opts.bodyLimit ?? DEFAULT_BODY_LIMIT
  const app = Fastify({
    loggerInstance: log as FastifyBaseLogger,
    // Our onResponse hook logs one line per request at debug, without headers.
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit,
    trustProxy: trustProxyFn(opts.trustProxy),
    requestTimeout: REQUEST_TIMEOUT_MS,
    keepAliveTimeout: KEEP_ALIVE_TIMEOUT_MS,
    // Paths are short; a long one is a client mistake, answered 414 before routing.
    routerOptions: { maxParamLength: 200 },
    return503OnClosing: true,
    // Errors the router finds before any handler (over-long or malformed paths) get our error shape too.
    frameworkErrors: (err, _req, reply) => {
      void sendError(reply, clientError(err, bodyLimit))
    },
  })
  app.server.maxConnections = opts.maxConnections ?? DEFAULT_MAX_CONNECTIONS

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
    if (!limiter || req.url === '/health' || req.url === '/metrics') return
    // Per IPv4 address or IPv6 /64: one host holds a whole /64, and per-address buckets there would limit nothing.
    const src = sourceKey(req.ip)
    if (!limiter.take(src, ctx.auth.now())) {
      reply.header('retry-after', '1')
      return sendError(reply, new ApiError(429, 'rate_limited', `too many requests from ${src}; slow down`))
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

  app.setErrorHandler(errorHandler(log, ctx.store, bodyLimit))
  app.setNotFoundHandler((req, reply) => sendError(reply, new ApiError(404, 'not_found', `no route ${req.method} ${req.url.split('?')[0]}`)))

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
        ctx: contextOf(opts, noGeoip),
        log,
        metrics,
        clockSkewMs: opts.clockSkewMs,
        rate: opts.udpRate,
        totalRate: opts.udpTotalRate,
        cookieSecret: opts.udpCookieSecret,
        challengeTtlS: opts.udpChallengeTtlS,
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
