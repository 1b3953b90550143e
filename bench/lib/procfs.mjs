// What /proc says about a process or the machine: CPU time, memory, open files.
import { readFileSync } from 'node:fs'
import { spawnSync } from 'node:child_process'

let clkTck = null
/** Jiffies per second, asked once (getconf), when first needed. */
function ticks() {
  clkTck ??= Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout.trim()) || 100
  return clkTck
}

/** utime+stime of a process (all its threads), in seconds; null when it is gone. */
export function cpuSeconds(pid) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    // fields 14 and 15 of stat(5); f[0] is field 3
    return (Number(f[11]) + Number(f[12])) / ticks()
  } catch {
    return null
  }
}

/** CPU seconds of several processes together (the gone ones count 0). */
export const cpuOf = (pids) => pids.reduce((s, p) => s + (cpuSeconds(p) ?? 0), 0)

/** Busy and total jiffies of the whole machine, from /proc/stat. */
export function machineCpu() {
  const f = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number)
  const total = f.reduce((a, b) => a + b, 0)
  const idle = (f[3] ?? 0) + (f[4] ?? 0)
  return { busy: (total - idle) / ticks(), total: total / ticks() }
}

export function vmRssKiB(pid) {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))
  return m ? Number(m[1]) : null
}

export function fdCount(pid) {
  const r = spawnSync('ls', [`/proc/${pid}/fd`], { encoding: 'utf8' })
  return r.status === 0 ? r.stdout.split('\n').filter(Boolean).length : null
}

/** Name (comm) and thread count of a process from /proc/<pid>/status; null when it is gone. */
export function processThreads(pid) {
  try {
    const s = readFileSync(`/proc/${pid}/status`, 'utf8')
    const threads = Number(/^Threads:\s+(\d+)$/m.exec(s)?.[1])
    return { name: /^Name:\s+(.*)$/m.exec(s)?.[1] ?? null, threads: Number.isFinite(threads) ? threads : null }
  } catch {
    return null
  }
}

/**
 * Samples the thread count of each process every `everyMs` while a subject is measured: a runtime may
 * start threads only under load (Go's scheduler does), so one look at setup would miss them.
 * stop() returns [{ pid, name, first, max }] in the order of `pids`.
 */
export function watchThreads(pids, everyMs = 250) {
  const seen = pids.map((pid) => ({ pid, name: null, first: null, max: null }))
  const sample = () => {
    for (const s of seen) {
      const p = processThreads(s.pid)
      if (!p || p.threads === null) continue
      s.name ??= p.name
      s.first ??= p.threads
      s.max = Math.max(s.max ?? 0, p.threads)
    }
  }
  sample()
  const timer = setInterval(sample, everyMs)
  timer.unref()
  return {
    stop() {
      sample()
      clearInterval(timer)
      return seen
    },
  }
}
