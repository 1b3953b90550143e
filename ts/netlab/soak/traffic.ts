/**
 * The soak's traffic: one sink on the fake internet, one agent per client
 * (agent.ts) inside the client's namespace, so every byte crosses that
 * client's tunnel. Parses the agents' JSON counter lines.
 */
import { existsSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { NetlabError } from '../errors.js'
import type { NsProcess } from '../exec.js'
import type { Lab } from '../netns.js'
import type { AgentOptions, AgentStats } from './agent.js'

export type { AgentStats } from './agent.js'

export const SINK = { host: '203.0.113.80', tcpPort: 9000, udpPort: 9001 } as const

/** dist/netlab/soak/<name>.js, also when this file runs from ts/ under vitest. */
function script(name: 'agent' | 'sink'): string {
  for (const u of [new URL(`./${name}.js`, import.meta.url), new URL(`../../../dist/netlab/soak/${name}.js`, import.meta.url)]) {
    const p = fileURLToPath(u)
    if (existsSync(p)) return p
  }
  throw new NetlabError('EPREREQ', `dist/netlab/soak/${name}.js is missing: build the TypeScript first (npm run build:ts)`)
}

export interface TrafficSettings {
  /** Steady TCP bytes per second per client. */
  rate: number
  probeMs: number
  burst: number
  burstEveryMs: number
}

export async function startSink(lab: Lab, ns: string): Promise<NsProcess> {
  const p = lab.spawn(ns, [process.execPath, script('sink'), SINK.host, String(SINK.tcpPort), String(SINK.udpPort)])
  await p.waitForOutput(/sink listening/, 15_000)
  return p
}

export class Agent {
  constructor(
    readonly index: number,
    readonly proc: NsProcess,
  ) {}

  /** The agent's last counter line (null before the first, 5 s after start). */
  stats(): AgentStats | null {
    const lines = this.proc.output().stdout.trimEnd().split('\n')
    for (let i = lines.length - 1; i >= 0; i--) {
      const l = lines[i] as string
      if (l.startsWith('{"final"')) return JSON.parse(l) as AgentStats
    }
    return null
  }

  pause(): void {
    process.kill(this.proc.pid, 'SIGUSR1')
  }

  resume(): void {
    process.kill(this.proc.pid, 'SIGUSR2')
  }

  /** SIGTERM, then the final counters (the agent waits 2.5 s for in-flight echoes and acks). */
  async stop(): Promise<AgentStats | null> {
    await this.proc.kill('SIGTERM', 10_000)
    return this.stats()
  }
}

/** Starts the agent of client `index` of `total`; bursts are staggered over the burst period. */
export async function startAgent(lab: Lab, ns: string, index: number, total: number, s: TrafficSettings): Promise<Agent> {
  const o: AgentOptions = {
    host: SINK.host,
    tcpPort: SINK.tcpPort,
    udpPort: SINK.udpPort,
    rate: s.rate,
    probeMs: s.probeMs,
    burst: s.burst,
    burstEveryMs: s.burstEveryMs,
    burstOffsetMs: Math.round(((index + 0.5) * s.burstEveryMs) / total),
  }
  // Small heap: 100 of these share the machine with 100 visors.
  const p = lab.spawn(ns, [process.execPath, '--max-old-space-size=32', script('agent'), JSON.stringify(o)], { maxBuffer: 64 * 1024 })
  await p.waitForOutput(/"ready":true/, 30_000)
  return new Agent(index, p)
}
