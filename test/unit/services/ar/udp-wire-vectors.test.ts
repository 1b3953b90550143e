/**
 * The shared resolver vectors (test/vectors/resolver.json, built from docs/wire.md section 3) against the
 * TypeScript codec: every valid datagram parses to its documented fields and re-encodes to the same bytes,
 * its signature verifies over the documented context, and every invalid one is dropped (parseMessage gives
 * null, the codec's one report for any malformed datagram). The Rust core runs the same file
 * (crates/skywire-core/tests/resolver_vectors.rs).
 */
import { createPublicKey, verify } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { isIP } from 'node:net'
import { describe, expect, it } from 'vitest'
import { MSG, parseMessage, SIGNING_CONTEXT, signingInput, type ResolverMessage, type UdpAddr } from '../../../../ts/services/ar/udp-wire.js'
import { reencode } from '../../helpers/ar-arbitraries.js'

interface Addr {
  family: 4 | 6
  ip: string
  port: number
}
interface Vector {
  name: string
  kind: string
  type: number
  hex: string
  fields: Record<string, unknown>
}
interface Invalid {
  name: string
  hex: string
  error: string
}
const file = JSON.parse(readFileSync(new URL('../../../vectors/resolver.json', import.meta.url), 'utf8')) as {
  signing_context: string
  valid: Vector[]
  invalid: Invalid[]
}

/** One spelling per address (WHATWG URL serialises IPv6 compressed, lowercase, without a dotted tail). */
const canonical = (ip: string) => (isIP(ip) === 6 ? new URL(`http://[${ip}]/`).hostname.slice(1, -1) : ip)
const asAddr = (a: UdpAddr): Addr => ({ family: isIP(a.ip) === 6 ? 6 : 4, ip: canonical(a.ip), port: a.port })
const fromAddr = (a: Addr): Addr => ({ ...a, ip: canonical(a.ip) })

/** The vector file's field names and spellings for a parsed message. */
function fieldsOf(m: ResolverMessage): Record<string, unknown> {
  switch (m.type) {
    case 'bind':
      return { pk: m.pk, timestamp_ms: String(m.timestampMs), local: m.local.map(asAddr), sig: m.sig.toString('hex') }
    case 'bindAck':
      return { observed: asAddr(m.observed), ttl_s: m.ttlS }
    case 'connectRequest':
      return { pk: m.pk, target: m.target, timestamp_ms: String(m.timestampMs), sig: m.sig.toString('hex') }
    case 'peerAddress':
      return { peer: m.peer, observed: asAddr(m.observed), local: m.local.map(asAddr) }
    case 'error':
      return { about: m.about, code: m.code }
    case 'punch':
      return { pk: m.pk }
    case 'bindChallenge':
    case 'bindConfirm':
      return { pk: m.pk, timestamp_ms: String(m.timestampMs), local: m.local.map(asAddr), issued_s: m.issuedS, mac: m.mac.toString('hex') }
  }
}

/** The vector's fields with its addresses spelled canonically. */
function expectedFields(v: Vector): Record<string, unknown> {
  const f = { ...v.fields }
  if (f.observed) f.observed = fromAddr(f.observed as Addr)
  if (f.local) f.local = (f.local as Addr[]).map(fromAddr)
  return f
}

const KIND: Record<string, ResolverMessage['type']> = {
  bind: 'bind',
  bind_ack: 'bindAck',
  connect_request: 'connectRequest',
  peer_address: 'peerAddress',
  error: 'error',
  punch: 'punch',
  bind_challenge: 'bindChallenge',
  bind_confirm: 'bindConfirm',
}

const ed25519 = (pk: string) =>
  createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: Buffer.from(pk, 'hex').toString('base64url') }, format: 'jwk' })

describe('resolver vectors (test/vectors/resolver.json)', () => {
  it('cover every message type, with the documented signing context', () => {
    expect(new Set(file.valid.map((v) => v.type))).toEqual(new Set(Object.values(MSG)))
    expect(Buffer.from(file.signing_context, 'ascii')).toEqual(SIGNING_CONTEXT)
    expect(file.invalid.length).toBeGreaterThan(0)
  })

  it.each(file.valid)('$name: parses to its fields and re-encodes byte for byte', (v) => {
    const wire = Buffer.from(v.hex, 'hex')
    const m = parseMessage(wire)
    expect(m, 'parses').not.toBeNull()
    if (!m) return
    expect(m.type).toBe(KIND[v.kind])
    expect(MSG[m.type]).toBe(v.type)
    expect(fieldsOf(m)).toEqual(expectedFields(v))
    expect(reencode(m).toString('hex')).toBe(v.hex)
    if (m.type === 'bind' || m.type === 'connectRequest') {
      // Signed by pk over the context and every byte before sig.
      expect(m.signed).toEqual(wire.subarray(0, wire.length - 64))
      expect(verify(null, signingInput(m.signed), ed25519(m.pk), m.sig)).toBe(true)
    }
  })

  it.each(file.invalid)('$name: dropped ($error)', (v) => {
    expect(parseMessage(Buffer.from(v.hex, 'hex'))).toBeNull()
  })
})
