// The run's tables as printed at the end (and by `--report FILE.json`): where the numbers come from
// (commit, builds, peers, load), throughput and CPU, UDP, ping, processes and offloads, connect time,
// server memory, then what was skipped. Old results files (before the rounds) print too.
import { offloadSummary } from '../lib/ethtool.mjs'
import { fmt, fmt3, fmtRatio, median, ratio, table } from '../lib/stats.mjs'
import { LABELS, SUBJECTS } from '../subjects/index.mjs'

export function report(res) {
  const out = [...provenance(res), '', ...subjectTables(res), ...clientsTable(res), ...connectTable(res), ...memoryTable(res), ...userWaitTable(res)]
  if (res.skipped.length) out.push('', ...res.skipped.map((x) => `skipped: ${x}`))
  return out.join('\n')
}

/** Where the numbers come from: commit, builds, peers, machine and its load, the rounds' order. */
function provenance(res) {
  const out = []
  const when = `${res.date.slice(0, 16).replace('T', ' ')} UTC`
  const g = res.git
  const commit = !g
    ? 'commit not recorded (a run from before the bench recorded it)'
    : g.error
      ? `commit unknown (${g.error})`
      : `commit ${g.commit.slice(0, 12)} (${g.dirty ? `dirty: ${g.dirtyCount} changed files, e.g. ${g.dirtyFiles.slice(0, 3).join(', ')}` : 'clean tree'})`
  const b = res.build
  const addon = b?.addon?.sha256 ? `, addon sha256 ${b.addon.sha256.slice(0, 12)}` : ''
  out.push(`Run of ${when} at ${commit}${b ? `, skywire ${b.skywire}${addon}` : ''}.`)
  const m = res.machine
  const load = res.load ? `${res.load.load1.toFixed(2)} (limit ${res.load.maxLoad})` : m.loadavgBefore.map((x) => x.toFixed(2)).join(' ')
  out.push(`Machine: ${m.cpus} cores (${m.model}), kernel ${m.kernel}, node ${m.node}; 1-minute load average at the start ${load}.`)
  const peers = Object.entries(res.tools ?? {}).map(([k, t]) => {
    if (t.error) return `${k}: ${t.error}`
    const built =
      k === 'wireguard-go'
        ? `${t.module ?? t.version}${t.go ? `, ${t.go}` : ''}`
        : `${t.installed ?? t.version}${t.rustc ? `, ${t.rustc.split(' ').slice(0, 2).join(' ')}` : ''}`
    const threads = t.threads ? `, ${t.threads} threads` : ''
    return `${k} ${built}${t.pinned ? (t.pinned === (t.module ?? t.installed) ? ', pinned' : `, NOT the pinned ${t.pinned}`) : ''}${threads}`
  })
  if (peers.length) out.push(`Peers: ${peers.join('; ')}.`)
  if (res.order?.length) {
    out.push(
      `${res.order.length} rounds; each sets every subject up, warms it up (${res.settings.warmup} s, not recorded) and measures it, in these orders: ${res.order.map((r) => r.join(' → ')).join(' | ')}.`,
    )
  }
  for (const [what, x] of [
    ['native addon', b?.addon],
    ['dist/netlab', b?.dist],
  ]) {
    if (x?.sourcesNewer?.length)
      out.push(`STALE BUILD: the ${what} is older than ${x.sourcesNewer.join(', ')}: it may not be the code of this commit.`)
  }
  if (res.loaded) {
    out.push(
      `LOADED MACHINE: the 1-minute load average was ${res.load.load1.toFixed(2)} at the start, above the limit of ${res.load.maxLoad} (--allow-loaded). Other work shared the cores: do not compare these numbers with a quiet run.`,
    )
  }
  return out
}

const ok = (r) => (r && !r.error ? r : null)

/** The two-hop row against one transport of the same kind in the same run (issue 16's target: at least 60 %). */
function vsSingleHop(s) {
  const two = ok(s['two-hop'])
  const one = ok(s.sudph)
  if (!two || !one) return []
  const pct = (a, b) => (a && b ? `${fmt((100 * a) / b, 0)} %` : '—')
  return [
    '',
    `One hop vs none (skywire SUDPH, one hop / skywire SUDPH): TCP ×1 ${pct(two.tcp1.gbps?.median, one.tcp1.gbps?.median)}, TCP ×4 ${pct(two.tcp4.gbps?.median, one.tcp4.gbps?.median)} (target: at least 60 %).`,
  ]
}

