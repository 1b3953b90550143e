/**
 * The latency prober's bounds, against an in-memory probe: no more than
 * `concurrency` probes at once, results reused for `ttlMs` (answers and
 * silences), one probe for a server asked for twice at once, a bounded cache,
 * bad options refused with a one-line coded error.
 */
import { describe, expect, it } from 'vitest'
import { SkywireError } from '../../../ts/contracts/errors.js'
import { type Latency, LatencyProber, type ProbeFn } from '../../../ts/native/probe.js'

/** A probe that answers when the test says so, recording what it was asked. */
function fakeProbe() {
  const calls: Array<{ pk: string; addrs: string[]; timeoutMs: number; resolve: (r: Latency | null) => void }> = []
  let active = 0
  let peak = 0
  const probe: ProbeFn = (pk, addrs, timeoutMs) =>
    new Promise((resolve) => {
      active++
      peak = Math.max(peak, active)
      calls.push({
        pk,
        addrs,
        timeoutMs,
        resolve: (r) => {
          active--
          resolve(r)
        },
      })
    })
  return { probe, calls, peak: () => peak }
}

const tick = () => new Promise((r) => setImmediate(r))
const pk = (i: number) => i.toString(16).padStart(64, '0')

describe('LatencyProber', () => {
  it('runs at most `concurrency` probes at once, and all of them in the end', async () => {
    const f = fakeProbe()
    const p = new LatencyProber({ probe: f.probe, concurrency: 3, timeoutMs: 700 })
    const all = p.probeAll(Array.from({ length: 10 }, (_, i) => ({ pk: pk(i), addrs: [`192.0.2.${i}:7778`] })))
    await tick()
    expect(f.calls).toHaveLength(3)
    expect(p.active).toBe(3)
    // Finish them one at a time, and new callers meanwhile must queue too.
    for (let done = 0; done < 10; done++) {
      f.calls[done]?.resolve(done % 2 === 0 ? { rttMs: done, addr: `192.0.2.${done}:7778` } : null)
      void p.probe(pk(100 + done), ['198.51.100.1:7778'])
      await tick()
      expect(p.active).toBeLessThanOrEqual(3)
    }
    for (const c of f.calls.slice(10)) c.resolve(null)
    const got = await all
    expect(got.map((r) => r?.rttMs ?? null)).toEqual([0, null, 2, null, 4, null, 6, null, 8, null])
    expect(f.peak()).toBe(3)
    expect(f.calls.every((c) => c.timeoutMs === 700)).toBe(true)
  })

  it('reuses a result (answer or silence) for ttlMs, then probes again', async () => {
    const f = fakeProbe()
    let now = 1_000
    const p = new LatencyProber({ probe: f.probe, ttlMs: 30_000, now: () => now })
    const first = p.probe(pk(1), ['192.0.2.1:1', '192.0.2.2:1'])
    await tick()
    f.calls[0]?.resolve({ rttMs: 12.5, addr: '192.0.2.2:1' })
    expect(await first).toEqual({ rttMs: 12.5, addr: '192.0.2.2:1' })
    // Same server, addresses in another order: cached.
    now += 29_999
    expect(await p.probe(pk(1), ['192.0.2.2:1', '192.0.2.1:1'])).toEqual({ rttMs: 12.5, addr: '192.0.2.2:1' })
    expect(f.calls).toHaveLength(1)
    // A silent server is remembered too.
    const silent = p.probe(pk(2), ['192.0.2.9:1'])
    await tick()
    f.calls[1]?.resolve(null)
    expect(await silent).toBeNull()
    expect(await p.probe(pk(2), ['192.0.2.9:1'])).toBeNull()
    expect(f.calls).toHaveLength(2)
    // Expired: probed again.
    now += 1
    const again = p.probe(pk(1), ['192.0.2.1:1', '192.0.2.2:1'])
    await tick()
    expect(f.calls).toHaveLength(3)
    f.calls[2]?.resolve({ rttMs: 3, addr: '192.0.2.1:1' })
    expect((await again)?.rttMs).toBe(3)
  })

  it('probes a server asked for twice at once only once', async () => {
    const f = fakeProbe()
    const p = new LatencyProber({ probe: f.probe })
    const a = p.probe(pk(1), ['192.0.2.1:1'])
    const b = p.probe(pk(1), ['192.0.2.1:1'])
    await tick()
    expect(f.calls).toHaveLength(1)
    f.calls[0]?.resolve({ rttMs: 1, addr: '192.0.2.1:1' })
    expect(await a).toEqual(await b)
  })

  it('keeps at most maxEntries results, dropping the oldest', async () => {
    const f = fakeProbe()
    const p = new LatencyProber({ probe: f.probe, maxEntries: 2 })
    for (let i = 0; i < 3; i++) {
      const r = p.probe(pk(i), ['192.0.2.1:1'])
      await tick()
      f.calls[i]?.resolve({ rttMs: i, addr: '192.0.2.1:1' })
      await r
    }
    await p.probe(pk(2), ['192.0.2.1:1'])
    await p.probe(pk(1), ['192.0.2.1:1'])
    expect(f.calls).toHaveLength(3)
    const evicted = p.probe(pk(0), ['192.0.2.1:1'])
    await tick()
    expect(f.calls).toHaveLength(4)
    f.calls[3]?.resolve(null)
    await evicted
  })

  it('does not cache an error, and refuses bad options with a coded one-line error', async () => {
    let n = 0
    const p = new LatencyProber({
      probe: async () => {
        n++
        throw new SkywireError('EINVALIDADDR', 'probe address must be IP:PORT, got "x"')
      },
    })
    await expect(p.probe(pk(1), ['x'])).rejects.toThrow(/IP:PORT/)
    await expect(p.probe(pk(1), ['x'])).rejects.toThrow(/IP:PORT/)
    expect(n).toBe(2)
    expect(p.active).toBe(0)
    for (const bad of [{ concurrency: 0 }, { concurrency: 17 }, { timeoutMs: 0 }, { timeoutMs: 1.5 }, { ttlMs: -1 }, { timeoutMs: Number.NaN }]) {
      let err: unknown
      try {
        new LatencyProber(bad)
      } catch (e) {
        err = e
      }
      expect(err, JSON.stringify(bad)).toBeInstanceOf(SkywireError)
      expect((err as SkywireError).code).toBe('EUSAGE')
      expect((err as SkywireError).message).not.toContain('\n')
    }
  })
})
