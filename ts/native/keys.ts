/**
 * Visor public keys: 64 lowercase hex characters that are the canonical
 * encoding of a prime-order Ed25519 point. Weak keys (small-order points such
 * as the all-zero key, points with a small-order part, non-canonical
 * spellings) are refused: with one, a "peer" needs no secret, or one secret
 * answers to several addresses. The core decides (crates/skywire-core identity.rs).
 */
import { PK_PATTERN } from '../contracts/constants.js'
import { SkywireError } from '../contracts/errors.js'
import { callNative, native } from './loader.js'

// The shape lives in contracts (the web UI and the route table check it too).
export { PK_PATTERN }

export function isPublicKey(s: string): boolean {
  return PK_PATTERN.test(s) && native.isValidPublicKey(s)
}

/**
 * Why `s` (64 lowercase hex) is not a public key, e.g. "not a valid public
 * key: small-order point"; null when it is one. For schemas whose pattern
 * already checked the characters.
 */
export function publicKeyProblem(s: string): string | null {
  const why = native.publicKeyProblem(s)
  return why === null ? null : `not a valid public key: ${why}`
}

/** The reasons the core gives for curve points that are weak keys (`WeakKey` in identity.rs). */
const WEAK = new Set(['small-order point', 'point with a small-order component', 'non-canonical point encoding'])

/** Parse a PK from user input, with a one-line reason when it is not one. */
export function parsePublicKey(input: string, what = 'public key'): string {
  const s = input.trim()
  if (s.length !== 64) throw new SkywireError('EINVALIDPK', `${what} must be 64 hex characters, got ${s.length}`)
  if (!/^[0-9a-fA-F]{64}$/.test(s)) throw new SkywireError('EINVALIDPK', `${what} must be hex (0-9, a-f)`)
  const pk = s.toLowerCase()
  const why = native.publicKeyProblem(pk)
  if (why === null) return pk
  // A point, but a weak one: say which kind, so nobody mistakes it for a typo.
  if (WEAK.has(why)) throw new SkywireError('EINVALIDPK', `${what === 'public key' ? '' : `${what}: `}not a valid public key: ${why}`)
  throw new SkywireError('EINVALIDPK', `${what} is not a valid Ed25519 key`)
}

/** Parse a comma-separated list of PKs (the whitelist flag). Empty items are ignored. */
export function parsePublicKeyList(input: string): string[] {
  const items = input
    .split(',')
    .map((x) => x.trim())
    .filter((x) => x.length > 0)
  return [...new Set(items.map((x, i) => parsePublicKey(x, `whitelist entry ${i + 1}`)))]
}

export interface Identity {
  publicKey: string
  secretKey: string
}

export function generateIdentity(): Identity {
  return callNative(() => native.generateKeypair())
}

export function publicKeyOf(secretKey: string): string {
  return callNative(() => native.publicKeyFromSecret(secretKey))
}
