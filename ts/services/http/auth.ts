/**
 * Verifies a signed write (see ts/discovery/signing.ts for the format) and
 * returns the signer's PK with a `commit` that consumes the nonce.
 *
 * The nonce is a timestamp in microseconds (what the client sends) and must
 * be within the nonce window of our clock; it must also be greater than the
 * last one accepted from the key. Counters are kept for twice the window plus
 * a second: by then any nonce not above the counter is outside the window
 * anyway, so forgetting the counter re-admits no replay, and the store holds
 * one counter per key active in the last few minutes, not one per key ever.
 *
 * Nothing is consumed here: the handler calls `commit()` after the body is
 * validated and the write is authorized, right before it changes the store.
 * A request that fails (bad body, another key's address, a limit) leaves the
 * nonce usable, so a visor's retry of a fixed request is not a replay, and
 * nobody but the key holder can burn a visor's nonces (the signature is
 * checked first).
 */
import type { FastifyRequest } from 'fastify'
import { PK_PATTERN } from '../../native/keys.js'
import { native } from '../../native/loader.js'
import { HEADER_NONCE, HEADER_PK, HEADER_SIG, signingMessage } from '../../discovery/signing.js'
import type { Store } from '../store/store.js'
import { unauthorized } from './errors.js'

/** How far a nonce (a timestamp) may be from our clock. Visor clocks are NTP-synced; 5 minutes is generous. */
export const DEFAULT_NONCE_WINDOW_MS = 300_000

export interface AuthOptions {
  nonceWindowMs: number
  /** Milliseconds since the epoch; injectable for tests. */
  now: () => number
}

export interface Authenticated {
  pk: string
  /** Consume the nonce; throws 401 when another request with this or a later nonce got there first. */
  commit(): Promise<void>
}

function header(req: FastifyRequest, name: string): string {
  const v = req.headers[name]
  if (v === undefined) throw unauthorized(`missing ${name.toUpperCase()} header; writes must be signed`)
  if (Array.isArray(v)) throw unauthorized(`${name.toUpperCase()} header given more than once`)
  return v
}

export function counterTtlMs(nonceWindowMs: number): number {
  return 2 * nonceWindowMs + 1000
}

export async function authenticate(req: FastifyRequest, store: Store, opts: AuthOptions): Promise<Authenticated> {
  const pk = header(req, HEADER_PK)
  const nonce = header(req, HEADER_NONCE)
  const sig = header(req, HEADER_SIG)
  if (!PK_PATTERN.test(pk) || !native.isValidPublicKey(pk)) {
    throw unauthorized('SW-PK must be a public key (64 lowercase hex characters)')
  }
  const n = Number(nonce)
  if (!/^[1-9][0-9]{0,15}$/.test(nonce) || !Number.isSafeInteger(n)) {
    throw unauthorized('SW-Nonce must be a positive integer below 2^53')
  }
  if (!/^[0-9a-f]{128}$/.test(sig)) throw unauthorized('SW-Sig must be 128 lowercase hex characters (an Ed25519 signature)')
  const skewMs = n / 1000 - opts.now()
  if (Math.abs(skewMs) > opts.nonceWindowMs) {
    throw unauthorized(
      `SW-Nonce must be the time in microseconds since the epoch, within ${Math.round(opts.nonceWindowMs / 1000)} s of the server's clock ` +
        `(it is ${Math.round(skewMs / 1000)} s off; check the visor's clock)`,
    )
  }
  const body = req.rawBody ?? Buffer.alloc(0)
  const msg = signingMessage(req.method, req.url, body, nonce)
  if (!native.verify(pk, msg, Buffer.from(sig, 'hex'))) {
    throw unauthorized('signature does not verify for SW-PK over method, path, body and nonce')
  }
  let committed = false
  return {
    pk,
    async commit() {
      if (committed) return
      if (!(await store.advanceCounter('http', pk, n, counterTtlMs(opts.nonceWindowMs)))) {
        throw unauthorized(`nonce ${nonce} is not greater than the last one accepted for this key (replayed or out-of-order request)`)
      }
      committed = true
    },
  }
}

declare module 'fastify' {
  interface FastifyRequest {
    rawBody?: Buffer
  }
}
