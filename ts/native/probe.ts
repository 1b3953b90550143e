/**
 * Latency to a visor, measured by this process: a signed probe to the
 * visor's SUDPH address (docs/wire.md section 4, crates/skywire-core
 * node/probe.rs). Only the holder of the visor's secret key can answer, so
 * the time is that visor's, not an impostor's. Needs no root and no running
 * visor: the probe is a UDP socket of its own. The core caps a process at
 * 16 probes at once; `vpn list` bounds, times and caches its probes in
 * ts/discovery/latency.ts.
 */
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
