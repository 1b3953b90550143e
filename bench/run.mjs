#!/usr/bin/env node
// `npm run bench` (as root): our tunnel against the bare veth and two WireGuard userspace peers, on the
// same namespace pair, in interleaved rounds. See bench/README.md for what is measured and how, and
// `node bench/run.mjs --help` for the knobs. This file only wires the parts: subjects/ (what is
// measured), measures/ (how), report/ (the JSON, the tables, the chart), lib/ (the rest).
import { existsSync, mkdirSync, readFileSync } from 'node:fs'
import { availableParallelism, loadavg } from 'node:os'
import { join } from 'node:path'
import { spawnSync } from 'node:child_process'
import { readOffloads } from './lib/ethtool.mjs'
import { settle, loadVerdict } from './lib/load.mjs'
import { log, startedAt } from './lib/log.mjs'
import { RESULTS, ROOT, TOOLS } from './lib/paths.mjs'
import { BenchInputError, parseSettings, USAGE, wanted } from './lib/settings.mjs'
import { BORINGTUN, ensureBoringtun, ensureWireguardGo, WIREGUARD_GO } from './lib/tools.mjs'
import { parallelClients } from './measures/clients.mjs'
import { connectTimes } from './measures/connect.mjs'
import { serverMemory } from './measures/memory.mjs'
import { measureSubjects } from './measures/rounds.mjs'
import { chart } from './report/chart.mjs'
import { finish, newResult } from './report/result.mjs'
import { report } from './report/tables.mjs'
import { wireguardConfig } from './subjects/wireguard.mjs'

/** Bad input: one line, exit 2. */
function fail(msg) {
  console.error(`bench: ${msg}`)
  process.exit(2)
}

function parseCommandLine() {
  try {
    return parseSettings(process.argv.slice(2), process.env, availableParallelism())
  } catch (e) {
    if (e instanceof BenchInputError) fail(e.message)
    throw e
  }
}

const cmd = parseCommandLine()
/** The run's settings (undefined for --help, --report and --chart). */
const SETTINGS = cmd.settings

/** Why the bench cannot run here, or null. */
function prerequisites() {
  if (process.getuid?.() !== 0) return 'run it as root (it builds network namespaces): sudo npm run bench'
  if (!existsSync(join(ROOT, 'dist/netlab/index.js'))) return 'dist/netlab is missing: run `npm run build` (or `npx tsc -p .`) first'
  if (!existsSync(join(ROOT, 'native/index.js'))) return 'the native addon is missing: run `npm run build` first'
  for (const t of ['iperf3', 'ping', 'ip', 'ethtool']) {
    if (spawnSync('sh', ['-c', `command -v ${t}`]).status !== 0) return `\`${t}\` is not installed (bash scripts/setup.sh installs it)`
  }
  return null
}

/** Installs (or finds) the pinned WireGuard peers --only asks for; a failure only skips that row. */
async function installTools(settings, res) {
  const tools = {}
  if (wanted(settings, 'wireguard-go')) tools['wireguard-go'] = await ensureWireguardGo(TOOLS, log)
  if (wanted(settings, 'boringtun')) tools.boringtun = await ensureBoringtun(TOOLS, log)
  const pins = { 'wireguard-go': WIREGUARD_GO.version, boringtun: BORINGTUN.version }
  for (const [k, t] of Object.entries(tools)) {
    if (t.error) {
      console.log(`bench: ${t.error}`)
      res.skipped.push(t.error)
    }
    const { bin: _bin, error, ...built } = t
    res.tools[k] = error ? { pinned: pins[k], error } : { pinned: pins[k], ...built, ...wireguardConfig(k) }
  }
  return tools
}

/** Two namespaces joined by one veth pair: every subject runs over it, one after the other. */
async function namespacePair(lab, env, res) {
  env.a = await lab.addNamespace('bench-srv')
  env.b = await lab.addNamespace('bench-cli')
  await lab.veth({ ns: env.a, ifname: 'va', addrs: ['192.0.2.1/24'] }, { ns: env.b, ifname: 'vb', addrs: ['192.0.2.2/24'] })
  log(`namespaces ${env.a} and ${env.b}, joined by a veth (192.0.2.1 <-> 192.0.2.2)`)
  res.links = {
    server: { ifname: 'va', ...(await readOffloads(lab, env.a, 'va')) },
    client: { ifname: 'vb', ...(await readOffloads(lab, env.b, 'vb')) },
  }
}

