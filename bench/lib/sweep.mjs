// The UDP sweep: the highest offered packet rate a path carries with less than the allowed loss.
// iperf3 with `-b 0` only says how fast its own sender ran on a machine it shares with both tunnel ends;
// at fixed offered rates the question is the tunnel's: does it keep up with this rate or not.

/**
 * Searches the rate: doubling from `startPps` while the loss stays under `maxLossPct` (halving first when
 * the start already loses too much), then bisecting (geometric means) between the best rate that passed
 * and the lowest that failed until they are within `precision` of each other or `maxSteps` runs were made.
 * A rate the sender itself could not reach (it sent under 90 % of the offered packets; iperf3's pacing
 * undershoots by a few % in short steps) ends the climb:
 * above it the tunnel is no longer what is measured, and the result says `senderLimited`.
 *
 * `measure(offeredPps)` runs one step and resolves to { sentPps, receivedPps, lossPct } (lossPct null when
 * nothing was sent). Resolves to { best, failedAt, senderLimited, steps }: `best` is the passing step with
 * the highest offered rate (null when none passed), `failedAt` the lowest failing offered rate.
 */
export async function sweepRate(measure, { startPps, maxLossPct, precision = 0.05, maxSteps = 12, minPps = 100, maxPps = 10_000_000 }) {
  const steps = []
  let best = null
  let failedAt = null
  let senderLimited = false
  const step = async (pps) => {
    const r = await measure(pps)
    const pass = r.lossPct !== null && r.lossPct < maxLossPct
    const s = { offeredPps: pps, ...r, pass, senderShort: r.sentPps < 0.9 * pps }
    steps.push(s)
    if (pass && (!best || pps > best.offeredPps)) best = s
    if (!pass && (failedAt === null || pps < failedAt)) failedAt = pps
    return s
  }
  let pps = Math.round(Math.min(Math.max(startPps, minPps), maxPps))
  // Climb (or descend) by doubling until the outcome flips.
  let s = await step(pps)
  if (s.pass) {
    while (s.pass && !s.senderShort && pps * 2 <= maxPps && steps.length < maxSteps) {
      pps *= 2
      s = await step(pps)
    }
    if (s.pass && s.senderShort) senderLimited = true
  } else {
    while (!s.pass && Math.floor(pps / 2) >= minPps && steps.length < maxSteps) {
      pps = Math.floor(pps / 2)
      s = await step(pps)
    }
  }
  // Bisect between the best pass and the lowest fail.
  while (!senderLimited && best && failedAt !== null && failedAt / best.offeredPps > 1 + precision && steps.length < maxSteps) {
    const mid = Math.round(Math.sqrt(best.offeredPps * failedAt))
    if (mid <= best.offeredPps || mid >= failedAt) break
    s = await step(mid)
    if (s.pass && s.senderShort) senderLimited = true
  }
  return { best, failedAt, senderLimited, steps }
}
