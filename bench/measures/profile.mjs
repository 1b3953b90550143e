// `--profile`: where the tunnel processes spend their CPU (issue 18, item 3). For each chosen subject: set
// it up, warm it up, then `perf record -g` on every tunnel process (server, client; the hop too for
// two-hop) during one iperf3 TCP run of `settings.seconds`, which is not a measured run (profiling
// perturbs it). Each process's samples are folded (inferno-collapse-perf) and drawn (inferno-flamegraph)
// into bench/results/<UTC time>-<subject>-<role>.{folded,svg}; a short summary is printed: the top symbols
// by self time and the share of crypto, copies, the allocator and the kernel.
import { spawnSync } from 'node:child_process'
import { mkdirSync, readFileSync, rmSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { formatSummary, summarizeFolded } from '../lib/folded.mjs'
import { log, sleep } from '../lib/log.mjs'
import { RESULTS, ROOT, TOOLS } from '../lib/paths.mjs'
import { fmt } from '../lib/stats.mjs'
import { setupSubject } from '../subjects/index.mjs'
import { iperfServer, iperfTcp } from './iperf.mjs'
import { reachable } from './ping.mjs'

/** Samples per second per process: enough for a 10 s run, small enough not to starve 2 cores. */
const FREQ = 999

/**
 * Call graphs: perf's `-g` follows frame pointers, which our release addon (like most Rust and C builds)
 * does not keep, so each stack would stop one frame above its leaf. The addon has its debug info, so
 * perf copies 16 KiB of each sample's stack and unwinds it with DWARF (BENCH_PROFILE_CALL_GRAPH=fp: `-g`).
 */
const CALL_GRAPH = process.env.BENCH_PROFILE_CALL_GRAPH === 'fp' ? ['-g'] : ['--call-graph', 'dwarf,16384']

const q = (s) => `'${String(s).replace(/'/g, "'\\''")}'`

/** Why perf cannot profile here (one line), or null; and the event to sample. */
export function perfEvent() {
  const r = spawnSync('perf', ['stat', '-x,', '-e', 'cycles', 'true'], { encoding: 'utf8', timeout: 10_000 })
  if (r.error || r.status === null) return { error: 'perf is not installed (apt-get install linux-perf), skipping --profile' }
  // A VM without a PMU has no hardware events: the kernel's cpu-clock timer samples instead.
  return { event: /<not (supported|counted)>/.test(r.stderr) || r.status !== 0 ? 'cpu-clock' : 'cycles' }
}

/** The roles of a subject's tunnel processes, in the order its setup lists their pids (server end first). */
const roles = (n) => (n === 3 ? ['server', 'hop', 'client'] : ['server', 'client'].slice(0, n))

/** perf record on one pid, started in the lab (so a Ctrl-C or a failure stops it too). */
function record(lab, ns, pid, file, event) {
  return lab.spawn(ns, ['perf', 'record', ...CALL_GRAPH, '-e', event, '-F', String(FREQ), '-p', String(pid), '-o', file])
}

/** What inferno's counts are: it sums perf's sample periods, nanoseconds for cpu-clock. */
const countUnit = (event) => (event === 'cpu-clock' ? 'ns' : event)

/** perf script | inferno-collapse-perf --all > folded; inferno-flamegraph folded > svg. Throws with stderr. */
function draw(data, folded, svg, title, inferno, unit) {
  const sh = (cmd) => {
    const r = spawnSync('sh', ['-c', cmd], { encoding: 'utf8', timeout: 10 * 60_000, maxBuffer: 64 << 20 })
    if (r.status !== 0) throw new Error(`${cmd.split(' ')[0]}: ${(r.stderr || `exit ${r.status}`).trim().split('\n').at(-1)}`)
  }
  sh(`perf script -i ${q(data)} 2>/dev/null | ${q(inferno.collapse)} --all > ${q(folded)}`)
  sh(`${q(inferno.flamegraph)} --title ${q(title)} --countname ${q(unit)} < ${q(folded)} > ${q(svg)}`)
}

/** Profiles each of `names`; returns { [subject]: { [role]: { svg, folded, summary } | { error } } }. */
export async function profileSubjects(lab, env, settings, tools, names, inferno, stamp) {
  const perf = perfEvent()
  if (perf.error) {
    console.log(`bench: ${perf.error}`)
    return { error: perf.error }
  }
  const out = {}
  // perf's raw data (tens of MB per process) in the git-ignored tools folder, emptied at every start: a
  // Ctrl-C kills the bench by its signal, without a chance to remove a temporary folder.
  const tmp = join(TOOLS, 'perf-data')
  rmSync(tmp, { recursive: true, force: true })
  mkdirSync(tmp, { recursive: true, mode: 0o700 })
  try {
    for (const name of names) {
      if (tools[name]?.error) {
        out[name] = { error: tools[name].error }
        continue
      }
      log(`profile ${name}: setting up`)
      let path = null
      let srv = null
      const perfs = []
      try {
        path = await setupSubject(name, lab, env, tools[name])
        if (!path.pids.length) {
          out[name] = { error: 'no tunnel process to profile (the kernel does the work)' }
          console.log(`bench: profile ${name}: ${out[name].error}`)
          continue
        }
        srv = await iperfServer(lab, env.a, path.addr)
        await reachable(lab, env.b, path.addr)
        const warm = await iperfTcp(lab, settings.warmup, env.b, path.addr, 1, path.pids)
        log(`  ${name}: warm-up ${settings.warmup} s: ${fmt(warm.bps / 1e9)} Gbit/s (not recorded)`)
        const who = roles(path.pids.length)
        const files = who.map((role) => join(tmp, `${name}-${role}.data`))
        for (const [i, pid] of path.pids.entries()) perfs.push(record(lab, env.a, pid, files[i], perf.event))
        await sleep(500) // perf attaches to every thread before the run starts
        const r = await iperfTcp(lab, settings.seconds, env.b, path.addr, 1, path.pids)
        // perf writes its file on SIGINT; give it time to (it also resolves build ids then).
        await Promise.all(perfs.map((p) => p.kill('SIGINT', 30_000)))
        log(
          `  ${name}: profiled ${settings.seconds} s of iperf3 TCP ×1 at ${fmt(r.bps / 1e9)} Gbit/s (${perf.event} at ${FREQ} Hz, perturbed: not a measurement)`,
        )
        out[name] = { gbps: r.bps / 1e9, event: perf.event, freqHz: FREQ }
        for (const [i, role] of who.entries()) {
          const base = join(RESULTS, `${stamp}-${name}-${role}`)
          try {
            if (!(statSync(files[i], { throwIfNoEntry: false })?.size > 0)) throw new Error(`perf wrote no samples for pid ${path.pids[i]}`)
            draw(files[i], `${base}.folded`, `${base}.svg`, `${name} ${role}: iperf3 TCP ×1, ${stamp}`, inferno, countUnit(perf.event))
            const summary = summarizeFolded(readFileSync(`${base}.folded`, 'utf8'))
            out[name][role] = { svg: `${base.slice(ROOT.length + 1)}.svg`, folded: `${base.slice(ROOT.length + 1)}.folded`, summary }
          } catch (e) {
            out[name][role] = { error: e.message.split('\n')[0] }
            console.log(`bench: profile ${name} ${role}: ${out[name][role].error}`)
          }
        }
      } catch (e) {
        out[name] = { error: e.message.split('\n')[0] }
        console.log(`bench: profile ${name}: ${out[name].error}`)
      } finally {
        await Promise.all(perfs.map((p) => p.kill('SIGINT', 30_000)))
        await srv?.kill('SIGTERM', 1000)
        await path?.stop()
      }
    }
  } finally {
    rmSync(tmp, { recursive: true, force: true })
  }
  return out
}

/** The printed summary of a profile run. */
export function profileReport(prof) {
  if (prof.error) return [`profile: ${prof.error}`]
  const out = []
  for (const [name, p] of Object.entries(prof)) {
    if (p.error) {
      out.push(`${name}: not profiled: ${p.error}`, '')
      continue
    }
    out.push(`${name} (iperf3 TCP ×1 at ${fmt(p.gbps)} Gbit/s while profiled, ${p.event} samples at ${p.freqHz} Hz per process):`)
    for (const [role, r] of Object.entries(p)) {
      if (!r || typeof r !== 'object') continue
      if (r.error) out.push(`  ${role}: ${r.error}`)
      else out.push(...formatSummary(`  ${role} (${r.svg})`, r.summary, countUnit(p.event)).map((l) => `  ${l}`))
    }
    out.push('')
  }
  return out
}
