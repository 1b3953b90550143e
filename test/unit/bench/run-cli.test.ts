// bench/run.mjs as a user runs it, in a real node process, for what needs no root: --help, bad flags,
// and --report / --chart of results files, real ones (a committed run of the earlier bench, a short
// run of this one on a loaded machine) and hostile ones.
import { spawnSync } from 'node:child_process'
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, describe, expect, it } from 'vitest'

const ROOT = fileURLToPath(new URL('../../..', import.meta.url))
const RUN = join(ROOT, 'bench/run.mjs')
const LOADED = fileURLToPath(new URL('./fixtures/results-loaded.json', import.meta.url))
const OLD = join(ROOT, 'bench/results/2026-11-29T03-33-40Z.json')
// The loaded run above with the `clients` and `userWait` blocks of two real runs (--only clients, --only user-wait).
const EXTRAS = fileURLToPath(new URL('./fixtures/results-clients-userwait.json', import.meta.url))
const tmp = mkdtempSync(join(tmpdir(), 'bench-cli-'))
afterAll(() => rmSync(tmp, { recursive: true, force: true }))

function bench(...args: string[]) {
  const env = { ...process.env }
  for (const k of Object.keys(env)) if (k.startsWith('BENCH_')) delete env[k]
  const r = spawnSync(process.execPath, [RUN, ...args], { encoding: 'utf8', env, timeout: 30_000 })
  return { code: r.status, out: r.stdout, err: r.stderr }
}

/** Exit 2 and one line on stderr, no stack trace. */
function refused(r: ReturnType<typeof bench>): string {
  expect(r.code, r.err).toBe(2)
  const lines = r.err.trim().split('\n')
  expect(lines, r.err).toHaveLength(1)
  expect(lines[0]).toMatch(/^bench: /)
  expect(r.err).not.toMatch(/\n\s+at /)
  return lines[0]!
}

