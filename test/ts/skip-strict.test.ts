/**
 * SKYWIRE_TEST_STRICT=1 (CI) turns every skip into a failure naming what is
 * missing; without it the same test skips. Proven on a fixture that needs a
 * tool no machine has, run by a real vitest child process.
 */
import { spawnSync } from 'node:child_process'
import { readdirSync, readFileSync } from 'node:fs'
import { join, relative } from 'node:path'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'

const ROOT = fileURLToPath(new URL('../..', import.meta.url))
const CONFIG = fileURLToPath(new URL('./fixtures/strict-skip/vitest.config.ts', import.meta.url))

function runFixture(strict: boolean): { status: number | null; out: string } {
  const env: NodeJS.ProcessEnv = { ...process.env, NO_COLOR: '1', FORCE_COLOR: '0' }
  delete env.SKYWIRE_TEST_STRICT
  delete env.VITEST
  delete env.VITEST_WORKER_ID
  delete env.VITEST_POOL_ID
  if (strict) env.SKYWIRE_TEST_STRICT = '1'
  const r = spawnSync(process.execPath, [`${ROOT}node_modules/vitest/vitest.mjs`, 'run', '--config', CONFIG, '--reporter', 'verbose'], {
    cwd: ROOT,
    env,
    encoding: 'utf8',
    timeout: 120_000,
  })
  return { status: r.status, out: `${r.stdout}\n${r.stderr}` }
}

describe('strict mode for skips', () => {
  it('without SKYWIRE_TEST_STRICT a test whose tool is missing is skipped, and the run passes', () => {
    const r = runFixture(false)
    expect(r.status, r.out).toBe(0)
    expect(r.out).toMatch(/1 passed/)
    expect(r.out).toMatch(/1 skipped/)
    expect(r.out).not.toMatch(/unavailable:/)
  }, 150_000)

  it('with SKYWIRE_TEST_STRICT=1 the same skip is a failing test that names the missing tool', () => {
    const r = runFixture(true)
    expect(r.status, r.out).not.toBe(0)
    expect(r.out).toMatch(/unavailable: `skywire-fixture-no-such-tool` is not installed/)
    expect(r.out).toMatch(/1 failed/)
  }, 150_000)
})

/** Every .ts file under test/ts and test/unit, fixtures aside. */
function testSources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = join(dir, e.name)
    if (e.isDirectory()) return e.name === 'fixtures' ? [] : testSources(p)
    return e.name.endsWith('.ts') ? [p] : []
  })
}

describe('every skip goes through test/ts/helpers/skip.ts', () => {
  it('no skipIf/runIf without skipUnlessAvailable, and no unconditional skip, todo or ctx.skip', () => {
    const dir = fileURLToPath(new URL('.', import.meta.url))
    const unitDir = join(ROOT, 'test', 'unit')
    const bad: string[] = []
    // The unit tests (test/unit) run in `npm run check` too: the same rule holds there.
    for (const file of [...testSources(dir), ...testSources(unitDir)]) {
      const rel = relative(dir, file)
      if (rel === join('helpers', 'skip.ts') || rel === 'skip-strict.test.ts') continue
      readFileSync(file, 'utf8')
        .split('\n')
        .forEach((line, i) => {
          const conditional = /\.(skipIf|runIf)\(/.test(line) && !line.includes('skipUnlessAvailable(')
          const unconditional = /\b(describe|it|test|suite)\.(skip|todo)\b|\b(ctx|context|t)\.skip\(/.test(line)
          if (conditional || unconditional) bad.push(`${rel}:${i + 1}: ${line.trim()}`)
        })
    }
    // A skip strict mode cannot see would let CI pass without running the test.
    expect(bad, 'route these through skipUnlessAvailable (test/ts/helpers/skip.ts)').toEqual([])
  })
})
