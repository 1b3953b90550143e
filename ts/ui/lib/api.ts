/** The page's client of the control API (same origin; the cookie carries the token). */
import { apiErrorOf } from './errors.js'
import type { ClientStatus, ServerEntry, ServerPage } from './types.js'

type Fetch = typeof fetch

export class Api {
  constructor(private readonly f: Fetch = (...a) => fetch(...a)) {}

  private async call<T>(method: 'GET' | 'POST', path: string, body?: unknown, headers: Record<string, string> = {}): Promise<T> {
    const res = await this.f(path, {
      method,
      credentials: 'same-origin',
      headers: { accept: 'application/json', ...(body !== undefined ? { 'content-type': 'application/json' } : {}), ...headers },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    })
    const text = await res.text()
    let json: unknown = null
    try {
      json = text ? JSON.parse(text) : null
    } catch {
      // a proxy's HTML error page, say: the status tells enough
    }
    if (!res.ok) throw apiErrorOf(res.status, json)
    return json as T
  }

  /** Trade the URL's token for the session cookie. */
  session(token: string): Promise<{ ok: boolean }> {
    return this.call('POST', '/api/session', {}, { authorization: `Bearer ${token}` })
  }

  /** Every VPN server in service discovery, a page at a time, up to `max`. */
  async servers(max = 1000): Promise<ServerEntry[]> {
    const out: ServerEntry[] = []
    for (let offset = 0; offset < max; ) {
      const page = await this.call<ServerPage>('GET', `/api/vpn/servers?limit=100&offset=${offset}`)
      out.push(...page.entries)
      offset += page.entries.length
      if (page.entries.length === 0 || offset >= page.total) break
    }
    return out
  }

  start(pk: string, timeoutS = 20): Promise<ClientStatus> {
    return this.call('POST', '/api/vpn/start', { pk, timeoutS })
  }

  stop(): Promise<ClientStatus> {
    return this.call('POST', '/api/vpn/stop', {})
  }
}
