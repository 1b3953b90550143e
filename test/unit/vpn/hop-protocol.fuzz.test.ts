/**
 * Properties of the hop's control messages (ts/vpn/hop-protocol.ts): any
 * frame decodes or throws a one-line HopProtocolError (nothing else), and the
 * visor's router (hopMessageType) never throws and names a type only for
 * frames whose type is one of the hop's; valid messages round-trip; a valid
 * message with one field changed is refused or still valid.
 */
import { describe, expect, it } from 'vitest'
import {
  FORWARD_STATUS,
  HopProtocolError,
  MAX_CIRCUIT,
  decodeHop,
  encodeHop,
  forwardSchema,
  forwardStatusSchema,
  hopMessageType,
  type HopMessage,
} from '../../../ts/vpn/hop-protocol.js'
import { fc, hex64, isOneLine, params, timeoutFor } from '../helpers/fc.js'

const RUNS = 1000

function decodeOrTypedError(b: Buffer): HopMessage | null {
  try {
    return decodeHop(b)
  } catch (err) {
    expect(err).toBeInstanceOf(HopProtocolError)
    expect(isOneLine((err as Error).message), (err as Error).message).toBe(true)
    expect((err as Error).message.length).toBeLessThan(600)
    return null
  }
}

const circuit = fc.integer({ min: 0, max: MAX_CIRCUIT })
const forward = fc.record({ type: fc.constant('forward' as const), to: hex64, circuit })
const forwardStatus = fc.record(
  { type: fc.constant('forward-status' as const), circuit, status: fc.constantFrom(...FORWARD_STATUS), message: fc.string({ maxLength: 512 }) },
  { requiredKeys: ['type', 'circuit', 'status'] },
)
const valid: fc.Arbitrary<HopMessage> = fc.oneof(forward, forwardStatus)
const anyJson = fc.oneof(fc.jsonValue({ maxDepth: 2 }), fc.integer(), fc.double(), fc.string({ maxLength: 80 }))

describe('hop control messages', () => {
  it(
    'random bytes: decoded or refused in one line; the router never throws',
    () => {
      fc.assert(
        fc.property(fc.uint8Array({ maxLength: 300 }), (bytes) => {
          const b = Buffer.from(bytes)
          decodeOrTypedError(b)
          expect(() => hopMessageType(b)).not.toThrow()
        }),
        params(RUNS),
      )
    },
    timeoutFor(RUNS, 1),
  )

  it(
    'any JSON: the router names a type exactly when the type is a hop message type',
    () => {
      fc.assert(
        fc.property(
          fc.oneof(anyJson, fc.record({ type: fc.oneof(fc.constantFrom('forward', 'forward-status', 'hello', 'status'), anyJson) })),
          (v) => {
            const b = Buffer.from(JSON.stringify(v) ?? 'null')
            const t = hopMessageType(b)
            const type = typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as { type?: unknown }).type : undefined
            expect(t).toBe(type === 'forward' || type === 'forward-status' ? type : null)
            const m = decodeOrTypedError(b)
            if (m !== null) expect(m.type).toBe(t)
          },
        ),
        params(RUNS),
      )
    },
    timeoutFor(RUNS, 1),
  )

  it(
    'valid messages round-trip',
    () => {
      fc.assert(
        fc.property(valid, (m) => {
          expect(decodeHop(encodeHop(m))).toEqual(m)
        }),
        params(RUNS),
      )
    },
    timeoutFor(RUNS, 1),
  )

  it(
    'one field changed: refused, or still a message the schema accepts',
    () => {
      fc.assert(
        fc.property(
          valid,
          fc.oneof(fc.constantFrom('type', 'to', 'circuit', 'status', 'message'), fc.string({ maxLength: 8 })),
          anyJson,
          (m, key, value) => {
            const obj: Record<string, unknown> = { ...m, [key]: value }
            const got = decodeOrTypedError(Buffer.from(JSON.stringify(obj)))
            if (got === null) return
            const schema = got.type === 'forward' ? forwardSchema : forwardStatusSchema
            expect(schema.safeParse(got).success).toBe(true)
            if (got.type === 'forward') {
              expect(got.to).toMatch(/^[0-9a-f]{64}$/)
              expect(Number.isInteger(got.circuit) && got.circuit >= 0 && got.circuit <= MAX_CIRCUIT).toBe(true)
            }
          },
        ),
        params(RUNS),
      )
    },
    timeoutFor(RUNS, 1),
  )

  it('refuses frames over 4 KiB without parsing them', () => {
    const big = Buffer.from(JSON.stringify({ type: 'forward', to: 'a'.repeat(64), circuit: 1, pad: 'x'.repeat(5000) }))
    expect(hopMessageType(big)).toBeNull()
    expect(() => decodeHop(big)).toThrow(/too long/)
  })
})
