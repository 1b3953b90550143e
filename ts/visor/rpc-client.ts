/**
 * The CLI's client of the visor's control API: a unix socket path (the
 * default, root only) or HOST:PORT. A visor that is not running is one clear
 * line, not a connection-refused stack.
 */
import { SkywireError, type ErrorCode } from '../contracts/errors.js'
import type { PageResult, ServiceEntry } from '../contracts/services.js'
import { DEFAULT_RPC } from '../contracts/constants.js'
import type { Answer } from '../contracts/control-api.js'
import { CONTROL_ROUTES, targetOf, type RouteName, type RoutePath } from '../contracts/control-routes.js'
import { parseErrorBody } from '../contracts/http-error.js'
import type { VpnSettings, VpnSettingsPatch, VpnSettingsResult } from '../contracts/settings.js'
import type { RemoteStatus, VisorStatus, VpnClientStatus, VpnServerStatus } from '../contracts/status.js'

// `node:http` by getBuiltinModule, not `import`: an ES import of it builds the
// module's namespace, which runs its lazy getters (WebSocket and friends load
// undici on Node 22+): ~40 ms of CPU on every CLI call to a visor, more than a
// bare `node -e 0` (bench/README.md, "The time a user waits").
const { request } = process.getBuiltinModule('node:http')

export { DEFAULT_RPC }
export type { RemoteStatus }

/**
 * The routes as plain data (control-routes.ts), each tagged with its answer's type only: the zod schemas of
 * control-api.ts would add ~50 ms to every `skywire cli` command that calls a visor (bench/README.md, "The
 * time a user waits"), and this client never runs them: the visor validates what it is sent.
 */
type Routes = { readonly [N in RouteName]: (typeof CONTROL_ROUTES)[N] & { readonly answerType?: Answer<N> } }
const R: Routes = CONTROL_ROUTES

export class VisorClient {
  constructor(
    readonly rpc: string = DEFAULT_RPC,
    private readonly timeoutMs = 60_000,
  ) {}

  private target(): { socketPath: string } | { host: string; port: number } {
    if (this.rpc.includes('/')) return { socketPath: this.rpc }
    const m = /^(?:\[([^\]]+)\]|([^:]+)):(\d+)$/.exec(this.rpc)
    if (!m) throw new SkywireError('EUSAGE', `--rpc must be a socket path or HOST:PORT, got ${this.rpc}`)
    return { host: m[1] ?? m[2] ?? '127.0.0.1', port: Number(m[3]) }
  }

  call<T>(method: 'GET' | 'POST', path: string, body?: unknown): Promise<T> {
    const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body))
    return new Promise<T>((resolve, reject) => {
      const t = this.target()
      const req = request(
        {
          ...t,
          method,
          path,
          headers: {
            host: 'localhost',
            ...(payload ? { 'content-type': 'application/json', 'content-length': payload.length } : {}),
            // The TCP listener is the web UI's: it wants the UI token (from
            // `vpn url`), and for changes an Origin matching Host.
            ...('host' in t && process.env.SKYWIRE_TOKEN ? { authorization: `Bearer ${process.env.SKYWIRE_TOKEN}`, origin: 'http://localhost' } : {}),
          },
          timeout: this.timeoutMs,
        },
        (res) => {
          const chunks: Buffer[] = []
          res.on('data', (c: Buffer) => chunks.push(c))
          res.on('end', () => {
            const text = Buffer.concat(chunks).toString('utf8')
            let json: unknown
            try {
              json = text ? JSON.parse(text) : {}
            } catch {
              return reject(new SkywireError('EINTERNAL', `the visor answered ${res.statusCode} with non-JSON`))
            }
            if ((res.statusCode ?? 500) >= 400) {
              const e = parseErrorBody(json)
              return reject(new SkywireError((e.code ?? 'EINTERNAL') as ErrorCode, e.message ?? `visor answered ${res.statusCode}`))
            }
            resolve(json as T)
          })
        },
      )
      req.on('timeout', () => req.destroy(new Error('timeout')))
      req.on('error', (err: NodeJS.ErrnoException) => {
        if (['ENOENT', 'ECONNREFUSED'].includes(err.code ?? '')) {
          reject(new SkywireError('EUNREACHABLE', `no visor is running at ${this.rpc} (start one with \`skywire visor\`)`))
        } else if (err.code === 'EACCES') {
          reject(new SkywireError('EPERM', `permission denied on ${this.rpc}: the visor's control socket is root's`))
        } else if (err.message === 'timeout') {
          reject(new SkywireError('ETIMEOUT', `the visor at ${this.rpc} did not answer in time`))
        } else {
          reject(new SkywireError('EUNREACHABLE', `cannot talk to the visor at ${this.rpc}: ${err.message}`))
        }
      })
      if (payload) req.write(payload)
      req.end()
    })
  }

  /** One route of the control API's table (contracts/control-routes.ts). */
  private route<A>(
    r: RoutePath & { readonly answerType?: A },
    body?: unknown,
    params?: Record<string, string | number>,
    query?: Record<string, string | number | undefined>,
  ): Promise<A> {
    return this.call(r.method, targetOf(r, params, query), body)
  }

  transports(): Promise<VisorStatus['transports']> {
    return this.route(R.transports)
  }
  addTransport(pk: string, o: { type?: 'stcpr' | 'sudph'; timeoutS?: number } = {}): Promise<VisorStatus['transports'][number]> {
    return this.route(R.addTransport, { pk, ...o })
  }
  closeTransport(id: number): Promise<{ closed: number }> {
    return this.route(R.closeTransport, {}, { id })
  }
  status(): Promise<RemoteStatus> {
    return this.route(R.status)
  }
  vpnStatus(): Promise<VpnClientStatus> {
    return this.route(R.vpnStatus)
  }
  vpnStart(pk: string, o: { existingTp?: boolean; timeoutS?: number; via?: string[]; hops?: number } = {}): Promise<VpnClientStatus> {
    return this.route(R.vpnStart, { pk, ...o })
  }
  vpnStop(): Promise<VpnClientStatus> {
    return this.route(R.vpnStop, {})
  }
  vpnServers(q: { country?: string; offset?: number; limit?: number } = {}): Promise<PageResult<ServiceEntry>> {
    return this.route(R.vpnServers, undefined, {}, q)
  }
  /** Visors that forward (multi-hop), best first. */
  vpnHops(): Promise<{ entries: ServiceEntry[]; total: number }> {
    return this.route(R.vpnHops)
  }
  vpnServerCount(): Promise<{ total: number; byCountry: Record<string, number> }> {
    return this.route(R.vpnServerCount)
  }
  serverStatus(): Promise<VpnServerStatus> {
    return this.route(R.serverStatus)
  }
  serverStart(o: { netifc?: string; secure?: boolean; whitelist?: string[] }): Promise<VpnServerStatus> {
    return this.route(R.serverStart, o)
  }
  serverStop(): Promise<VpnServerStatus> {
    return this.route(R.serverStop, {})
  }
  vpnSettings(): Promise<VpnSettings> {
    return this.route(R.vpnSettings)
  }
  vpnSetSettings(patch: VpnSettingsPatch): Promise<VpnSettingsResult> {
    return this.route(R.vpnSetSettings, patch)
  }
  /** The web UI's URL (token in the fragment) and listener; ENOTAVAILABLE when the UI is off. */
  ui(): Promise<{ url: string; listen: string }> {
    return this.route(R.ui)
  }
}
