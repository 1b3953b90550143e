// The UDP rate sweep (bench/lib/sweep.mjs) against a fake path of known capacity: it must find the
// highest rate under the loss limit, stop at a sender that cannot offer more, and stay within its steps.
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { sweepRate } from '../../../bench/lib/sweep.mjs'
import { params } from '../helpers/fc.js'

/** A path that carries `capacity` packets/s and drops the excess; the sender reaches at most `senderMax`. */
function fakePath(capacity: number, senderMax = Number.POSITIVE_INFINITY) {
  const offered: number[] = []
  const measure = async (pps: number) => {
    offered.push(pps)
    const sentPps = Math.min(pps, senderMax)
    const receivedPps = Math.min(sentPps, capacity)
    return { sentPps, receivedPps, lossPct: ((sentPps - receivedPps) / sentPps) * 100 }
  }
  return { measure, offered }
}

describe('UDP rate sweep', () => {
  it('finds the highest rate under 1 % loss to within 5 %, above and below the start', async () => {
    for (const capacity of [150_000, 33_000, 20_000, 3_000]) {
      const { measure } = fakePath(capacity)
      const r = await sweepRate(measure, { startPps: 20_000, maxLossPct: 1 })
      // A rate passes while the loss stays under 1 %: up to capacity / 0.99.
      expect(r.best!.offeredPps, `capacity ${capacity}`).toBeLessThan(capacity / 0.99)
      expect(r.failedAt! / r.best!.offeredPps, `capacity ${capacity}`).toBeLessThanOrEqual(1.05)
      expect(r.senderLimited).toBe(false)
      expect(r.steps.length).toBeLessThanOrEqual(12)
    }
  })

  it('any capacity and start: the best step passed, every step above it failed, and at most maxSteps ran', async () => {
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 200, max: 5_000_000 }), fc.integer({ min: 100, max: 1_000_000 }), async (capacity, startPps) => {
        const { measure, offered } = fakePath(capacity)
        const r = await sweepRate(measure, { startPps, maxLossPct: 1, maxSteps: 12 })
        expect(offered.length).toBe(r.steps.length)
        expect(r.steps.length).toBeLessThanOrEqual(12)
        // Only a start far above the capacity can use up the steps halving down to it.
        if (r.best === null) {
          expect(r.steps.length).toBe(12)
          expect(startPps).toBeGreaterThan(capacity * 2 ** 10)
          return
        }
        expect(r.best.pass).toBe(true)
        expect(r.best!.lossPct!).toBeLessThan(1)
        for (const s of r.steps) expect(s.pass).toBe(s.offeredPps < capacity / 0.99)
        for (const s of r.steps.filter((x) => x.offeredPps > r.best!.offeredPps)) expect(s.pass).toBe(false)
      }),
      params(200),
    )
  })

  it('stops climbing when the sender cannot offer the rate, and says so', async () => {
    const { measure } = fakePath(1_000_000, 50_000)
    const r = await sweepRate(measure, { startPps: 20_000, maxLossPct: 1 })
    expect(r.senderLimited).toBe(true)
    expect(r.best!.senderShort).toBe(true)
    expect(r.best!.sentPps).toBe(50_000)
    expect(r.steps.map((s) => s.offeredPps)).toEqual([20_000, 40_000, 80_000])
  })

  it('reports no rate when even the smallest loses too much, and counts a run that sent nothing as a failure', async () => {
    const { measure } = fakePath(50)
    const r = await sweepRate(measure, { startPps: 20_000, maxLossPct: 1, minPps: 100 })
    expect(r.best).toBeNull()
    expect(Math.min(...r.steps.map((s) => s.offeredPps))).toBeGreaterThanOrEqual(100)
    const silent = await sweepRate(async () => ({ sentPps: 0, receivedPps: 0, lossPct: null }), { startPps: 1000, maxLossPct: 1, maxSteps: 4 })
    expect(silent.best).toBeNull()
    expect(silent.steps.every((s) => !s.pass)).toBe(true)
    expect(silent.steps.length).toBe(4)
  })

  it('a failing run fails the sweep', async () => {
    await expect(sweepRate(async () => Promise.reject(new Error('iperf3 -u: no route')), { startPps: 1000, maxLossPct: 1 })).rejects.toThrow(
      'no route',
    )
  })
})
