// Connect time of our tunnel: a fresh client node per try (bench/fixtures/connect.mjs), from its start
// to the first echo through the tunnel, over each transport kind.
import { generateKeypair } from '../lib/native.mjs'
import { log, parseJson, sleep } from '../lib/log.mjs'
import { serverAddr, spawnNode } from '../lib/node-proc.mjs'
import { CONNECT, ECHO, PEER } from '../lib/paths.mjs'
import { fmt, median, percentile } from '../lib/stats.mjs'

const KINDS = ['sudph', 'stcpr']

export async function connectTimes(lab, env, settings) {
  const server = generateKeypair()
  const { clients, allow } = connectClients(settings.connects)
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
    for (const t of KINDS) {
      const runs = []
      const wall = []
      let failure = null
      for (const [i, c] of clients[t].entries()) {
        const r = await connectOnce(lab, env, server.publicKey, t, i, c)
        wall.push(r.wallMs)
        if (r.failure) {
          failure = r.failure
          log(`  connect ${t} run ${i + 1}: failed: ${failure}`)
          continue
        }
        runs.push(r.run)
      }
      out[t] = connectSummary(runs, clients[t].length, failure, wall)
      log(`  connect ${t}: median ${fmt(out[t].totalMs.median, 1)} ms (dial ${fmt(out[t].phasesMedianMs.dial, 1)} ms) over ${runs.length} runs`)
    }
  } finally {
    await echo.kill('SIGTERM', 1000)
    await srv.kill('SIGTERM', 2000)
  }
  return out
}

/** A key and its own tunnel address per try, so no session of an earlier try is in the way; the server allows them all. */
function connectClients(n) {
  const clients = { sudph: [], stcpr: [] }
  const allow = {}
  for (const [t, third] of [
    ['sudph', 1],
    ['stcpr', 2],
  ]) {
    for (let i = 0; i < n; i++) {
      const kp = generateKeypair()
      const ip = `10.99.${third + Math.floor(i / 250)}.${(i % 250) + 2}`
      clients[t].push({ kp, ip })
      allow[kp.publicKey] = [`${ip}/32`]
    }
  }
  return { clients, allow }
}

/** One try in a fresh process: { run, wallMs } or { failure, wallMs }. */
async function connectOnce(lab, env, serverPk, t, i, c) {
  const w0 = performance.now()
  const p = spawnNode(lab, env.b, CONNECT, {
    sk: c.kp.secretKey,
    sudph: t === 'sudph' ? '0.0.0.0:0' : undefined,
    tun: { name: `swk${i}`, ipv4: `${c.ip}/16` },
    allow: ['10.99.0.1/32'],
    dial: { pk: serverPk, transport: t, addrs: [serverAddr(t)], timeoutMs: 5000 },
    echo: '10.99.0.1:9',
  })
  const ex = await Promise.race([p.exited, sleep(15_000).then(() => null)])
  if (!ex) await p.kill('SIGKILL', 0)
  const wallMs = performance.now() - w0
  const line = p
    .output()
    .stdout.split('\n')
    .map(parseJson)
    .find((j) => j && (j.ms || j.error))
  if (!line?.ms) {
    const failure = line?.error
      ? `${line.error.stage}: ${line.error.message}`
      : `no result (exit ${JSON.stringify(ex)}): ${p.output().stderr.slice(-300)}`
    return { failure, wallMs }
  }
  return { run: { ...line.ms, probes: line.probes, firstSendMs: line.firstSendMs, maxTimerGapMs: line.maxTimerGapMs }, wallMs }
}

function connectSummary(runs, tries, failure, wall) {
  const pick = (k) => runs.map((r) => r[k])
  return {
    runs: runs.length,
    failed: tries - runs.length,
    firstFailure: failure,
    totalMs: { median: median(pick('total')), p90: percentile(pick('total'), 90), min: Math.min(...pick('total')), max: Math.max(...pick('total')) },
    phasesMedianMs: Object.fromEntries(['start', 'dial', 'tun', 'firstPacket', 'addonLoad'].map((k) => [k, median(pick(k))])),
    // probes sent (one per 2 ms) until the first echo: many means the first ones were dropped, not slow
    probesMedian: median(pick('probes')),
    firstSendMedianMs: median(pick('firstSendMs')),
    maxTimerGapMedianMs: median(pick('maxTimerGapMs')),
    processWallMedianMs: median(wall),
  }
}
