/**
 * The hop's control messages (docs/wire.md, "Hop control messages"), sent as
 * control frames on a transport from a client to a visor it chose as a hop.
 * JSON, validated on receipt like the VPN's (ts/vpn/protocol.ts): a peer
 * sending garbage gets no crash and no splice.
 *
 * client → hop: forward { to, circuit }
 *   Splice circuit `circuit` of this transport (a number the client reserved
 *   on its side, reserveCircuit) to a transport to visor `to`.
 * hop → client: forward-status { circuit, status, message? }
 *   ok: the circuit now reaches `to` (the client runs its handshake with `to`
 *   through it, dialVia); anything else: nothing was spliced.
 *
 * Compatibility: a 0.3.0 visor hands every control message to its VPN parts,
 * and its VPN server closes the transport on a message it does not know. So a
 * client sends `forward` only to a visor it chose as a hop (one listed with
 * type=hop, or named by --via), never to any peer it happens to hold.
 */
import { z } from 'zod'
import { PK_PATTERN } from '../contracts/constants.js'

/** The circuit numbers the core hands out: a u32 local to one transport. */
export const MAX_CIRCUIT = 0xffff_ffff

const circuit = z.number().int().min(0).max(MAX_CIRCUIT)

export const forwardSchema = z.strictObject({
  type: z.literal('forward'),
  /** The visor the circuit should reach (the next hop or the exit). */
  to: z.string().regex(PK_PATTERN, 'must be a public key (64 lowercase hex characters)'),
  circuit,
})
export type Forward = z.infer<typeof forwardSchema>

/**
 * ok; forbidden (not on the hop's whitelist, or a request it never serves:
 * to itself, back to the client); unreachable (the hop could not open a
 * transport to `to`); busy (over a limit: clients, circuits per client);
 * disabled (this visor does not forward for others).
 */
export const FORWARD_STATUS = ['ok', 'forbidden', 'unreachable', 'busy', 'disabled'] as const
export type ForwardStatusCode = (typeof FORWARD_STATUS)[number]

export const forwardStatusSchema = z.strictObject({
  type: z.literal('forward-status'),
  circuit,
  status: z.enum(FORWARD_STATUS),
  message: z.string().max(512).optional(),
})
export type ForwardStatus = z.infer<typeof forwardStatusSchema>

export type HopMessage = Forward | ForwardStatus

const anySchema = z.discriminatedUnion('type', [forwardSchema, forwardStatusSchema])

/** The message types of this file: the visor routes a control frame by its type (hopMessageType). */
export const HOP_MESSAGE_TYPES: readonly string[] = ['forward', 'forward-status']

export class HopProtocolError extends Error {
  constructor(message: string) {
    super(message)
    this.name = 'HopProtocolError'
  }
}

export function encodeHop(msg: HopMessage): Buffer {
  return Buffer.from(JSON.stringify(msg), 'utf8')
}

/** Control frames are small; a longer one is not ours and is not parsed (a hop does not JSON.parse megabytes). */
const MAX_FRAME = 4096

/**
 * The type of a control frame when it is one of the hop's messages, else
 * null (a VPN message, garbage): how the visor picks who gets a frame. Does
 * not validate the rest; decodeHop does.
 */
export function hopMessageType(data: Buffer): HopMessage['type'] | null {
  if (data.length > MAX_FRAME) return null
  let raw: unknown
  try {
    raw = JSON.parse(data.toString('utf8'))
  } catch {
    return null
  }
  const t = typeof raw === 'object' && raw !== null && !Array.isArray(raw) ? (raw as { type?: unknown }).type : undefined
  return typeof t === 'string' && HOP_MESSAGE_TYPES.includes(t) ? (t as HopMessage['type']) : null
}

/** Parse a hop control frame; throws HopProtocolError with a one-line reason. */
export function decodeHop(data: Buffer): HopMessage {
  if (data.length > MAX_FRAME) throw new HopProtocolError(`hop control message too long (${data.length} bytes, at most ${MAX_FRAME})`)
  let raw: unknown
  try {
    raw = JSON.parse(data.toString('utf8'))
  } catch {
    throw new HopProtocolError('hop control message is not JSON')
  }
  const r = anySchema.safeParse(raw)
  if (!r.success) {
    const i = r.error.issues[0]
    throw new HopProtocolError(`bad hop control message: ${i ? `${i.path.join('.') || '(root)'}: ${i.message}` : 'invalid'}`)
  }
  return r.data
}
