/**
 * Typed client of the discovery services (docs/services-api.md), used by the
 * visor and by `skywire cli vpn list`. Writes are signed with the visor's
 * key and sent one at a time, so their nonces reach the server in order.
 * Every request is idempotent by design (upserts and deletes), so all of them
 * are retried with backoff on network errors and 5xx; a 4xx is never retried.
 */
import { native } from '../native/loader.js'
import { SkywireError, type ErrorCode } from '../contracts/errors.js'
import { publicKeyOf } from '../native/keys.js'
import { parseErrorBody } from '../contracts/http-error.js'
import { markedRequest } from './marked-http.js'
import { HEADER_NONCE, HEADER_PK, HEADER_SIG, NonceSource, signingMessage } from './signing.js'
import type { Health, Page, PageResult, ResolveResult, ServiceCounts, ServiceEntry, TransportEntry, TransportType } from '../contracts/services.js'

// The wire records live in contracts (shared with the services and the web UI); re-exported for the library API.
export type { Health, Page, PageResult, ResolveResult, ServiceCounts, ServiceEntry, TransportEntry, TransportType }

export interface ServiceRegistration {
  /** Defaults to this client's `pk:port` when only `port` is given. */
  address?: string
  port?: number
  type?: string
  country?: string
  version: string
  stats: { connectedClients: number } & Record<string, number>
}

export interface ServiceQuery {
  type?: string
  country?: string
  version?: string
  offset?: number
  limit?: number
}

export interface ServicesClientOptions {
  /** Base URL, e.g. http://127.0.0.1:9090 */
  url: string
  /** The visor's secret key; needed only for writes. */
  secretKey?: string
  /** Per attempt. */
  timeoutMs?: number
  /** Extra attempts after the first, for network errors and 5xx. */
  retries?: number
  /** First backoff; doubles per attempt, with jitter. */
  backoffMs?: number
  /**
   * Send every request over a socket carrying the bypass mark (the visor: its
   * requests must leave outside the VPN client's tunnel, see marked-http.ts).
   * Off for the CLI, which may run unprivileged and is not the visor: its requests go where routing sends them.
   */
  bypassMark?: boolean
}

/** A 4xx answer: the request was understood and refused. */
export class ServicesRequestError extends SkywireError {
  constructor(
    code: ErrorCode,
    message: string,
    readonly status: number,
    /** The API's error code, e.g. "unauthorized". */
    readonly apiCode: string,
  ) {
    super(code, message)
    this.name = 'ServicesRequestError'
  }
}

function errorCodeFor(status: number): ErrorCode {
  if (status === 401) return 'EAUTH'
  if (status === 403) return 'EFORBIDDEN'
  if (status === 404) return 'ENOTFOUND'
  return 'EBADREQUEST'
}

interface Attempt {
  method: 'GET' | 'PUT' | 'POST' | 'DELETE'
  path: string
  body?: unknown
  signed: boolean
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

export class ServicesClient {
  readonly url: string
  readonly pk: string | null
  private readonly sk: string | null
  private readonly timeoutMs: number
  private readonly retries: number
  private readonly backoffMs: number
  private readonly bypassMark: boolean
  private readonly nonces = new NonceSource()
  private writeChain: Promise<unknown> = Promise.resolve()

  constructor(opts: ServicesClientOptions) {
    this.url = opts.url.replace(/\/+$/, '')
    this.sk = opts.secretKey ?? null
    this.pk = this.sk ? publicKeyOf(this.sk) : null
    this.timeoutMs = opts.timeoutMs ?? 5000
    this.retries = opts.retries ?? 2
    this.backoffMs = opts.backoffMs ?? 200
    this.bypassMark = opts.bypassMark ?? false
  }

  // ---- general ----

  health(): Promise<Health> {
    return this.request({ method: 'GET', path: '/health', signed: false })
  }

  // ---- address resolver ----

  registerStcpr(addresses: string[]): Promise<{ pk: string; addresses: string[]; ttlS: number }> {
    return this.request({ method: 'PUT', path: '/ar/stcpr', body: { addresses }, signed: true })
  }

  /** False when there was no registration. */
  deleteStcpr(): Promise<boolean> {
    return this.deleted({ method: 'DELETE', path: '/ar/stcpr', signed: true })
  }

  /** Null when the PK has neither an STCPR registration nor a SUDPH binding. */
  resolve(pk: string): Promise<ResolveResult | null> {
    return this.orNull({ method: 'GET', path: `/ar/resolve/${encodeURIComponent(pk)}`, signed: false })
  }

  // ---- service discovery ----

  /** Register or heartbeat (the same call). */
  registerService(reg: ServiceRegistration): Promise<{ entry: ServiceEntry; ttlS: number }> {
    const address = reg.address ?? `${this.requirePk()}:${reg.port ?? 0}`
    const body: Record<string, unknown> = { address, type: reg.type ?? 'vpn', version: reg.version, stats: reg.stats }
    if (reg.country !== undefined) body.country = reg.country
    return this.request({ method: 'POST', path: '/sd/services', body, signed: true })
  }

  getService(address: string): Promise<ServiceEntry | null> {
    return this.orNull({ method: 'GET', path: `/sd/services/${encodeURIComponent(address)}`, signed: false })
  }

  listServices(q: ServiceQuery = {}): Promise<PageResult<ServiceEntry>> {
    return this.request({ method: 'GET', path: `/sd/services${query({ type: 'vpn', ...q })}`, signed: false })
  }

  countServices(type = 'vpn'): Promise<ServiceCounts & { type: string }> {
    return this.request({ method: 'GET', path: `/sd/services/count${query({ type })}`, signed: false })
  }

