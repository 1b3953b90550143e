/**
 * The soak (ts/netlab/soak), short: 10 clients for 60 s on the real lab, the
 * same code `npm run soak` runs for 100 clients and 10 minutes. Rekey (120 s)
 * and expiry (180 s) need the long run; here they are reported as not judged.
 * Plus the judging itself on made-up numbers, so a leak or a lost transport
 * cannot pass unseen.
 */
import { describe, expect, it } from 'vitest'
import { judge, type Check } from '../../ts/netlab/soak/checks.js'
import { checksTable } from '../../ts/netlab/soak/report.js'
import { flatness, type Sample } from '../../ts/netlab/soak/sampler.js'
import { runSoak, type ClientRecord, type SoakResult } from '../../ts/netlab/soak/soak.js'
import { labSkipReason } from './helpers/lab.js'
import { skipUnlessAvailable } from './helpers/skip.js'

const skip = labSkipReason()

describe('soak checks', () => {
  const series = (f: (i: number) => number): Sample[] => Array.from({ length: 40 }, (_, i) => ({ t: i * 5, rssKiB: f(i), fds: 30 }))

  it('flatness compares the late window with the early one', () => {
    expect(
      flatness(
        series(() => 100_000),
        'rssKiB',
        0.1,
        0,
      )?.flat,
    ).toBe(true)
    // 1 MiB per sample: a leak.
    const leak = flatness(
      series((i) => 100_000 + i * 1024),
      'rssKiB',
      0.1,
      0,
    )
    expect(leak?.flat).toBe(false)
    expect(leak?.growth).toBeGreaterThan(20_000)
    expect(flatness(series(() => 1).slice(0, 3), 'rssKiB', 0.1, 0)).toBeNull()
  })

  it('a one-sample fd spike is not a leak, a raised fd floor is', () => {
    const fds = (f: (i: number) => number): Sample[] => Array.from({ length: 40 }, (_, i) => ({ t: i * 5, rssKiB: 1, fds: f(i) }))
    // A child process's pipes seen by one late sample (as in the first full run).
    expect(
      flatness(
        fds((i) => (i === 35 ? 35 : 27)),
        'fds',
        0,
        10,
        1,
      )?.flat,
    ).toBe(true)
    // Two fds that never close again from halfway on: every late sample is higher.
    expect(
      flatness(
        fds((i) => (i < 20 ? 27 : 29) + (i % 2)),
        'fds',
        0,
        10,
        1,
      )?.flat,
    ).toBe(false)
  })

  it('a replaced transport, a reconnect line or probe loss fails the run', () => {
    const client = (name: string, o: Partial<ClientRecord> = {}): ClientRecord => ({
      name,
      pk: name.padEnd(64, '0'),
      server: 'server',
      transport: 'stcpr',
      idle: false,
      transportIds: [1],
      badStates: [],
      lastErrors: [],
      rekeys: 0,
      uptimeS: 60,
      connectMs: 100,
      connectAttempts: 1,
      reconnectLogs: [],
      serverSeen: true,
      traffic: {
        final: true,
        paused: false,
        probesSent: 300,
        probesEchoed: 300,
        probesPending: 0,
        probesLost: 0,
        tcpWritten: 1e6,
        tcpAcked: 1e6,
        tcpScheduled: 1e6,
        tcpRedials: 0,
        bursts: 2,
        burstsDone: 2,
        burstMsMax: 100,
        burstMsSum: 150,
        stallMsMax: 300,
        errors: [],
      },
      ...o,
    })
    const base: SoakResult = {
      date: new Date().toISOString(),
      machine: { cpus: 2, load1: 1 },
      options: {
        clients: 2,
        seconds: 60,
        traffic: { rate: 1, probeMs: 200, burst: 1, burstEveryMs: 30_000 },
        sampleMs: 5000,
        statusMs: 10_000,
        idleExpiry: false,
        concurrency: 4,
      },
      durations: { setupS: 1, connectS: 1, trafficS: 60, totalS: 70 },
      connectFailures: [],
      clients: [client('a'), client('b')],
      servers: [{ name: 'server', pk: 's', clientsAtEnd: 2, rekeysMin: 0, rekeysTotal: 0, down: [] }],
      idle: null,
      series: { server: series(() => 100_000), a: series(() => 90_000), b: series(() => 90_000) },
    }
    const failed = (r: SoakResult) =>
      judge(r)
        .filter((c: Check) => c.ok === false)
        .map((c) => c.name)
    expect(failed(base)).toEqual([])
    expect(failed({ ...base, clients: [client('a', { transportIds: [1, 7] }), client('b')] })).toEqual(['no transport lost'])
    expect(failed({ ...base, clients: [client('a', { reconnectLogs: ['vpn reconnected'] }), client('b')] })).toEqual([
      'no reconnect the test did not cause',
    ])
    const lossy = client('a')
    lossy.traffic = { ...(lossy.traffic as NonNullable<ClientRecord['traffic']>), probesLost: 30, probesEchoed: 270 }
    expect(failed({ ...base, clients: [lossy, client('b')] })).toEqual(['UDP probe loss'])
    expect(failed({ ...base, series: { ...base.series, server: series((i) => 100_000 + i * 1024) } })).toEqual(['server RSS and fds flat'])
  })
})

describe.skipIf(skipUnlessAvailable(skip))('soak on the lab (10 clients, 60 s)', () => {
  it('keeps every transport, loses (almost) no probes, and memory and fds stay flat', async () => {
    const r = await runSoak({
      clients: 10,
      seconds: 60,
      traffic: { rate: 16 * 1024, probeMs: 200, burst: 256 * 1024, burstEveryMs: 20_000 },
      sampleMs: 3000,
      statusMs: 5000,
      idleExpiry: false,
      concurrency: 5,
      log: () => {},
    })
    const checks = judge(r)
    const table = checksTable(checks)
    console.log(table)
    expect(
      checks.filter((c) => c.ok === false),
      table,
    ).toEqual([])
    // Everything but rekey and expiry (which need minutes) was judged.
    expect(checks.filter((c) => c.ok === null).map((c) => c.name)).toEqual(['rekeys happened', 'idle transport expires, comes back'])
    expect(r.clients.map((c) => c.transport).sort()).toEqual([...Array(4).fill('sudph'), ...Array(6).fill('stcpr')].sort())
    // The rekey counter reaches the status API (0 this early).
    expect(r.clients.every((c) => Number.isInteger(c.rekeys))).toBe(true)
  }, 150_000)
})
