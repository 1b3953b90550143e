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
import type { Topology } from '../../../ts/netlab/topology.js'
import { BIN, skywire, type CliResult } from './cli.js'

export const SERVICES_HTTP = '203.0.113.10:9090'
export const SERVICES_UDP = '203.0.113.10:9091'

export function tempDir(prefix: string): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), prefix))
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) }
}

export async function startServices(topo: Topology, dir: string): Promise<NsProcess> {
  const p = topo.lab.spawn(topo.services.ns, [
    process.execPath, BIN, 'services', '--http', SERVICES_HTTP, '--udp', SERVICES_UDP, '--db', join(dir, 'services.db'),
  ])
  await topo.lab.waitForTcp(topo.services.ns, '203.0.113.10', 9090, 20_000)
  return p
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
    services: { url: `http://${SERVICES_HTTP}`, udp: SERVICES_UDP },
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
