/** Human formatting for the page; pure, so the tests need no browser. */

export function formatBytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB']
  let v = Math.max(0, n)
  let i = 0
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024
    i++
  }
  return i === 0 ? `${v} B` : `${v.toFixed(v < 10 ? 2 : 1)} ${units[i]}`
}

/** Bytes per second as bits per second, the unit links are sold in. */
export function formatRate(bytesPerS: number): string {
  const units = ['bit/s', 'kbit/s', 'Mbit/s', 'Gbit/s']
  let v = Math.max(0, bytesPerS) * 8
  let i = 0
  while (v >= 1000 && i < units.length - 1) {
    v /= 1000
    i++
  }
  return i === 0 ? `${Math.round(v)} ${units[i]}` : `${v.toFixed(v < 10 ? 2 : 1)} ${units[i]}`
}

export function formatDuration(s: number | null): string {
  if (s === null || !Number.isFinite(s) || s < 0) return '–'
  const t = Math.floor(s)
  const d = Math.floor(t / 86400)
  const h = Math.floor((t % 86400) / 3600)
  const m = Math.floor((t % 3600) / 60)
  const sec = t % 60
  if (d > 0) return `${d}d ${h}h ${m}m`
  if (h > 0) return `${h}h ${m}m ${sec}s`
  if (m > 0) return `${m}m ${sec}s`
  return `${sec}s`
}

export function formatLatency(ms: number | null): string {
  if (ms === null || !Number.isFinite(ms)) return '–'
  return ms < 10 ? `${ms.toFixed(1)} ms` : `${Math.round(ms)} ms`
}

/** The flag emoji of a two-letter country code (two regional indicator symbols); '' when it is not one. */
export function flagEmoji(cc: string | null | undefined): string {
  if (!cc || !/^[A-Za-z]{2}$/.test(cc)) return ''
  const base = 0x1f1e6
  const up = cc.toUpperCase()
  return String.fromCodePoint(base + up.charCodeAt(0) - 65, base + up.charCodeAt(1) - 65)
}

const names = (() => {
  try {
    return new Intl.DisplayNames(['en'], { type: 'region' })
  } catch {
    return null
  }
})()

export function countryName(cc: string | null | undefined): string {
  if (!cc || !/^[A-Za-z]{2}$/.test(cc)) return 'Unknown country'
  try {
    return names?.of(cc.toUpperCase()) ?? cc.toUpperCase()
  } catch {
    return cc.toUpperCase()
  }
}

/** The first and last characters of a public key: enough to tell servers apart at a glance. */
export function shortPk(pk: string | null | undefined): string {
  if (!pk) return '–'
  return pk.length > 16 ? `${pk.slice(0, 8)}…${pk.slice(-4)}` : pk
}

/** A server's PK: the entry's pk field, or the part of `pk:port` before the colon. */
export function entryPk(e: { pk?: string; address: string }): string {
  return e.pk ?? e.address.split(':')[0] ?? e.address
}
