// The interleaved order of the subjects over the rounds (bench/lib/order.mjs): each round runs every
// subject once, and over a full set of rounds no subject keeps a position or a predecessor.
import { describe, expect, it } from 'vitest'
import { interleavedOrder } from '../../../bench/lib/order.mjs'

const names = (n: number) => Array.from({ length: n }, (_, i) => `s${i}`)

describe('interleaved order', () => {
  it('every round is a permutation of the subjects', () => {
    for (let n = 0; n <= 9; n++) {
      for (const row of interleavedOrder(names(n), 12)) expect([...row].sort()).toEqual([...names(n)].sort())
    }
  })

  it('over a full square each subject takes each position equally often, and follows each other equally often', () => {
    for (let n = 2; n <= 9; n++) {
      const rows = n % 2 === 0 ? n : 2 * n
      const order = interleavedOrder(names(n), rows)
      const per = rows / n
      for (let pos = 0; pos < n; pos++) {
        const counts = new Map<string, number>()
        for (const row of order) counts.set(row[pos]!, (counts.get(row[pos]!) ?? 0) + 1)
        expect([...counts.values()], `n=${n} position ${pos}`).toEqual(Array(n).fill(per))
      }
      const pairs = new Map<string, number>()
      for (const row of order) for (let i = 1; i < n; i++) pairs.set(`${row[i - 1]}>${row[i]}`, (pairs.get(`${row[i - 1]}>${row[i]}`) ?? 0) + 1)
      expect(pairs.size, `n=${n}: every ordered pair appears`).toBe(n * (n - 1))
      expect(new Set(pairs.values()), `n=${n}`).toEqual(new Set([per]))
    }
  })

  it('the first rounds already start with different subjects, and the order is the same every time', () => {
    const five = ['veth', 'sudph', 'stcpr', 'wireguard-go', 'boringtun']
    const order = interleavedOrder(five, 3)
    expect(new Set(order.map((r) => r[0])).size).toBe(3)
    expect(new Set(order.map((r) => r.at(-1))).size).toBe(3)
    expect(interleavedOrder(five, 3)).toEqual(order)
    expect(interleavedOrder(['only'], 3)).toEqual([['only'], ['only'], ['only']])
  })
})
