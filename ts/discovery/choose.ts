/**
 * Choosing a VPN server and connecting to the best one that works: the
 * candidates in score order, each tried with the time left, a server that
 * refuses or fails skipped for the next. Shared by `vpn start` without a key
 * and by auto-connect, each passing its own way to list, probe and connect.
 */
import { SkywireError } from '../contracts/errors.js'
import type { ServiceEntry } from '../contracts/services.js'
import { type LatencyCache, type LatencyProbe, measureLatencies, type MeasureOptions } from './latency.js'
import { rankServers, type RankedServer } from '../contracts/server-score.js'
import { type FetchPage, listAllServers } from './servers.js'

export interface CandidateSource {
  /** One page of VPN entries (already filtered by country when `country` is given). */
  fetchPage: (country: string | undefined) => FetchPage
  /** Where a key can be probed (see probeAddresses; empty when unknown). */
  addresses: (pk: string) => Promise<{ addresses: string[]; sudph: string[] }>
  probe: LatencyProbe
  cache?: LatencyCache
}

export interface CandidateOptions {
  country?: string
  /** This visor's own key: never a candidate. */
  self?: string | null
  measure?: Omit<MeasureOptions, 'cache'>
}

/** The VPN servers worth trying, best first, with their measured latency. */
export async function rankedCandidates(src: CandidateSource, o: CandidateOptions = {}): Promise<RankedServer[]> {
  const all = await listAllServers(src.fetchPage(o.country))
  const exclude = o.self ? [o.self] : []
  const first = rankServers(all.entries, { country: o.country, exclude })
  const latencies = await probeAll(
    first.map((r) => r.entry),
    src,
    o.measure,
  )
  return rankServers(all.entries, { country: o.country, exclude, latencies })
}

/** Latencies of the entries' keys, addresses looked up with the same bounds as the probes. */
export async function probeAll(
  entries: readonly ServiceEntry[],
  src: Pick<CandidateSource, 'addresses' | 'probe' | 'cache'>,
  measure: Omit<MeasureOptions, 'cache'> = {},
): Promise<Map<string, number | null>> {
  const pks = [...new Set(entries.map((e) => e.pk ?? e.address.split(':')[0] ?? ''))].filter((pk) => pk !== '')
  // The address lookup happens inside the probe, so it shares the probe's timeout, parallelism and budget.
  const probe: LatencyProbe = async (t, timeoutMs) => {
    const a = await src.addresses(t.pk).catch(() => ({ addresses: [], sudph: [] }))
    return a.addresses.length === 0 && a.sudph.length === 0 ? null : src.probe({ pk: t.pk, ...a }, timeoutMs)
  }
  return measureLatencies(
    pks.map((pk) => ({ pk, addresses: [] })),
    probe,
    { ...measure, ...(src.cache ? { cache: src.cache } : {}) },
  )
}

export interface Attempted {
  pk: string
  error: string
}

/**
 * Tries `connect` on each candidate in order until one succeeds, giving each
 * the time left before `deadline` (null: no deadline). Throws when none did,
 * saying what each answered.
 */
export async function connectFirst<T>(
  candidates: readonly { pk: string }[],
  connect: (pk: string, timeoutS: number) => Promise<T>,
  deadline: number | null,
  onFail: (a: Attempted) => void = () => {},
  /** Per attempt when there is no deadline (the control API's maximum). */
  noDeadlineTimeoutS = 3600,
): Promise<{ pk: string; result: T; failed: Attempted[] }> {
  const failed: Attempted[] = []
  if (candidates.length === 0) throw new SkywireError('ENOTFOUND', 'no VPN server to connect to')
  for (const c of candidates) {
    const leftS = deadline === null ? noDeadlineTimeoutS : Math.floor((deadline - Date.now()) / 1000)
    if (leftS < 1) break
    try {
      return { pk: c.pk, result: await connect(c.pk, leftS), failed }
    } catch (err) {
      const a = { pk: c.pk, error: (err as Error).message }
      failed.push(a)
      onFail(a)
      // A failure of our own side (the VPN already on, stopped meanwhile) is the same for every server.
      if (err instanceof SkywireError && (err.code === 'ESTATE' || err.code === 'EPERM')) throw err
    }
  }
  const tried =
    failed.length === 0
      ? 'the time ran out before any server was tried'
      : `tried ${failed.length}: ${failed.map((f) => `${f.pk.slice(0, 8)}… ${f.error}`).join('; ')}`
  throw new SkywireError('ETIMEOUT', `no VPN server could be connected (${tried})`)
}
