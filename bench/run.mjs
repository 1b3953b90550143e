#!/usr/bin/env node
// `npm run bench` (as root): our tunnel against the bare veth and two
// WireGuard userspace peers, one after the other on the same namespace pair.
// See bench/README.md for what is measured and how. This file only wires the
// parts: subjects/ (what is measured), measures/ (how), report/ (the JSON,
// the tables, the chart).
import { existsSync, mkdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { spawnSync } from 'node:child_process'
import { log, startedAt } from './lib/log.mjs'
import { RESULTS, ROOT, TOOLS } from './lib/paths.mjs'
import { readSettings, SUBJECTS, wanted } from './lib/settings.mjs'
import { ensureBoringtun, ensureWireguardGo } from './lib/tools.mjs'
import { connectTimes } from './measures/connect.mjs'
import { serverMemory } from './measures/memory.mjs'
import { measurePath } from './measures/path.mjs'
import { chart } from './report/chart.mjs'
import { finish, newResult } from './report/result.mjs'
import { report } from './report/tables.mjs'
import { setupSubject } from './subjects/index.mjs'

const SETTINGS = readSettings()

/** Why the bench cannot run here, or null. */
function prerequisites() {
  if (process.getuid?.() !== 0) return 'run it as root (it builds network namespaces): sudo npm run bench'
  if (!existsSync(join(ROOT, 'dist/netlab/index.js'))) return 'dist/netlab is missing: run `npm run build` (or `npx tsc -p .`) first'
  if (!existsSync(join(ROOT, 'native/index.js'))) return 'the native addon is missing: run `npm run build` first'
  for (const t of ['iperf3', 'ping', 'ip']) {
    if (spawnSync('sh', ['-c', `command -v ${t}`]).status !== 0) return `\`${t}\` is not installed (bash scripts/setup.sh installs it)`
  }
  return null
}

/** Installs (or finds) the WireGuard peers BENCH_ONLY asks for; a failure only skips that row. */
async function installTools(res) {
  const tools = {}
  if (wanted(SETTINGS, 'wireguard-go')) tools['wireguard-go'] = await ensureWireguardGo(TOOLS, log)
  if (wanted(SETTINGS, 'boringtun')) tools.boringtun = await ensureBoringtun(TOOLS, log)
  for (const [k, t] of Object.entries(tools)) {
    if (t.error) {
      console.log(`bench: ${t.error}`)
      res.skipped.push(t.error)
    }
    res.tools[k] = t.error ? { error: t.error } : { version: t.version, module: t.module }
  }
  return tools
}

/** Two namespaces joined by one veth pair: every subject runs over it, one after the other. */
async function namespacePair(lab, env) {
  env.a = await lab.addNamespace('bench-srv')
  env.b = await lab.addNamespace('bench-cli')
  await lab.veth({ ns: env.a, ifname: 'va', addrs: ['192.0.2.1/24'] }, { ns: env.b, ifname: 'vb', addrs: ['192.0.2.2/24'] })
  log(`namespaces ${env.a} and ${env.b}, joined by a veth (192.0.2.1 <-> 192.0.2.2)`)
}

/** Sets up each wanted subject, measures it and takes it down; a failure skips its row. */
async function measureSubjects(lab, env, tools, res) {
  for (const name of SUBJECTS) {
    if (!wanted(SETTINGS, name)) continue
    if (tools[name]?.error) {
      res.subjects[name] = { error: 'not installed' }
      continue
    }
    log(`${name}: setting up`)
    let path = null
    try {
      path = await setupSubject(name, lab, env, tools[name])
      res.subjects[name] = await measurePath(lab, env, SETTINGS, name, path)
    } catch (e) {
      const msg = `${name}: ${e.message.split('\n')[0]}`
      console.log(`bench: ${msg} — skipping its row`)
      res.subjects[name] = { error: e.message.split('\n')[0] }
      res.skipped.push(msg)
    } finally {
      await path?.stop()
    }
  }
}

/** Connect time and server memory of our tunnel, when wanted. */
async function measureExtras(lab, env, res) {
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
  }
  if (wanted(SETTINGS, 'user-wait'))
    res.userWait = await (await import('./measures/user-wait.mjs')).userWait(log).catch((e) => ({ error: e.message }))
}

async function main(createLab) {
  const res = newResult(SETTINGS)
  mkdirSync(RESULTS, { recursive: true })
  log(
    `settings: ${SETTINGS.seconds} s per run, ${SETTINGS.repeat} repeats, ${SETTINGS.pings} pings, ${SETTINGS.connects} connects, ${SETTINGS.sessions} sessions` +
      (SETTINGS.only.length ? `, only ${SETTINGS.only.join(',')}` : ''),
  )
  const tools = await installTools(res)

  const lab = createLab()
  // Cleanups the lab does not know of (the WireGuard UAPI sockets), run on exit too.
  const env = { lab, a: '', b: '', cleanups: [] }
  const cleanup = () => {
    for (const f of env.cleanups) f()
  }
  process.on('exit', cleanup)
  try {
    await namespacePair(lab, env)
    await measureSubjects(lab, env, tools, res)
    await measureExtras(lab, env, res)
  } finally {
    await lab.close(2000)
    cleanup()
  }
  finish(res, startedAt)
}

// `--chart FILE.json` / `--report FILE.json` only redraw the chart / reprint the tables of an earlier run
// (no root, no lab): node bench/run.mjs --chart|--report bench/results/<time>.json
const mode = process.argv[2]
if (mode === '--chart' || mode === '--report') {
  const file = process.argv[3]
  const res = JSON.parse(readFileSync(file, 'utf8'))
  if (mode === '--report') console.log(report(res))
  else {
    chart(res, file.replace(/\.json$/, '.png'))
    console.log(`wrote ${file.replace(/\.json$/, '.png')}`)
  }
} else {
  const why = prerequisites()
  if (why) {
    console.error(`bench: ${why}`)
    process.exit(2)
  }
  const { createLab, labPrerequisites } = await import('../dist/netlab/index.js')
  const pre = labPrerequisites()
  if (!pre.ok) {
    console.error(`bench: ${pre.reason}`)
    process.exit(2)
  }
  main(createLab).catch((e) => {
    console.error(`bench: ${e.stack ?? e}`)
    process.exitCode = 1
  })
}
