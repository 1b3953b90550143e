// Small statistics and formatting helpers for the bench.

export function sorted(xs) {
  return [...xs].sort((a, b) => a - b)
}

export function median(xs) {
  if (xs.length === 0) return null
  const s = sorted(xs)
  const m = s.length >> 1
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2
}

/** Nearest-rank percentile (p in 0..100). */
export function percentile(xs, p) {
  if (xs.length === 0) return null
  const s = sorted(xs)
  const rank = Math.max(1, Math.ceil((p / 100) * s.length))
  return s[rank - 1]
}

/** Median with the spread of the repeats: min, max, and (max-min)/median in %. */
export function summary(xs) {
  const vals = xs.filter((x) => typeof x === 'number' && Number.isFinite(x))
  if (vals.length === 0) return null
  const med = median(vals)
  const min = Math.min(...vals)
  const max = Math.max(...vals)
  return { median: med, min, max, spreadPct: med > 0 ? ((max - min) / med) * 100 : 0, n: vals.length, values: vals }
}

export function ratio(a, b) {
  if (typeof a !== 'number' || typeof b !== 'number' || b === 0) return null
  return a / b
}

export function fmt(v, digits = 2) {
  if (v === null || v === undefined || Number.isNaN(v)) return '—'
  return v.toFixed(digits)
}

/** 3 significant-ish digits: 31.4, 2.71, 0.482. */
export function fmt3(v) {
  if (v === null || v === undefined || Number.isNaN(v)) return '—'
  if (Math.abs(v) >= 100) return v.toFixed(0)
  if (Math.abs(v) >= 10) return v.toFixed(1)
  if (Math.abs(v) >= 1) return v.toFixed(2)
  return v.toFixed(3)
}

export function fmtRatio(r) {
  return r === null || r === undefined ? '—' : `${fmt3(r)}×`
}

/** A Markdown table (readable in a terminal too), columns padded. */
export function table(head, rows) {
  const w = head.map((h, i) => Math.max(h.length, ...rows.map((r) => String(r[i] ?? '').length)))
  const line = (cells) => '| ' + cells.map((c, i) => String(c ?? '').padEnd(w[i])).join(' | ') + ' |'
  return [line(head), '| ' + w.map((n) => '-'.repeat(n)).join(' | ') + ' |', ...rows.map(line)].join('\n')
}
