/**
 * How a write to the discovery services is signed. One definition used by
 * the server (to verify) and the client (to sign), so the two cannot drift.
 *
 *   METHOD \n PATH-WITH-QUERY \n hex(sha256(body)) \n NONCE
 *
 * The nonce is a decimal integer that must increase per PK; the client uses
 * microseconds since the epoch, which also survives a visor restart.
 */
import { createHash } from 'node:crypto'

export const HEADER_PK = 'sw-pk'
export const HEADER_NONCE = 'sw-nonce'
export const HEADER_SIG = 'sw-sig'

export function signingMessage(method: string, pathWithQuery: string, body: Buffer, nonce: string): Buffer {
  const digest = createHash('sha256').update(body).digest('hex')
  return Buffer.from(`${method.toUpperCase()}\n${pathWithQuery}\n${digest}\n${nonce}`, 'utf8')
}

/** Nonces that increase even when called twice in one microsecond or after the clock steps back. */
export class NonceSource {
  private last = 0

  next(): string {
    this.last = Math.max(this.last + 1, Date.now() * 1000)
    return String(this.last)
  }
}
