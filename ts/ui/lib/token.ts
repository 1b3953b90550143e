/**
 * The UI token arrives in the URL fragment (`#token=...`), which browsers
 * never send to a server nor put in a Referer. The page trades it once for a
 * cookie and then drops it from the address bar and history.
 */

const TOKEN_RE = /^[A-Za-z0-9_-]{20,128}$/

/** The token in a location hash, or null. */
export function tokenFromHash(hash: string): string | null {
  const h = hash.startsWith('#') ? hash.slice(1) : hash
  const v = new URLSearchParams(h).get('token')
  return v !== null && TOKEN_RE.test(v) ? v : null
}

/** The hash with the token removed ('' when nothing else was in it). */
export function hashWithoutToken(hash: string): string {
  const h = hash.startsWith('#') ? hash.slice(1) : hash
  const p = new URLSearchParams(h)
  p.delete('token')
  const rest = p.toString()
  return rest ? `#${rest}` : ''
}
