// The addon, loaded on first use: --chart and --report never need it.
import { createRequire } from 'node:module'

const require = createRequire(import.meta.url)

/** A fresh X25519 key pair from our addon ({ publicKey, secretKey }). */
export function generateKeypair() {
  return require('../../native/index.js').generateKeypair()
}
