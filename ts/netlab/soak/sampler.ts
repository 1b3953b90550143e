/**
 * Samples resident memory (VmRSS from /proc/<pid>/status) and open file
 * descriptors (entries of /proc/<pid>/fd) of the soak's visors every few
 * seconds, and judges whether they stayed flat.
 */
import { readdirSync, readFileSync } from 'node:fs'

export interface Sample {
  /** Seconds since the sampler started. */
  t: number
  rssKiB: number
  fds: number
}

/** One process's readings, or null when it is gone. */
export function readProc(pid: number): { rssKiB: number; fds: number } | null {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8')
    const m = /^VmRSS:\s+(\d+) kB/m.exec(status)
    return { rssKiB: m ? Number(m[1]) : 0, fds: readdirSync(`/proc/${pid}/fd`).length }
  } catch {
    return null
  }
}

export class Sampler {
  readonly series = new Map<string, Sample[]>()
  private timer: NodeJS.Timeout | null = null
  private t0 = 0

  constructor(
    private readonly pids: Map<string, number>,
    readonly intervalMs: number,
  ) {}

  start(): void {
    this.t0 = Date.now()
    this.sample()
    this.timer = setInterval(() => this.sample(), this.intervalMs)
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer)
    this.timer = null
    this.sample()
  }

  private sample(): void {
    const t = (Date.now() - this.t0) / 1000
    for (const [name, pid] of this.pids) {
      const r = readProc(pid)
      if (r === null) continue
      const s = this.series.get(name) ?? []
      this.series.set(name, s)
      s.push({ t, ...r })
    }
  }
}

export interface Flatness {
  earlyMax: number
  lateMax: number
  earlyMin: number
  lateMin: number
  /** lateMax - earlyMax. */
  growth: number
  flat: boolean
}

/**
 * "Flat": the maximum over the last quarter of the run is at most `ratio`
 * above the maximum over the first quarter, plus `slack` (absolute, for small
 * numbers); and the same for the minimum, with `floorSlack`. Max against max,
 * so one GC cycle early or late does not decide; the floor catches what the
 * max cannot: a leaked fd never closes, so it lifts the minimum, while a
 * child process's pipes that happen to be open at one sample lift only the max.
 */
export function flatness(samples: Sample[], key: 'rssKiB' | 'fds', ratio: number, slack: number, floorSlack = slack): Flatness | null {
  if (samples.length < 4) return null
  const end = (samples.at(-1) as Sample).t
  const start = (samples[0] as Sample).t
  const q = (end - start) / 4
  const early = samples.filter((s) => s.t <= start + q).map((s) => s[key])
  const late = samples.filter((s) => s.t >= end - q).map((s) => s[key])
  const earlyMax = Math.max(...early)
  const lateMax = Math.max(...late)
  const earlyMin = Math.min(...early)
  const lateMin = Math.min(...late)
  return {
    earlyMax,
    lateMax,
    earlyMin,
    lateMin,
    growth: lateMax - earlyMax,
    flat: lateMax <= earlyMax * (1 + ratio) + slack && lateMin <= earlyMin * (1 + ratio) + floorSlack,
  }
}
