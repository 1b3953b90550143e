/**
 * The VPN server's passcode check: a comparison whose time does not depend
 * on how much of the guess is right, and a cap on wrong guesses per key and
 * in total, so the passcode cannot be found by timing or by brute force.
 */
import { createHash, timingSafeEqual } from 'node:crypto'

export interface PasscodeLimits {
  /**
   * Wrong passcodes one public key may send per window before its hellos are
   * refused without comparing. Five leaves room for typos.
   */
  failuresPerKey: number
  /**
   * Wrong passcodes from all keys together per window. Keys cost nothing to
   * make, so the per-key cap alone does not stop guessing; past this, every
   * passcode hello is refused until the window moves on (the price: while
   * someone guesses, a legitimate client may be refused too).
   */
  failuresTotal: number
  /** The window both caps count in. */
  windowMs: number
}

export const DEFAULT_PASSCODE_LIMITS: PasscodeLimits = { failuresPerKey: 5, failuresTotal: 60, windowMs: 60_000 }

/** Both sides hashed first: equal lengths for timingSafeEqual, and the passcode's length does not leak either. */
export function passcodeMatches(given: string | undefined, expected: string): boolean {
  const a = createHash('sha256')
    .update(given ?? '', 'utf8')
    .digest()
  const b = createHash('sha256').update(expected, 'utf8').digest()
  return timingSafeEqual(a, b) && given !== undefined
}

export type PasscodeVerdict = 'ok' | 'wrong' | 'too-many-failures'

export class PasscodeGate {
  /** Failure times, oldest first; never longer than failuresTotal (no comparison happens past it). */
  private total: number[] = []
  private readonly perKey = new Map<string, number[]>()

  constructor(
    private readonly expected: string,
    private readonly limits: PasscodeLimits = DEFAULT_PASSCODE_LIMITS,
    private readonly now: () => number = Date.now,
  ) {}

  check(pk: string, given: string | undefined): PasscodeVerdict {
    const t = this.now()
    const since = t - this.limits.windowMs
    while (this.total.length > 0 && (this.total[0] as number) <= since) this.total.shift()
    const mine = (this.perKey.get(pk) ?? []).filter((x) => x > since)
    if (mine.length === 0) this.perKey.delete(pk)
    else this.perKey.set(pk, mine)
    if (this.total.length >= this.limits.failuresTotal || mine.length >= this.limits.failuresPerKey) return 'too-many-failures'
    if (passcodeMatches(given, this.expected)) return 'ok'
    this.total.push(t)
    mine.push(t)
    this.perKey.set(pk, mine)
    // Keys seen once and never again: at most failuresTotal of them are in the
    // window, so sweeping the rest keeps the map that small.
    if (this.perKey.size > this.limits.failuresTotal) {
      for (const [k, v] of this.perKey) if ((v[v.length - 1] as number) <= since) this.perKey.delete(k)
    }
    return 'wrong'
  }
}
