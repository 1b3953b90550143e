// iperf3 from the client namespace to a server address: TCP throughput, and UDP at fixed offered rates
// (a sweep for the highest rate the path carries), with the CPU the tunnel processes spent meanwhile.
import { parseTcp, parseUdp, udpBitrate } from '../lib/iperf-json.mjs'
import { log, parseJson } from '../lib/log.mjs'
import { cpuOf, machineCpu } from '../lib/procfs.mjs'
import { fmt, fmt3 } from '../lib/stats.mjs'
import { sweepRate } from '../lib/sweep.mjs'

/** One iperf3 TCP run of `seconds` from `ns` to `addr` with `streams` streams. */
export async function iperfTcp(lab, seconds, ns, addr, streams, pids) {
  const cpu0 = cpuOf(pids)
  const sys0 = machineCpu()
  const argv = ['iperf3', '-c', addr, '-p', '5201', '-t', String(seconds), '-P', String(streams), '-J']
  const r = await lab.exec(ns, argv, { timeoutMs: (seconds + 30) * 1000 })
  const cpu = cpuOf(pids) - cpu0
  const sys1 = machineCpu()
  const j = parseJson(r.stdout)
  if (r.code !== 0 || !j || j.error) throw new Error(`iperf3 -P ${streams}: ${j?.error ?? (r.stderr.trim() || `exit ${r.code}`)}`)
  return { ...parseTcp(j), tunnelCpuS: pids.length ? cpu : null, machineBusyCpuS: sys1.busy - sys0.busy }
}

/**
 * iperf3's own UDP socket buffers (both ends): with the default ~200 KiB a receiver that is not scheduled
 * for a few ms drops packets in its socket, which would be charged to the path (on this 2-core machine,
 * 16-20 % loss at 20 kpps on the bare veth when other work ran, none with 4 MiB). The kernel caps it at
 * net.core.[rw]mem_max, which the results record.
 */
export const UDP_SOCKET_BUFFER = '4M'

/** One iperf3 UDP run offering `pps` packets per second of settings.udpPacket bytes (IP). */
export async function iperfUdpAt(lab, settings, ns, addr, pps, pids) {
  const len = settings.udpPacket - 28
  const cpu0 = cpuOf(pids)
  const argv = [
    'iperf3',
    '-c',
    addr,
    '-p',
    '5201',
    '-u',
    '-l',
    String(len),
    '-b',
    String(udpBitrate(pps, len)),
    '-w',
    UDP_SOCKET_BUFFER,
    '-t',
    String(settings.udpSeconds),
    '-J',
  ]
  const r = await lab.exec(ns, argv, { timeoutMs: (settings.udpSeconds + 30) * 1000 })
  const cpu = cpuOf(pids) - cpu0
  const j = parseJson(r.stdout)
  if (r.code !== 0 || !j || j.error) throw new Error(`iperf3 -u -b ${udpBitrate(pps, len)}: ${j?.error ?? (r.stderr.trim() || `exit ${r.code}`)}`)
  return { ...parseUdp(j, len, settings.udpSeconds), tunnelCpuS: pids.length ? cpu : null }
}

/** The sweep start: 20 kpps (about 220 Mbit/s of 1400-byte packets), below what any subject carries here. */
const START_PPS = 20_000

/** The highest offered UDP rate with loss under settings.udpLossPct (lib/sweep.mjs), every step kept. */
export async function udpSweep(lab, settings, name, ns, addr, pids) {
  const sweep = await sweepRate(
    async (pps) => {
      const r = await iperfUdpAt(lab, settings, ns, addr, pps, pids)
      log(`  ${name}: UDP offered ${fmt3(pps / 1000)} kpps: ${fmt3(r.receivedPps / 1000)} kpps received, ${fmt(r.lossPct, 2)} % lost`)
      return r
    },
    { startPps: START_PPS, maxLossPct: settings.udpLossPct },
  )
  const b = sweep.best
  return {
    maxLossPct: settings.udpLossPct,
    payloadBytes: settings.udpPacket - 28,
    // The best passing step, under the field names of the earlier `-b 0` measure.
    offeredPps: b?.offeredPps ?? null,
    receivedPps: b?.receivedPps ?? null,
    sentPps: b?.sentPps ?? null,
    lossPct: b?.lossPct ?? null,
    receivedMbps: b?.receivedMbps ?? null,
    tunnelCpuS: b?.tunnelCpuS ?? null,
    failedAtPps: sweep.failedAt,
    senderLimited: sweep.senderLimited,
    steps: sweep.steps.map((s) => ({
      offeredPps: s.offeredPps,
      sentPps: Math.round(s.sentPps),
      receivedPps: Math.round(s.receivedPps),
      lossPct: s.lossPct,
      pass: s.pass,
      tunnelCpuS: s.tunnelCpuS,
    })),
  }
}
