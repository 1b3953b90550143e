// The run's tables as printed at the end (and by `--report FILE.json`): throughput and CPU, UDP and
// ping, connect time, server memory, then what was skipped.
import { fmt, fmt3, fmtRatio, median, ratio, table } from '../lib/stats.mjs'
import { LABELS, SUBJECTS } from '../subjects/index.mjs'

export function report(res) {
  const out = [...subjectTables(res), ...connectTable(res), ...memoryTable(res)]
  if (res.skipped.length) out.push('', ...res.skipped.map((x) => `skipped: ${x}`))
  return out.join('\n')
}

/** One row per subject in each of the two tables, compared with the bare veth and wireguard-go. */
function subjectTables(res) {
  const st = res.settings
  const s = res.subjects
  const base = s.veth && !s.veth.error ? s.veth : null
  const wg = s['wireguard-go'] && !s['wireguard-go'].error ? s['wireguard-go'] : null
  const rows1 = []
  const rows2 = []
  for (const name of SUBJECTS) {
    const r = s[name]
    if (!r) continue
    if (r.error) {
      rows1.push([LABELS[name], `skipped: ${r.error}`, '', '', '', '', '', '', ''])
      rows2.push([LABELS[name], 'skipped', '', '', '', '', '', ''])
      continue
    }
    rows1.push(throughputRow(LABELS[name], r, base, wg))
    rows2.push(udpPingRow(LABELS[name], r, base, wg))
  }
  if (!rows1.length) return []
  return [
    `Throughput, iperf3 TCP, ${st.seconds} s runs, median (min–max) of ${st.repeat}, Gbit/s; CPU = tunnel processes (both ends) per Gbit:`,
    '',
    table(['subject', 'TCP ×1', 'vs veth', 'vs wg-go', 'TCP ×4', 'vs veth', 'vs wg-go', 'CPU s/Gbit', 'TCP retransmits ×1 / ×4'], rows1),
    '',
    `UDP (${st.udpPacket}-byte packets, unlimited rate, ${st.seconds} s) and ping (${st.pings} × 10 ms):`,
    '',
    table(['subject', 'UDP kpps rx', 'UDP loss', 'vs veth', 'vs wg-go', 'RTT median ms', 'RTT p99 ms', 'added RTT ms'], rows2),
  ]
}

const retr = (t) => String(Math.round(t.retransmitsMedian ?? median(t.runs.map((x) => x.retransmits ?? 0)) ?? 0))
const range = (g) => (g ? `${fmt3(g.median)} (${fmt3(g.min)}–${fmt3(g.max)})` : '—')

function throughputRow(label, r, base, wg) {
  const g1 = r.tcp1.gbps
  const g4 = r.tcp4.gbps
  return [
    label,
    range(g1),
    fmtRatio(ratio(g1?.median, base?.tcp1.gbps?.median)),
    fmtRatio(ratio(g1?.median, wg?.tcp1.gbps?.median)),
    range(g4),
    fmtRatio(ratio(g4?.median, base?.tcp4.gbps?.median)),
    fmtRatio(ratio(g4?.median, wg?.tcp4.gbps?.median)),
    r.cpu.tunnelCpuSecondsPerGbit === null ? '— (kernel)' : fmt(r.cpu.tunnelCpuSecondsPerGbit, 3),
    `${retr(r.tcp1)} / ${retr(r.tcp4)}`,
  ]
}

function udpPingRow(label, r, base, wg) {
  return [
    label,
    `${fmt3(r.udp.receivedPps / 1000)}`,
    `${fmt(r.udp.lossPct, 1)} %`,
    fmtRatio(ratio(r.udp.receivedPps, base?.udp.receivedPps)),
    fmtRatio(ratio(r.udp.receivedPps, wg?.udp.receivedPps)),
    fmt(r.ping.medianMs, 3),
    fmt(r.ping.p99Ms, 3),
    base ? `+${fmt(r.ping.medianMs - base.ping.medianMs, 3)}` : '—',
  ]
}

function connectTable(res) {
  if (res.connect?.error) return ['', `connect time: skipped: ${res.connect.error}`]
  if (!res.connect) return []
  const rows = Object.entries(res.connect).map(([t, c]) => [
    t.toUpperCase(),
    fmt(c.totalMs.median, 1),
    fmt(c.totalMs.p90, 1),
    fmt(c.phasesMedianMs.start, 1),
    fmt(c.phasesMedianMs.dial, 1),
    fmt(c.phasesMedianMs.tun, 1),
    fmt(c.phasesMedianMs.firstPacket, 1),
    c.failed ? `${c.failed} failed` : '',
  ])
  return [
    '',
    `Skywire connect time, fresh client node to first packet through the tunnel (${res.settings.connects} runs each), ms:`,
    '',
    table(['transport', 'median', 'p90', 'node start', 'dial', 'TUN+attach', 'first echo', 'note'], rows),
  ]
}

function memoryTable(res) {
  if (!res.memory) return []
  const rows = Object.entries(res.memory).map(([t, m]) =>
    m.error
      ? [t.toUpperCase(), `skipped: ${m.error}`, '', '', '', '']
      : [
          t.toUpperCase(),
          String(m.serverSessionsLive),
          `${m.serverRssBeforeKiB} → ${m.serverRssAfterKiB}`,
          fmt(m.serverKiBPerSession, 1),
          `${m.serverFdsBefore} → ${m.serverFdsAfter}`,
          m.dialFailures ? `${m.dialFailures} dials failed` : '',
        ],
  )
  return [
    '',
    `Skywire server memory with idle client sessions (BENCH_SESSIONS=${res.settings.sessions}):`,
    '',
    table(['transport', 'sessions', 'server RSS KiB', 'KiB/session', 'server fds', 'note'], rows),
  ]
}
