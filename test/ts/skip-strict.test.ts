/**
 * SKYWIRE_TEST_STRICT=1 (CI) turns every skip into a failure naming what is
 * missing; without it the same test skips. Proven on a fixture that needs a
 * tool no machine has, run by a real vitest child process.
 */
import { spawnSync } from 'node:child_process'
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