  deleteService(address: string): Promise<boolean> {
    return this.deleted({ method: 'DELETE', path: `/sd/services/${encodeURIComponent(address)}`, signed: true })
  }

  // ---- transport discovery ----

  registerTransport(t: { id: string; edges: [string, string]; type: TransportType }): Promise<{ entry: TransportEntry; ttlS: number }> {
    return this.request({ method: 'POST', path: '/tpd/transports', body: t, signed: true })
  }

  getTransport(id: string): Promise<TransportEntry | null> {
    return this.orNull({ method: 'GET', path: `/tpd/transports/${encodeURIComponent(id)}`, signed: false })
  }

  transportsOf(pk: string, page: { offset?: number; limit?: number } = {}): Promise<PageResult<TransportEntry>> {
    return this.request({ method: 'GET', path: `/tpd/transports${query({ pk, ...page })}`, signed: false })
  }

  deleteTransport(id: string): Promise<boolean> {
    return this.deleted({ method: 'DELETE', path: `/tpd/transports/${encodeURIComponent(id)}`, signed: true })
  }

  // ---- plumbing ----

  private requirePk(): string {
    if (!this.pk) throw new SkywireError('EUSAGE', 'this discovery client has no secret key; writes need one')
    return this.pk
  }

  private async orNull<T>(a: Attempt): Promise<T | null> {
    try {
      return await this.request<T>(a)
    } catch (err) {
      if (err instanceof ServicesRequestError && err.status === 404) return null
      throw err
    }
  }

  private async deleted(a: Attempt): Promise<boolean> {
    return (await this.orNull<{ deleted: boolean }>(a)) !== null
  }

  private async request<T>(a: Attempt): Promise<T> {
    if (!a.signed) return this.withRetries<T>(a)
    this.requirePk()
    // Serialise writes: a later nonce must not overtake an earlier one on the wire.
    const run = this.writeChain.then(() => this.withRetries<T>(a))
    this.writeChain = run.catch(() => undefined)
    return run
  }

  private async withRetries<T>(a: Attempt): Promise<T> {
    let lastErr: unknown
    for (let attempt = 0; attempt <= this.retries; attempt++) {
      if (attempt > 0) await sleep(this.backoffMs * 2 ** (attempt - 1) * (0.5 + Math.random()))
      try {
        return await this.once<T>(a)
      } catch (err) {
        if (err instanceof ServicesRequestError) throw err
        lastErr = err
      }
    }
    const why = lastErr instanceof Error ? lastErr.message : String(lastErr)
    throw new SkywireError('EUNREACHABLE', `discovery services at ${this.url} are not reachable: ${why}`, { cause: lastErr })
  }

  private async once<T>(a: Attempt): Promise<T> {
    const body = a.body === undefined ? Buffer.alloc(0) : Buffer.from(JSON.stringify(a.body), 'utf8')
    const headers: Record<string, string> = { accept: 'application/json' }
    if (a.body !== undefined) headers['content-type'] = 'application/json'
    if (a.signed && this.sk && this.pk) {
      // A fresh nonce per attempt: a retry of a request that did arrive must not look like a replay.
      const nonce = this.nonces.next()
      headers[HEADER_PK] = this.pk
      headers[HEADER_NONCE] = nonce
      headers[HEADER_SIG] = native.sign(this.sk, signingMessage(a.method, a.path, body, nonce)).toString('hex')
    }
    let res: { status: number; statusText: string; text: string }
    if (this.bypassMark) {
      res = await markedRequest(this.url + a.path, {
        method: a.method,
        headers,
        body: a.body === undefined ? undefined : body,
        timeoutMs: this.timeoutMs,
      })
    } else {
      let r: Response
      try {
        r = await fetch(this.url + a.path, {
          method: a.method,
          headers,
          body: a.body === undefined ? undefined : body,
          signal: AbortSignal.timeout(this.timeoutMs),
        })
      } catch (err) {
        const e = err as Error & { cause?: { code?: string; message?: string } }
        if (e.name === 'TimeoutError') throw new Error(`no answer within ${this.timeoutMs} ms`)
        throw new Error(e.cause?.code ?? e.cause?.message ?? e.message)
      }
      res = { status: r.status, statusText: r.statusText, text: await r.text().catch(() => '') }
    }
    const text = res.text
    // 5xx and 429 are worth another try after a backoff; other 4xx will not change.
    if (res.status >= 500 || res.status === 429) throw new Error(`HTTP ${res.status}: ${apiMessage(text) ?? res.statusText}`)
    if (res.status >= 400) {
      const apiCode = apiErrorCode(text) ?? 'bad_request'
      throw new ServicesRequestError(
        errorCodeFor(res.status),
        `discovery services refused ${a.method} ${a.path.split('?')[0]}: ${apiMessage(text) ?? `HTTP ${res.status}`}`,
        res.status,
        apiCode,
      )
    }
    try {
      return JSON.parse(text) as T
    } catch {
      throw new Error(`answer to ${a.method} ${a.path} is not JSON`)
    }
  }
}

function query(q: Record<string, string | number | undefined>): string {
  const p = new URLSearchParams()
  for (const [k, v] of Object.entries(q)) if (v !== undefined) p.set(k, String(v))
  const s = p.toString()
  return s ? `?${s}` : ''
}

// The services' error envelope is read in one place (contracts/http-error.ts), as the CLI and the UI read the visor's.
function apiMessage(text: string): string | null {
  return parseErrorBody(text).message
}

function apiErrorCode(text: string): string | null {
  return parseErrorBody(text).code
}
