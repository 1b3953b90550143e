/**
 * Properties of the address resolver's UDP parser (ts/services/ar/udp-wire.ts):
 * any datagram is either null or one well-formed message, never an exception;
 * valid messages round-trip; and what a mutated message decodes to is
 * canonical (it re-encodes to the very bytes received) with fields a sender
 * could have written. FC_NUM_RUNS raises the case count (see fc.ts).
 */
import { isIP } from 'node:net'
import { describe, expect, it } from 'vitest'
import {
  MAX_LOCAL_ADDRS,
  MSG,
  bindChallengeBody,
  encodeBind,
  encodeBindAck,
  encodeBindChallenge,
  encodeConnectRequest,
  encodeError,
  encodePeerAddress,
  encodePunch,
  parseMessage,
  type ResolverErrorCode,
  type ResolverMessage,
  type UdpAddr,
} from '../../../ts/services/ar/udp-wire.js'
import { fc, hex64, params, timeoutFor } from './fc.js'

const RUNS = 1000

const addr: fc.Arbitrary<UdpAddr> = fc.record({
  ip: fc.oneof(fc.ipV4(), fc.ipV6()),
  port: fc.integer({ min: 0, max: 65535 }),
})
const locals = fc.array(addr, { maxLength: MAX_LOCAL_ADDRS })
const ts = fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER })
const sig = fc.uint8Array({ minLength: 64, maxLength: 64 }).map((b) => Buffer.from(b))
const mac = fc.uint8Array({ minLength: 16, maxLength: 16 }).map((b) => Buffer.from(b))

/** A valid datagram of every type the resolver and the visors exchange. */
const validDatagram: fc.Arbitrary<Buffer> = fc.oneof(
  fc.tuple(hex64, ts, locals, sig).map(([pk, timestampMs, local, s]) => encodeBind({ pk, timestampMs, local }, () => s)),
  fc.tuple(addr, fc.integer({ min: 0, max: 65535 })).map(([o, ttl]) => encodeBindAck(o, ttl)),
  fc.tuple(hex64, hex64, ts, sig).map(([pk, target, timestampMs, s]) => encodeConnectRequest({ pk, target, timestampMs }, () => s)),
  fc.tuple(hex64, addr, locals).map(([peer, o, l]) => encodePeerAddress(peer, o, l)),
  fc.tuple(hex64, fc.constantFrom<ResolverErrorCode>(1, 2, 3, 4)).map(([about, code]) => encodeError(about, code)),
  hex64.map(encodePunch),
  fc
    .tuple(hex64, ts, locals, fc.integer({ min: 0, max: 0xffffffff }), mac, fc.constantFrom('bindChallenge', 'bindConfirm' as const))
    .map(([pk, timestampMs, local, issuedS, m, type]) => encodeBindChallenge(bindChallengeBody({ pk, timestampMs, local, issuedS }), m, type)),
)

const canonicalIp = (ip: string): boolean => isIP(ip) === 4 || (isIP(ip) === 6 && ip === ip.toLowerCase())
const goodAddr = (a: UdpAddr): boolean => canonicalIp(a.ip) && Number.isInteger(a.port) && a.port >= 0 && a.port <= 65535
const goodPk = (pk: string): boolean => /^[0-9a-f]{64}$/.test(pk)
const goodTs = (n: number): boolean => Number.isSafeInteger(n) && n >= 0

/** Fields a sender could have put there (what the resolver and the visor then act on). */
function fieldsValid(m: ResolverMessage): boolean {
  switch (m.type) {
    case 'bind':
      return goodPk(m.pk) && goodTs(m.timestampMs) && m.local.length <= MAX_LOCAL_ADDRS && m.local.every(goodAddr) && m.sig.length === 64
    case 'bindAck':
      return goodAddr(m.observed) && m.ttlS >= 0 && m.ttlS <= 65535
    case 'connectRequest':
      return goodPk(m.pk) && goodPk(m.target) && goodTs(m.timestampMs) && m.sig.length === 64
    case 'peerAddress':
      return goodPk(m.peer) && goodAddr(m.observed) && m.local.length <= MAX_LOCAL_ADDRS && m.local.every(goodAddr)
    case 'error':
      return goodPk(m.about) && m.code >= 0 && m.code <= 255
    case 'punch':
      return goodPk(m.pk)
    case 'bindChallenge':
    case 'bindConfirm':
      return goodPk(m.pk) && goodTs(m.timestampMs) && m.local.every(goodAddr) && m.mac.length === 16 && m.issuedS >= 0
  }
}

