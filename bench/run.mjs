#!/usr/bin/env node
// `npm run bench` (as root): our tunnel against the bare veth and two
// WireGuard userspace peers, one after the other on the same namespace pair.
// See bench/README.md for what is measured and how.
import { createRequire } from 'node:module'
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { cpus, loadavg, release } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { spawnSync } from 'node:child_process'
import { barChart } from './lib/png.mjs'
import { fmt, fmt3, fmtRatio, median, percentile, ratio, summary, table } from './lib/stats.mjs'
import { ensureBoringtun, ensureWireguardGo } from './lib/tools.mjs'
import { uapiGet, uapiPath, uapiSet, waitForUapi, wgKeypair } from './lib/wg.mjs'

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..')
const PEER = join(ROOT, 'test/fixtures/peer.mjs')
const CONNECT = join(ROOT, 'bench/fixtures/connect.mjs')
const LOAD = join(ROOT, 'bench/fixtures/load.mjs')
const ECHO = join(ROOT, 'bench/fixtures/udp-echo.mjs')
const TOOLS = join(ROOT, '.bench-tools')
const RESULTS = join(ROOT, 'bench/results')

const envInt = (name, dflt, min = 1) => {
  const raw = process.env[name]
  if (raw === undefined || raw === '') return dflt
  const n = Number(raw)
  if (!Number.isInteger(n) || n < min) {
    console.error(`bench: ${name}=${raw} is not an integer >= ${min}`)
    process.exit(2)
  }
  return n
}
const SETTINGS = {
  seconds: envInt('BENCH_SECONDS', 10),
  repeat: envInt('BENCH_REPEAT', 3),
  sessions: envInt('BENCH_SESSIONS', 1000),
  // New sessions per second the load tool opens; the server counts more than 200 handshakes/s as an attack.
  sessionRate: envInt('BENCH_SESSION_RATE', 100),
  connects: envInt('BENCH_CONNECTS', 20),
  pings: envInt('BENCH_PINGS', 200, 2),
  // IP packet size of the UDP test; the iperf3 payload is 28 bytes less (IPv4 + UDP headers), so that
  // the packets fit the tunnels' 1420-byte MTU without fragmenting.
  udpPacket: envInt('BENCH_UDP_PACKET', 1400, 100),
  only: (process.env.BENCH_ONLY ?? '').split(',').map((s) => s.trim()).filter(Boolean),
}
const SUBJECTS = ['veth', 'sudph', 'stcpr', 'wireguard-go', 'boringtun']
const EXTRAS = ['connect', 'memory']
for (const s of SETTINGS.only) {
  if (![...SUBJECTS, ...EXTRAS].includes(s)) {
    console.error(`bench: BENCH_ONLY: unknown "${s}" (known: ${[...SUBJECTS, ...EXTRAS].join(', ')})`)
    process.exit(2)
  }
}
const wanted = (name) => SETTINGS.only.length === 0 || SETTINGS.only.includes(name)

const t0 = Date.now()
const log = (msg) => console.log(`bench [${((Date.now() - t0) / 1000).toFixed(0).padStart(4)} s] ${msg}`)
const sleep = (ms) => new Promise((r) => setTimeout(r, ms))

// ---------------------------------------------------------------- prerequisites
function prerequisites() {
  if (process.getuid?.() !== 0) return 'run it as root (it builds network namespaces): sudo npm run bench'
  if (!existsSync(join(ROOT, 'dist/netlab/index.js'))) return 'dist/netlab is missing: run `npm run build` (or `npx tsc -p .`) first'
  if (!existsSync(join(ROOT, 'native/index.js'))) return 'the native addon is missing: run `npm run build` first'
  for (const t of ['iperf3', 'ping', 'ip']) {
    if (spawnSync('sh', ['-c', `command -v ${t}`]).status !== 0) return `\`${t}\` is not installed (bash scripts/setup.sh installs it)`
  }
  return null
}
// `--chart FILE.json` / `--report FILE.json` only redraw the chart / reprint the tables of a run (no root, no
// lab); everything else needs the lab.
const CHART_ONLY = process.argv[2] === '--chart' || process.argv[2] === '--report'
const why = CHART_ONLY ? null : prerequisites()
if (why) {
  console.error(`bench: ${why}`)
  process.exit(2)
}
const { createLab, labPrerequisites } = CHART_ONLY ? {} : await import('../dist/netlab/index.js')
const pre = CHART_ONLY ? { ok: true } : labPrerequisites()
if (!pre.ok) {
  console.error(`bench: ${pre.reason}`)
  process.exit(2)
}
const require = createRequire(import.meta.url)
const { generateKeypair } = CHART_ONLY ? {} : require('../native/index.js')

