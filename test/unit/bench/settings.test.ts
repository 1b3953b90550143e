// The bench's command line and BENCH_* variables: defaults, flags over variables, and every bad value
// refused with one line (bench/lib/settings.mjs; run.mjs prints it and exits 2).
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { BenchInputError, EXTRAS, parseSettings, SUBJECTS, USAGE } from '../../../bench/lib/settings.mjs'
import { params } from '../helpers/fc.js'

const run = (argv: string[], env: Record<string, string> = {}, cores = 2) => {
  const r = parseSettings(argv, env, cores)
  if (r.mode !== 'run') throw new Error(`expected a run, got ${r.mode}`)
  return r.settings
}

const refused = (argv: string[], env: Record<string, string> = {}): string => {
  try {
    parseSettings(argv, env, 2)
  } catch (e) {
    expect(e).toBeInstanceOf(BenchInputError)
    const msg = (e as Error).message
    expect(msg).not.toContain('\n')
    return msg
  }
  throw new Error(`accepted ${JSON.stringify(argv)} ${JSON.stringify(env)}`)
}

const INT_FLAGS = ['seconds', 'repeat', 'warmup', 'pings', 'udp-packet', 'udp-seconds', 'connects', 'sessions', 'session-rate', 'clients']

describe('bench settings', () => {
  it('defaults: 10 s runs, 3 rounds, a 3 s warm-up, 1 % UDP loss, a load limit of cores / 4 (at least 0.5)', () => {
    const s = run([])
    expect(s).toMatchObject({ seconds: 10, repeat: 3, warmup: 3, udpLossPct: 1, udpPacket: 1400, allowLoaded: false, only: [] })
    expect(s.maxLoad).toBe(0.5)
    expect(run([], {}, 16).maxLoad).toBe(4)
  })

  it('reads the BENCH_* variables, and a flag wins over its variable', () => {
    const env = { BENCH_SECONDS: '3', BENCH_REPEAT: '2', BENCH_ONLY: 'veth,sudph', BENCH_MAX_LOAD: '1.25', BENCH_ALLOW_LOADED: '1' }
    expect(run([], env)).toMatchObject({ seconds: 3, repeat: 2, only: ['veth', 'sudph'], maxLoad: 1.25, allowLoaded: true })
    expect(run(['--seconds', '7', '--only', 'boringtun', '--udp-loss', '0.5'], env)).toMatchObject({
      seconds: 7,
      repeat: 2,
      only: ['boringtun'],
      udpLossPct: 0.5,
    })
    expect(run(['--allow-loaded']).allowLoaded).toBe(true)
  })

  it('--help, --report FILE and --chart FILE are modes of their own', () => {
    expect(parseSettings(['--help'], {}, 2)).toEqual({ mode: 'help' })
    expect(parseSettings(['-h'], {}, 2)).toEqual({ mode: 'help' })
    expect(parseSettings(['--report', 'x.json'], {}, 2)).toEqual({ mode: 'report', file: 'x.json' })
    expect(parseSettings(['--chart', 'x.json'], {}, 2)).toEqual({ mode: 'chart', file: 'x.json' })
  })

  it('the usage names every flag, its variable and every subject', () => {
    for (const f of [...INT_FLAGS, 'udp-loss', 'max-load', 'only', 'allow-loaded', 'report', 'chart']) expect(USAGE).toContain(`--${f}`)
    for (const v of ['BENCH_SECONDS', 'BENCH_WARMUP', 'BENCH_UDP_LOSS', 'BENCH_MAX_LOAD', 'BENCH_ALLOW_LOADED', 'BENCH_ONLY'])
      expect(USAGE).toContain(v)
    for (const s of [...SUBJECTS, ...EXTRAS]) expect(USAGE).toContain(s)
  })

  it('refuses hostile numbers in one line naming where they came from', () => {
    for (const bad of ['0', '-1', '0x10', '1e3', '1.5', ' 5', '5 ', '5abc', 'NaN', 'Infinity', '99999999999', '９', '']) {
      for (const f of INT_FLAGS) expect(refused([`--${f}`, bad])).toContain(`--${f}`)
    }
    expect(refused([], { BENCH_SECONDS: '-3' })).toContain('BENCH_SECONDS')
    expect(refused([], { BENCH_REPEAT: '1000' })).toContain('BENCH_REPEAT')
    for (const bad of ['-0.5', '1e-2', '.5', '100', '0']) expect(refused(['--udp-loss', bad])).toContain('--udp-loss')
    expect(refused(['--max-load', 'lots'])).toContain('--max-load')
    // The large memory row and the idle window may be 0 (off), nothing else odd.
    for (const bad of ['-1', '0x10', '1e3', '1.5', ' 5', 'NaN', '99999999999', '']) {
      for (const f of ['scale-sessions', 'idle-seconds']) expect(refused([`--${f}`, bad])).toContain(`--${f}`)
    }
    expect(refused(['--scale-sessions', '100001'])).toContain('--scale-sessions')
    expect(refused([], { BENCH_IDLE_SECONDS: '3601' })).toContain('BENCH_IDLE_SECONDS')
    expect(run(['--scale-sessions', '0', '--idle-seconds', '0'])).toMatchObject({ scaleSessions: 0, idleSeconds: 0 })
    expect(run([])).toMatchObject({ scaleSessions: 10_000, idleSeconds: 30 })
    // The parallel-clients row: 4 by default, at most the 240 its address plan has room for.
    expect(run([])).toMatchObject({ clients: 4 })
    expect(run([], { BENCH_CLIENTS: '8' })).toMatchObject({ clients: 8 })
    expect(refused(['--clients', '241'])).toContain('--clients')
    expect(refused([], { BENCH_CLIENTS: '0' })).toContain('BENCH_CLIENTS')
  })

  it('refuses unknown flags, stray arguments, unknown subjects and odd switches', () => {
    expect(refused(['--bogus'])).toMatch(/--bogus.*--help/)
    expect(refused(['veth'])).toContain('veth')
    expect(refused(['--report'])).toContain('--report')
    expect(refused(['--report', ''])).toContain('--report')
    expect(refused(['--only', 'veth,nope'])).toContain('"nope"')
    const long = 'x'.repeat(10_000)
    expect(refused([], { BENCH_ONLY: long }).length).toBeLessThan(300)
    expect(refused(['--seconds', long]).length).toBeLessThan(300)
    expect(refused([], { BENCH_ALLOW_LOADED: 'yes' })).toContain('BENCH_ALLOW_LOADED')
  })

  it('any string for a whole-number flag is either that number, within bounds, or one refused line', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 30 }), (raw) => {
        try {
          const s = run(['--seconds', raw])
          expect(/^\d+$/.test(raw)).toBe(true)
          expect(s.seconds).toBe(Number(raw))
          expect(s.seconds >= 1 && s.seconds <= 3600).toBe(true)
        } catch (e) {
          expect(e).toBeInstanceOf(BenchInputError)
          expect((e as Error).message).not.toContain('\n')
        }
      }),
      params(300),
    )
  })
})
