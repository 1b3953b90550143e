/**
 * Every skip in test/ts goes through here, so CI can forbid them.
 *
 * Tests that need root, namespaces, nft, chromium, systemd-resolved, an x64
 * build ... skip where those are missing, so `npm test` passes on a laptop.
 * In CI (`.ci/run` exports SKYWIRE_TEST_STRICT=1) a skip would hide that the
 * CI machine lost a tool and half the suite stopped running; there, each skip
 * becomes a failing test whose name says what is missing.
 *
 *   const skip = skipReason(labSkipReason(), existsSync(X) ? null : 'X is missing')
 *   describe.skipIf(skipUnlessAvailable(skip))('...', () => { ... })
 *   it.skipIf(skipUnlessAvailable(skip))('...', () => { ... })
 */
import { it } from 'vitest'

/** CI's switch: every skip is a failure. */
export function strictMode(): boolean {
  return process.env.SKYWIRE_TEST_STRICT === '1'
}

/** The first reason not to run, or null when everything needed is here. */
export function skipReason(...reasons: Array<string | null | undefined>): string | null {
  for (const r of reasons) if (r !== null && r !== undefined && r !== '') return r
  return null
}

/**
 * For `describe.skipIf(...)` / `it.skipIf(...)`: true when the block must be
 * skipped. Under SKYWIRE_TEST_STRICT=1 a skip also registers, where it is
 * called, a test that fails naming `reason`; the block itself stays skipped,
 * so its hooks (a lab topology, a browser) never start half-way.
 */
export function skipUnlessAvailable(reason: string | null): boolean {
  if (reason === null) return false
  if (strictMode()) {
    it(`unavailable: ${reason}`, () => {
      throw new Error(`SKYWIRE_TEST_STRICT=1 and this would be skipped: ${reason}`)
    })
  }
  return true
}
