// What iperf3's JSON (`-J`) says about one run. Pure, so it is tested on recorded output; the runs
// themselves are in measures/iperf.mjs.

/** A TCP run: received bits per second and bytes (end.sum_received), the sender's retransmits. */
export function parseTcp(j) {
  if (!j || j.error || !j.end?.sum_received) throw new Error(`iperf3 TCP: ${j?.error ?? 'no end.sum_received in its output'}`)
  const recv = j.end.sum_received
  return { bps: recv.bits_per_second, bytes: recv.bytes, retransmits: j.end.sum_sent?.retransmits ?? null }
}

/**
 * A UDP run of `len`-byte payloads: packets sent and received per second, and the loss. The receiver's
 * `packets` is the highest sequence number it saw (the sender's count in iperf3 3.12) and `lost_packets`
 * the gaps below it, so received = packets - lost; iperf3 before 3.10 has only end.sum.
 */
export function parseUdp(j, len, seconds) {
  if (!j || j.error || !j.end?.sum) throw new Error(`iperf3 UDP: ${j?.error ?? 'no end.sum in its output'}`)
  const s = j.end.sum_received ?? j.end.sum
  const sent = j.end.sum_sent?.packets ?? j.end.sum.packets
  const lost = s.lost_packets ?? 0
  const received = j.end.sum_received ? j.end.sum_received.packets - lost : sent - lost
  const secs = s.seconds || seconds
  return {
    payloadBytes: len,
    sentPackets: sent,
    receivedPackets: received,
    receivedPps: received / secs,
    sentPps: sent / secs,
    lossPct: sent > 0 ? (Math.max(0, sent - received) / sent) * 100 : null,
    receivedMbps: (received * len * 8) / secs / 1e6,
  }
}

/** The `-b` value (payload bits per second) that offers `pps` packets of `len` bytes each second. */
export const udpBitrate = (pps, len) => Math.round(pps * len * 8)
