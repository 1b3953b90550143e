// A tiny PNG writer and a horizontal bar chart drawn into it: the bench's
// throughput chart without a browser, ImageMagick or any npm package.
import { deflateSync } from 'node:zlib'

const CRC_TABLE = (() => {
  const t = new Uint32Array(256)
  for (let n = 0; n < 256; n++) {
    let c = n
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1
    t[n] = c >>> 0
  }
  return t
})()

function crc32(buf) {
  let c = 0xffffffff
  for (const b of buf) c = CRC_TABLE[(c ^ b) & 0xff] ^ (c >>> 8)
  return (c ^ 0xffffffff) >>> 0
}

function chunk(type, data) {
  const len = Buffer.alloc(4)
  len.writeUInt32BE(data.length)
  const td = Buffer.concat([Buffer.from(type, 'ascii'), data])
  const crc = Buffer.alloc(4)
  crc.writeUInt32BE(crc32(td))
  return Buffer.concat([len, td, crc])
}

/** An RGB canvas. */
export class Canvas {
  constructor(width, height, bg = [255, 255, 255]) {
    this.width = width
    this.height = height
    this.px = Buffer.alloc(width * height * 3)
    this.rect(0, 0, width, height, bg)
  }

  rect(x, y, w, h, [r, g, b]) {
    const x0 = Math.max(0, Math.round(x))
    const y0 = Math.max(0, Math.round(y))
    const x1 = Math.min(this.width, Math.round(x + w))
    const y1 = Math.min(this.height, Math.round(y + h))
    for (let yy = y0; yy < y1; yy++) {
      for (let xx = x0; xx < x1; xx++) {
        const i = (yy * this.width + xx) * 3
        this.px[i] = r
        this.px[i + 1] = g
        this.px[i + 2] = b
      }
    }
  }

  /** Text in the built-in 5x7 font (upper case), `scale` pixels per font dot; returns the width drawn. */
  text(x, y, str, color, scale = 2) {
    let cx = x
    for (const ch of String(str).toUpperCase()) {
      const g = FONT[ch] ?? FONT['?']
      for (let row = 0; row < 7; row++) {
        for (let col = 0; col < 5; col++) {
          if (g[row] & (1 << (4 - col))) this.rect(cx + col * scale, y + row * scale, scale, scale, color)
        }
      }
      cx += 6 * scale
    }
    return cx - x
  }

  static textWidth(str, scale = 2) {
    return String(str).length * 6 * scale
  }

  png() {
    const raw = Buffer.alloc((this.width * 3 + 1) * this.height)
    for (let y = 0; y < this.height; y++) {
      raw[y * (this.width * 3 + 1)] = 0 // filter: none
      this.px.copy(raw, y * (this.width * 3 + 1) + 1, y * this.width * 3, (y + 1) * this.width * 3)
    }
    const ihdr = Buffer.alloc(13)
    ihdr.writeUInt32BE(this.width, 0)
    ihdr.writeUInt32BE(this.height, 4)
    ihdr[8] = 8 // bit depth
    ihdr[9] = 2 // colour type: RGB
    return Buffer.concat([
      Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
      chunk('IHDR', ihdr),
      chunk('IDAT', deflateSync(raw, { level: 9 })),
      chunk('IEND', Buffer.alloc(0)),
    ])
  }
}

const PALETTE = [
  [46, 109, 180],
  [232, 129, 36],
  [80, 160, 80],
  [170, 70, 160],
]

/**
 * Horizontal grouped bar chart.
 * groups: [{ label, values: [{ value, min?, max? } | null, ...] }]; series: names, one per value.
 */
