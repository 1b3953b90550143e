/**
 * The visor's control API routes as plain data: method, path and who may call
 * them. The zod schemas of bodies and answers are attached in
 * control-api.ts; this half has no imports, so the web UI bundles the paths
 * without zod (its types come from control-api.ts as type-only imports).
 *
 * Auth kinds, on the web UI's TCP listener (the unix socket is root's and
 * needs nothing): `public` needs no credential, `token` the UI token as cookie
 * or bearer header (and a matching Origin for POSTs), `bearer` the bearer
 * header only (the token-for-cookie trade). See ts/visor/http-guard.ts.
 */

export type AuthKind = 'public' | 'token' | 'bearer'
export type Method = 'GET' | 'POST'

export interface RoutePath {
  method: Method
  /** Fastify syntax: `:name` is a path parameter. */
  path: string
  auth: AuthKind
  /** Only on the web UI's TCP listener (not on the unix socket). */
  webOnly?: boolean
}

export const CONTROL_ROUTES = {
  health: { method: 'GET', path: '/api/health', auth: 'public' },
  status: { method: 'GET', path: '/api/status', auth: 'token' },
  vpnServers: { method: 'GET', path: '/api/vpn/servers', auth: 'token' },
  vpnServerCount: { method: 'GET', path: '/api/vpn/servers/count', auth: 'token' },
  /** Visors that forward for others (service discovery's type=hop, and VPN entries flagged hop), best first. */
  vpnHops: { method: 'GET', path: '/api/vpn/hops', auth: 'token' },
  transports: { method: 'GET', path: '/api/tp', auth: 'token' },
  addTransport: { method: 'POST', path: '/api/tp', auth: 'token' },
  closeTransport: { method: 'POST', path: '/api/tp/:id/close', auth: 'token' },
  vpnStatus: { method: 'GET', path: '/api/vpn/status', auth: 'token' },
  vpnStart: { method: 'POST', path: '/api/vpn/start', auth: 'token' },
  vpnStop: { method: 'POST', path: '/api/vpn/stop', auth: 'token' },
  serverStatus: { method: 'GET', path: '/api/vpn/server/status', auth: 'token' },
  serverStart: { method: 'POST', path: '/api/vpn/server/start', auth: 'token' },
  serverStop: { method: 'POST', path: '/api/vpn/server/stop', auth: 'token' },
  /** The VPN client's persisted settings (contracts/settings.ts): `vpn get` / `vpn set`, the UI's settings. */
  vpnSettings: { method: 'GET', path: '/api/vpn/settings', auth: 'token' },
  vpnSetSettings: { method: 'POST', path: '/api/vpn/settings', auth: 'token' },
  // The web UI's routes (ts/visor/ui-routes.ts).
  ui: { method: 'GET', path: '/api/ui', auth: 'token' },
  /** Server-sent events `tick` and `state` (contracts/status.ts). */
  events: { method: 'GET', path: '/api/events', auth: 'token' },
  session: { method: 'POST', path: '/api/session', auth: 'bearer', webOnly: true },
} as const satisfies Record<string, RoutePath>

export type RouteName = keyof typeof CONTROL_ROUTES

/**
 * The request target of a route: `:name` segments filled from `params`
 * (URI-encoded), the query's defined values appended.
 */
export function targetOf(
  r: Pick<RoutePath, 'path'>,
  params: Record<string, string | number> = {},
  query: Record<string, string | number | boolean | undefined> = {},
): string {
  const path = r.path.replace(/:([A-Za-z_]+)/g, (_, name: string) => {
    const v = params[name]
    if (v === undefined) throw new Error(`route ${r.path}: missing parameter ${name}`)
    return encodeURIComponent(String(v))
  })
  const qs = new URLSearchParams()
  for (const [k, v] of Object.entries(query)) if (v !== undefined) qs.set(k, String(v))
  const s = qs.toString()
  return s ? `${path}?${s}` : path
}
