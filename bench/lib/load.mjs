// Whether the machine is quiet enough to measure. Other work on the cores moves every number of the
// run; the bench refuses to start above a 1-minute load average (--max-load) unless told to go on
// (--allow-loaded), and then the results say "loaded": true and the report says so on top.
import { loadavg } from 'node:os'
import { sleep } from './log.mjs'

/** { load1, maxLoad, over, refuse: one-line reason or null }. Pure. */
export function loadVerdict(load1, { maxLoad, allowLoaded }) {
  const over = load1 > maxLoad
  const refuse =
    over && !allowLoaded
      ? `the 1-minute load average is ${load1.toFixed(2)}, above ${maxLoad}: something else is running. Wait for it (see uptime), raise --max-load, or pass --allow-loaded to measure anyway (the results then say "loaded": true)`
      : null
  return { load1, maxLoad, over, refuse }
}

/**
 * Waits up to `timeoutMs` for the 1-minute load to fall to `maxLoad` (after the bench's own build of the
 * WireGuard peers, which it caused itself), then returns the verdict at that moment.
 */
export async function settle(settings, timeoutMs, log) {
  const deadline = Date.now() + timeoutMs
  let said = false
  while (loadavg()[0] > settings.maxLoad && !settings.allowLoaded && Date.now() < deadline) {
    if (!said)
      log(`load average ${loadavg()[0].toFixed(2)} (limit ${settings.maxLoad}): waiting up to ${Math.round(timeoutMs / 1000)} s for it to settle`)
    said = true
    await sleep(5000)
  }
  return loadVerdict(loadavg()[0], settings)
}