/** The bytes `m` is on the wire; a decoded message must come back to exactly what was received. */
function reencode(m: ResolverMessage): Buffer {
  switch (m.type) {
    case 'bind':
      return encodeBind(m, () => m.sig)
    case 'bindAck':
      return encodeBindAck(m.observed, m.ttlS)
    case 'connectRequest':
      return encodeConnectRequest(m, () => m.sig)
    case 'peerAddress':
      return encodePeerAddress(m.peer, m.observed, m.local)
    case 'error':
      return encodeError(m.about, m.code as ResolverErrorCode)
    case 'punch':
      return encodePunch(m.pk)
    case 'bindChallenge':
    case 'bindConfirm':
      return encodeBindChallenge(bindChallengeBody(m), m.mac, m.type)
  }
}

/** One change to a datagram: a byte replaced, inserted or removed, or the tail cut off. */
type Mutation = { kind: 'set' | 'insert' | 'delete' | 'truncate'; at: number; byte: number }
const mutation: fc.Arbitrary<Mutation> = fc.record({
  kind: fc.constantFrom('set', 'insert', 'delete', 'truncate'),
  at: fc.nat(),
  byte: fc.integer({ min: 0, max: 255 }),
})

function mutate(buf: Buffer, m: Mutation): Buffer {
  const at = m.at % (buf.length + 1)
  const b = Buffer.from(buf)
  switch (m.kind) {
    case 'set':
      if (at < b.length) b[at] = at === 0 ? m.byte : b[at]! ^ (m.byte || 1)
      return b
    case 'insert':
      return Buffer.concat([b.subarray(0, at), Buffer.from([m.byte]), b.subarray(at)])
    case 'delete':
      return Buffer.concat([b.subarray(0, at), b.subarray(at + 1)])
    case 'truncate':
      return b.subarray(0, at)
  }
}

/** What the resolver's socket hands the parser: any bytes, often starting with a message type. */
const datagram = fc.oneof(
  fc.uint8Array({ maxLength: 300 }).map((b) => Buffer.from(b)),
  fc
    .tuple(fc.constantFrom(...Object.values(MSG)), fc.uint8Array({ maxLength: 300 }))
    .map(([t, rest]) => Buffer.from([t, ...rest])),
)

describe('resolver UDP messages (properties)', () => {
  it('any datagram parses to null or a message whose fields are valid, never an exception', () => {
    fc.assert(
      fc.property(datagram, (b) => {
        const m = parseMessage(b)
        if (m !== null) expect(fieldsValid(m), JSON.stringify(m)).toBe(true)
      }),
      params(RUNS),
    )
  }, timeoutFor(RUNS, 1))

  it('every valid message round-trips: encode, parse, encode gives the same bytes', () => {
    fc.assert(
      fc.property(validDatagram, (b) => {
        const m = parseMessage(b)
        expect(m).not.toBeNull()
        expect(fieldsValid(m!)).toBe(true)
        expect(reencode(m!).equals(b)).toBe(true)
      }),
      params(RUNS),
    )
  }, timeoutFor(RUNS, 1))

  it('a valid message with one mutation is null, or decodes canonically to valid fields', () => {
    fc.assert(
      fc.property(validDatagram, mutation, (b, mut) => {
        const mutated = mutate(b, mut)
        const m = parseMessage(mutated)
        if (m === null) return
        expect(fieldsValid(m), JSON.stringify(m)).toBe(true)
        // Canonical: one message has one encoding, so what was signed is what we act on.
        expect(reencode(m).toString('hex')).toBe(mutated.toString('hex'))
      }),
      params(RUNS),
    )
  }, timeoutFor(RUNS, 1))
})
