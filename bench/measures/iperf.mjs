// iperf3 from the client namespace to a server address: TCP throughput and UDP packet rate, with the
// CPU the tunnel processes spent meanwhile.
import { parseJson } from '../lib/log.mjs'
import { cpuOf, machineCpu } from '../lib/procfs.mjs'

/** One iperf3 TCP run from `ns` to `addr` with `streams` streams. */
export async function iperfTcp(lab, settings, ns, addr, streams, pids) {
  const cpu0 = cpuOf(pids)
  const sys0 = machineCpu()
  const argv = ['iperf3', '-c', addr, '-p', '5201', '-t', String(settings.seconds), '-P', String(streams), '-J']
  const r = await lab.exec(ns, argv, { timeoutMs: (settings.seconds + 30) * 1000 })
  const cpu = cpuOf(pids) - cpu0
  const sys1 = machineCpu()
  const j = parseJson(r.stdout)
  if (r.code !== 0 || !j || j.error) throw new Error(`iperf3 -P ${streams}: ${j?.error ?? (r.stderr.trim() || `exit ${r.code}`)}`)
  const recv = j.end.sum_received
  return {
    bps: recv.bits_per_second,
    bytes: recv.bytes,
    retransmits: j.end.sum_sent?.retransmits ?? null,
    tunnelCpuS: pids.length ? cpu : null,
    machineBusyCpuS: sys1.busy - sys0.busy,
  }
}

/** iperf3 UDP, unlimited rate: packets per second that arrived, and the loss. */
export async function iperfUdp(lab, settings, ns, addr, pids) {
  const len = settings.udpPacket - 28
  const cpu0 = cpuOf(pids)
  const argv = ['iperf3', '-c', addr, '-p', '5201', '-u', '-l', String(len), '-b', '0', '-t', String(settings.seconds), '-J']
  const r = await lab.exec(ns, argv, { timeoutMs: (settings.seconds + 30) * 1000 })
  const cpu = cpuOf(pids) - cpu0
  const j = parseJson(r.stdout)
  if (r.code !== 0 || !j || j.error) throw new Error(`iperf3 -u: ${j?.error ?? (r.stderr.trim() || `exit ${r.code}`)}`)
  // iperf3 3.12 puts sender packets and the receiver's loss count in end.sum; newer ones add sum_received.
  const s = j.end.sum_received ?? j.end.sum
  const sent = j.end.sum_sent?.packets ?? j.end.sum.packets
  const lost = s.lost_packets ?? 0
  const received = j.end.sum_received ? j.end.sum_received.packets - lost : sent - lost
  const seconds = s.seconds || settings.seconds
  return {
    payloadBytes: len,
    sentPackets: sent,
    receivedPackets: received,
    receivedPps: received / seconds,
    sentPps: sent / seconds,
    lossPct: sent > 0 ? (lost / sent) * 100 : null,
    receivedMbps: (received * len * 8) / seconds / 1e6,
    tunnelCpuS: pids.length ? cpu : null,
  }
}