/** The tables of the subjects, each row compared with the bare veth and wireguard-go of the same run. */
function subjectTables(res) {
  const st = res.settings
  const s = res.subjects
  const base = ok(s.veth)
  const wg = ok(s['wireguard-go'])
  const rows = { tcp: [], udp: [], ping: [], procs: [] }
  for (const name of SUBJECTS) {
    const r = s[name]
    if (!r) continue
    if (r.error) {
      for (const k of Object.keys(rows)) rows[k].push([LABELS[name], `skipped: ${r.error}`])
      continue
    }
    rows.tcp.push(throughputRow(LABELS[name], r, base, wg))
    rows.udp.push(udpRow(LABELS[name], r, base, wg))
    rows.ping.push(pingRow(LABELS[name], r, base, wg))
    rows.procs.push(processRow(LABELS[name], r))
  }
  if (!rows.tcp.length) return []
  const sweep = Object.values(s).some((r) => r?.udp?.steps)
  const rounds = res.order?.length ? `${res.order.length} rounds` : `${st.repeat} runs`
  const out = [
    `Throughput, iperf3 TCP, ${st.seconds} s runs, median (min–max) of ${rounds}, Gbit/s; CPU = tunnel processes (both ends) per Gbit:`,
    '',
    table(
      ['subject', 'TCP ×1', 'vs veth', 'vs wg-go', 'TCP ×4', 'vs veth', 'vs wg-go', 'CPU s/Gbit', 'vs wg-go', 'TCP retransmits ×1 / ×4'],
      rows.tcp,
    ),
    ...vsSingleHop(s),
    '',
    sweep
      ? `UDP, the highest offered rate each path carries with < ${st.udpLossPct} % loss (${st.udpPacket}-byte packets, ${st.udpSeconds} s steps, last round):`
      : `UDP (${st.udpPacket}-byte packets, unlimited rate: -b 0, ${st.seconds} s):`,
    '',
    table(
      sweep
        ? ['subject', 'kpps', 'Mbit/s', 'loss there', 'vs veth', 'vs wg-go', 'first rate over', 'steps', 'note']
        : ['subject', 'kpps rx', 'Mbit/s', 'loss', 'vs veth', 'vs wg-go'],
      rows.udp,
    ),
    '',
    `Round-trip time, ping, ${st.pings} × 10 ms per round, ms:`,
    '',
    table(['subject', 'median', 'p99', 'added', 'added vs wg-go'], rows.ping),
  ]
  if (Object.values(s).some((r) => r?.processes)) {
    const links = res.links?.server ? `; the veth pair under all of them: ${offloadSummary(res.links.server)}` : ''
    out.push(
      '',
      `Tunnel processes (server end first): threads after setup → most seen; the offloads of their own links (ethtool -k)${links}:`,
      '',
      table(['subject', 'threads', 'settings', 'server link', 'client link'], rows.procs),
    )
  }
  return out
}

const retr = (t) => String(Math.round(t.retransmitsMedian ?? median(t.runs.map((x) => x.retransmits ?? 0)) ?? 0))
const range = (g) => (g ? `${fmt3(g.median)} (${fmt3(g.min)}–${fmt3(g.max)})` : '—')
const cpuOf = (r) => r?.cpu?.tunnelCpuSecondsPerGbit ?? null

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
    cpuOf(r) === null ? '— (kernel)' : fmt(cpuOf(r), 3),
    fmtRatio(ratio(cpuOf(r), cpuOf(wg))),
    `${retr(r.tcp1)} / ${retr(r.tcp4)}`,
  ]
}

function udpRow(label, r, base, wg) {
  const u = r.udp
  if (!u) return [label, '—']
  const mbps = u.receivedMbps === null || u.receivedMbps === undefined ? '—' : fmt3(u.receivedMbps)
  const common = [
    label,
    u.receivedPps === null ? 'none' : fmt3(u.receivedPps / 1000),
    mbps,
    u.lossPct === null ? '—' : `${fmt(u.lossPct, 2)} %`,
    fmtRatio(ratio(u.receivedPps, base?.udp?.receivedPps)),
    fmtRatio(ratio(u.receivedPps, wg?.udp?.receivedPps)),
  ]
  if (!u.steps) return common
  const note = u.senderLimited
    ? 'sender-limited: iperf3 could not offer more'
    : u.receivedPps === null
      ? `even ${fmt3(Math.min(...u.steps.map((x) => x.offeredPps)) / 1000)} kpps lost too much`
      : ''
  return [...common, u.failedAtPps ? fmt3(u.failedAtPps / 1000) : '—', String(u.steps.length), note]
}

function pingRow(label, r, base, wg) {
  const added = (x) => (base && x ? x.ping.medianMs - base.ping.medianMs : null)
  const a = added(r)
  return [label, fmt(r.ping.medianMs, 3), fmt(r.ping.p99Ms, 3), a === null ? '—' : `+${fmt(a, 3)}`, fmtRatio(ratio(a, added(wg)))]
}

function processRow(label, r) {
  const threads = r.processes?.length
    ? r.processes.map((p) => `${p.name ?? '?'} ${p.threadsAtStart ?? '?'} → ${p.threadsMax ?? '?'}`).join(', ')
    : '— (kernel)'
  const settings = r.config
    ? Object.entries(r.config)
        .map(([k, v]) => `${k} ${v}`)
        .join(', ')
    : ''
  return [label, threads, settings, offloadSummary(r.offloads?.server), offloadSummary(r.offloads?.client)]
}

