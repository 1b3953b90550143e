/**
 * Latency to VPN servers as this machine measures it, for ranking them.
 * `defaultProbe` uses the core's signed probe to the server's SUDPH address
 * (ts/native/probe.ts, docs/wire.md section 4: only the key's holder can
 * answer) when the server has a SUDPH binding; otherwise
 * `tcpConnectProbe` times a TCP connect to its STCPR address (one SYN and its
 * answer: no root, no session, nothing sent but the handshake). Probes run a few at a time,
 * each within a timeout and all within one budget, and results are cached
 * for a while: ranking must never cost more than a second or two.
 */
import { connect } from 'node:net'
import type { ResolveResult } from '../contracts/services.js'
import { probeLatency } from '../native/probe.js'
import { parseHostPort } from '../sys/host-port.js'

/** Where a server can be probed: its STCPR addresses (`addresses`) and its SUDPH binding (observed, then LAN). */
export interface ProbeTarget {
  pk: string
  addresses: string[]
  sudph?: string[]
}

/** Milliseconds to `target`, or null when it did not answer in time. */
export type LatencyProbe = (target: ProbeTarget, timeoutMs: number) => Promise<number | null>

/** The probe addresses in an address resolver's answer (at most 8 of each; anything not a string dropped). */
export function probeAddresses(r: ResolveResult | null): { addresses: string[]; sudph: string[] } {
  const strings = (a: unknown): string[] => (Array.isArray(a) ? a.filter((x): x is string => typeof x === 'string').slice(0, 8) : [])
  const sudph = r?.sudph ? strings([r.sudph.observed, ...strings(r.sudph.local)]) : []
  return { addresses: strings(r?.stcpr), sudph }
}

/** Signed SUDPH probe when the server has a binding, else a TCP connect to STCPR. */
export const defaultProbe: LatencyProbe = async (target, timeoutMs) => {
  const t0 = Date.now()
  const sudph = (target.sudph ?? []).filter((a) => parseHostPort(a) !== null).slice(0, 8)
  if (sudph.length > 0) {
    // Silence is not the end: a server whose UDP is filtered may still answer on TCP.
    const r = await probeLatency(target.pk, sudph, Math.min(Math.max(1, Math.round(timeoutMs / 2)), 10_000)).catch(() => null)
    if (r) return r.rttMs
  }
  return tcpConnectProbe(target, Math.max(1, timeoutMs - (Date.now() - t0)))
}

export interface MeasureOptions {
  /** Probes in flight at once. */
  concurrency?: number
  /** Per probe. */
  timeoutMs?: number
  /** For all of them: probes not started by then are not started, and report null. */
  budgetMs?: number
  cache?: LatencyCache
}

export const PROBE_CONCURRENCY = 8
export const PROBE_TIMEOUT_MS = 1500
export const PROBE_BUDGET_MS = 4000

/** Results for a while (a failed probe too: a dead server is not probed again at every list). */
export class LatencyCache {
  private readonly m = new Map<string, { ms: number | null; at: number }>()
  constructor(
    private readonly ttlMs = 60_000,
    private readonly now: () => number = Date.now,
  ) {}

  get(pk: string): { ms: number | null } | undefined {
    const e = this.m.get(pk)
    if (!e) return undefined
    if (this.now() - e.at > this.ttlMs) {
      this.m.delete(pk)
      return undefined
    }
    return { ms: e.ms }
  }

  set(pk: string, ms: number | null): void {
    this.m.set(pk, { ms, at: this.now() })
  }
}

/** Latency per key (null: no answer, or not probed within the budget). */
export async function measureLatencies(targets: ProbeTarget[], probe: LatencyProbe, o: MeasureOptions = {}): Promise<Map<string, number | null>> {
  const concurrency = Math.max(1, o.concurrency ?? PROBE_CONCURRENCY)
  const timeoutMs = Math.max(1, o.timeoutMs ?? PROBE_TIMEOUT_MS)
  const stopAt = Date.now() + (o.budgetMs ?? PROBE_BUDGET_MS)
  const out = new Map<string, number | null>()
  const todo: ProbeTarget[] = []
  for (const t of targets) {
    if (out.has(t.pk)) continue
    const hit = o.cache?.get(t.pk)
    out.set(t.pk, hit ? hit.ms : null)
    if (!hit) todo.push(t)
  }
  let next = 0
  const worker = async (): Promise<void> => {
    while (next < todo.length) {
      const left = stopAt - Date.now()
      if (left <= 0) return
      const t = todo[next++] as ProbeTarget
      let ms: number | null = null
      try {
        ms = await withTimeout(probe(t, Math.min(timeoutMs, left)), Math.min(timeoutMs, left) + 50)
      } catch {
        ms = null
      }
      const valid = typeof ms === 'number' && Number.isFinite(ms) && ms >= 0 ? ms : null
      out.set(t.pk, valid)
      o.cache?.set(t.pk, valid)
    }
  }
  await Promise.all(Array.from({ length: Math.min(concurrency, todo.length) }, worker))
  return out
}

/** A probe that never answers must not hold the list: its result is dropped at the timeout. */
function withTimeout<T>(p: Promise<T>, ms: number): Promise<T | null> {
  return new Promise((resolve) => {
    const t = setTimeout(() => resolve(null), ms)
    p.then(
      (v) => {
        clearTimeout(t)
        resolve(v)
      },
      () => {
        clearTimeout(t)
        resolve(null)
      },
    )
  })
}

/** Time of a TCP connect to the first STCPR address that answers (tried in turn within the timeout). */
export const tcpConnectProbe: LatencyProbe = async (target, timeoutMs) => {
  const deadline = Date.now() + timeoutMs
  for (const a of target.addresses.slice(0, 4)) {
    const hp = parseHostPort(a)
    const left = deadline - Date.now()
    if (!hp || left <= 0) continue
    const ms = await tcpConnectTime(hp.host, hp.port, left)
    if (ms !== null) return ms
  }
  return null
}

function tcpConnectTime(host: string, port: number, timeoutMs: number): Promise<number | null> {
  return new Promise((resolve) => {
    const t0 = process.hrtime.bigint()
    const s = connect({ host, port })
    const done = (ms: number | null) => {
      clearTimeout(timer)
      s.destroy()
      resolve(ms)
    }
    const timer = setTimeout(() => done(null), timeoutMs)
    s.once('connect', () => done(Number(process.hrtime.bigint() - t0) / 1e6))
    s.once('error', () => done(null))
  })
}
