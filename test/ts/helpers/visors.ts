/**
 * Real `skywire services` and `skywire visor` processes inside lab
 * namespaces, and the real CLI talking to them over their control sockets.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { generateConfig } from '../../../ts/config/file.js'
import type { Config, ConfigInput } from '../../../ts/config/schema.js'
import type { NsProcess } from '../../../ts/netlab/exec.js'
import { LAB_SERVICES_CONFIG, startLabServices } from '../../../ts/netlab/lab-services.js'
import type { Topology, TopologyOptions } from '../../../ts/netlab/topology.js'
import { afterAll, beforeAll } from 'vitest'
import { useTopology } from './lab.js'
import { BIN, skywire, type CliResult } from './cli.js'

export { LAB_SERVICES_HTTP as SERVICES_HTTP, LAB_SERVICES_UDP as SERVICES_UDP } from '../../../ts/netlab/lab-services.js'

export function tempDir(prefix: string): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), prefix))
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) }
}

export async function startServices(topo: Topology, dir: string): Promise<NsProcess> {
  return startLabServices(topo, { store: { db: join(dir, 'services.db') }, bin: BIN, timeoutMs: 20_000 })
}

type Overrides = Partial<Omit<ConfigInput, 'pk' | 'sk' | 'version'>>

export interface TestVisor {
  ns: string
  config: Config
  file: string
  rpc: string
  proc: NsProcess | null
  cli(args: string[]): CliResult
  start(): Promise<void>
  stop(): Promise<void>
  kill9(): Promise<void>
}

export function makeVisor(topo: Topology, ns: string, dir: string, name: string, o: Overrides = {}): TestVisor {
  const rpc = join(dir, `${name}.sock`)
  const config = generateConfig({
    dataDir: join(dir, name),
    logLevel: 'debug',
    services: { ...LAB_SERVICES_CONFIG },
    control: { socket: rpc, listen: '' },
    ...o,
  })
  const file = join(dir, `${name}.json`)
  writeFileSync(file, JSON.stringify(config), { mode: 0o600 })
  const v: TestVisor = {
    ns,
    config,
    file,
    rpc,
    proc: null,
    cli: (args) => skywire([...args, '--rpc', rpc]),
    async start() {
      v.proc = topo.lab.spawn(ns, [process.execPath, BIN, 'visor', '-c', file])
      await v.proc.waitForOutput(/control API listening/, 20_000)
    },
    async stop() {
      await v.proc?.kill('SIGTERM', 10_000)
      v.proc = null
    },
    async kill9() {
      await v.proc?.kill('SIGKILL', 1000)
      v.proc = null
    },
  }
  return v
}

export interface VpnLab {
  topo(): Topology
  services(): NsProcess
  visor(name: string): TestVisor
}

/**
 * A topology with the discovery services and the named visors running for a
 * describe block, stopped in order after it. `beforeStart` runs once the
 * visors are configured but before any starts (to snapshot the namespaces).
 */
export function useVpnLab(
  topoOpts: TopologyOptions,
  specs: (t: Topology) => Record<string, { ns: string; config?: Overrides }>,
  opts: { beforeStart?: (t: Topology) => Promise<void> } = {},
): VpnLab {
  const topo = useTopology(topoOpts)
  const tmp = tempDir('skywire-lab-')
  let services: NsProcess | null = null
  const visors = new Map<string, TestVisor>()
  beforeAll(async () => {
    const t = topo()
    services = await startServices(t, tmp.dir)
    for (const [name, s] of Object.entries(specs(t))) visors.set(name, makeVisor(t, s.ns, tmp.dir, name, s.config))
    await opts.beforeStart?.(t)
    await Promise.all([...visors.values()].map((v) => v.start()))
  }, 90_000)
  afterAll(async () => {
    await Promise.all([...visors.values()].map((v) => v.stop()))
    await services?.kill('SIGTERM', 3000)
    tmp.cleanup()
  })
  return {
    topo,
    services: () => {
      if (!services) throw new Error('services not started (did beforeAll fail?)')
      return services
    },
    visor: (name) => {
      const v = visors.get(name)
      if (!v) throw new Error(`no visor ${name} (did beforeAll fail?)`)
      return v
    },
  }
}

/** The usual pair: a VPN server (DNS on the lab's resolver) and a client that serves nothing. */
export function serverAndClient(t: Topology): Record<string, { ns: string; config?: Overrides }> {
  return {
    server: { ns: t.server.ns, config: { vpnServer: { dns: ['203.0.113.53'] } } },
    client: { ns: t.client.ns, config: { vpnServer: { autostart: false } } },
  }
}
