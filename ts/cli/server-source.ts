/**
 * Where `vpn list` and `vpn start` get the VPN servers from. `vpn list` works
 * without a running visor and without root, as Skywire's does: it asks the
 * discovery services itself (`--services URL`, or `services.url` of the
 * config named by `--config`, or of the default config when it is readable).
 * Only when none of these is given does it ask the visor at `--rpc` (which
 * pages the services for it). Either way this visor's own key is known when
 * possible, so it is never offered as a server.
 */
import { existsSync } from 'node:fs'
import { loadConfig } from '../config/file.js'
import { httpUrl } from '../config/schema.js'
import { SkywireError } from '../contracts/errors.js'
import type { ServiceCounts } from '../contracts/services.js'
import type { CandidateSource } from '../discovery/choose.js'
import { ServicesClient } from '../discovery/client.js'
import { defaultProbe, LatencyCache, probeAddresses } from '../discovery/latency.js'
import type { FetchPage } from '../discovery/servers.js'
import { VisorClient } from '../visor/rpc-client.js'
import { DEFAULT_CONFIG } from './flags.js'

export interface ServerSource extends CandidateSource {
  /** Where the list comes from, for messages: a URL, or "the visor at …". */
  from: string
  /** This visor's key, when known (never listed). */
  self: string | null
  counts: () => Promise<ServiceCounts>
}

export interface SourceFlags {
  services?: string
  config?: string
  rpc?: string
}

/** One process's probe cache: a list and a start in one run measure once. */
const cache = new LatencyCache()

/**
 * The discovery services to ask directly (`--services`, else the config's
 * `services.url`; null: ask the visor instead) and this visor's key when its
 * config is readable here.
 */
export async function servicesFromFlags(f: SourceFlags): Promise<{ url: string | null; self: string | null }> {
  let url: string | null = f.services ?? null
  let self: string | null = null
  const configFile = f.config ?? (existsSync(DEFAULT_CONFIG) ? DEFAULT_CONFIG : null)
  if (configFile !== null) {
    try {
      const c = await loadConfig(configFile)
      url ??= c.services.url
      self = c.pk
    } catch (err) {
      // A config named on the command line must be read; the default one is only a convenience.
      if (f.config !== undefined) throw err
    }
  }
  if (url !== null && !httpUrl.safeParse(url).success) throw new SkywireError('EUSAGE', `--services must be an http(s) URL, got "${url}"`)
  return { url, self }
}

export async function serverSource(f: SourceFlags): Promise<ServerSource> {
  const found = await servicesFromFlags(f)
  const url = found.url
  let self = found.self
  if (url !== null) {
    const services = new ServicesClient({ url, timeoutMs: 5000, retries: 1 })
    // The visor's key, when its config was not readable here: only if it answers quickly.
    self ??= await new VisorClient(f.rpc, 2000)
      .status()
      .then((s) => s.visor.pk)
      .catch(() => null)
    return direct(services, self, url)
  }
  // No services URL anywhere: the visor knows it, and pages the services for us.
  const v = new VisorClient(f.rpc)
  const st = await v.status().catch((err: unknown) => {
    // The list needs no visor: say how to do without one.
    if (err instanceof SkywireError && err.code === 'EUNREACHABLE') {
      throw new SkywireError('EUNREACHABLE', `${err.message}; or name the discovery services with --services URL or --config FILE`)
    }
    throw err
  })
  const resolver = new ServicesClient({ url: st.visor.services, timeoutMs: 1500, retries: 0 })
  return {
    from: `the visor at ${f.rpc ?? 'the default control socket'}`,
    self: st.visor.pk,
    fetchPage: (country) => (offset, limit) => v.vpnServers({ ...(country ? { country } : {}), offset, limit }),
    addresses: async (pk) => probeAddresses(await resolver.resolve(pk)),
    probe: defaultProbe,
    cache,
    counts: () => v.vpnServerCount(),
  }
}

function direct(services: ServicesClient, self: string | null, url: string): ServerSource {
  const resolver = new ServicesClient({ url, timeoutMs: 1500, retries: 0 })
  const fetchPage =
    (country: string | undefined): FetchPage =>
    (offset, limit) =>
      services.listServices({ type: 'vpn', ...(country ? { country } : {}), offset, limit })
  return {
    from: url,
    self,
    fetchPage,
    addresses: async (pk) => probeAddresses(await resolver.resolve(pk)),
    probe: defaultProbe,
    cache,
    counts: () => services.countServices('vpn'),
  }
}
