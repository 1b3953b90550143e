/**
 * Shared settings of the property tests. npm test runs a small, fast number of
 * cases (the whole directory stays well under 30 s on a busy 2-core machine);
 * FC_NUM_RUNS=100000 runs the same properties much longer, and FC_SEED=<n>
 * replays the seed fast-check prints when a property fails.
 */
import fc from 'fast-check'
import { expect } from 'vitest'

function envInt(name: string): number | undefined {
  const v = process.env[name]
  if (v === undefined || v === '') return undefined
  const n = Number(v)
  if (!Number.isSafeInteger(n)) throw new Error(`${name} must be an integer, got ${v}`)
  return n
}

/** `base` cases per property by default, FC_NUM_RUNS when set. */
export function params<T>(base: number): fc.Parameters<T> {
  const seed = envInt('FC_SEED')
  return {
    numRuns: envInt('FC_NUM_RUNS') ?? base,
    ...(seed !== undefined ? { seed } : {}),
    // On failure fast-check reports the seed and the shrunk counterexample; keep the report short.
    endOnFailure: false,
  }
}

/** A vitest timeout that grows with FC_NUM_RUNS, so the long run is not cut off at 30 s. */
export function timeoutFor(base: number, msPerRun: number): number {
  const runs = envInt('FC_NUM_RUNS') ?? base
  return Math.max(30_000, runs * msPerRun * 2)
}

/** 64 lowercase hex characters (a PK's text form, not necessarily a valid point). */
export const hex64 = fc.uint8Array({ minLength: 32, maxLength: 32 }).map((b) => Buffer.from(b).toString('hex'))

/** One line: no newline, no stack frame. */
export function isOneLine(s: string): boolean {
  return !/[\r\n]/.test(s) && !/\n\s+at /.test(s)
}

export { fc }

/** An HTTP answer (Fastify inject) that is 2xx, or 4xx with `{error: {code, message}}` on one line; never a 500 or a stack. */
export function expectCleanHttp(r: { statusCode: number; body: string }, what: string): void {
  expect(r.statusCode, `${what} -> ${r.statusCode} ${r.body}`).toBeLessThan(500)
  if (r.statusCode < 400) return
  const j = JSON.parse(r.body) as { error?: { code?: unknown; message?: unknown } }
  expect(typeof j.error?.code, r.body).toBe('string')
  expect(typeof j.error?.message, r.body).toBe('string')
  expect(isOneLine(j.error!.message as string), r.body).toBe(true)
  expect(r.body).not.toMatch(/\bat .+\.(js|ts):\d+/)
}
