/** The page's client of the control API (same origin; the cookie carries the token). Routes from contracts/control-api.ts. */
import type { Answer, Body } from '../../contracts/control-api.js'
import { CONTROL_ROUTES, targetOf, type RouteName } from '../../contracts/control-routes.js'
import type { VpnClientStatus } from '../../contracts/status.js'
import type { VpnSettings, VpnSettingsPatch, VpnSettingsResult } from '../../contracts/settings.js'
import { apiErrorOf } from './errors.js'
import type { RouteChoice } from './route.js'
import type { ServerEntry } from './servers.js'

type Fetch = typeof fetch

export class Api {
  constructor(private readonly f: Fetch = (...a) => fetch(...a)) {}

  // The plain route table (no zod in the page's bundle); the answer's type comes from the schemas.
  private async call<N extends RouteName>(
    name: N,
    body?: Body<N> | Record<string, never>,
    query: Record<string, string | number | undefined> = {},
    headers: Record<string, string> = {},
  ): Promise<Answer<N>> {
    const r = CONTROL_ROUTES[name]
    const res = await this.f(targetOf(r, {}, query), {
      method: r.method,
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
    return json as Answer<N>
  }

  /** Trade the URL's token for the session cookie. */
  session(token: string): Promise<{ ok: boolean }> {
    return this.call('session', {}, {}, { authorization: `Bearer ${token}` })
  }

  /** Every VPN server in service discovery, a page at a time, up to `max`. */
  async servers(max = 1000): Promise<ServerEntry[]> {
    const out: ServerEntry[] = []
    for (let offset = 0; offset < max; ) {
      const page = await this.call('vpnServers', undefined, { limit: 100, offset })
      out.push(...page.entries)
      offset += page.entries.length
      if (page.entries.length === 0 || offset >= page.total) break
    }
    return out
  }

  /** Visors that forward for others (service discovery's hops), for the hop picker. */
  async hops(): Promise<ServerEntry[]> {
    return (await this.call('vpnHops')).entries
  }

  /** Connect to `pk`, straight or through hops (`route`: `via` keys or a number of `hops` to pick). */
  start(pk: string, timeoutS = 20, route: RouteChoice = {}): Promise<VpnClientStatus> {
    return this.call('vpnStart', { pk, timeoutS, ...route })
  }

  stop(): Promise<VpnClientStatus> {
    return this.call('vpnStop', {})
  }

  settings(): Promise<VpnSettings> {
    return this.call('vpnSettings')
  }

  setSettings(patch: VpnSettingsPatch): Promise<VpnSettingsResult> {
    return this.call('vpnSetSettings', patch)
  }
}
