// The pure parts of the bench's parallel-clients row (bench/lib/clients.mjs): the address plan of the
// server's bridge and the client namespaces, and the row's figures from its runs.
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { CLIENTS_NET, clientPlan, clientsRun, clientsSummary, MAX_CLIENTS } from '../../../bench/lib/clients.mjs'
import { params } from '../helpers/fc.js'

describe('parallel clients: the address plan', () => {
  it("gives every client its own namespace, link and TUN address and iperf3 port, none the server's", () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: MAX_CLIENTS }), (n) => {
        const plan = clientPlan(n)
        expect(plan).toHaveLength(n)
        for (const key of ['role', 'serverIfname', 'linkAddr', 'tunAddr', 'port'] as const) expect(new Set(plan.map((c) => c[key])).size).toBe(n)
        for (const c of plan) {
          expect(c.linkAddr).not.toBe(CLIENTS_NET.bridge.addr)
          expect(c.tunAddr).not.toBe(`${CLIENTS_NET.tunNet}.1`)
          // Linux refuses interface names over 15 bytes; the netlab's roles are [a-z][a-z0-9-]*.
          expect(c.serverIfname.length).toBeLessThanOrEqual(15)
          expect(c.role).toMatch(/^[a-z][a-z0-9-]*$/)
          // Every address stays a valid IPv4 address of the same /24 as the bridge.
          expect(c.linkAddr.startsWith('198.19.0.')).toBe(true)
          expect(Number(c.linkAddr.split('.')[3])).toBeLessThan(255)
          expect(Number(c.tunAddr.split('.')[3])).toBeLessThan(255)
          expect(c.port).toBeGreaterThan(1024)
          expect(c.port).toBeLessThan(65536)
        }
      }),
      params(50),
    )
  })

  it('refuses a count it has no addresses for', () => {
    for (const bad of [0, -1, 1.5, MAX_CLIENTS + 1, Number.NaN]) expect(() => clientPlan(bad)).toThrow(RangeError)
  })
})

describe('parallel clients: the row', () => {
  const gb = (gbps: number, seconds = 10) => ({ bps: gbps * 1e9, bytes: (gbps * 1e9 * seconds) / 8 })

  it('adds the clients up, keeps the slowest and the fastest, and divides each CPU by all Gbit received', () => {
    const r1 = clientsRun([gb(1), gb(0.5), gb(1.5)], 6, 9, 13)
    expect(r1.aggregateGbps).toBeCloseTo(3)
    expect(r1.gbitTransferred).toBeCloseTo(30)
    const r2 = clientsRun([gb(1), gb(1), gb(2)], 10, 11, 15)
    const s = clientsSummary([r1, r2])
    expect(s.aggregateGbps?.median).toBeCloseTo(3.5)
    expect(s.aggregateGbps?.min).toBeCloseTo(3)
    expect(s.aggregateGbps?.max).toBeCloseTo(4)
    expect(s.perClientMinGbps).toBeCloseTo(0.5)
    expect(s.perClientMaxGbps).toBeCloseTo(2)
    // (6 + 10) CPU s over (30 + 40) Gbit; the clients' (9 + 11) apart.
    expect(s.serverCpuSecondsPerGbit).toBeCloseTo(16 / 70)
    expect(s.clientsCpuSecondsPerGbit).toBeCloseTo(20 / 70)
    expect(s.serverThreadsMax).toBe(15)
  })

  it('has no per-Gbit figures when nothing went through', () => {
    const s = clientsSummary([clientsRun([{ bps: 0, bytes: 0 }], 1, 1, null)])
    expect(s.serverCpuSecondsPerGbit).toBeNull()
    expect(s.clientsCpuSecondsPerGbit).toBeNull()
    expect(s.serverThreadsMax).toBeNull()
    expect(clientsSummary([]).aggregateGbps).toBeNull()
  })
})
