// Every measure of one subject's ready path: TCP ×1 and ×4 (repeats interleaved), UDP, ping, and the
// CPU per gigabit that follows from the TCP runs.
import { log } from '../lib/log.mjs'
import { fmt, fmt3, median, summary } from '../lib/stats.mjs'
import { iperfTcp, iperfUdp } from './iperf.mjs'
import { pingRtt, reachable } from './ping.mjs'

/** `path` is what a subject's setup returned: the server's address through it and its tunnel pids. */
export async function measurePath(lab, env, settings, name, { addr, pids }) {
  const srv = lab.spawn(env.a, ['iperf3', '-s', '-B', addr, '-p', '5201'])
  try {
    await lab.waitForTcp(env.a, addr, 5201, 5000)
    await reachable(lab, env.b, addr)
    const runs = await tcpRuns(lab, env, settings, name, addr, pids)
    const udp = await iperfUdp(lab, settings, env.b, addr, pids)
    log(`  ${name}: UDP ${settings.udpPacket} B: ${fmt3(udp.receivedPps / 1000)} kpps received, ${fmt(udp.lossPct, 1)} % lost`)
    const ping = await pingRtt(lab, settings, env.b, addr)
    log(`  ${name}: ping median ${fmt(ping.medianMs, 3)} ms, p99 ${fmt(ping.p99Ms, 3)} ms`)
    return { tcp1: tcpSummary(runs.tcp1), tcp4: tcpSummary(runs.tcp4), udp, ping, cpu: cpuPerGbit([...runs.tcp1, ...runs.tcp4], pids) }
  } finally {
    await srv.kill('SIGTERM', 1000)
  }
}

/** TCP with 1 and 4 streams, interleaved, `settings.repeat` times each. */
async function tcpRuns(lab, env, settings, name, addr, pids) {
  const runs = { tcp1: [], tcp4: [] }
  for (let i = 0; i < settings.repeat; i++) {
    for (const [key, streams] of [
      ['tcp1', 1],
      ['tcp4', 4],
    ]) {
      const r = await iperfTcp(lab, settings, env.b, addr, streams, pids)
      runs[key].push(r)
      log(`  ${name}: TCP ×${streams} run ${i + 1}/${settings.repeat}: ${fmt(r.bps / 1e9)} Gbit/s`)
    }
  }
  return runs
}

const tcpSummary = (runs) => ({ gbps: summary(runs.map((r) => r.bps / 1e9)), retransmitsMedian: median(runs.map((r) => r.retransmits ?? 0)), runs })

/** Tunnel CPU (null without tunnel processes) and machine busy time, per gigabit received over all TCP runs. */
function cpuPerGbit(tcpAll, pids) {
  const gbits = tcpAll.reduce((s, r) => s + (r.bytes * 8) / 1e9, 0)
  const cpu = pids.length ? tcpAll.reduce((s, r) => s + r.tunnelCpuS, 0) : null
  const busy = tcpAll.reduce((s, r) => s + r.machineBusyCpuS, 0)
  return {
    tunnelCpuSecondsPerGbit: cpu === null ? null : cpu / gbits,
    machineBusyCpuSecondsPerGbit: busy / gbits,
    gbitTransferred: gbits,
  }
}
