/**
 * Verifies a signed write (see ts/discovery/signing.ts for the format) and
 * returns the signer's PK. The signature is checked before the nonce is
 * consumed, so nobody but the key holder can burn a visor's nonces.
 */
import type { FastifyRequest } from 'fastify'
import { PK_PATTERN } from '../../keys.js'
import { native } from '../../native.js'
import { HEADER_NONCE, HEADER_PK, HEADER_SIG, signingMessage } from '../../discovery/signing.js'
import type { Store } from '../store/store.js'
import { unauthorized } from './errors.js'

function header(req: FastifyRequest, name: string): string {
  const v = req.headers[name]
  if (v === undefined) throw unauthorized(`missing ${name.toUpperCase()} header; writes must be signed`)
  if (Array.isArray(v)) throw unauthorized(`${name.toUpperCase()} header given more than once`)
  return v
}

export async function authenticate(req: FastifyRequest, store: Store): Promise<string> {
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
  const body = req.rawBody ?? Buffer.alloc(0)
  const msg = signingMessage(req.method, req.url, body, nonce)
  if (!native.verify(pk, msg, Buffer.from(sig, 'hex'))) {
    throw unauthorized('signature does not verify for SW-PK over method, path, body and nonce')
  }
  if (!(await store.advanceCounter('http', pk, n, 0))) {
    throw unauthorized(`nonce ${nonce} is not greater than the last one accepted for this key (replayed or out-of-order request)`)
  }
  return pk
}

declare module 'fastify' {
  interface FastifyRequest {
    rawBody?: Buffer
  }
}
