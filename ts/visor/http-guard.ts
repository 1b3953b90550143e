/**
 * Who may call the control API, decided where the router has already chosen
 * the route, never by looking at the raw URL.
 *
 * Routers decode and fold paths (`/%61pi/ui` is `/api/ui` to find-my-way), so
 * a prefix test on `req.url` is a test of a different string than the one that
 * picked the handler. Two rules instead:
 * 1. Only canonical paths are served at all: plain segments of unreserved
 *    characters, none empty, none starting with a dot, no trailing slash, no
 *    percent-encoding, origin-form only. Every other spelling is a 400 before
 *    routing, on both listeners, so there is exactly one way to name a route.
 * 2. Every API route lives in one encapsulated scope whose onRequest hook runs
 *    for the matched route. On the web listener it denies by default; a route
 *    opts out only through its own route config (`public`), or narrows the
 *    credential it accepts (`auth: 'bearer'`).
 */
import { timingSafeEqual } from 'node:crypto'
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { routesWith, type AnswerOf, type AuthKind, type RouteDef } from '../contracts/control-api.js'
import { errorBody } from '../contracts/http-error.js'
import { publicKeySchema } from '../config/schema.js'

/** Route config that the guard reads from the matched route. */
export interface RouteAuth {
  /** Served without the token (health checks). */
  public?: boolean
  /** Which credential counts: the bearer header only (the token-for-cookie trade), or cookie or bearer (default). */
  auth?: 'bearer' | 'any'
}

/** How http-guard.ts reads a route's auth kind from the route table. */
export function routeAuth(kind: AuthKind): RouteAuth {
  if (kind === 'public') return { public: true }
  if (kind === 'bearer') return { auth: 'bearer' }
  return {}
}

/** Registers `handler` for a route of the table (method, path and auth from contracts/control-api.ts). */
export function serve<R extends RouteDef>(
  app: FastifyInstance,
  r: R,
  // biome-ignore lint/suspicious/noConfusingVoidType: a hijacked handler (the event stream) returns nothing at all.
  handler: (req: FastifyRequest, reply: FastifyReply) => Promise<AnswerOf<R>> | AnswerOf<R> | FastifyReply | void,
): void {
  app.route({ method: r.method, url: r.path, config: routeAuth(r.auth), handler })
}

/** The route table with the visor's own public-key check (weak keys are no identity). */
export const ROUTES = routesWith(publicKeySchema)

const SEGMENT = '[A-Za-z0-9_~-][A-Za-z0-9._~-]*'
const CANONICAL_PATH = new RegExp(`^(?:/|(?:/${SEGMENT})+)$`)

/** True for `/` and for paths like `/api/vpn/status` or `/assets/index-3f2a.js`; false for every other spelling. */
export function isCanonicalPath(target: string): boolean {
  const q = target.indexOf('?')
  const path = q < 0 ? target : target.slice(0, q)
  return CANONICAL_PATH.test(path)
}

export function deny(reply: FastifyReply, status: number, code: string, message: string): FastifyReply {
  return reply.code(status).send(errorBody(code, message))
}

/** Refuses, before routing, any request target that is not in canonical form. */
export function refuseNonCanonicalPaths(app: FastifyInstance): void {
  app.addHook('onRequest', async (req, reply) => {
    if (!isCanonicalPath(req.raw.url ?? '')) {
      return deny(reply, 400, 'EBADPATH', 'the path must be in canonical form (no encoding, dot segments, empty segments or trailing slash)')
    }
  })
}

const LOOPBACK_HOSTS = /^(localhost|127\.\d{1,3}\.\d{1,3}\.\d{1,3}|\[::1\])(:\d{1,5})?$/

/** The TCP listener answers only loopback Host names, so a DNS-rebinding page gets nothing. */
export function loopbackHostOnly(app: FastifyInstance): void {
  app.addHook('onRequest', async (req, reply) => {
    if (!LOOPBACK_HOSTS.test(req.headers.host ?? '')) {
      return deny(reply, 403, 'EFORBIDDEN', 'the control API answers only loopback host names')
    }
  })
}

export function sameToken(a: string | undefined, b: string): boolean {
  if (!a) return false
  const x = Buffer.from(a)
  const y = Buffer.from(b)
  return x.length === y.length && timingSafeEqual(x, y)
}

function cookieOf(req: FastifyRequest, name: string): string | undefined {
  for (const part of (req.headers.cookie ?? '').split(';')) {
    const i = part.indexOf('=')
    if (i > 0 && part.slice(0, i).trim() === name) return part.slice(i + 1).trim()
  }
  return undefined
}

function bearerOf(req: FastifyRequest): string | undefined {
  const m = /^Bearer\s+(\S+)$/i.exec(req.headers.authorization ?? '')
  return m?.[1]
}

export interface TokenAuth {
  token: string
  cookie: string
}

/**
 * Registers `routes` in one encapsulated scope. With `web`, every route in it
 * needs the UI token (cookie or bearer), and every request that is not
 * GET/HEAD also needs an Origin equal to the UI's own: SameSite does not tell
 * ports apart, so a page on 127.0.0.1:8080 would otherwise ride the cookie.
 */
export function apiScope(app: FastifyInstance, web: TokenAuth | null, routes: (api: FastifyInstance) => void): void {
  app.register(async (api) => {
    if (web) {
      api.addHook('onRequest', async (req, reply) => {
        const cfg = (req.routeOptions.config ?? {}) as RouteAuth
        if (cfg.public) return
        const given = cfg.auth === 'bearer' ? bearerOf(req) : (cookieOf(req, web.cookie) ?? bearerOf(req))
        if (!sameToken(given, web.token)) {
          return deny(
            reply,
            401,
            'EAUTH',
            "the control API on TCP needs the visor's UI token: open the URL that `skywire cli vpn url` prints, or use the unix socket",
          )
        }
        if (req.method !== 'GET' && req.method !== 'HEAD') {
          const origin = req.headers.origin
          if (origin !== `http://${req.headers.host}`) {
            return deny(reply, 403, 'EFORBIDDEN', `cross-origin request refused (Origin ${origin ?? 'missing'})`)
          }
        }
      })
    }
    routes(api)
  })
}
