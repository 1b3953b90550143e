/**
 * Properties of the VPN control messages (ts/vpn/protocol.ts): any frame
 * decodes or throws a one-line ProtocolError (nothing else); valid messages
 * round-trip; a valid message with one field changed is refused or decodes to
 * a message the schema accepts whose networks are written the one way the
 * server's pool reads them.
 */
import { describe, expect, it } from 'vitest'
import {
  MAX_USED_NETS,
  MIN_USED_NET_PREFIX,
  PROTOCOL_VERSION,
  ProtocolError,
  STATUS,
  decode,
  encode,
  type ControlMessage,
} from '../../../ts/vpn/protocol.js'
import { fc, isOneLine, params, timeoutFor } from '../helpers/fc.js'

const RUNS = 1000

/** decode() either returns or throws a one-line ProtocolError. */
function decodeOrTypedError(b: Buffer): ControlMessage | null {
  try {
    return decode(b)
  } catch (err) {
    expect(err).toBeInstanceOf(ProtocolError)
    expect(isOneLine((err as Error).message), (err as Error).message).toBe(true)
    expect((err as Error).message.length).toBeLessThan(600)
    return null
  }
}

const v4Net = fc.tuple(fc.ipV4(), fc.integer({ min: MIN_USED_NET_PREFIX, max: 32 })).map(([a, p]) => `${a}/${p}`)
const v6Net = fc.tuple(fc.ipV6(), fc.integer({ min: MIN_USED_NET_PREFIX, max: 128 })).map(([a, p]) => `${a}/${p}`)

const hello = fc.record(
  {
    type: fc.constant('hello' as const),
    v: fc.integer({ min: 1, max: 1000 }),
    passcode: fc.string({ maxLength: 256 }),
    usedNets: fc.array(fc.oneof(v4Net, v6Net), { maxLength: MAX_USED_NETS }),
  },
  { requiredKeys: ['type', 'v', 'usedNets'] },
)
const status = fc.record(
  {
    type: fc.constant('status' as const),
    status: fc.constantFrom(...STATUS),
    message: fc.string({ maxLength: 512 }),
    address: fc.ipV4(),
    gateway: fc.ipV4(),
    prefix: fc.integer({ min: 1, max: 32 }),
    mtu: fc.integer({ min: 576, max: 65535 }),
    dns: fc.array(fc.oneof(fc.ipV4(), fc.ipV6()), { maxLength: 4 }),
    retryAfterMs: fc.integer({ min: 0, max: 60_000 }),
  },
  { requiredKeys: ['type', 'status'] },
)
const bye = fc.constant({ type: 'bye' as const })
const valid: fc.Arbitrary<ControlMessage> = fc.oneof(hello, status, bye)

/** Texts near a network's syntax: what a hostile client might try where a CIDR belongs. */
const cidrish = fc
  .tuple(
    fc.oneof(fc.ipV4(), fc.ipV6(), fc.string({ maxLength: 12 })),
    fc.constantFrom('/', '', '//'),
    fc.oneof(
      fc.integer({ min: -1, max: 200 }).map(String),
      fc.constantFrom(' 8', '8 ', '0x10', '1e1', '+16', '016', '8/9', '24.0', '', 'Infinity', '\n24', '٢٤'),
    ),
  )
  .map(([a, slash, p]) => `${a}${slash}${p}`)

/** A JSON value of any shape, to put where a field was. */
const anyJson = fc.oneof(fc.jsonValue({ maxDepth: 2 }), cidrish, fc.array(cidrish, { maxLength: 3 }))

const KEYS = ['type', 'v', 'passcode', 'usedNets', 'status', 'message', 'address', 'gateway', 'prefix', 'mtu', 'dns', 'retryAfterMs']

/** One change: a key set to another value, removed or added; or one entry of a list (usedNets, dns) replaced. */
type Edit = { kind: 'key'; key: string; value: unknown; remove: boolean } | { kind: 'entry'; index: number; value: string }
const edit: fc.Arbitrary<Edit> = fc.oneof(
  fc.record({
    kind: fc.constant('key' as const),
    key: fc.oneof(fc.constantFrom(...KEYS), fc.string({ maxLength: 8 })),
    value: anyJson,
    remove: fc.boolean(),
  }),
  fc.record({ kind: fc.constant('entry' as const), index: fc.nat(), value: fc.oneof(cidrish, fc.string({ maxLength: 20 })) }),
)

function applyEdit(m: ControlMessage, e: Edit): Record<string, unknown> {
  const obj: Record<string, unknown> = { ...m }
  if (e.kind === 'key') {
    if (e.remove) delete obj[e.key]
    else obj[e.key] = e.value
    return obj
  }
  const listKey = m.type === 'hello' ? 'usedNets' : 'dns'
  const list = [...((obj[listKey] as string[] | undefined) ?? [])]
  list[list.length === 0 ? 0 : e.index % list.length] = e.value
  obj[listKey] = list
  return obj
}

/** Decimal, no sign, no leading zero: the one form both the schema's and the pool's readers agree on. */
const CANONICAL_NET = /^[^/\s]+\/(0|[1-9][0-9]{0,2})$/

describe('VPN control messages (properties)', () => {
  it(
    'arbitrary bytes decode or throw a one-line ProtocolError',
    () => {
      fc.assert(
        fc.property(fc.uint8Array({ maxLength: 400 }), (b) => {
          decodeOrTypedError(Buffer.from(b))
        }),
        params(RUNS),
      )
    },
    timeoutFor(RUNS, 2),
  )

  it(
    'arbitrary JSON decodes or throws a one-line ProtocolError',
    () => {
      fc.assert(
        fc.property(fc.oneof(fc.jsonValue(), fc.record({ type: fc.constantFrom('hello', 'status', 'bye', 'x') }, { requiredKeys: [] })), (j) => {
          decodeOrTypedError(Buffer.from(JSON.stringify(j) ?? 'null'))
        }),
        params(RUNS),
      )
    },
    timeoutFor(RUNS, 2),
  )

  it(
    'every valid message round-trips',
    () => {
      fc.assert(
        fc.property(valid, (m) => {
          expect(decode(encode(m))).toEqual(m)
        }),
        params(RUNS),
      )
    },
    timeoutFor(RUNS, 2),
  )

  it(
    'a valid message with one field changed is refused, or decodes to a message the schema accepts',
    () => {
      fc.assert(
        fc.property(valid, edit, (m, e) => {
          const obj = applyEdit(m, e)
          const got = decodeOrTypedError(Buffer.from(JSON.stringify(obj)))
          if (got === null) return
          // Stable: what we act on decodes again to itself.
          expect(decode(encode(got))).toEqual(got)
          if (got.type === 'hello') {
            expect(got.v).toBeGreaterThanOrEqual(1)
            expect(got.usedNets.length).toBeLessThanOrEqual(MAX_USED_NETS)
            for (const n of got.usedNets) {
              expect(n, n).toMatch(CANONICAL_NET)
              expect(Number(n.split('/')[1])).toBeGreaterThanOrEqual(MIN_USED_NET_PREFIX)
            }
          }
        }),
        params(RUNS),
      )
    },
    timeoutFor(RUNS, 2),
  )

  it('the hello a client sends is accepted', () => {
    expect(decode(encode({ type: 'hello', v: PROTOCOL_VERSION, usedNets: ['192.168.1.0/24', 'fd00::/64'] }))).toMatchObject({ type: 'hello' })
  })
})
