/**
 * Properties of the address resolver's UDP parser (ts/services/ar/udp-wire.ts):
 * any datagram is either null or one well-formed message, never an exception;
 * valid messages round-trip; and what a mutated message decodes to is
 * canonical (it re-encodes to the very bytes received) with fields a sender
 * could have written. FC_NUM_RUNS raises the case count (see fc.ts).
 */
import { isIP } from 'node:net'
import { describe, expect, it } from 'vitest'
import { MAX_LOCAL_ADDRS, parseMessage, type ResolverMessage, type UdpAddr } from '../../../../ts/services/ar/udp-wire.js'
import { datagram, mutate, mutation, reencode, validDatagram } from '../../helpers/ar-arbitraries.js'
import { fc, params, timeoutFor } from '../../helpers/fc.js'

const RUNS = 1000

const canonicalIp = (ip: string): boolean => isIP(ip) === 4 || (isIP(ip) === 6 && ip === ip.toLowerCase())
const goodAddr = (a: UdpAddr): boolean => canonicalIp(a.ip) && Number.isInteger(a.port) && a.port >= 0 && a.port <= 65535
const goodPk = (pk: string): boolean => /^[0-9a-f]{64}$/.test(pk)
// docs/wire.md: any u64 (the resolver refuses those off its clock, not the parser).
const goodTs = (n: bigint): boolean => typeof n === 'bigint' && n >= 0n && n < 2n ** 64n

/** A message for a failure report (JSON has no bigint: timestamps are u64). */
const show = (m: ResolverMessage): string => JSON.stringify(m, (_k, v) => (typeof v === 'bigint' ? v.toString() : v))

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

describe('resolver UDP messages (properties)', () => {
  it(
    'any datagram parses to null or a message whose fields are valid, never an exception',
    () => {
      fc.assert(
        fc.property(datagram, (b) => {
          const m = parseMessage(b)
          if (m !== null) expect(fieldsValid(m), show(m)).toBe(true)
        }),
        params(RUNS),
      )
    },
    timeoutFor(RUNS, 1),
  )

  it(
    'every valid message round-trips: encode, parse, encode gives the same bytes',
    () => {
      fc.assert(
        fc.property(validDatagram, (b) => {
          const m = parseMessage(b)
          expect(m).not.toBeNull()
          expect(fieldsValid(m!)).toBe(true)
          expect(reencode(m!).equals(b)).toBe(true)
        }),
        params(RUNS),
      )
    },
    timeoutFor(RUNS, 1),
  )

  it(
    'a valid message with one mutation is null, or decodes canonically to valid fields',
    () => {
      fc.assert(
        fc.property(validDatagram, mutation, (b, mut) => {
          const mutated = mutate(b, mut)
          const m = parseMessage(mutated)
          if (m === null) return
          expect(fieldsValid(m), show(m)).toBe(true)
          // Canonical: one message has one encoding, so what was signed is what we act on.
          expect(reencode(m).toString('hex')).toBe(mutated.toString('hex'))
        }),
        params(RUNS),
      )
    },
    timeoutFor(RUNS, 1),
  )
})
