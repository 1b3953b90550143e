/**
 * Latency to a visor, measured by this process: a signed probe to the
 * visor's SUDPH address (docs/wire.md section 4, crates/skywire-core
 * node/probe.rs). Only the holder of the visor's secret key can answer, so
 * the time is that visor's, not an impostor's. Needs no root and no running
 * visor: the probe is a UDP socket of its own.
 *
 * `LatencyProber` bounds what a caller (e.g. `vpn list` over many servers)
 * can make us send: at most `concurrency` probes at once (the core caps the
 * whole process at 16 too), each bounded by `timeoutMs`, and a result
 * (answered or not) is kept `ttlMs`, so listing twice in a row probes once.
 */
import { SkywireError } from '../contracts/errors.js'
import { fromNativeError, native } from './loader.js'

/** What one probe measured: the round trip and the address that answered. */
export interface Latency {
  rttMs: number
  addr: string
}

/** Probe `pk` at `addrs` (SUDPH IP:PORT, 1 to 8) for at most `timeoutMs`; null: no valid answer in time. */
export type ProbeFn = (pk: string, addrs: string[], timeoutMs: number) => Promise<Latency | null>

/** The core's probe. Throws EINVALIDPK / EINVALIDADDR for bad arguments; null for silence. */
export const probeLatency: ProbeFn = async (pk, addrs, timeoutMs) => {
  try {
    return await native.probeLatency(pk, addrs, timeoutMs)
  } catch (err) {
    throw fromNativeError(err)
  }
}

export interface ProberOptions {
  /** Probes in flight at once (1 to 16; default 8). */
  concurrency?: number
  /** How long one probe waits for its answer, in ms (1 to 10000; default 1500). */
  timeoutMs?: number
  /** How long a result is reused, in ms (0 to 600000; default 30000; 0: never). */
  ttlMs?: number
  /** Most results kept (default 1024); the oldest go first. */
  maxEntries?: number
  /** The probe itself (tests pass a fake); default the core's. */
  probe?: ProbeFn
  /** The clock, in ms (tests pass a fake); default Date.now. */
  now?: () => number
}

interface Entry {
  at: number
  result: Latency | null
}

function bounded(name: string, v: number | undefined, dflt: number, min: number, max: number): number {
  if (v === undefined) return dflt
  if (!Number.isInteger(v) || v < min || v > max) throw new SkywireError('EUSAGE', `${name} must be an integer from ${min} to ${max}, got ${v}`)
  return v
}

export class LatencyProber {
  private readonly concurrency: number
  private readonly timeoutMs: number
  private readonly ttlMs: number
  private readonly maxEntries: number
  private readonly probeFn: ProbeFn
  private readonly now: () => number
  private readonly cache = new Map<string, Entry>()
  private readonly inFlight = new Map<string, Promise<Latency | null>>()
  private readonly waiting: Array<() => void> = []
  private running = 0

  constructor(opts: ProberOptions = {}) {
    this.concurrency = bounded('probe concurrency', opts.concurrency, 8, 1, 16)
    this.timeoutMs = bounded('probe timeout', opts.timeoutMs, 1500, 1, 10_000)
    this.ttlMs = bounded('probe cache ttl', opts.ttlMs, 30_000, 0, 600_000)
    this.maxEntries = bounded('probe cache size', opts.maxEntries, 1024, 1, 65_536)
    this.probeFn = opts.probe ?? probeLatency
    this.now = opts.now ?? Date.now
  }

  /** The latency to `pk` at `addrs`, from the cache when fresh; null when it did not answer. */
  async probe(pk: string, addrs: readonly string[]): Promise<Latency | null> {
    const key = `${pk} ${[...addrs].sort().join(',')}`
    const hit = this.cache.get(key)
    if (hit !== undefined && this.now() - hit.at < this.ttlMs) return hit.result
    // The same server asked for twice at once: one probe.
    const running = this.inFlight.get(key)
    if (running !== undefined) return running
    // A thrown error (bad arguments) is not cached: the caller fixes them.
    const p = this.run(pk, [...addrs]).then((result) => {
      this.remember(key, result)
      return result
    })
    this.inFlight.set(key, p)
    try {
      return await p
    } finally {
      this.inFlight.delete(key)
    }
  }

  /** Probe several visors (at most `concurrency` at once); results in the same order. */
  probeAll(targets: ReadonlyArray<{ pk: string; addrs: readonly string[] }>): Promise<Array<Latency | null>> {
    return Promise.all(targets.map((t) => this.probe(t.pk, t.addrs)))
  }

  /** Probes running now (for tests and status). */
  get active(): number {
    return this.running
  }

  private async run(pk: string, addrs: string[]): Promise<Latency | null> {
    // A finished probe hands its slot straight to the next waiter (the count
    // stays), so a caller arriving in between cannot take it as well.
    if (this.running >= this.concurrency) await new Promise<void>((resolve) => this.waiting.push(resolve))
    else this.running++
    try {
      return await this.probeFn(pk, addrs, this.timeoutMs)
    } finally {
      const next = this.waiting.shift()
      if (next === undefined) this.running--
      else next()
    }
  }

  private remember(key: string, result: Latency | null): void {
    if (this.ttlMs === 0) return
    this.cache.delete(key)
    this.cache.set(key, { at: this.now(), result })
    // Map keeps insertion order: the first key is the oldest.
    while (this.cache.size > this.maxEntries) {
      const oldest = this.cache.keys().next().value
      if (oldest === undefined) break
      this.cache.delete(oldest)
    }
  }
}
