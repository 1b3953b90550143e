// The profile summary of the bench's --profile (bench/lib/folded.mjs): self time per symbol and per kind
// of work from inferno's folded stacks, on a recorded profile of this machine's SUDPH server
// (test/unit/bench/fixtures/perf-sudph-server.folded: its 80 heaviest stacks) and on made-up stacks.
import { readFileSync } from 'node:fs'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { formatSummary, parseFoldedLine, summarizeFolded } from '../../../bench/lib/folded.mjs'
import { params } from '../helpers/fc.js'

const recorded = readFileSync(new URL('./fixtures/perf-sudph-server.folded', import.meta.url), 'utf8')

describe('folded stacks', () => {
  it('counts self time at the leaf, by kind, with system calls counted inclusively', () => {
    const text = [
      'w;main;ring_core_0_17_14__chacha20_poly1305_open_avx2 40',
      'w;main;__memmove_avx512_unaligned_erms 10',
      'w;main;_int_free 5',
      'w;main;__rust_alloc 5',
      'w;main;sendmmsg;entry_SYSCALL_64_after_hwframe_[k];do_syscall_64_[k];_copy_from_iter_[k] 20',
      'w;main;__vdso_clock_gettime_[k] 10',
      'w;main;skywire_core::node::sudph::recv_loop 10',
      'w;main;ring_core_0_17_14__chacha20_poly1305_open_avx2 0',
    ].join('\n')
    const s = summarizeFolded(text, 3)
    expect(s.samples).toBe(100)
    expect(s.kinds).toEqual({ crypto: 0.4, memcpy: 0.1, alloc: 0.1, kernel: 0.2, other: 0.2 })
    expect(s.inSyscall).toBe(0.2)
    expect(s.top.map((t) => [t.symbol, t.share, t.kernel])).toEqual([
      ['ring_core_0_17_14__chacha20_poly1305_open_avx2', 0.4, false],
      ['_copy_from_iter', 0.2, true],
      // Ties in name order; the vDSO runs in user space, though perf marks it as kernel.
      ['__memmove_avx512_unaligned_erms', 0.1, false],
    ])
  })

  it('reads a recorded profile: the cipher on top, every share between 0 and 1, the kinds adding up', () => {
    const s = summarizeFolded(recorded)
    expect(s.samples).toBeGreaterThan(0)
    expect(s.top).toHaveLength(15)
    expect(s.top[0]?.symbol).toMatch(/chacha20_poly1305/)
    expect(s.kinds.crypto).toBeGreaterThan(0.2)
    const sum = Object.values(s.kinds).reduce((a: number, b) => a + (b ?? 0), 0)
    expect(sum).toBeCloseTo(1, 9)
    const counts = s.top.map((t) => t.samples)
    expect(counts).toEqual([...counts].sort((a, b) => b - a))
    const lines = formatSummary('server', s, 'ns')
    expect(lines[0]).toMatch(/^server: \d+ ms of CPU sampled; self time by kind: crypto/)
    expect(lines).toHaveLength(17)
  })

  it('skips what is not a folded line, and has no shares without samples', () => {
    expect(parseFoldedLine('')).toBeNull()
    expect(parseFoldedLine('a;b;c')).toBeNull()
    expect(parseFoldedLine('a;b;c -3')).toBeNull()
    expect(parseFoldedLine('a;b c 7')).toEqual({ frames: ['a', 'b c'], count: 7 })
    const s = summarizeFolded('garbage\n\n;;; x\n')
    expect(s.samples).toBe(0)
    expect(s.inSyscall).toBeNull()
    expect(formatSummary('x', s)).toEqual(['x: no samples'])
  })

  it('any text gives shares within 0..1 that add up to 1 when there are samples', () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.array(fc.stringMatching(/^[a-z_:\[\]]{1,12}$/), { minLength: 1, maxLength: 5 }), fc.nat(1000))), (rows) => {
        const text = rows.map(([frames, n]) => `${frames.join(';')} ${n}`).join('\n')
        const s = summarizeFolded(text)
        expect(s.samples).toBe(rows.reduce((a, [, n]) => a + n, 0))
        if (s.samples === 0) return
        const shares = Object.values(s.kinds) as number[]
        for (const x of shares) expect(x >= 0 && x <= 1).toBe(true)
        expect(shares.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 9)
      }),
      params(200),
    )
  })
})
