// Server memory per idle session: a fresh server node, RSS before and after bench/fixtures/load.mjs
// opened `settings.sessions` sessions over one transport kind.
import { generateKeypair } from '../lib/native.mjs'
import { log, sleep } from '../lib/log.mjs'
import { serverAddr, spawnNode } from '../lib/node-proc.mjs'
import { LOAD, PEER } from '../lib/paths.mjs'
import { fdCount, vmRssKiB } from '../lib/procfs.mjs'
import { fmt } from '../lib/stats.mjs'

export async function serverMemory(lab, env, settings, transport) {
  const server = generateKeypair()
  const srv = spawnNode(lab, env.a, PEER, {
    sk: server.secretKey,
    stcpr: '192.0.2.1:7777',
    sudph: '192.0.2.1:7778',
    tun: { name: 'swm0', ipv4: '10.99.0.1/16' },
    allow: {},
  })
  const sessions = countSessions(srv)
  let load = null
  try {
    await srv.waitForOutput(/"ready"/, 10_000)
    await sleep(1000)
    const rss0 = vmRssKiB(srv.pid)
    const fd0 = fdCount(srv.pid)
    const n = settings.sessions
    load = spawnNode(lab, env.b, LOAD, {
      pk: server.publicKey,
      transport,
      addrs: [serverAddr(transport)],
      n,
      concurrency: 32,
      rate: settings.sessionRate,
      timeoutMs: 10_000,
    })
    const m = await load.waitForOutput(/\{"done":(\{[^\n]*\})\}/, 60_000 + (n * 1000) / settings.sessionRate + n * 100)
    const done = JSON.parse(m[1])
    const deadline = Date.now() + 10_000
    while (sessions.ups < done.up && Date.now() < deadline) await sleep(100)
    await sleep(2000) // let allocations settle
    const rss1 = vmRssKiB(srv.pid)
    const fd1 = fdCount(srv.pid)
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