export function barChart({ title, subtitle, unit, series, groups, scaleMax }) {
  const S = 2
  const lineH = 7 * S
  const labelW = Math.max(...groups.map((g) => Canvas.textWidth(g.label, S))) + 20
  const barH = 18
  const gap = 4
  const groupGap = 18
  const top = 88
  const left = 16 + labelW
  const right = 190
  const width = 980
  const plotW = width - left - right
  const groupH = series.length * (barH + gap) - gap
  const height = top + groups.length * (groupH + groupGap) + 60
  const c = new Canvas(width, height)
  const ink = [30, 30, 30]
  const grey = [120, 120, 120]
  c.text(16, 14, title, ink, S)
  if (subtitle) c.text(16, 14 + lineH + 8, subtitle, grey, 1.5)

  const all = groups.flatMap((g) => g.values.filter(Boolean).map((v) => Math.max(v.value, v.max ?? 0)))
  // scaleMax: a smaller axis so that small bars stay readable; bars beyond it are cut with a break mark.
  const maxV = niceCeil(Math.max(1e-9, ...(scaleMax ? [scaleMax] : all)))
  const xOf = (v) => left + (Math.min(v, maxV * 1.04) / maxV) * plotW
  // grid and ticks
  const plotBottom = top + groups.length * (groupH + groupGap) - groupGap + 6
  for (let i = 0; i <= 5; i++) {
    const v = (maxV * i) / 5
    const x = xOf(v)
    c.rect(x, top - 6, 1, plotBottom - top + 6, [225, 225, 225])
    const t = fmtTick(v)
    c.text(x - Canvas.textWidth(t, 1.5) / 2, plotBottom + 6, t, grey, 1.5)
  }
  c.text(left + plotW / 2 - Canvas.textWidth(unit, 1.5) / 2, plotBottom + 24, unit, grey, 1.5)

  groups.forEach((g, gi) => {
    const gy = top + gi * (groupH + groupGap)
    c.text(16, gy + groupH / 2 - lineH / 2, g.label, ink, S)
    g.values.forEach((v, si) => {
      const y = gy + si * (barH + gap)
      if (!v) {
        c.text(left + 6, y + 3, 'skipped', grey, 1.5)
        return
      }
      const col = PALETTE[si % PALETTE.length]
      c.rect(left, y, Math.max(1, xOf(v.value) - left), barH, col)
      const cut = v.value > maxV
      if (cut) {
        // break mark: two white slashes across the bar near the axis end
        for (const off of [-16, -10]) {
          for (let k = 0; k < barH; k++) c.rect(xOf(maxV) + off + (barH - k) / 3, y + k, 3, 1, [255, 255, 255])
        }
      }
      if (!cut && v.min !== undefined && v.max !== undefined && v.max > v.min) {
        // whisker: the spread of the repeats
        const x0 = xOf(v.min)
        const x1 = xOf(v.max)
        c.rect(x0, y + barH / 2 - 1, x1 - x0, 2, ink)
        c.rect(x0, y + 3, 2, barH - 6, ink)
        c.rect(x1 - 2, y + 3, 2, barH - 6, ink)
      }
      const label = fmtTick(v.value) + (cut ? ' (off scale)' : '')
      c.text((cut ? xOf(v.value) : Math.max(xOf(v.value), xOf(v.max ?? 0))) + 6, y + barH / 2 - 5, label, ink, 1.5)
    })
  })
  // legend
  let lx = left
  const ly = 14 + lineH + 8 + 7 * 1.5 + 8
  series.forEach((name, si) => {
    c.rect(lx, ly, 12, 12, PALETTE[si % PALETTE.length])
    lx += 18
    lx += c.text(lx, ly + 1, name, ink, 1.5) + 20
  })
  return c.png()
}

function niceCeil(v) {
  const p = 10 ** Math.floor(Math.log10(v))
  for (const m of [1, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10]) if (m * p >= v) return m * p
  return 10 * p
}

function fmtTick(v) {
  if (v === 0) return '0'
  if (v >= 100) return v.toFixed(0)
  if (v >= 10) return v.toFixed(1)
  return v.toFixed(2)
}