/** The N-parallel-clients row (issue 18, item 4): one line per server variant. */
function clientsTable(res) {
  const c = res.clients
  if (!c) return []
  if (c.error) return ['', `parallel clients: skipped: ${c.error}`]
  const rows = Object.values(c.variants).map((v) =>
    v.error
      ? [v.label, `skipped: ${v.error}`, '', '', '', '', '']
      : [
          v.label,
          range(v.aggregateGbps),
          `${fmt3(v.perClientMinGbps)} / ${fmt3(v.perClientMaxGbps)}`,
          fmt(v.serverCpuSecondsPerGbit, 3),
          fmt(v.clientsCpuSecondsPerGbit, 3),
          `${v.serverThreadsAtStart ?? '?'} → ${v.serverThreadsMax ?? '?'}`,
          v.runs?.some((r) => r.retries) ? 'retried' : '',
        ],
  )
  const note = typeof c.workersOption === 'string' ? [`(one-worker server: ${c.workersOption})`] : []
  return [
    '',
    `Parallel clients: ${c.clients} client nodes, each in its own namespace with its own TUN and one iperf3 TCP stream, to one server node over ${c.transport.toUpperCase()}, all at once, ${res.settings.seconds} s, median (min–max) of ${res.settings.repeat} runs; CPU s per Gbit received:`,
    '',
    table(['server', 'aggregate Gbit/s', 'per client min / max', 'server CPU s/Gbit', 'clients CPU s/Gbit (sum)', 'server threads', 'note'], rows),
    ...note,
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
      ? [t.toUpperCase(), `skipped: ${m.error}`, '', '', '', '', '']
      : [
          t.toUpperCase(),
          String(m.serverSessionsLive),
          `${m.serverRssBeforeKiB} → ${m.serverRssAfterKiB}`,
          m.serverKiBPerAddedSession == null
            ? fmt(m.serverKiBPerSession, 1)
            : `${fmt(m.serverKiBPerSession, 1)} (${fmt(m.serverKiBPerAddedSession, 1)})`,
          `${m.serverFdsBefore} → ${m.serverFdsAfter}`,
          m.serverIdleCores == null ? '' : `${fmt(m.serverIdleCores * 100, 2)} % (${m.idleSeconds} s)`,
          m.dialFailures ? `${m.dialFailures} dials failed` : '',
        ],
  )
  return [
    '',
    `Skywire server memory with idle client sessions (BENCH_SESSIONS=${res.settings.sessions}; KiB/session in brackets: per session after the first, whose fixed costs are left out):`,
    '',
    table(['transport', 'sessions', 'server RSS KiB', 'KiB/session', 'server fds', 'server CPU idle', 'note'], rows),
  ]
}

/** Issue 18's targets, for results files written before userWait carried them. */
const USER_WAIT_TARGETS = { status: 1.5, startPublic: 2.5, backMs: 1000 }

/** The time a user waits (measures/user-wait.mjs): ratios to `node -e 0`, milliseconds, the issue's targets. */
function userWaitTable(res) {
  const u = res.userWait
  if (!u) return []
  if (u.error) return ['', `user wait: skipped: ${u.error}`]
  const t = { ...USER_WAIT_TARGETS, ...u.targets }
  const meets = (x, limit) => (x === null || x === undefined ? '' : x <= limit ? 'met' : 'NOT met')
  const cmd = (label, r, target) => [
    label,
    r ? fmtRatio(r.ratio) : '—',
    r ? String(r.ms) : '—',
    target === undefined ? '' : `≤ ${target}×`,
    target === undefined ? '' : meets(r?.ratio, target),
    r ? String(r.n) : '',
  ]
  const rows = [cmd('node -e 0 (the baseline)', u.node0), cmd('skywire --version', u.version), cmd('skywire cli vpn status', u.status, t.status)]
  for (const kind of ['sudph', 'stcpr']) {
    for (const temp of ['cold', 'warm']) {
      const what = temp === 'cold' ? 'fresh visor' : 'transport up, --existing-tp'
      rows.push(cmd(`vpn start to a public server, first packet, ${kind.toUpperCase()} ${temp} (${what})`, u.start?.[kind]?.[temp], t.startPublic))
    }
  }
  for (const kind of ['sudph', 'stcpr']) {
    const b = u.back?.[kind] ?? (kind === 'sudph' ? u.back : null)
    const ms = b?.fromServerReadyMs ?? null
    rows.push([
      `back after a server restart, ${kind.toUpperCase()} (from its control API up; from SIGTERM ${b?.fromServerStopMs ?? '—'} ms)`,
      '',
      ms === null ? '—' : String(ms),
      `≤ ${t.backMs} ms`,
      meets(ms, t.backMs),
      '',
    ])
  }
  return [
    '',
    `The time a user waits: the real CLI against real visors on the netlab, wall time in the client namespace, median; ratio to node -e 0 run the same way (${u.tries ?? '?'} tries of each start and restart):`,
    '',
    table(['command', 'vs node -e 0', 'ms', 'target (issue 18)', '', 'samples'], rows),
    ...(u.errors?.length ? u.errors.map((e) => `user wait: ${e}`) : []),
  ]
}
