/** Datagram generators of the resolver's UDP protocol, shared by the parser and the live-socket properties. */
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
  type ResolverErrorCode,
  type ResolverMessage,
  type UdpAddr,
} from '../../../ts/services/ar/udp-wire.js'
import { generateIdentity } from '../../../ts/native/keys.js'
import { fc } from './fc.js'

export const addr: fc.Arbitrary<UdpAddr> = fc.record({
  ip: fc.oneof(fc.ipV4(), fc.ipV6()),
  port: fc.integer({ min: 0, max: 65535 }),
})
const locals = fc.array(addr, { maxLength: MAX_LOCAL_ADDRS })
const ts = fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER })
const sig = fc.uint8Array({ minLength: 64, maxLength: 64 }).map((b) => Buffer.from(b))
// Valid public keys only: the parser refuses other 32-byte strings (as the core does), so random hex would
// rarely make a valid datagram. Mutations still reach invalid keys.
const validPk = fc.constantFrom(...Array.from({ length: 16 }, () => generateIdentity().publicKey))
const mac = fc.uint8Array({ minLength: 16, maxLength: 16 }).map((b) => Buffer.from(b))

/** A valid datagram of every type the resolver and the visors exchange. */
export const validDatagram: fc.Arbitrary<Buffer> = fc.oneof(
  fc.tuple(validPk, ts, locals, sig).map(([pk, timestampMs, local, s]) => encodeBind({ pk, timestampMs, local }, () => s)),
  fc.tuple(addr, fc.integer({ min: 0, max: 65535 })).map(([o, ttl]) => encodeBindAck(o, ttl)),
  fc.tuple(validPk, validPk, ts, sig).map(([pk, target, timestampMs, s]) => encodeConnectRequest({ pk, target, timestampMs }, () => s)),
  fc.tuple(validPk, addr, locals).map(([peer, o, l]) => encodePeerAddress(peer, o, l)),
  fc.tuple(validPk, fc.constantFrom<ResolverErrorCode>(1, 2, 3, 4)).map(([about, code]) => encodeError(about, code)),
  validPk.map(encodePunch),
  fc
    .tuple(validPk, ts, locals, fc.integer({ min: 0, max: 0xffffffff }), mac, fc.constantFrom('bindChallenge', 'bindConfirm' as const))
    .map(([pk, timestampMs, local, issuedS, m, type]) => encodeBindChallenge(bindChallengeBody({ pk, timestampMs, local, issuedS }), m, type)),
)

/** One change to a datagram: a byte replaced, inserted or removed, or the tail cut off. */
export type Mutation = { kind: 'set' | 'insert' | 'delete' | 'truncate'; at: number; byte: number }
export const mutation: fc.Arbitrary<Mutation> = fc.record({
  kind: fc.constantFrom('set', 'insert', 'delete', 'truncate'),
  at: fc.nat(),
  byte: fc.integer({ min: 0, max: 255 }),
})

export function mutate(buf: Buffer, m: Mutation): Buffer {
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
export const datagram = fc.oneof(
  fc.uint8Array({ maxLength: 300 }).map((b) => Buffer.from(b)),
  fc.tuple(fc.constantFrom(...Object.values(MSG)), fc.uint8Array({ maxLength: 300 })).map(([t, rest]) => Buffer.from([t, ...rest])),
)

/** Encodes a parsed message again with the codec's encoders, from its fields only: it must give back the bytes parsed. */
export function reencode(m: ResolverMessage): Buffer {
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
