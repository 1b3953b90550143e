/**
 * The VPN server's address pool under hostile hellos: a client's usedNets
 * that cover (almost) the whole pool must not make allocation walk it address
 * by address on the visor's only JS thread (issue 12, item 2), and a pool the
 * client's networks cover entirely is refused at once.
 */
import { describe, expect, it } from 'vitest'
import { AddressPool, intToIpv4, ipv4ToInt } from '../../../ts/vpn/pool.js'
import { decode, encode, MAX_USED_NETS } from '../../../ts/vpn/protocol.js'

/** CIDRs that cover [from, to] exactly (the usual greedy split). */
function cover(from: number, to: number): string[] {
  const out: string[] = []
  let n = from
  while (n <= to) {
    let len = 32
    // Grow the block while it stays aligned and inside [n, to].
    while (len > 0) {
      const size = 2 ** (32 - (len - 1))
      if (n % size !== 0 || n + size - 1 > to) break
      len--
    }
    out.push(`${intToIpv4(n)}/${len}`)
    n += 2 ** (32 - len)
  }
  return out
}

/**
 * The fastest of `n` runs, in ms. These tests tell "arithmetic over ranges" from "a walk over every address"
 * (tens of seconds); one run can also include a stall of a busy machine, the fastest of three rarely does.
 */
function fastestMs(n: number, run: () => void): number {
  let best = Infinity
  for (let i = 0; i < n; i++) {
    const t0 = performance.now()
    run()
    best = Math.min(best, performance.now() - t0)
  }
  return best
}

describe('AddressPool', () => {
  it("a /8 pool whose every address but the last is covered by the client's networks allocates the last at once", () => {
    // Everything from the first client address to the one before the last.
    const nets = cover(ipv4ToInt('10.0.0.0'), ipv4ToInt('10.255.255.253'))
    let ip: string | null = null
    const ms = fastestMs(3, () => {
      ip = new AddressPool('10.0.0.0/8').allocate('a', nets)
    })
    console.log(`allocate on a covered /8: ${ms.toFixed(2)} ms`)
    expect(ip).toBe('10.255.255.254')
    // The old walk took tens of seconds here; arithmetic over 23 ranges takes microseconds.
    expect(ms).toBeLessThan(500)
    // A hello can carry this many networks.
    expect(nets.length).toBeLessThanOrEqual(MAX_USED_NETS)
  }, 120_000)

  it("a /8 pool the client's networks cover entirely is refused at once, as covered", () => {
    const pool = new AddressPool('10.0.0.0/8')
    for (const nets of [['10.0.0.0/8'], ['10.0.0.0/9', '10.128.0.0/9'], cover(ipv4ToInt('10.0.0.2'), ipv4ToInt('10.255.255.254'))]) {
      let r: unknown
      expect(fastestMs(3, () => (r = pool.allocateOrWhy('a', nets)))).toBeLessThan(500)
      expect(r).toEqual({ ok: false, reason: 'covered' })
    }
    expect(pool.inUse).toBe(0)
  }, 120_000)

  it('100 hellos covering a /16 except one address cost well under a millisecond each', () => {
    const nets = cover(ipv4ToInt('10.77.0.0'), ipv4ToInt('10.77.255.253'))
    const ms = fastestMs(3, () => {
      const pool = new AddressPool('10.77.0.0/16')
      for (let i = 0; i < 100; i++) {
        expect(pool.allocate(`c${i}`, nets)).toBe(i === 0 ? '10.77.255.254' : null)
      }
    })
    console.log(`100 hellos covering a /16: ${ms.toFixed(2)} ms`)
    // ~1 ms on an idle machine; the old walk over 65 534 addresses per hello took seconds for 100. 1 s leaves a
    // machine running at a load of 28 on 2 cores (measured here: 75-100 ms) room, and still catches the walk.
    expect(ms).toBeLessThan(1000)
  }, 120_000)

  it('skips used addresses and blocked ranges, reuses released addresses, and is idempotent per owner', () => {
    const pool = new AddressPool('10.77.0.0/24')
    expect(pool.gateway).toBe('10.77.0.1')
    expect(pool.allocate('a')).toBe('10.77.0.2')
    expect(pool.allocate('a')).toBe('10.77.0.2')
    expect(pool.allocate('b', ['10.77.0.0/30'])).toBe('10.77.0.4')
    expect(pool.allocate('c')).toBe('10.77.0.3')
    expect(pool.allocate('d', ['10.77.0.0/29', '10.77.0.8/31', '192.168.1.0/24', 'fd00::/64'])).toBe('10.77.0.10')
    pool.release('a')
    expect(pool.allocate('e', ['10.77.0.3/32'])).toBe('10.77.0.2')
    expect(pool.inUse).toBe(4)
    // The broadcast address is never handed out.
    const small = new AddressPool('10.9.0.0/30')
    expect(small.allocate('x')).toBe('10.9.0.2')
    expect(small.allocateOrWhy('y', [])).toEqual({ ok: false, reason: 'exhausted' })
  })

  it('a full /20 with a client in every address still answers the next hello quickly', () => {
    const pool = new AddressPool('10.77.0.0/20')
    const size = 2 ** 12 - 3
    for (let i = 0; i < size; i++) expect(pool.allocate(`c${i}`)).not.toBeNull()
    // Refusals change nothing, so the same 100 can be timed three times.
    const ms = fastestMs(3, () => {
      for (let i = 0; i < 100; i++) expect(pool.allocate(`late${i}`, ['10.77.8.0/21'])).toBeNull()
    })
    // ~1 ms here even at a load of 28; the old walk (a BlockList check of each of the 4093 addresses per hello)
    // took 11 s for these 100 on the same machine. 1 s leaves a stalled machine room and still catches it.
    console.log(`100 refused hellos on a full /20: ${ms.toFixed(2)} ms`)
    expect(ms).toBeLessThan(1000)
    pool.release('c2000')
    expect(pool.allocate('z', ['10.77.8.0/21'])).toBe(intToIpv4(ipv4ToInt('10.77.0.2') + 2000))
  })
})

describe('hello schema', () => {
  const hello = (usedNets: unknown) => Buffer.from(JSON.stringify({ type: 'hello', v: 1, usedNets }))

  it('takes at most MAX_USED_NETS networks, none broader than /8', () => {
    const many = Array.from({ length: MAX_USED_NETS + 1 }, (_, i) => `10.${i}.0.0/16`)
    expect(() => decode(hello(many))).toThrow(/usedNets/)
    expect(() => decode(hello(many.slice(0, MAX_USED_NETS)))).not.toThrow()
    expect(() => decode(hello(['0.0.0.0/0']))).toThrow(/usedNets/)
    expect(() => decode(hello(['0.0.0.0/1', '128.0.0.0/1']))).toThrow(/usedNets/)
    expect(() => decode(hello(['10.0.0.0/8']))).not.toThrow()
    expect(() => decode(hello(['::/0']))).toThrow(/usedNets/)
  })

  it('round-trips a status', () => {
    const s = { type: 'status' as const, status: 'ok' as const, address: '10.77.0.2', gateway: '10.77.0.1', prefix: 16, mtu: 1420, dns: ['1.1.1.1'] }
    expect(decode(encode(s))).toEqual(s)
  })
})
