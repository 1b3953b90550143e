// Round-trip time with ping, and the check that a path answers at all.
import { sleep } from '../lib/log.mjs'
import { median, percentile } from '../lib/stats.mjs'

/** `settings.pings` pings 10 ms apart: median, p99 (nearest rank), min and max of the replies, and the replies. */
export async function pingRtt(lab, settings, ns, addr) {
  const n = settings.pings
  const deadline = Math.ceil(n * 0.01 + 5)
  const r = await lab.exec(ns, ['ping', '-n', '-i', '0.01', '-c', String(n), '-W', '1', '-w', String(deadline), addr], {
    timeoutMs: (deadline + 5) * 1000,
  })
  const rtts = [...r.stdout.matchAll(/time=([\d.]+) ms/g)].map((m) => Number(m[1]))
  if (rtts.length === 0) throw new Error(`ping ${addr}: no reply (${(r.stdout + r.stderr).trim().split('\n').at(-1)})`)
  return {
    sent: n,
    received: rtts.length,
    medianMs: median(rtts),
    p99Ms: percentile(rtts, 99),
    minMs: Math.min(...rtts),
    maxMs: Math.max(...rtts),
    rtts,
  }
}

/** Checks the path before measuring: a few pings must come back. */
export async function reachable(lab, ns, addr) {
  for (let i = 0; i < 10; i++) {
    const r = await lab.exec(ns, ['ping', '-n', '-c', '1', '-W', '1', addr], { timeoutMs: 5000 })
    if (r.code === 0) return
    await sleep(200)
  }
  throw new Error(`${addr} does not answer ping through the tunnel`)
}