/** Parallel clients, connect time and server memory of our tunnel, when wanted. */
async function measureExtras(lab, env, res) {
  if (wanted(SETTINGS, 'clients')) {
    try {
      res.clients = await parallelClients(lab, env, SETTINGS)
    } catch (e) {
      res.clients = { error: e.message.split('\n')[0] }
      res.skipped.push(`parallel clients: ${res.clients.error}`)
    }
  }
  if (wanted(SETTINGS, 'connect')) {
    log(`connect time: ${SETTINGS.connects} fresh client nodes per transport`)
    try {
      res.connect = await connectTimes(lab, env, SETTINGS)
    } catch (e) {
      res.connect = { error: e.message.split('\n')[0] }
      res.skipped.push(`connect time: ${res.connect.error}`)
    }
  }
  if (wanted(SETTINGS, 'memory')) {
    res.memory = {}
    for (const t of ['stcpr', 'sudph']) {
      log(`memory ${t}: ${SETTINGS.sessions} idle sessions`)
      try {
        res.memory[t] = await serverMemory(lab, env, SETTINGS, t)
      } catch (e) {
        res.memory[t] = { error: e.message.split('\n')[0] }
        res.skipped.push(`memory ${t}: ${res.memory[t].error}`)
      }
    }
    // The large row: many SUDPH sessions from a few load processes, the server's RSS and idle CPU.
    const n = SETTINGS.scaleSessions
    if (n > 0) {
      const row = `sudph ×${n}`
      log(`memory ${row}: ${n} idle sessions from 4 load processes`)
      try {
        res.memory[row] = await serverMemory(lab, env, { ...SETTINGS, sessions: n }, 'sudph', 4)
      } catch (e) {
        res.memory[row] = { error: e.message.split('\n')[0] }
        res.skipped.push(`memory ${row}: ${res.memory[row].error}`)
      }
    }
  }
  if (wanted(SETTINGS, 'user-wait'))
    res.userWait = await (await import('./measures/user-wait.mjs')).userWait(log).catch((e) => ({ error: e.message }))
}

async function main(settings, createLab) {
  const res = newResult(settings)
  mkdirSync(RESULTS, { recursive: true })
  const g = res.git
  log(g.error ? `git: ${g.error}` : `commit ${g.commit.slice(0, 12)}${g.dirty ? ` with ${g.dirtyCount} changed files (dirty)` : ' (clean tree)'}`)
  for (const [what, b] of [
    ['addon', res.build.addon],
    ['dist', res.build.dist],
  ]) {
    if (b.sourcesNewer?.length) log(`warning: the ${what} is older than ${b.sourcesNewer.join(', ')}: rebuild (npm run build) to measure this tree`)
  }
  log(
    `settings: ${settings.seconds} s per run after a ${settings.warmup} s warm-up, ${settings.repeat} rounds, UDP steps of ${settings.udpSeconds} s, ${settings.pings} pings, ${settings.connects} connects, ${settings.sessions} sessions` +
      (settings.only.length ? `, only ${settings.only.join(',')}` : ''),
  )
  const tools = await installTools(settings, res)
  // A build of a WireGuard peer just now raised the load itself: give it time to fall before judging.
  const verdict = await settle(settings, 180_000, log)
  if (verdict.refuse) fail(verdict.refuse)
  res.loaded = verdict.over
  res.load = { load1: verdict.load1, maxLoad: verdict.maxLoad, allowLoaded: settings.allowLoaded }
  res.machine.loadavgBefore = loadavg()
  if (verdict.over)
    log(`warning: load average ${verdict.load1.toFixed(2)} is above ${verdict.maxLoad}; measuring anyway (--allow-loaded), marked "loaded"`)

  const lab = createLab()
  // Cleanups the lab does not know of (the WireGuard UAPI sockets), run on exit too.
  const env = { lab, a: '', b: '', cleanups: [] }
  const cleanup = () => {
    for (const f of env.cleanups) f()
  }
  process.on('exit', cleanup)
  try {
    await namespacePair(lab, env, res)
    await measureSubjects(lab, env, settings, tools, res)
    await measureExtras(lab, env, res)
  } finally {
    await lab.close(2000)
    cleanup()
  }
  finish(res, startedAt)
}

/** --report / --chart: an earlier run's JSON, or one line saying why not. */
function readResults(file) {
  let text
  try {
    text = readFileSync(file, 'utf8')
  } catch (e) {
    fail(`cannot read ${file}: ${e.code ?? e.message}`)
  }
  try {
    const res = JSON.parse(text)
    if (typeof res !== 'object' || res === null || typeof res.subjects !== 'object' || !res.settings) throw new Error('no subjects or settings')
    return res
  } catch (e) {
    fail(`${file} is not a bench results file (${e.message.split('\n')[0]})`)
  }
}

/** --report / --chart of a file whose fields are not what a run writes: one line, not a stack trace. */
function fromResults(file, f) {
  const res = readResults(file)
  try {
    return f(res)
  } catch (e) {
    fail(`${file} is not a bench results file this version can read (${String(e.message).split('\n')[0]})`)
  }
}

if (cmd.mode === 'help') console.log(USAGE)
else if (cmd.mode === 'report') console.log(fromResults(cmd.file, report))
else if (cmd.mode === 'chart') {
  const out = cmd.file.replace(/\.json$/, '') + '.png'
  fromResults(cmd.file, (res) => chart(res, out))
  console.log(`wrote ${out}`)
} else {
  const why = prerequisites()
  if (why) fail(why)
  // Refuse before anything is built or started; the check is repeated after the peers are installed.
  const verdict = loadVerdict(loadavg()[0], cmd.settings)
  if (verdict.refuse) fail(verdict.refuse)
  const { createLab, labPrerequisites } = await import('../dist/netlab/index.js')
  const pre = labPrerequisites()
  if (!pre.ok) fail(pre.reason)
  main(cmd.settings, createLab).catch((e) => {
    console.error(`bench: ${e.stack ?? e}`)
    process.exitCode = 1
  })
}
