/**
 * The soak's PNG: RSS and open fds over time, servers and clients, drawn with
 * the benchmark's canvas (bench/lib/png.mjs: a PNG writer and a 5x7 font, no
 * browser or npm package), so both charts look alike and nothing is copied.
 */
import { Canvas, type RGB } from '../../../bench/lib/png.mjs'
import type { Sample } from './sampler.js'

export interface Line {
  name: string
  points: { t: number; v: number }[]
}

const COLORS: RGB[] = [
  [46, 109, 180],
  [232, 129, 36],
  [80, 160, 80],
  [170, 70, 160],
]
const INK: RGB = [30, 30, 30]
const GREY: RGB = [120, 120, 120]
const GRID: RGB = [225, 225, 225]

/** Servers one line each; clients as the median and the maximum over all clients at each sample time. */
export function soakLines(series: Record<string, Sample[]>, servers: string[], key: 'rssKiB' | 'fds', scale: number): Line[] {
  const lines: Line[] = servers.map((s) => ({ name: s, points: (series[s] ?? []).map((p) => ({ t: p.t, v: p[key] / scale })) }))
  const byT = new Map<number, number[]>()
  for (const [name, ss] of Object.entries(series)) {
    if (servers.includes(name)) continue
    for (const p of ss) {
      const t = Math.round(p.t)
      byT.set(t, [...(byT.get(t) ?? []), p[key] / scale])
    }
  }
  const ts = [...byT.keys()].sort((a, b) => a - b)
  const at = (t: number, f: (v: number[]) => number) => f([...(byT.get(t) as number[])].sort((a, b) => a - b))
  lines.push({ name: 'clients median', points: ts.map((t) => ({ t, v: at(t, (v) => v[Math.floor(v.length / 2)] as number) })) })
  lines.push({ name: 'clients max', points: ts.map((t) => ({ t, v: at(t, (v) => v.at(-1) as number) })) })
  return lines
}

function panel(c: Canvas, top: number, height: number, title: string, lines: Line[], tMax: number): void {
  const left = 80
  const right = 30
  const w = c.width - left - right
  const all = lines.flatMap((l) => l.points.map((p) => p.v))
  const vMax = niceCeil(Math.max(1, ...all) * 1.1)
  const x = (t: number) => left + (t / Math.max(1, tMax)) * w
  const y = (v: number) => top + height - (v / vMax) * height
  c.text(left, top - 24, title, INK, 1.5)
  for (let i = 0; i <= 4; i++) {
    const v = (vMax * i) / 4
    c.rect(left, y(v), w, 1, GRID)
    const label = v >= 100 ? v.toFixed(0) : v.toFixed(1)
    c.text(left - 8 - Canvas.textWidth(label, 1.5), y(v) - 5, label, GREY, 1.5)
  }
  const step = niceCeil(tMax / 8)
  for (let t = 0; t <= tMax; t += step) {
    c.rect(x(t), top, 1, height, GRID)
    c.text(x(t) - Canvas.textWidth(`${t}`, 1.5) / 2, top + height + 6, `${t}`, GREY, 1.5)
  }
  lines.forEach((l, i) => {
    const col = COLORS[i % COLORS.length] as RGB
    for (let k = 1; k < l.points.length; k++) {
      const a = l.points[k - 1] as { t: number; v: number }
      const b = l.points[k] as { t: number; v: number }
      // A line as a run of small squares: enough for a chart, and the canvas has only rect().
      const steps = Math.max(1, Math.ceil(Math.max(Math.abs(x(b.t) - x(a.t)), Math.abs(y(b.v) - y(a.v)))))
      for (let s = 0; s <= steps; s++) {
        const f = s / steps
        c.rect(x(a.t + (b.t - a.t) * f) - 1, y(a.v + (b.v - a.v) * f) - 1, 3, 3, col)
      }
    }
  })
}

export function soakChart(opts: { title: string; subtitle: string; rss: Line[]; fds: Line[] }): Buffer {
  const c = new Canvas(980, 760)
  c.text(16, 14, opts.title, INK, 2)
  c.text(16, 40, opts.subtitle, GREY, 1.5)
  let lx = 80
  ;(opts.rss.length ? opts.rss : opts.fds).forEach((l, i) => {
    c.rect(lx, 66, 12, 12, COLORS[i % COLORS.length] as RGB)
    lx += 18
    lx += c.text(lx, 67, l.name, INK, 1.5) + 20
  })
  const tMax = Math.max(1, ...[...opts.rss, ...opts.fds].flatMap((l) => l.points.map((p) => p.t)))
  panel(c, 130, 240, 'RESIDENT MEMORY (MIB)', opts.rss, tMax)
  panel(c, 450, 240, 'OPEN FILE DESCRIPTORS', opts.fds, tMax)
  const u = 'SECONDS SINCE TRAFFIC STARTED'
  c.text(c.width / 2 - Canvas.textWidth(u, 1.5) / 2, 730, u, GREY, 1.5)
  return c.png()
}

function niceCeil(v: number): number {
  const p = 10 ** Math.floor(Math.log10(v))
  for (const m of [1, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10]) if (m * p >= v) return m * p
  return 10 * p
}
