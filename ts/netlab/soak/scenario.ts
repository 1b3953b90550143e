/**
 * The soak's cast on the lab: the discovery services, two VPN server visors
 * (server, server2) and N client visors, each client in its own namespace
 * behind its own NAT, connected to server (even clients) or server2 (odd),
 * half of each server's clients over STCPR and half over SUDPH.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { generateConfig } from '../../config/file.js'
import type { Config } from '../../config/schema.js'
import type { VpnClientStatus } from '../../vpn/client.js'
import type { VpnServerStatus } from '../../vpn/server.js'
import { VisorClient } from '../../visor/rpc-client.js'
import type { NsProcess } from '../exec.js'
import { LAB_SERVICES_CONFIG, startLabServices } from '../lab-services.js'
import { buildTopology, INTERNET, type Topology } from '../topology.js'

export const BIN = fileURLToPath(new URL('../../../bin/run.js', import.meta.url))

export type Transport = 'stcpr' | 'sudph'

export interface SoakVisor {
  name: string
  ns: string
  config: Config
  file: string
  api: VisorClient
  proc: NsProcess | null
}

export interface SoakClient extends SoakVisor {
  index: number
  server: SoakVisor
  transport: Transport
}

export interface Cast {
  topo: Topology
  dir: string
  services: NsProcess
  servers: SoakVisor[]
  clients: SoakClient[]
  close(): Promise<void>
}

/** Runs `fn` over `items`, at most `n` at a time (100 visors starting at once starve 2 cores). */
export async function pool<T, R>(items: readonly T[], n: number, fn: (x: T, i: number) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length)
  let next = 0
  const worker = async () => {
    while (next < items.length) {
      const i = next++
      out[i] = await fn(items[i] as T, i)
    }
  }
  await Promise.all(Array.from({ length: Math.min(n, items.length) }, worker))
  return out
}

function makeVisor(dir: string, name: string, ns: string, o: Parameters<typeof generateConfig>[0]): SoakVisor {
  const rpc = join(dir, `${name}.sock`)
  const config = generateConfig({
    dataDir: join(dir, name),
    // info: the soak reads the visors' logs for reconnects; debug would be
    // megabytes of hole-punching chatter per visor.
    logLevel: 'info',
    services: LAB_SERVICES_CONFIG,
    control: { socket: rpc, listen: '' },
    ...o,
  })
  const file = join(dir, `${name}.json`)
  writeFileSync(file, JSON.stringify(config), { mode: 0o600 })
  return { name, ns, config, file, api: new VisorClient(rpc, 60_000), proc: null }
}

async function startVisor(topo: Topology, v: SoakVisor, logBytes: number): Promise<void> {
  v.proc = topo.lab.spawn(v.ns, [process.execPath, BIN, 'visor', '-c', v.file], { maxBuffer: logBytes })
  await v.proc.waitForOutput(/control API listening/, 120_000)
}

export interface CastOptions {
  clients: number
  /** Visors started (and clients connected) at once. */
  concurrency: number
  log?: (msg: string) => void
}

/** Builds the lab and starts everything; on failure tears down what it built. */
export async function buildCast(o: CastOptions): Promise<Cast> {
  const log = o.log ?? (() => {})
  const topo = await buildTopology({ clients: o.clients, servers: 2, ipv6: false })
  const dir = mkdtempSync(join(tmpdir(), 'skywire-soak-'))
  const visors: SoakVisor[] = []
  const close = async () => {
    await pool(
      visors.filter((v) => v.proc),
      16,
      async (v) => v.proc?.kill('SIGTERM', 15_000),
    )
    await topo.close(5000)
    rmSync(dir, { recursive: true, force: true })
  }
  try {
    log(`lab built: ${topo.namespaces().length} namespaces`)
    const services = await startLabServices(topo, { store: { db: join(dir, 'services.db') }, bin: BIN })
    const server2 = topo.server2
    if (server2 === null) throw new Error('topology without server2')
    const servers = [
      makeVisor(dir, 'server', topo.server.ns, { vpnServer: { dns: [INTERNET.dns] } }),
      makeVisor(dir, 'server2', server2.ns, { vpnServer: { dns: [INTERNET.dns] } }),
    ]
    visors.push(...servers)
    await Promise.all(servers.map((s) => startVisor(topo, s, 16 << 20)))
    log('servers up')
    const clients: SoakClient[] = topo.clients.map((h, index) => {
      const server = servers[index % 2] as SoakVisor
      // Alternate the transport every second client, so each server gets half of each.
      const transport: Transport = Math.floor(index / 2) % 2 === 0 ? 'stcpr' : 'sudph'
      const v = makeVisor(dir, h.role, h.ns, { vpnServer: { autostart: false }, transports: { order: [transport] } })
      return { ...v, index, server, transport }
    })
    visors.push(...clients)
    await pool(clients, o.concurrency, (c) => startVisor(topo, c, 2 << 20))
    log(`${clients.length} client visors up`)
    return { topo, dir, services, servers, clients, close }
  } catch (e) {
    await close().catch(() => topo.teardown())
    throw e
  }
}

/** Connects one client to its server, retrying while the server is not yet resolvable. */
export async function connect(c: SoakClient, deadlineMs: number, onAttempt?: (n: number) => void): Promise<VpnClientStatus> {
  let last: unknown
  for (let n = 1; Date.now() < deadlineMs; n++) {
    onAttempt?.(n)
    try {
      const timeoutS = Math.max(5, Math.min(30, Math.round((deadlineMs - Date.now()) / 1000)))
      return await c.api.call<VpnClientStatus>('POST', '/api/vpn/start', { pk: c.server.config.pk, timeoutS })
    } catch (e) {
      last = e
      await new Promise((r) => setTimeout(r, 2000))
    }
  }
  throw new Error(`${c.name} could not connect over ${c.transport}: ${(last as Error)?.message}`)
}

export const clientStatus = (c: SoakVisor) => c.api.call<VpnClientStatus>('GET', '/api/vpn/status')
export const serverStatus = (s: SoakVisor) => s.api.call<VpnServerStatus>('GET', '/api/vpn/server/status')

/** The visor's log lines (pino JSON) with `msg` in `msgs`. */
export function logLines(v: SoakVisor, msgs: readonly string[]): { msg: string; time: number; [k: string]: unknown }[] {
  const out: { msg: string; time: number }[] = []
  for (const l of (v.proc?.output().stdout ?? '').split('\n')) {
    if (!l.startsWith('{')) continue
    try {
      const j = JSON.parse(l) as { msg: string; time: number }
      if (msgs.includes(j.msg)) out.push(j)
    } catch {
      // a line cut by the output buffer's tail
    }
  }
  return out
}