describe('bench/run.mjs', () => {
  it('--help prints the usage with examples and exits 0', () => {
    const r = bench('--help')
    expect(r.code).toBe(0)
    expect(r.out).toMatch(/^Usage: /)
    expect(r.out).toContain('Examples:')
    expect(r.out).toContain('--allow-loaded')
  })

  it('bad flags are one line and exit 2', () => {
    expect(refused(bench('--nope'))).toContain('--nope')
    expect(refused(bench('--seconds', 'ten'))).toContain('--seconds')
    expect(refused(bench('--only', 'veth,everything'))).toContain('everything')
    expect(refused(bench('--report'))).toContain('--report')
  })

  it("--report of this bench's results says the commit, the load and the peers, then every table with its ratios", () => {
    const res = JSON.parse(readFileSync(LOADED, 'utf8'))
    const r = bench('--report', LOADED)
    expect(r.code, r.err).toBe(0)
    expect(r.out).toContain(`at commit ${res.git.commit.slice(0, 12)} (dirty: ${res.git.dirtyCount} changed files`)
    expect(r.out).toContain(`LOADED MACHINE: the 1-minute load average was ${res.load.load1.toFixed(2)}`)
    expect(r.out).toContain(`wireguard-go ${res.tools['wireguard-go'].module}, go1.26.8, pinned`)
    expect(r.out).toContain(`boringtun 0.7.1, rustc 1.95.0, pinned, ${res.tools.boringtun.threads} threads`)
    expect(r.out).toContain(res.order.map((o: string[]) => o.join(' → ')).join(' | '))
    // SUDPH's single-stream median against wireguard-go's, as the throughput table prints it.
    const ratio = res.subjects.sudph.tcp1.gbps.median / res.subjects['wireguard-go'].tcp1.gbps.median
    const sudph = r.out.split('\n').find((l) => l.startsWith('| skywire SUDPH') && l.includes('(kernel)') === false)!
    expect(sudph).toContain(`${ratio.toFixed(2)}×`)
    expect(r.out).toContain(`highest offered rate each path carries with < ${res.settings.udpLossPct} % loss`)
    expect(r.out).toContain('sender-limited')
    expect(r.out).toMatch(/\| boringtun +\| boringtun-cli \d+ → \d+, boringtun-cli \d+ → \d+ +\| threads 2 /)
  })

  it("--report prints the parallel-clients row and the time a user waits against the issue's targets", () => {
    const res = JSON.parse(readFileSync(EXTRAS, 'utf8'))
    const r = bench('--report', EXTRAS)
    expect(r.code, r.err).toBe(0)
    const v = res.clients.variants.default
    const row = r.out.split('\n').find((l) => l.startsWith('| server default'))!
    expect(row).toContain(`${v.aggregateGbps.median.toFixed(2)} (`)
    expect(row).toContain(v.serverCpuSecondsPerGbit.toFixed(3))
    expect(row).toContain(v.clientsCpuSecondsPerGbit.toFixed(3))
    expect(r.out).toContain(`Parallel clients: ${res.clients.clients} client nodes`)
    expect(r.out).toContain('one-worker server: not measured')
    const u = res.userWait
    const status = r.out.split('\n').find((l) => l.startsWith('| skywire cli vpn status'))!
    expect(status).toMatch(
      new RegExp(`\\| ${u.status.ratio.toFixed(2)}× +\\| ${u.status.ms} +\\| ≤ 1.5× +\\| ${u.status.ratio <= 1.5 ? 'met' : 'NOT met'} `),
    )
    const back = r.out.split('\n').find((l) => l.startsWith('| back after a server restart, SUDPH'))!
    expect(back).toContain(`| ${u.back.sudph.fromServerReadyMs} `)
    expect(back).toContain('≤ 1000 ms')
    for (const kind of ['SUDPH', 'STCPR']) for (const t of ['cold', 'warm']) expect(r.out).toContain(`| vpn start, ${kind} ${t}`)
  })

  it('--report says when the addon was built before a source it should contain', () => {
    const res = JSON.parse(readFileSync(LOADED, 'utf8'))
    expect(bench('--report', LOADED).out).not.toContain('STALE BUILD')
    res.build.addon.sourcesNewer = ['crates/skywire-core/src/node/mod.rs']
    const file = join(tmp, 'stale.json')
    writeFileSync(file, JSON.stringify(res))
    expect(bench('--report', file).out).toContain('STALE BUILD: the native addon is older than crates/skywire-core/src/node/mod.rs')
  })

  it('--report of a results file of the earlier bench still prints, and says it has no commit', () => {
    const r = bench('--report', OLD)
    expect(r.code, r.err).toBe(0)
    expect(r.out).toContain('commit not recorded')
    expect(r.out).toContain('unlimited rate: -b 0')
    expect(r.out).toMatch(/\| skywire SUDPH +\| 3\.16 \(2\.86–3\.25\)/)
  })

  it('--chart draws the PNG beside a copy of the results', () => {
    const copy = join(tmp, 'run.json')
    copyFileSync(LOADED, copy)
    const r = bench('--chart', copy)
    expect(r.code, r.err).toBe(0)
    expect(readFileSync(join(tmp, 'run.png')).subarray(1, 4).toString()).toBe('PNG')
  })

  it('a missing, broken or foreign results file is one line and exit 2', () => {
    expect(refused(bench('--report', join(tmp, 'missing.json')))).toContain('ENOENT')
    const files: Record<string, string> = {
      'not-json.json': '{"subjects": ',
      'null.json': 'null',
      'array.json': '[]',
      'empty.json': '{"subjects":{},"settings":{}}',
      'wrong-types.json': '{"subjects":{"veth":{"tcp1":5}},"settings":{"seconds":"x"},"skipped":7}',
      'huge.json': JSON.stringify({ subjects: { veth: { error: 'x'.repeat(1_000_000) } }, settings: {} }),
    }
    for (const [name, text] of Object.entries(files)) {
      writeFileSync(join(tmp, name), text)
      for (const mode of ['--report', '--chart']) expect(refused(bench(mode, join(tmp, name))).length, `${mode} ${name}`).toBeLessThan(400)
    }
  })
})
