/** The throughput graph as SVG path data: pure geometry, drawn by the page. */
import type { Sample } from './state.js'

export interface GraphPaths {
  rx: string
  /** The rx line closed down to the baseline, for a light fill under it. */
  rxArea: string
  tx: string
  /** The value at the top of the graph, bytes per second. */
  max: number
}

/** A round ceiling (1, 2, 5 × 10^n) so the axis label reads well. */
export function niceCeil(v: number): number {
  if (v <= 0) return 1
  const p = 10 ** Math.floor(Math.log10(v))
  for (const m of [1, 2, 5, 10]) if (m * p >= v) return m * p
  return 10 * p
}

/** Paths for rx and tx, right-aligned: the newest sample at the right edge, `slots` samples across. */
export function graphPaths(samples: Sample[], width: number, height: number, slots: number): GraphPaths {
  const max = niceCeil(Math.max(0, ...samples.map((s) => Math.max(s.rxBps, s.txBps))))
  const step = width / Math.max(1, slots - 1)
  const x0 = width - (samples.length - 1) * step
  const path = (pick: (s: Sample) => number): string =>
    samples
      .map((s, i) => {
        const x = x0 + i * step
        const y = height - (Math.min(pick(s), max) / max) * height
        return `${i === 0 ? 'M' : 'L'}${round(x)} ${round(y)}`
      })
      .join(' ')
  const rx = path((s) => s.rxBps)
  const rxArea = samples.length > 1 ? `${rx} L${round(width)} ${height} L${round(x0)} ${height} Z` : ''
  return { rx, rxArea, tx: path((s) => s.txBps), max }
}

function round(v: number): number {
  return Math.round(v * 10) / 10
}
