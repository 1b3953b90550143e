/**
 * The lab's discovery services: one real `skywire services` process on the services host, on a SQLite file or a
 * Redis, at the addresses every lab visor's config points to.
 */
import { fileURLToPath } from 'node:url'
import type { NsProcess } from './exec.js'
import { INTERNET } from './lab-addresses.js'
import type { Host, Topology } from './topology-types.js'

export const LAB_SERVICES_HTTP = `${INTERNET.services}:9090`
export const LAB_SERVICES_UDP = `${INTERNET.services}:9091`
/** The `services` section of a lab visor's config. */
export const LAB_SERVICES_CONFIG = { url: `http://${LAB_SERVICES_HTTP}`, udp: LAB_SERVICES_UDP } as const
/** The same services over IPv6, for a visor on an IPv6-only host (the services then listen on both families). */
export const LAB_SERVICES_CONFIG6 = { url: `http://[${INTERNET.services6}]:9090`, udp: `[${INTERNET.services6}]:9091` } as const

/**
 * The `services` section for a visor on `host`: over IPv6 when the host has no IPv4. Where the services
 * listen on both families (labServicesListen), a visor with IPv4 also gets the resolver's IPv6 address
 * (`udp6`), so it keeps a SUDPH binding over each family and can punch to an IPv6-only peer.
 */
export function labServicesConfig(topo: Topology, host: Host): { url: string; udp: string; udp6?: string } {
  if (host.stack === 'v6') return { ...LAB_SERVICES_CONFIG6 }
  const both = labServicesListen(topo).udp.startsWith('[::]')
  return both && host.stack === 'dual' ? { ...LAB_SERVICES_CONFIG, udp6: LAB_SERVICES_CONFIG6.udp } : { ...LAB_SERVICES_CONFIG }
}

/**
 * Where the services listen: their IPv4 address, or every address of both families
 * (`[::]`, a dual-stack socket) when some host of the topology is IPv6-only and must
 * reach them over IPv6. IPv4-only listening stays the default so labs without such
 * hosts run the services exactly as before.
 */
export function labServicesListen(topo: Topology): { http: string; udp: string } {
  const hosts = [topo.server, topo.server2, ...topo.clients]
  return hosts.some((h) => h?.stack === 'v6') ? { http: '[::]:9090', udp: '[::]:9091' } : { http: LAB_SERVICES_HTTP, udp: LAB_SERVICES_UDP }
}

/** The package's CLI (bin/run.js), which `skywire services` runs from. */
const BIN = fileURLToPath(new URL('../../bin/run.js', import.meta.url))

export interface LabServicesOptions {
  /** The store: a SQLite file, or a Redis URL. */
  store: { db: string } | { redis: string }
  /** The CLI to run (default: this package's bin/run.js). */
  bin?: string
  /** How long to wait for the HTTP port (default 30 s). */
  timeoutMs?: number
}

/** Starts the services and resolves once their HTTP port accepts connections. */
export async function startLabServices(topo: Topology, opts: LabServicesOptions): Promise<NsProcess> {
  const store = 'db' in opts.store ? ['--db', opts.store.db] : ['--redis', opts.store.redis]
  const listen = labServicesListen(topo)
  const argv = [process.execPath, opts.bin ?? BIN, 'services', '--http', listen.http, '--udp', listen.udp, ...store]
  const p = topo.lab.spawn(topo.services.ns, argv)
  await topo.lab.waitForTcp(topo.services.ns, INTERNET.services, 9090, opts.timeoutMs ?? 30_000)
  return p
}
