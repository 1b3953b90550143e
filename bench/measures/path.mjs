// One round of one subject's ready path: a warm-up run, then TCP ×1 and ×4, ping, and in the last round
// the UDP sweep; the thread counts of its processes meanwhile and the offloads of its links. summarize()
// folds the rounds of a subject into its row of the results.
import { readOffloads } from '../lib/ethtool.mjs'
import { log } from '../lib/log.mjs'
import { watchThreads } from '../lib/procfs.mjs'
import { fmt, fmt3, median, percentile, summary } from '../lib/stats.mjs'
import { iperfServer, iperfTcp, udpSweep } from './iperf.mjs'
import { pingRtt, reachable } from './ping.mjs'

/** A subject's rounds so far, filled by measureRound. */
export const newAccumulator = () => ({ tcp1: [], tcp4: [], warmupGbps: [], pings: [], udp: null, threads: [], offloads: null, config: null })

/**
 * `path` is what a subject's setup returned: the server's address through it, its tunnel pids (server
 * first), and optionally its links (`ifaces`: [{ role, ns, ifname }]) and settings (`config`).
 */
export async function measureRound(lab, env, settings, name, path, acc, { round, udp }) {
  const { addr, pids } = path
  const threads = watchThreads(pids)
  let srv = null
  try {
    srv = await iperfServer(lab, env.a, addr)
    await reachable(lab, env.b, addr)
    // Not recorded: the first seconds of a fresh path pay for TCP's slow start, page faults of new
    // buffers, CPU frequency ramps and lazy setup inside the tunnel.
    const warm = await iperfTcp(lab, settings.warmup, env.b, addr, 1, pids)
    acc.warmupGbps.push(warm.bps / 1e9)
    log(`  ${name}: warm-up ${settings.warmup} s: ${fmt(warm.bps / 1e9)} Gbit/s (not recorded)`)
    // The links as they are once traffic ran (our node sets its TUN's offloads when it attaches).
    if (!acc.offloads) acc.offloads = await linkOffloads(lab, path.ifaces ?? [])
    acc.config ??= path.config ?? null
    for (const [key, streams] of [
      ['tcp1', 1],
      ['tcp4', 4],
    ]) {
      const r = await iperfTcp(lab, settings.seconds, env.b, addr, streams, pids)
      acc[key].push({ ...r, round })
      log(`  ${name}: TCP ×${streams} round ${round + 1}/${settings.repeat}: ${fmt(r.bps / 1e9)} Gbit/s`)
    }
    const { rtts, ...ping } = await pingRtt(lab, settings, env.b, addr)
    acc.pings.push({ rtts, ping })
    log(`  ${name}: ping median ${fmt(ping.medianMs, 3)} ms, p99 ${fmt(ping.p99Ms, 3)} ms`)
    if (udp) {
      acc.udp = { ...(await udpSweep(lab, settings, name, env.b, addr, pids)), round }
      const u = acc.udp
      log(
        `  ${name}: UDP ${settings.udpPacket} B: at most ${fmt3((u.receivedPps ?? 0) / 1000)} kpps with < ${settings.udpLossPct} % loss` +
          (u.senderLimited ? ' (the sender could not offer more)' : ''),
      )
    }
  } finally {
    acc.threads.push(threads.stop())
    await srv?.kill('SIGTERM', 1000)
  }
}

async function linkOffloads(lab, ifaces) {
  const out = {}
  for (const i of ifaces) out[i.role] = { ifname: i.ifname, ...(await readOffloads(lab, i.ns, i.ifname)) }
  return out
}

/** The row of one subject from its rounds (fields of the earlier single-pass bench kept, more added). */
export function summarize(acc) {
  const allRtts = acc.pings.flatMap((p) => p.rtts)
  const first = acc.pings[0]?.ping
  return {
    tcp1: tcpSummary(acc.tcp1),
    tcp4: tcpSummary(acc.tcp4),
    udp: acc.udp,
    ping: allRtts.length
      ? {
          sent: acc.pings.reduce((s, p) => s + p.ping.sent, 0),
          received: allRtts.length,
          medianMs: median(allRtts),
          p99Ms: percentile(allRtts, 99),
          minMs: Math.min(...allRtts),
          maxMs: Math.max(...allRtts),
          rounds: acc.pings.map((p) => ({ medianMs: p.ping.medianMs, p99Ms: p.ping.p99Ms, received: p.ping.received })),
        }
      : first,
    cpu: cpuPerGbit([...acc.tcp1, ...acc.tcp4]),
    warmupGbps: acc.warmupGbps,
    processes: threadSummary(acc.threads),
    offloads: acc.offloads,
    config: acc.config,
  }
}

const tcpSummary = (runs) => ({ gbps: summary(runs.map((r) => r.bps / 1e9)), retransmitsMedian: median(runs.map((r) => r.retransmits ?? 0)), runs })

/** Per process position (server first), over the rounds: its name, threads at setup and the most seen. */
function threadSummary(rounds) {
  const out = []
  for (const round of rounds) {
    for (const [i, p] of round.entries()) {
      out[i] ??= { name: p.name, threadsAtStart: p.first, threadsMax: p.max }
      const o = out[i]
      o.name ??= p.name
      o.threadsAtStart ??= p.first
      if (p.max !== null) o.threadsMax = Math.max(o.threadsMax ?? 0, p.max)
    }
  }
  return out
}

/** Tunnel CPU (null without tunnel processes) and machine busy time, per gigabit received over all TCP runs. */
function cpuPerGbit(tcpAll) {
  const gbits = tcpAll.reduce((s, r) => s + (r.bytes * 8) / 1e9, 0)
  const tunnel = tcpAll.every((r) => r.tunnelCpuS !== null)
  const cpu = tunnel ? tcpAll.reduce((s, r) => s + r.tunnelCpuS, 0) : null
  const busy = tcpAll.reduce((s, r) => s + r.machineBusyCpuS, 0)
  return {
    tunnelCpuSecondsPerGbit: cpu === null || gbits === 0 ? null : cpu / gbits,
    machineBusyCpuSecondsPerGbit: gbits === 0 ? null : busy / gbits,
    gbitTransferred: gbits,
  }
}
