// Progress lines with the seconds since the bench started.
const t0 = Date.now()

export const startedAt = t0
export const log = (msg) => console.log(`bench [${((Date.now() - t0) / 1000).toFixed(0).padStart(4)} s] ${msg}`)
export const sleep = (ms) => new Promise((r) => setTimeout(r, ms))

export function parseJson(s) {
  try {
    return JSON.parse(s)
  } catch {
    return null
  }
}
