/**
 * The lab's discovery services: one real `skywire services` process on the services host, on a SQLite file or a
 * Redis, at the addresses every lab visor's config points to.
 */
import { fileURLToPath } from 'node:url'
import type { NsProcess } from './exec.js'
import { INTERNET } from './lab-addresses.js'
import type { Topology } from './topology-types.js'

export const LAB_SERVICES_HTTP = `${INTERNET.services}:9090`
export const LAB_SERVICES_UDP = `${INTERNET.services}:9091`
/** The `services` section of a lab visor's config. */
export const LAB_SERVICES_CONFIG = { url: `http://${LAB_SERVICES_HTTP}`, udp: LAB_SERVICES_UDP } as const

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
  const argv = [process.execPath, opts.bin ?? BIN, 'services', '--http', LAB_SERVICES_HTTP, '--udp', LAB_SERVICES_UDP, ...store]
  const p = topo.lab.spawn(topo.services.ns, argv)
  await topo.lab.waitForTcp(topo.services.ns, INTERNET.services, 9090, opts.timeoutMs ?? 30_000)
  return p
}
