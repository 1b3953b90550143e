/**
 * The VPN's control messages, sent as control frames over an established
 * transport (never as data). JSON, validated on receipt: a peer sending garbage
 * gets an error status, never a crash.
 *
 * client → server: hello { v, passcode?, usedNets }
 * server → client: status { status, message?, address?, gateway?, prefix?, mtu?, dns?, address6?, gateway6?, prefix6? }
 * client → server: bye {} (the VPN stops; the transport may stay up)
 * client → server: exit-info {} (only to a server whose ok status listed the 'exit-info' feature)
 * server → client: exit { ip?, country? } (where the server's traffic leaves to the internet; a claim)
 *
 * Compatibility: a 0.2.0 server refuses (and closes the transport on) any
 * message it does not know, so a client sends exit-info only to a server that
 * listed it in `features`; a 0.2.0 client drops the fields it does not know
 * (`features`) and never asks, so it never gets an exit message.
 *
 * IPv6 (0.4.0): a server that carries IPv6 adds address6, gateway6 and
 * prefix6 to its ok status (all three or none); one that does not (no global
 * IPv6 on its uplink and no routed pool6) leaves them out. Additive both ways:
 * a 0.3.0 client drops the fields it does not know (zod strips them) and keeps
 * blocking IPv6 as before, its session merely holding an unused v6 /128 on the
 * server; a 0.3.0 server never sends them, so a new client blocks IPv6 as
 * before. The hello is unchanged.
 */
import { isIP } from 'node:net'
import { z } from 'zod'

export const PROTOCOL_VERSION = 1

/**
 * ADDR/PREFIX with a plain decimal prefix. Number() alone also took ' 8',
 * '0x10', '1e1' and '8/9' (split kept only the middle part), so what the
 * server logged was not what it read; there is one way to write a network.
 */
const CIDR = /^([^/]+)\/(0|[1-9][0-9]{0,2})$/
const cidr = z
  .string()
  .max(64)
  .refine((s) => {
    const m = CIDR.exec(s)
    const fam = isIP(m?.[1] ?? '')
    const n = Number(m?.[2])
    return fam !== 0 && n <= (fam === 4 ? 32 : 128)
  }, 'must be ADDR/PREFIX')

const ip = z
  .string()
  .max(64)
  .refine((s) => isIP(s) !== 0, 'must be an IP address')

/**
 * At most this many networks in a hello. A host's interface subnets (LAN,
 * docker bridges, other VPNs) are a handful; the server's allocation cost
 * grows with this count (a sort and a merge), so a peer must not choose it.
 */
export const MAX_USED_NETS = 64

/**
 * No usedNet broader than this. An interface subnet is never wider than a /8;
 * anything broader (0.0.0.0/0, two /1s) only exists to cover the whole pool.
 */
export const MIN_USED_NET_PREFIX = 8

const usedNet = cidr.refine((s) => Number(s.split('/')[1]) >= MIN_USED_NET_PREFIX, `must be /${MIN_USED_NET_PREFIX} or narrower`)

export const helloSchema = z.object({
  type: z.literal('hello'),
  v: z.number().int().min(1),
  passcode: z.string().max(256).optional(),
  /** Networks the client already uses (its LAN); the server never hands out an address inside them. */
  usedNets: z.array(usedNet).max(MAX_USED_NETS).default([]),
})
export type Hello = z.infer<typeof helloSchema>

export const STATUS = ['ok', 'forbidden', 'no-free-address', 'version-mismatch', 'error'] as const
export type StatusCode = (typeof STATUS)[number]

export const statusSchema = z.object({
  type: z.literal('status'),
  status: z.enum(STATUS),
  message: z.string().max(512).optional(),
  address: ip.optional(),
  gateway: ip.optional(),
  prefix: z.number().int().min(1).max(32).optional(),
  mtu: z.number().int().min(576).max(65535).optional(),
  dns: z.array(ip).max(4).optional(),
  /**
   * With a refusal: the transport is being closed, and a new transport dialed
   * after this many ms may try again (the hello was refused only because this
   * transport already had one).
   */
  retryAfterMs: z.number().int().min(0).max(60_000).optional(),
  /** With ok, from a server that carries IPv6 (all three or none): the client's v6 address, the server's, the pool's prefix length. */
  address6: ip.optional(),
  gateway6: ip.optional(),
  prefix6: z.number().int().min(1).max(128).optional(),
  /** With ok: the messages this server understands beyond hello and bye (FEATURE_EXIT_INFO); absent from 0.2.0 servers. */
  features: z.array(z.string().max(32)).max(16).optional(),
})
export type Status = z.infer<typeof statusSchema>

export const byeSchema = z.object({ type: z.literal('bye') })
export type Bye = z.infer<typeof byeSchema>

/** The feature a server lists in its ok status when it answers exit-info. */
export const FEATURE_EXIT_INFO = 'exit-info'

export const exitInfoSchema = z.object({ type: z.literal('exit-info') })
export type ExitInfoRequest = z.infer<typeof exitInfoSchema>

/** ISO 3166-1 alpha-2, upper case (what the services hold for a VPN entry). */
const country = z.string().regex(/^[A-Z]{2}$/, 'must be a two-letter country code')

/**
 * The exit's public address (what the server's node was observed as at the
 * address resolver) and country (what the services hold for its VPN entry).
 * Either may be absent when the server does not know it. A claim of the
 * server's: the client shows it as such.
 */
export const exitSchema = z.object({ type: z.literal('exit'), ip: ip.optional(), country: country.optional() })
export type Exit = z.infer<typeof exitSchema>

export type ControlMessage = Hello | Status | Bye | ExitInfoRequest | Exit

const anySchema = z.discriminatedUnion('type', [helloSchema, statusSchema, byeSchema, exitInfoSchema, exitSchema])

export class ProtocolError extends Error {
  constructor(message: string) {
    super(message)
    this.name = 'ProtocolError'
  }
}

export function encode(msg: ControlMessage): Buffer {
  return Buffer.from(JSON.stringify(msg), 'utf8')
}

/** Parse a control frame; throws ProtocolError with a one-line reason. */
export function decode(data: Buffer): ControlMessage {
  let raw: unknown
  try {
    raw = JSON.parse(data.toString('utf8'))
  } catch {
    throw new ProtocolError('control message is not JSON')
  }
  const r = anySchema.safeParse(raw)
  if (!r.success) {
    const i = r.error.issues[0]
    throw new ProtocolError(`bad control message: ${i ? `${i.path.join('.') || '(root)'}: ${i.message}` : 'invalid'}`)
  }
  return r.data
}