const CLK_TCK = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout.trim()) || 100

/** utime+stime of a process (all its threads), in seconds; null when it is gone. */
function cpuSeconds(pid) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    // fields 14 and 15 of stat(5); f[0] is field 3
    return (Number(f[11]) + Number(f[12])) / CLK_TCK
  } catch {
    return null
  }
}
const cpuOf = (pids) => pids.reduce((s, p) => s + (cpuSeconds(p) ?? 0), 0)

/** Busy and total jiffies of the whole machine, from /proc/stat. */
function machineCpu() {
  const f = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number)
  const total = f.reduce((a, b) => a + b, 0)
  const idle = (f[3] ?? 0) + (f[4] ?? 0)
  return { busy: (total - idle) / CLK_TCK, total: total / CLK_TCK }
}

function vmRssKiB(pid) {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))
  return m ? Number(m[1]) : null
}

function fdCount(pid) {
  const r = spawnSync('ls', [`/proc/${pid}/fd`], { encoding: 'utf8' })
  return r.status === 0 ? r.stdout.split('\n').filter(Boolean).length : null
}

// ---------------------------------------------------------------- measurements
/** One iperf3 TCP run from the client namespace to `addr`. */
async function iperfTcp(lab, ns, addr, streams, pids) {
  const cpu0 = cpuOf(pids)
  const sys0 = machineCpu()
  const argv = ['iperf3', '-c', addr, '-p', '5201', '-t', String(SETTINGS.seconds), '-P', String(streams), '-J']
  const r = await lab.exec(ns, argv, { timeoutMs: (SETTINGS.seconds + 30) * 1000 })
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
async function iperfUdp(lab, ns, addr, pids) {
  const len = SETTINGS.udpPacket - 28
  const cpu0 = cpuOf(pids)
  const argv = ['iperf3', '-c', addr, '-p', '5201', '-u', '-l', String(len), '-b', '0', '-t', String(SETTINGS.seconds), '-J']
  const r = await lab.exec(ns, argv, { timeoutMs: (SETTINGS.seconds + 30) * 1000 })
  const cpu = cpuOf(pids) - cpu0
  const j = parseJson(r.stdout)
  if (r.code !== 0 || !j || j.error) throw new Error(`iperf3 -u: ${j?.error ?? (r.stderr.trim() || `exit ${r.code}`)}`)
  // iperf3 3.12 puts sender packets and the receiver's loss count in end.sum; newer ones add sum_received.
  const s = j.end.sum_received ?? j.end.sum
  const sent = j.end.sum_sent?.packets ?? j.end.sum.packets
  const lost = s.lost_packets ?? 0
  const received = j.end.sum_received ? j.end.sum_received.packets - lost : sent - lost
  const seconds = s.seconds || SETTINGS.seconds
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

async function pingRtt(lab, ns, addr) {
  const n = SETTINGS.pings
  const deadline = Math.ceil(n * 0.01 + 5)
  const r = await lab.exec(ns, ['ping', '-n', '-i', '0.01', '-c', String(n), '-W', '1', '-w', String(deadline), addr], {
    timeoutMs: (deadline + 5) * 1000,
  })
  const rtts = [...r.stdout.matchAll(/time=([\d.]+) ms/g)].map((m) => Number(m[1]))
  if (rtts.length === 0) throw new Error(`ping ${addr}: no reply (${(r.stdout + r.stderr).trim().split('\n').at(-1)})`)
  return { sent: n, received: rtts.length, medianMs: median(rtts), p99Ms: percentile(rtts, 99), minMs: Math.min(...rtts), maxMs: Math.max(...rtts) }
}

function parseJson(s) {
  try {
    return JSON.parse(s)
  } catch {
    return null
  }
}

/** Checks the path before measuring: a few pings must come back. */
async function reachable(lab, ns, addr) {
  for (let i = 0; i < 10; i++) {
    const r = await lab.exec(ns, ['ping', '-n', '-c', '1', '-W', '1', addr], { timeoutMs: 5000 })
    if (r.code === 0) return
    await sleep(200)
  }
  throw new Error(`${addr} does not answer ping through the tunnel`)
}

/** Everything for one subject on a ready path: TCP ×1 and ×4 (repeats interleaved), UDP, ping. */
async function measure(lab, env, name, { addr, pids }) {
  const srv = lab.spawn(env.a, ['iperf3', '-s', '-B', addr, '-p', '5201'])
  try {
    await lab.waitForTcp(env.a, addr, 5201, 5000)
    await reachable(lab, env.b, addr)
    const runs = { tcp1: [], tcp4: [] }
    for (let i = 0; i < SETTINGS.repeat; i++) {
      for (const [key, streams] of [['tcp1', 1], ['tcp4', 4]]) {
        const r = await iperfTcp(lab, env.b, addr, streams, pids)
        runs[key].push(r)
        log(`  ${name}: TCP ×${streams} run ${i + 1}/${SETTINGS.repeat}: ${fmt(r.bps / 1e9)} Gbit/s`)
      }
    }
    const udp = await iperfUdp(lab, env.b, addr, pids)
    log(`  ${name}: UDP ${SETTINGS.udpPacket} B: ${fmt3(udp.receivedPps / 1000)} kpps received, ${fmt(udp.lossPct, 1)} % lost`)
    const ping = await pingRtt(lab, env.b, addr)
    log(`  ${name}: ping median ${fmt(ping.medianMs, 3)} ms, p99 ${fmt(ping.p99Ms, 3)} ms`)
    const tcpAll = [...runs.tcp1, ...runs.tcp4]
    const gbits = tcpAll.reduce((s, r) => s + (r.bytes * 8) / 1e9, 0)
    const cpu = pids.length ? tcpAll.reduce((s, r) => s + r.tunnelCpuS, 0) : null
    const busy = tcpAll.reduce((s, r) => s + r.machineBusyCpuS, 0)
    return {
      tcp1: { gbps: summary(runs.tcp1.map((r) => r.bps / 1e9)), retransmitsMedian: median(runs.tcp1.map((r) => r.retransmits ?? 0)), runs: runs.tcp1 },
      tcp4: { gbps: summary(runs.tcp4.map((r) => r.bps / 1e9)), retransmitsMedian: median(runs.tcp4.map((r) => r.retransmits ?? 0)), runs: runs.tcp4 },
      udp,
      ping,
      cpu: {
        tunnelCpuSecondsPerGbit: cpu === null ? null : cpu / gbits,
        machineBusyCpuSecondsPerGbit: busy / gbits,
        gbitTransferred: gbits,
      },
    }
  } finally {
    await srv.kill('SIGTERM', 1000)
  }
}

// ---------------------------------------------------------------- subjects
/** Every subject returns the server's address through it and the pids of its tunnel processes. */
async function setupVeth() {
  return { addr: '192.0.2.1', pids: [], stop: async () => {} }
}

/** A node process with a high file-descriptor limit (many sessions = many sockets). */
function spawnNode(lab, ns, script, cfg) {
  return lab.spawn(ns, ['sh', '-c', 'ulimit -n 65536 2>/dev/null || true; exec "$0" "$@"', process.execPath, script, JSON.stringify(cfg)])
}

async function setupOurs(lab, env, transport) {
  const server = generateKeypair()
  const client = generateKeypair()
  const srv = spawnNode(lab, env.a, PEER, {
    sk: server.secretKey,
    stcpr: '192.0.2.1:7777',
    sudph: '192.0.2.1:7778',
    tun: { name: 'swb0', ipv4: '10.99.0.1/24' },
    allow: { [client.publicKey]: ['10.99.0.2/32'] },
  })
  let cli = null
  const stop = async () => {
    await cli?.kill('SIGTERM', 2000)
    await srv.kill('SIGTERM', 2000)
  }
  try {
    await srv.waitForOutput(/"ready"/, 10_000)
    cli = spawnNode(lab, env.b, PEER, {
      sk: client.secretKey,
      sudph: '0.0.0.0:0',
      tun: { name: 'swb0', ipv4: '10.99.0.2/24' },
      allow: { [server.publicKey]: ['10.99.0.0/24'] },
      dial: { pk: server.publicKey, transport, addrs: [transport === 'stcpr' ? '192.0.2.1:7777' : '192.0.2.1:7778'], timeoutMs: 8000 },
    })
    const m = await cli.waitForOutput(/"dialed":\d+|"dialError":\{[^\n]*/, 15_000)
    if (m[0].includes('dialError')) throw new Error(`dial over ${transport} failed: ${m[0]}`)
  } catch (e) {
    // Nothing may keep the ports or TUN names the next subjects use.
    await stop()
    throw e
  }
  return { addr: '10.99.0.1', pids: [srv.pid, cli.pid], stop }
}

/** wireguard-go or boringtun on both ends, configured through the UAPI socket. */
async function setupWireguard(lab, env, kind, bin) {
  const net = kind === 'wireguard-go' ? '10.98.0' : '10.97.0'
  const tag = kind === 'wireguard-go' ? 'wg' : 'bt'
  const ends = [
    { ns: env.a, ifname: `${tag}-${lab.id}-a`, key: wgKeypair(), addr: `${net}.1/24`, port: 51820 },
    { ns: env.b, ifname: `${tag}-${lab.id}-b`, key: wgKeypair(), addr: `${net}.2/24`, port: 51821 },
  ]
  const procs = []
  const stop = async () => {
    for (const p of procs) await p.kill('SIGTERM', 2000)
    for (const e of ends) rmSync(uapiPath(e.ifname), { force: true })
  }
  env.cleanups.push(() => {
    for (const e of ends) rmSync(uapiPath(e.ifname), { force: true })
  })
  try {
    for (const e of ends) {
      const argv =
        kind === 'wireguard-go'
          ? [bin, '-f', e.ifname]
          : [bin, '--foreground', '--disable-drop-privileges', e.ifname]
      // WG_PROCESS_FOREGROUND also silences wireguard-go's "use the kernel module" banner.
      const p = lab.spawn(e.ns, argv, { env: { ...process.env, WG_PROCESS_FOREGROUND: '1', LOG_LEVEL: 'error' } })
      procs.push(p)
      await waitForUapi(e.ifname, 10_000, p)
    }
    const [a, b] = ends
    await uapiSet(a.ifname, { privateKey: a.key.privateKey, listenPort: a.port, peer: { publicKey: b.key.publicKey, allowedIps: [`${net}.2/32`] } })
    await uapiSet(b.ifname, {
      privateKey: b.key.privateKey,
      listenPort: b.port,
      peer: { publicKey: a.key.publicKey, endpoint: `192.0.2.1:${a.port}`, allowedIps: [`${net}.0/24`] },
    })
    for (const e of ends) {
      await lab.ip(e.ns, ['addr', 'add', e.addr, 'dev', e.ifname])
      await lab.ip(e.ns, ['link', 'set', e.ifname, 'mtu', '1420', 'up'])
    }
    await reachable(lab, env.b, `${net}.1`)
    // The ping answered, so the handshake happened; rx_bytes says it went through this peer. (Not
    // last_handshake_time_sec: boringtun reports the time since the handshake there, 0 right after it.)
    const g = await uapiGet(b.ifname)
    if (!(Number(g.rx_bytes) > 0)) throw new Error('the WireGuard peer received nothing')
  } catch (e) {
    await stop()
    throw e
  }
  return { addr: `${net}.1`, pids: procs.map((p) => p.pid), stop }
}

// ---------------------------------------------------------------- connect time, memory
async function connectTimes(lab, env) {
  const server = generateKeypair()
  const clients = { sudph: [], stcpr: [] }
  const allow = {}
  for (const [t, third] of [['sudph', 1], ['stcpr', 2]]) {
    for (let i = 0; i < SETTINGS.connects; i++) {
      const kp = generateKeypair()
      const ip = `10.99.${third + Math.floor(i / 250)}.${(i % 250) + 2}`
      clients[t].push({ kp, ip })
      allow[kp.publicKey] = [`${ip}/32`]
    }
  }
  const srv = spawnNode(lab, env.a, PEER, {
    sk: server.secretKey,
    stcpr: '192.0.2.1:7777',
    sudph: '192.0.2.1:7778',
    tun: { name: 'swc0', ipv4: '10.99.0.1/16' },
    allow,
  })
  const echo = lab.spawn(env.a, [process.execPath, ECHO, '0.0.0.0:9'])
  const out = {}
  try {
    await srv.waitForOutput(/"ready"/, 10_000)
    await echo.waitForOutput(/"ready"/, 5000)
    for (const t of ['sudph', 'stcpr']) {
      const runs = []
      const wall = []
      let failure = null
      for (const [i, c] of clients[t].entries()) {
        const w0 = performance.now()
        const p = spawnNode(lab, env.b, CONNECT, {
          sk: c.kp.secretKey,
          sudph: t === 'sudph' ? '0.0.0.0:0' : undefined,
          tun: { name: `swk${i}`, ipv4: `${c.ip}/16` },
          allow: ['10.99.0.1/32'],
          dial: { pk: server.publicKey, transport: t, addrs: [t === 'stcpr' ? '192.0.2.1:7777' : '192.0.2.1:7778'], timeoutMs: 5000 },
          echo: '10.99.0.1:9',
        })
        const ex = await Promise.race([p.exited, sleep(15_000).then(() => null)])
        if (!ex) await p.kill('SIGKILL', 0)
        wall.push(performance.now() - w0)
        const line = p.output().stdout.split('\n').map(parseJson).find((j) => j && (j.ms || j.error))
        if (!line?.ms) {
          failure = line?.error ? `${line.error.stage}: ${line.error.message}` : `no result (exit ${JSON.stringify(ex)}): ${p.output().stderr.slice(-300)}`
          log(`  connect ${t} run ${i + 1}: failed: ${failure}`)
          continue
        }
        runs.push({ ...line.ms, probes: line.probes, firstSendMs: line.firstSendMs, maxTimerGapMs: line.maxTimerGapMs })
      }
      const pick = (k) => runs.map((r) => r[k])
      out[t] = {
        runs: runs.length,
        failed: clients[t].length - runs.length,
        firstFailure: failure,
        totalMs: { median: median(pick('total')), p90: percentile(pick('total'), 90), min: Math.min(...pick('total')), max: Math.max(...pick('total')) },
        phasesMedianMs: Object.fromEntries(['start', 'dial', 'tun', 'firstPacket', 'addonLoad'].map((k) => [k, median(pick(k))])),
        // probes sent (one per 2 ms) until the first echo: many means the first ones were dropped, not slow
        probesMedian: median(pick('probes')),
        firstSendMedianMs: median(pick('firstSendMs')),
        maxTimerGapMedianMs: median(pick('maxTimerGapMs')),
        processWallMedianMs: median(wall),
      }
      log(`  connect ${t}: median ${fmt(out[t].totalMs.median, 1)} ms (dial ${fmt(out[t].phasesMedianMs.dial, 1)} ms) over ${runs.length} runs`)
    }
  } finally {
    await echo.kill('SIGTERM', 1000)
    await srv.kill('SIGTERM', 2000)
  }
  return out
}

async function serverMemory(lab, env, transport) {
  const server = generateKeypair()
  const srv = spawnNode(lab, env.a, PEER, {
    sk: server.secretKey,
    stcpr: '192.0.2.1:7777',
    sudph: '192.0.2.1:7778',
    tun: { name: 'swm0', ipv4: '10.99.0.1/16' },
    allow: {},
  })
  let ups = 0
  let downs = 0
  srv.child.stdout.on('data', (d) => {
    const s = d.toString('utf8')
    ups += (s.match(/"kind":"session-up"/g) ?? []).length
    downs += (s.match(/"kind":"session-down"/g) ?? []).length
  })
  let load = null
  try {
    await srv.waitForOutput(/"ready"/, 10_000)
    await sleep(1000)
    const rss0 = vmRssKiB(srv.pid)
    const fd0 = fdCount(srv.pid)
    const n = SETTINGS.sessions
    load = spawnNode(lab, env.b, LOAD, {
      pk: server.publicKey,
      transport,
      addrs: [transport === 'stcpr' ? '192.0.2.1:7777' : '192.0.2.1:7778'],
      n,
      concurrency: 32,
      rate: SETTINGS.sessionRate,
      timeoutMs: 10_000,
    })
    const m = await load.waitForOutput(/\{"done":(\{[^\n]*\})\}/, 60_000 + (n * 1000) / SETTINGS.sessionRate + n * 100)
    const done = JSON.parse(m[1])
    const deadline = Date.now() + 10_000
    while (ups < done.up && Date.now() < deadline) await sleep(100)
    await sleep(2000) // let allocations settle
    const rss1 = vmRssKiB(srv.pid)
    const fd1 = fdCount(srv.pid)
    const live = ups - downs
    const r = {
      sessionsRequested: n,
      sessionsUp: done.up,
      serverSessionsLive: live,
      dialFailures: done.failed,
      firstDialError: done.firstError,
      connectAllMs: done.ms,
      serverRssBeforeKiB: rss0,
      serverRssAfterKiB: rss1,
      serverKiBPerSession: live > 0 ? (rss1 - rss0) / live : null,
      serverFdsBefore: fd0,
      serverFdsAfter: fd1,
      loadClientKiBPerSession: done.up > 0 ? (done.rssKiB - done.rssBeforeKiB) / done.up : null,
    }
    log(
      `  memory ${transport}: ${live} sessions live on the server, RSS ${rss0} -> ${rss1} KiB = ${fmt(r.serverKiBPerSession, 1)} KiB/session` +
        (done.failed ? ` (${done.failed} dials failed: ${done.firstError})` : ''),
    )
    return r
  } finally {
    await load?.kill('SIGTERM', 5000)
    await srv.kill('SIGTERM', 2000)
  }
}

// ---------------------------------------------------------------- report
function report(res) {
  const st = res.settings
  const s = res.subjects
  const base = s.veth && !s.veth.error ? s.veth : null
  const wg = s['wireguard-go'] && !s['wireguard-go'].error ? s['wireguard-go'] : null
  const label = { veth: 'bare veth', sudph: 'skywire SUDPH', stcpr: 'skywire STCPR', 'wireguard-go': 'wireguard-go', boringtun: 'boringtun' }
  const retr = (t) => String(Math.round(t.retransmitsMedian ?? median(t.runs.map((x) => x.retransmits ?? 0)) ?? 0))
  const range = (g) => (g ? `${fmt3(g.median)} (${fmt3(g.min)}–${fmt3(g.max)})` : '—')
  const rows1 = []
  const rows2 = []
  for (const name of SUBJECTS) {
    const r = s[name]
    if (!r) continue
    if (r.error) {
      rows1.push([label[name], `skipped: ${r.error}`, '', '', '', '', '', '', ''])
      rows2.push([label[name], 'skipped', '', '', '', '', '', ''])
      continue
    }
    const g1 = r.tcp1.gbps
    const g4 = r.tcp4.gbps
    rows1.push([
      label[name],
      range(g1),
      fmtRatio(ratio(g1?.median, base?.tcp1.gbps?.median)),
      fmtRatio(ratio(g1?.median, wg?.tcp1.gbps?.median)),
      range(g4),
      fmtRatio(ratio(g4?.median, base?.tcp4.gbps?.median)),
      fmtRatio(ratio(g4?.median, wg?.tcp4.gbps?.median)),
      r.cpu.tunnelCpuSecondsPerGbit === null ? '— (kernel)' : fmt(r.cpu.tunnelCpuSecondsPerGbit, 3),
      `${retr(r.tcp1)} / ${retr(r.tcp4)}`,
    ])
    rows2.push([
      label[name],
      `${fmt3(r.udp.receivedPps / 1000)}`,
      `${fmt(r.udp.lossPct, 1)} %`,
      fmtRatio(ratio(r.udp.receivedPps, base?.udp.receivedPps)),
      fmtRatio(ratio(r.udp.receivedPps, wg?.udp.receivedPps)),
      fmt(r.ping.medianMs, 3),
      fmt(r.ping.p99Ms, 3),
      base ? `+${fmt(r.ping.medianMs - base.ping.medianMs, 3)}` : '—',
    ])
  }
  const out = []
  if (rows1.length) {
    out.push(
      `Throughput, iperf3 TCP, ${st.seconds} s runs, median (min–max) of ${st.repeat}, Gbit/s; CPU = tunnel processes (both ends) per Gbit:`,
    )
    out.push('', table(['subject', 'TCP ×1', 'vs veth', 'vs wg-go', 'TCP ×4', 'vs veth', 'vs wg-go', 'CPU s/Gbit', 'TCP retransmits ×1 / ×4'], rows1))
    out.push('')
    out.push(`UDP (${st.udpPacket}-byte packets, unlimited rate, ${st.seconds} s) and ping (${st.pings} × 10 ms):`)
    out.push('', table(['subject', 'UDP kpps rx', 'UDP loss', 'vs veth', 'vs wg-go', 'RTT median ms', 'RTT p99 ms', 'added RTT ms'], rows2))
  }
  if (res.connect && !res.connect.error) {
    out.push('')
    out.push(`Skywire connect time, fresh client node to first packet through the tunnel (${st.connects} runs each), ms:`)
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
    out.push('', table(['transport', 'median', 'p90', 'node start', 'dial', 'TUN+attach', 'first echo', 'note'], rows))
  } else if (res.connect?.error) out.push('', `connect time: skipped: ${res.connect.error}`)
  if (res.memory) {
    out.push('')
    out.push(`Skywire server memory with idle client sessions (BENCH_SESSIONS=${st.sessions}):`)
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
    out.push('', table(['transport', 'sessions', 'server RSS KiB', 'KiB/session', 'server fds', 'note'], rows))
  }
  if (res.skipped.length) out.push('', ...res.skipped.map((x) => `skipped: ${x}`))
  return out.join('\n')
}

function chart(res, file) {
  const label = { veth: 'bare veth', sudph: 'skywire SUDPH', stcpr: 'skywire STCPR', 'wireguard-go': 'wireguard-go', boringtun: 'boringtun' }
  const names = SUBJECTS.filter((n) => res.subjects[n])
  const groups = names.map((n) => {
    const r = res.subjects[n]
    const v = (g) => (g ? { value: g.median, min: g.min, max: g.max } : null)
    return { label: label[n], values: r.error ? [null, null] : [v(r.tcp1.gbps), v(r.tcp4.gbps)] }
  })
  // The veth is usually 10x and more above the tunnels: then the axis fits the tunnels and the veth bars are cut.
  const top = (ns) => Math.max(0, ...ns.flatMap((n) => groups[names.indexOf(n)].values.filter(Boolean).map((v) => Math.max(v.value, v.max))))
  const tunnels = top(names.filter((n) => n !== 'veth'))
  const scaleMax = tunnels > 0 && top(['veth'].filter((n) => names.includes(n))) > 3 * tunnels ? tunnels * 1.1 : undefined
  const st = res.settings
  const png = barChart({
    title: 'iperf3 TCP throughput through each tunnel (Gbit/s)',
    subtitle: `${res.date.slice(0, 16).replace('T', ' ')} UTC, ${res.machine.cpus} cores (busy machine), ${st.seconds} s runs, median of ${st.repeat}, whiskers min-max`,
    unit: 'Gbit/s',
    series: ['1 stream', '4 streams'],
    groups,
    scaleMax,
  })
  writeFileSync(file, png)
}

// ---------------------------------------------------------------- main
async function main() {
  const date = new Date()
  const res = {
    date: date.toISOString(),
    settings: { ...SETTINGS, only: SETTINGS.only.length ? SETTINGS.only : undefined },
    machine: { cpus: cpus().length, model: cpus()[0]?.model, kernel: release(), node: process.version, loadavgBefore: loadavg() },
    method: {
      tcp: 'iperf3 -c <server tunnel address> -t BENCH_SECONDS [-P 4] -J from the client namespace; end.sum_received; 1- and 4-stream runs interleaved, BENCH_REPEAT times',
      udp: 'iperf3 -u -l (BENCH_UDP_PACKET - 28) -b 0 (unlimited): packets received per second and loss over the run',
      ping: 'ping -i 0.01 -c BENCH_PINGS: median and nearest-rank p99; added RTT = median minus the bare veth median',
      cpu: 'utime+stime from /proc/<pid>/stat of every tunnel process at both ends (all threads), before/after each TCP run, summed over all TCP runs and divided by the Gbit received; machine-wide busy time from /proc/stat is kept too (includes iperf3, the kernel and other load)',
      connect: 'bench/fixtures/connect.mjs in a fresh process: VisorNode.start, dial, createTun+attach, UDP probes every 2 ms to an echo server behind the server TUN until the first answer; time from VisorNode.start',
      memory: 'VmRSS of a fresh server node (test/fixtures/peer.mjs) before and after bench/fixtures/load.mjs opened BENCH_SESSIONS idle sessions (one VisorNode per client key, no TUN), divided by the sessions the server reported up',
    },
    tools: {},
    subjects: {},
    skipped: [],
  }
  mkdirSync(RESULTS, { recursive: true })
  log(
    `settings: ${SETTINGS.seconds} s per run, ${SETTINGS.repeat} repeats, ${SETTINGS.pings} pings, ${SETTINGS.connects} connects, ${SETTINGS.sessions} sessions` +
      (SETTINGS.only.length ? `, only ${SETTINGS.only.join(',')}` : ''),
  )

  const tools = {}
  if (wanted('wireguard-go')) tools['wireguard-go'] = await ensureWireguardGo(TOOLS, log)
  if (wanted('boringtun')) tools.boringtun = await ensureBoringtun(TOOLS, log)
  for (const [k, t] of Object.entries(tools)) {
    if (t.error) {
      console.log(`bench: ${t.error}`)
      res.skipped.push(t.error)
    }
    res.tools[k] = t.error ? { error: t.error } : { version: t.version, module: t.module }
  }

  const lab = createLab()
  const env = { lab, a: '', b: '', cleanups: [] }
  const cleanup = () => {
    for (const f of env.cleanups) f()
  }
  process.on('exit', cleanup)
  try {
    env.a = await lab.addNamespace('bench-srv')
    env.b = await lab.addNamespace('bench-cli')
    await lab.veth({ ns: env.a, ifname: 'va', addrs: ['192.0.2.1/24'] }, { ns: env.b, ifname: 'vb', addrs: ['192.0.2.2/24'] })
    log(`namespaces ${env.a} and ${env.b}, joined by a veth (192.0.2.1 <-> 192.0.2.2)`)

    for (const name of SUBJECTS) {
      if (!wanted(name)) continue
      if (tools[name]?.error) {
        res.subjects[name] = { error: 'not installed' }
        continue
      }
      log(`${name}: setting up`)
      let path = null
      try {
        if (name === 'veth') path = await setupVeth()
        else if (name === 'sudph' || name === 'stcpr') path = await setupOurs(lab, env, name)
        else path = await setupWireguard(lab, env, name, tools[name].bin)
        res.subjects[name] = await measure(lab, env, name, path)
      } catch (e) {
        const msg = `${name}: ${e.message.split('\n')[0]}`
        console.log(`bench: ${msg} — skipping its row`)
        res.subjects[name] = { error: e.message.split('\n')[0] }
        res.skipped.push(msg)
      } finally {
        await path?.stop()
      }
    }

    if (wanted('connect')) {
      log(`connect time: ${SETTINGS.connects} fresh client nodes per transport`)
      try {
        res.connect = await connectTimes(lab, env)
      } catch (e) {
        res.connect = { error: e.message.split('\n')[0] }
        res.skipped.push(`connect time: ${res.connect.error}`)
      }
    }
    if (wanted('memory')) {
      res.memory = {}
      for (const t of ['stcpr', 'sudph']) {
        log(`memory ${t}: ${SETTINGS.sessions} idle sessions`)
        try {
          res.memory[t] = await serverMemory(lab, env, t)
        } catch (e) {
          res.memory[t] = { error: e.message.split('\n')[0] }
          res.skipped.push(`memory ${t}: ${res.memory[t].error}`)
        }
      }
    }
  } finally {
    await lab.close(2000)
    cleanup()
  }

  res.machine.loadavgAfter = loadavg()
  res.durationS = Math.round((Date.now() - t0) / 1000)
  const stamp = res.date.slice(0, 19).replace(/:/g, '-') + 'Z'
  const jsonFile = join(RESULTS, `${stamp}.json`)
  const pngFile = join(RESULTS, `${stamp}.png`)
  writeFileSync(jsonFile, JSON.stringify(res, null, 2) + '\n')
  chart(res, pngFile)
  console.log('')
  console.log(report(res))
  console.log('')
  console.log(`Measured on ${res.machine.cpus} cores (${res.machine.model}), load average ${res.machine.loadavgBefore.map((x) => x.toFixed(2)).join(' ')} at the start.`)
  console.log(`wrote ${jsonFile.slice(ROOT.length + 1)} and ${pngFile.slice(ROOT.length + 1)}`)
}

if (CHART_ONLY) {
  // Redraw the chart or reprint the tables of an earlier run: node bench/run.mjs --chart|--report bench/results/<time>.json
  const file = process.argv[3]
  const res = JSON.parse(readFileSync(file, 'utf8'))
  if (process.argv[2] === '--report') console.log(report(res))
  else {
    chart(res, file.replace(/\.json$/, '.png'))
    console.log(`wrote ${file.replace(/\.json$/, '.png')}`)
  }
} else {
  main().catch((e) => {
    console.error(`bench: ${e.stack ?? e}`)
    process.exitCode = 1
  })
}
