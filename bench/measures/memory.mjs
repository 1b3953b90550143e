// Server memory per idle session: a fresh server node, RSS before and after bench/fixtures/load.mjs
// opened `settings.sessions` sessions over one transport kind, then the server's CPU while they idle
// (keepalives, pings and its session timer) over `settings.idleSeconds`. `procs` load processes share the
// sessions (the 10,000-session row: one process would hold 10,000 client nodes).
import { generateKeypair } from '../lib/native.mjs'
import { log, sleep } from '../lib/log.mjs'
import { serverAddr, spawnNode } from '../lib/node-proc.mjs'
import { LOAD, PEER } from '../lib/paths.mjs'
import { cpuSeconds, fdCount, vmRssKiB } from '../lib/procfs.mjs'
import { fmt } from '../lib/stats.mjs'

export async function serverMemory(lab, env, settings, transport, procs = 1) {
  const server = generateKeypair()
  const srv = spawnNode(lab, env.a, PEER, {
    sk: server.secretKey,
    stcpr: '192.0.2.1:7777',
    sudph: '192.0.2.1:7778',
    tun: { name: 'swm0', ipv4: '10.99.0.1/16' },
    allow: {},
    // Every load client shares one source address: the per-source caps (32 sessions, 8 pending) would
    // refuse all but the first few.
    limits: {
      sessions: settings.sessions + 16,
      sessionsPerIp: settings.sessions + 16,
      pendingHandshakes: 256,
      pendingHandshakesPerIp: 256,
    },
  })
  const sessions = countSessions(srv)
  const loads = []
  try {
    await srv.waitForOutput(/"ready"/, 10_000)
    await sleep(1000)
    const rss0 = vmRssKiB(srv.pid)
    const fd0 = fdCount(srv.pid)
    const n = settings.sessions
    // Each process opens its share at its share of the rate: together they stay under the server's
    // 200 handshakes/s per source.
    // The first session alone, measured apart: it pays costs that do not grow with the sessions (the
    // TUN sink the STCPR readers share, ~1.6 MiB; runtime buffers), which would otherwise be spread over
    // the rest. `serverKiBPerSession` keeps them; `serverKiBPerAddedSession` is the cost of one more.
    let rssFirst = null
    if (n > 1) {
      const first = spawnNode(lab, env.b, LOAD, { pk: server.publicKey, transport, addrs: [serverAddr(transport)], n: 1, timeoutMs: 10_000 })
      loads.push(first)
      await first.waitForOutput(/\{"done":/, 30_000)
      const until = Date.now() + 5000
      while (sessions.ups < 1 && Date.now() < until) await sleep(100)
      await sleep(1000)
      rssFirst = vmRssKiB(srv.pid)
    }
    const rest = n - loads.length
    const shares = Array.from({ length: procs }, (_, i) => Math.floor(rest / procs) + (i < rest % procs ? 1 : 0)).filter((k) => k > 0)
    for (const k of shares) {
      loads.push(
        spawnNode(lab, env.b, LOAD, {
          pk: server.publicKey,
          transport,
          addrs: [serverAddr(transport)],
          n: k,
          concurrency: Math.max(1, Math.ceil(32 / shares.length)),
          rate: settings.sessionRate / shares.length,
          timeoutMs: 10_000,
        }),
      )
    }
    const wait = 60_000 + (n * 1000) / settings.sessionRate + n * 100
    const dones = await Promise.all(loads.map((l) => l.waitForOutput(/\{"done":(\{[^\n]*\})\}/, wait)))
    const each = dones.map((m) => JSON.parse(m[1]))
    const done = {
      up: each.reduce((a, d) => a + d.up, 0),
      failed: each.reduce((a, d) => a + d.failed, 0),
      firstError: each.find((d) => d.firstError)?.firstError ?? null,
      ms: Math.max(...each.map((d) => d.ms)),
      rssKiB: each.reduce((a, d) => a + d.rssKiB, 0),
      rssBeforeKiB: each.reduce((a, d) => a + d.rssBeforeKiB, 0),
    }
    const deadline = Date.now() + 10_000
    while (sessions.ups < done.up && Date.now() < deadline) await sleep(100)
    await sleep(2000) // let allocations settle
    const rss1 = vmRssKiB(srv.pid)
    const fd1 = fdCount(srv.pid)
    // Idle: nothing but keepalives, pings and the timer; the server's CPU over the window, in cores.
    const idleS = settings.idleSeconds ?? 0
    const cpu0 = cpuSeconds(srv.pid)
    const t0 = Date.now()
    if (idleS > 0) await sleep(idleS * 1000)
    const idleCores = idleS > 0 ? (cpuSeconds(srv.pid) - cpu0) / ((Date.now() - t0) / 1000) : null
    const live = sessions.ups - sessions.downs
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
      serverRssAfterFirstKiB: rssFirst,
      serverKiBPerAddedSession: rssFirst !== null && live > 1 ? (rss1 - rssFirst) / (live - 1) : null,
      serverFdsBefore: fd0,
      serverFdsAfter: fd1,
      loadClientKiBPerSession: done.up > 0 ? (done.rssKiB - done.rssBeforeKiB) / done.up : null,
      loadProcesses: loads.length,
      idleSeconds: idleS,
      serverIdleCores: idleCores,
      serverLiveAfterIdle: sessions.ups - sessions.downs,
    }
    log(
      `  memory ${transport}: ${live} sessions live on the server, RSS ${rss0} -> ${rss1} KiB = ${fmt(r.serverKiBPerSession, 1)} KiB/session` +
        (r.serverKiBPerAddedSession === null ? '' : ` (${fmt(r.serverKiBPerAddedSession, 1)} KiB per session after the first)`) +
        (idleCores === null ? '' : `; idle ${idleS} s: ${fmt(idleCores * 100, 2)} % of a core`) +
        (done.failed ? ` (${done.failed} dials failed: ${done.firstError})` : ''),
    )
    return r
  } finally {
    await Promise.all(loads.map((l) => l.kill('SIGTERM', 5000)))
    await srv.kill('SIGTERM', 2000)
  }
}

/** Counts the transport-up and transport-down events the server node prints. */
function countSessions(srv) {
  const counts = { ups: 0, downs: 0 }
  srv.child.stdout.on('data', (d) => {
    const s = d.toString('utf8')
    counts.ups += (s.match(/"kind":"transport-up"/g) ?? []).length
    counts.downs += (s.match(/"kind":"transport-down"/g) ?? []).length
  })
  return counts
}
