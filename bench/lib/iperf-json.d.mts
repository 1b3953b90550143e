// Types for iperf-json.mjs, for its unit tests (test/unit/bench).
export function parseTcp(j: unknown): { bps: number; bytes: number; retransmits: number | null }
export function parseUdp(
  j: unknown,
  len: number,
  seconds: number,
): {
  payloadBytes: number
  sentPackets: number
  receivedPackets: number
  receivedPps: number
  sentPps: number
  lossPct: number | null
  receivedMbps: number
}
export function udpBitrate(pps: number, len: number): number