// 5x7 font, one number per row, bit 4 = leftmost column.
const FONT = {
  ' ': [0, 0, 0, 0, 0, 0, 0],
  0: [0x0e, 0x11, 0x13, 0x15, 0x19, 0x11, 0x0e],
  1: [0x04, 0x0c, 0x04, 0x04, 0x04, 0x04, 0x0e],
  2: [0x0e, 0x11, 0x01, 0x02, 0x04, 0x08, 0x1f],
  3: [0x1f, 0x02, 0x04, 0x02, 0x01, 0x11, 0x0e],
  4: [0x02, 0x06, 0x0a, 0x12, 0x1f, 0x02, 0x02],
  5: [0x1f, 0x10, 0x1e, 0x01, 0x01, 0x11, 0x0e],
  6: [0x06, 0x08, 0x10, 0x1e, 0x11, 0x11, 0x0e],
  7: [0x1f, 0x01, 0x02, 0x04, 0x08, 0x08, 0x08],
  8: [0x0e, 0x11, 0x11, 0x0e, 0x11, 0x11, 0x0e],
  9: [0x0e, 0x11, 0x11, 0x0f, 0x01, 0x02, 0x0c],
  A: [0x0e, 0x11, 0x11, 0x11, 0x1f, 0x11, 0x11],
  B: [0x1e, 0x11, 0x11, 0x1e, 0x11, 0x11, 0x1e],
  C: [0x0e, 0x11, 0x10, 0x10, 0x10, 0x11, 0x0e],
  D: [0x1c, 0x12, 0x11, 0x11, 0x11, 0x12, 0x1c],
  E: [0x1f, 0x10, 0x10, 0x1e, 0x10, 0x10, 0x1f],
  F: [0x1f, 0x10, 0x10, 0x1e, 0x10, 0x10, 0x10],
  G: [0x0e, 0x11, 0x10, 0x17, 0x11, 0x11, 0x0f],
  H: [0x11, 0x11, 0x11, 0x1f, 0x11, 0x11, 0x11],
  I: [0x0e, 0x04, 0x04, 0x04, 0x04, 0x04, 0x0e],
  J: [0x07, 0x02, 0x02, 0x02, 0x02, 0x12, 0x0c],
  K: [0x11, 0x12, 0x14, 0x18, 0x14, 0x12, 0x11],
  L: [0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x1f],
  M: [0x11, 0x1b, 0x15, 0x15, 0x11, 0x11, 0x11],
  N: [0x11, 0x11, 0x19, 0x15, 0x13, 0x11, 0x11],
  O: [0x0e, 0x11, 0x11, 0x11, 0x11, 0x11, 0x0e],
  P: [0x1e, 0x11, 0x11, 0x1e, 0x10, 0x10, 0x10],
  Q: [0x0e, 0x11, 0x11, 0x11, 0x15, 0x12, 0x0d],
  R: [0x1e, 0x11, 0x11, 0x1e, 0x14, 0x12, 0x11],
  S: [0x0f, 0x10, 0x10, 0x0e, 0x01, 0x01, 0x1e],
  T: [0x1f, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04],
  U: [0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x0e],
  V: [0x11, 0x11, 0x11, 0x11, 0x11, 0x0a, 0x04],
  W: [0x11, 0x11, 0x11, 0x15, 0x15, 0x15, 0x0a],
  X: [0x11, 0x11, 0x0a, 0x04, 0x0a, 0x11, 0x11],
  Y: [0x11, 0x11, 0x11, 0x0a, 0x04, 0x04, 0x04],
  Z: [0x1f, 0x01, 0x02, 0x04, 0x08, 0x10, 0x1f],
  '.': [0, 0, 0, 0, 0, 0x0c, 0x0c],
  ',': [0, 0, 0, 0, 0x0c, 0x04, 0x08],
  '-': [0, 0, 0, 0x1f, 0, 0, 0],
  '+': [0, 0x04, 0x04, 0x1f, 0x04, 0x04, 0],
  '=': [0, 0, 0x1f, 0, 0x1f, 0, 0],
  '/': [0x01, 0x01, 0x02, 0x04, 0x08, 0x10, 0x10],
  '(': [0x02, 0x04, 0x08, 0x08, 0x08, 0x04, 0x02],
  ')': [0x08, 0x04, 0x02, 0x02, 0x02, 0x04, 0x08],
  ':': [0, 0x0c, 0x0c, 0, 0x0c, 0x0c, 0],
  '%': [0x18, 0x19, 0x02, 0x04, 0x08, 0x13, 0x03],
  '×': [0, 0, 0x11, 0x0a, 0x04, 0x0a, 0x11],
  '?': [0x0e, 0x11, 0x01, 0x02, 0x04, 0, 0x04],
  _: [0, 0, 0, 0, 0, 0, 0x1f],
}
