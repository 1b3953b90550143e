/**
 * The visor's control API, defined once: each route's method, path and auth
 * kind (control-routes.ts) with the zod schemas of its body, query and answer.
 * The visor registers its handlers from this table (ts/visor/control-api.ts,
 * ts/visor/ui-routes.ts); the CLI's RPC client (ts/visor/rpc-client.ts) and
 * the web UI (ts/ui/lib/api.ts) build their requests from it, so a path or a
 * field cannot differ between them. No node: imports.
 */
import { z } from 'zod'
import { PK_PATTERN, TRANSPORT_KINDS } from './constants.js'
import { CONTROL_ROUTES as P, type RouteName, type RoutePath } from './control-routes.js'
import { serviceCountsSchema, serviceEntrySchema } from './services.js'
import { vpnSettingsPatchSchema, vpnSettingsResultSchema, vpnSettingsSchema } from './settings.js'
import { remoteStatusSchema, transportInfoSchema, vpnClientStatusSchema, vpnServerStatusSchema } from './status.js'

export { CONTROL_ROUTES, targetOf, type AuthKind, type Method, type RouteName, type RoutePath } from './control-routes.js'

export interface RouteDef<
  B extends z.ZodType | undefined = z.ZodType | undefined,
  Q extends z.ZodType | undefined = z.ZodType | undefined,
  A extends z.ZodType | undefined = z.ZodType | undefined,
> extends RoutePath {
  /** The JSON body (POST); the visor answers EUSAGE (400) when it does not parse. */
  body: B
  /** The query string. */
  query: Q
  /** The JSON answer on success; undefined for a stream (server-sent events). */
  answer: A
}

function route<N extends RouteName, B extends z.ZodType | undefined, Q extends z.ZodType | undefined, A extends z.ZodType | undefined>(
  name: N,
  s: { body?: B; query?: Q; answer: A },
): (typeof P)[N] & RouteDef<B, Q, A> {
  // The spread of a generic index is not narrowed by tsc; the fields are exactly RouteDef's.
  return { ...P[name], body: s.body, query: s.query, answer: s.answer } as (typeof P)[N] & RouteDef<B, Q, A>
}

/** A public key in a request: the shape. The visor adds the weak-key check only the addon can do (routesWith). */
export const publicKeyHexSchema = z.string().regex(PK_PATTERN, 'must be a public key (64 lowercase hex characters)')
const timeoutS = z.number().int().min(1).max(3600).optional()
/** At most this many hops on a route (ts/vpn/hop-pick.ts MAX_HOPS says the same). */
export const MAX_ROUTE_HOPS = 4

/**
 * The route table, with `pk` as the schema of a public key in a body: the
 * visor passes its stricter schema (which refuses weak keys); clients take
 * `controlRoutes` (the shape only; the visor has the last word).
 */
export function routesWith(pk: z.ZodType<string>) {
  return {
    health: route('health', { answer: z.object({ ok: z.boolean() }) }),
    status: route('status', { answer: remoteStatusSchema }),
    vpnServers: route('vpnServers', {
      query: z.object({
        country: z
          .string()
          .regex(/^[A-Za-z]{2}$/)
          .optional(),
        offset: z.coerce.number().int().min(0).optional(),
        limit: z.coerce.number().int().min(1).max(100).optional(),
      }),
      answer: z.object({ entries: z.array(serviceEntrySchema), total: z.number(), offset: z.number(), limit: z.number() }),
    }),
    vpnServerCount: route('vpnServerCount', { answer: serviceCountsSchema }),
    vpnHops: route('vpnHops', { answer: z.object({ entries: z.array(serviceEntrySchema), total: z.number() }) }),
    transports: route('transports', { answer: z.array(transportInfoSchema) }),
    addTransport: route('addTransport', {
      body: z.object({ pk, type: z.enum(TRANSPORT_KINDS).optional(), timeoutS }),
      answer: transportInfoSchema,
    }),
    closeTransport: route('closeTransport', { answer: z.object({ closed: z.number() }) }),
    vpnStatus: route('vpnStatus', { answer: vpnClientStatusSchema }),
    vpnStart: route('vpnStart', {
      body: z.object({
        pk,
        existingTp: z.boolean().optional(),
        timeoutS,
        /** Hops by key, first to last (multi-hop); the visor checks the route (no repeats, not the exit). */
        via: z.array(pk).min(1).max(MAX_ROUTE_HOPS).optional(),
        /** Or: this many hops picked from service discovery. */
        hops: z.number().int().min(1).max(MAX_ROUTE_HOPS).optional(),
      }),
      answer: vpnClientStatusSchema,
    }),
    vpnStop: route('vpnStop', { answer: vpnClientStatusSchema }),
    serverStatus: route('serverStatus', { answer: vpnServerStatusSchema }),
    serverStart: route('serverStart', {
      body: z.object({
        netifc: z.string().max(15).optional(),
        secure: z.boolean().optional(),
        whitelist: z.array(pk).max(10000).optional(),
      }),
      // The status, plus what was saved to the config file.
      answer: vpnServerStatusSchema.loose(),
    }),
    serverStop: route('serverStop', { answer: vpnServerStatusSchema }),
    vpnSettings: route('vpnSettings', { answer: vpnSettingsSchema }),
    vpnSetSettings: route('vpnSetSettings', { body: vpnSettingsPatchSchema, answer: vpnSettingsResultSchema }),
    ui: route('ui', { answer: z.object({ url: z.string(), listen: z.string() }) }),
    events: route('events', { answer: undefined }),
    session: route('session', { answer: z.object({ ok: z.boolean() }) }),
  } as const satisfies Record<RouteName, RouteDef>
}

export type ControlRoutes = ReturnType<typeof routesWith>

/** The table as clients see it. */
export const controlRoutes: ControlRoutes = routesWith(publicKeyHexSchema)

/** What a route answers, as a type. */
export type AnswerOf<R extends RouteDef> = R['answer'] extends z.ZodType ? z.infer<R['answer']> : never
/** What a route takes as its body (the input side: optional fields may be left out). */
export type BodyOf<R extends RouteDef> = R['body'] extends z.ZodType ? z.input<R['body']> : undefined
/** The same, by route name (for clients that use the plain CONTROL_ROUTES). */
export type Answer<N extends RouteName> = AnswerOf<ControlRoutes[N]>
export type Body<N extends RouteName> = BodyOf<ControlRoutes[N]>
