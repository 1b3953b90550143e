/**
 * The address resolver's UDP messages, byte for byte as docs/wire.md section 3
 * defines them (the Rust core is the other implementation). Parsing never
 * throws: anything truncated, too long or unknown is `null`, and the caller
 * drops it.
 */
import { isIP } from 'node:net'

export const MSG = {
  bind: 0x10,
  bindAck: 0x11,
  connectRequest: 0x12,
  peerAddress: 0x13,
  error: 0x14,
  punch: 0x15,
  bindChallenge: 0x16,
  bindConfirm: 0x17,
} as const

export const ERROR_CODE = {
  targetNotBound: 1,
  badSignature: 2,
  staleTimestamp: 3,
  rateLimited: 4,
} as const
export type ResolverErrorCode = (typeof ERROR_CODE)[keyof typeof ERROR_CODE]

/** Prepended to the signed bytes so a resolver signature can never be replayed as any other Ed25519 message. */
export const SIGNING_CONTEXT = Buffer.from('skywire-ar-udp/1', 'ascii')
export const MAX_LOCAL_ADDRS = 8
const PK_LEN = 32
const SIG_LEN = 64
export const COOKIE_MAC_LEN = 16

export interface UdpAddr {
  ip: string
  port: number
}

export interface BindMessage {
  type: 'bind'
  pk: string
  timestampMs: number
  local: UdpAddr[]
  sig: Buffer
  /** The bytes the signature covers, without the context prefix. */
  signed: Buffer
}

export interface BindAckMessage {
  type: 'bindAck'
  observed: UdpAddr
  ttlS: number
}

export interface ConnectRequestMessage {
  type: 'connectRequest'
  pk: string
  target: string
  timestampMs: number
  sig: Buffer
  signed: Buffer
}

export interface PeerAddressMessage {
  type: 'peerAddress'
  peer: string
  observed: UdpAddr
  local: UdpAddr[]
}

export interface ErrorMessage {
  type: 'error'
  about: string
  code: number
}

export interface PunchMessage {
  type: 'punch'
  pk: string
}

/**
 * The resolver's answer to a bind from an address it has not verified, and
 * the visor's echo of it (same body, type 0x17): the bind's content, when the
 * resolver issued it, and a MAC only the resolver can make over all that and
 * the address it sent the challenge to. The echo arriving from that address
 * proves the visor receives there; the binding is stored only then.
 */
export interface BindChallengeMessage {
  type: 'bindChallenge' | 'bindConfirm'
  pk: string
  timestampMs: number
  local: UdpAddr[]
  issuedS: number
  mac: Buffer
  /** Everything before the MAC, type byte excluded: what the MAC covers (with the address). */
  body: Buffer
}

export type ResolverMessage =
  | BindChallengeMessage
  | BindMessage
  | BindAckMessage
  | ConnectRequestMessage
  | PeerAddressMessage
  | ErrorMessage
  | PunchMessage

// ---- IPv6 text <-> bytes (Node has no inet_pton) ----

function v4Bytes(ip: string): Buffer {
  return Buffer.from(ip.split('.').map((x) => Number(x)))
}

function v6Bytes(ip: string): Buffer {
  let text = ip
  const out = Buffer.alloc(16)
  // An embedded dotted quad (::ffff:1.2.3.4) is the last 32 bits.
  const dotted = /(\d+\.\d+\.\d+\.\d+)$/.exec(text)
  let tail: Buffer | null = null
  if (dotted?.[1]) {
    tail = v4Bytes(dotted[1])
    text = text.slice(0, -dotted[1].length) + '0:0'
  }
  const [head, rest] = text.split('::') as [string, string | undefined]
  const hs = head === '' ? [] : head.split(':')
  const rs = rest === undefined || rest === '' ? [] : rest.split(':')
  const groups = rest === undefined ? hs : [...hs, ...Array<string>(8 - hs.length - rs.length).fill('0'), ...rs]
  groups.forEach((g, i) => {
    out.writeUInt16BE(parseInt(g, 16), i * 2)
  })
  if (tail) tail.copy(out, 12)
  return out
}

function v6Text(b: Buffer): string {
  const groups: number[] = []
  for (let i = 0; i < 16; i += 2) groups.push(b.readUInt16BE(i))
  // RFC 5952: compress the longest run (>= 2) of zero groups, the first one on a tie.
  let bestStart = -1
  let bestLen = 1
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++
      continue
    }
    let j = i
    while (j < 8 && groups[j] === 0) j++
    if (j - i > bestLen) {
      bestStart = i
      bestLen = j - i
    }
    i = j
  }
  const hex = groups.map((g) => g.toString(16))
  if (bestStart < 0) return hex.join(':')
  return `${hex.slice(0, bestStart).join(':')}::${hex.slice(bestStart + bestLen).join(':')}`
}

/** `::ffff:a.b.c.d` (what a dual-stack socket reports) is really IPv4. */
export function unmapV4(ip: string): string {
  const m = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(ip)
  return m?.[1] ?? ip
}

export function addrLength(a: UdpAddr): number {
  return isIP(unmapV4(a.ip)) === 6 ? 19 : 7
}

export function encodeAddr(a: UdpAddr): Buffer {
  const ip = unmapV4(a.ip)
  const fam = isIP(ip)
  if (fam === 0) throw new TypeError(`not an IP address: ${ip}`)
  if (!Number.isInteger(a.port) || a.port < 0 || a.port > 65535) throw new TypeError(`bad port: ${a.port}`)
  const body = fam === 4 ? v4Bytes(ip) : v6Bytes(ip)
  const out = Buffer.alloc(1 + body.length + 2)
  out[0] = fam
  body.copy(out, 1)
  out.writeUInt16BE(a.port, 1 + body.length)
  return out
}

/** Decode an ADDR at `off`; null when truncated or the family byte is not 4 or 6. */
export function decodeAddr(buf: Buffer, off: number): { addr: UdpAddr; next: number } | null {
  if (off >= buf.length) return null
  const fam = buf[off]
  const len = fam === 4 ? 4 : fam === 6 ? 16 : 0
  if (len === 0 || off + 1 + len + 2 > buf.length) return null
  const raw = buf.subarray(off + 1, off + 1 + len)
  const ip = fam === 4 ? [...raw].join('.') : v6Text(raw)
  return { addr: { ip, port: buf.readUInt16BE(off + 1 + len) }, next: off + 1 + len + 2 }
}

function decodeAddrList(buf: Buffer, off: number): { list: UdpAddr[]; next: number } | null {
  if (off >= buf.length) return null
  const n = buf[off] as number
  if (n > MAX_LOCAL_ADDRS) return null
  let p = off + 1
  const list: UdpAddr[] = []
  for (let i = 0; i < n; i++) {
    const d = decodeAddr(buf, p)
    if (!d) return null
    list.push(d.addr)
    p = d.next
  }
  return { list, next: p }
}

function encodeAddrList(list: UdpAddr[]): Buffer {
  if (list.length > MAX_LOCAL_ADDRS) throw new TypeError(`at most ${MAX_LOCAL_ADDRS} local addresses`)
  return Buffer.concat([Buffer.from([list.length]), ...list.map(encodeAddr)])
}

function u64(n: number): Buffer {
  const b = Buffer.alloc(8)
  b.writeBigUInt64BE(BigInt(n))
  return b
}

function pkBytes(pk: string): Buffer {
  const b = Buffer.from(pk, 'hex')
  if (b.length !== PK_LEN || !/^[0-9a-f]{64}$/.test(pk)) throw new TypeError('pk must be 64 lowercase hex characters')
  return b
}

/**
 * A u64 millisecond timestamp, or null above 2^53: a JS number would round it,
 * so the message would no longer be the bytes it decodes to (and no honest
 * clock is there for another 285 000 years).
 */
function readTimestamp(buf: Buffer, off: number): number | null {
  const ts = buf.readBigUInt64BE(off)
  return ts > BigInt(Number.MAX_SAFE_INTEGER) ? null : Number(ts)
}

/** Parse one datagram; null for anything that is not exactly one well-formed resolver message. */
export function parseMessage(buf: Buffer): ResolverMessage | null {
  try {
    return parseUnchecked(buf)
  } catch {
    return null
  }
}

function parseUnchecked(buf: Buffer): ResolverMessage | null {
  if (buf.length < 1) return null
  const type = buf[0]
  switch (type) {
    case MSG.bind: {
      if (buf.length < 1 + PK_LEN + 8 + 1 + SIG_LEN) return null
      const pk = buf.subarray(1, 33).toString('hex')
      const ts = readTimestamp(buf, 33)
      const l = decodeAddrList(buf, 41)
      if (ts === null || !l || l.next + SIG_LEN !== buf.length) return null
      return {
        type: 'bind',
        pk,
        timestampMs: ts,
        local: l.list,
        signed: Buffer.from(buf.subarray(0, l.next)),
        sig: Buffer.from(buf.subarray(l.next)),
      }
    }
    case MSG.bindAck: {
      const a = decodeAddr(buf, 1)
      if (!a || a.next + 2 !== buf.length) return null
      return { type: 'bindAck', observed: a.addr, ttlS: buf.readUInt16BE(a.next) }
    }
    case MSG.connectRequest: {
      if (buf.length !== 1 + PK_LEN * 2 + 8 + SIG_LEN) return null
      const ts = readTimestamp(buf, 65)
      if (ts === null) return null
      return {
        type: 'connectRequest',
        pk: buf.subarray(1, 33).toString('hex'),
        target: buf.subarray(33, 65).toString('hex'),
        timestampMs: ts,
        signed: Buffer.from(buf.subarray(0, 73)),
        sig: Buffer.from(buf.subarray(73)),
      }
    }
    case MSG.peerAddress: {
      if (buf.length < 1 + PK_LEN) return null
      const o = decodeAddr(buf, 33)
      if (!o) return null
      const l = decodeAddrList(buf, o.next)
      if (!l || l.next !== buf.length) return null
      return { type: 'peerAddress', peer: buf.subarray(1, 33).toString('hex'), observed: o.addr, local: l.list }
    }
    case MSG.error: {
      if (buf.length !== 1 + PK_LEN + 1) return null
      return { type: 'error', about: buf.subarray(1, 33).toString('hex'), code: buf[33] as number }
    }
    case MSG.punch: {
      if (buf.length !== 1 + PK_LEN) return null
      return { type: 'punch', pk: buf.subarray(1, 33).toString('hex') }
    }
    case MSG.bindChallenge:
    case MSG.bindConfirm: {
      if (buf.length < 1 + PK_LEN + 8 + 1 + 4 + COOKIE_MAC_LEN) return null
      const ts = readTimestamp(buf, 33)
      const l = decodeAddrList(buf, 41)
      if (ts === null || !l || l.next + 4 + COOKIE_MAC_LEN !== buf.length) return null
      return {
        type: type === MSG.bindChallenge ? 'bindChallenge' : 'bindConfirm',
        pk: buf.subarray(1, 33).toString('hex'),
        timestampMs: ts,
        local: l.list,
        issuedS: buf.readUInt32BE(l.next),
        mac: Buffer.from(buf.subarray(l.next + 4)),
        body: Buffer.from(buf.subarray(1, l.next + 4)),
      }
    }
    default:
      return null
  }
}

/** The bytes a signature covers: the context, then the message up to the signature. */
export function signingInput(unsigned: Buffer): Buffer {
  return Buffer.concat([SIGNING_CONTEXT, unsigned])
}

export type Signer = (message: Buffer) => Buffer

export function encodeBind(m: { pk: string; timestampMs: number; local: UdpAddr[] }, sign: Signer): Buffer {
  const unsigned = Buffer.concat([Buffer.from([MSG.bind]), pkBytes(m.pk), u64(m.timestampMs), encodeAddrList(m.local)])
  return Buffer.concat([unsigned, sign(signingInput(unsigned))])
}

export function encodeConnectRequest(m: { pk: string; target: string; timestampMs: number }, sign: Signer): Buffer {
  const unsigned = Buffer.concat([Buffer.from([MSG.connectRequest]), pkBytes(m.pk), pkBytes(m.target), u64(m.timestampMs)])
  return Buffer.concat([unsigned, sign(signingInput(unsigned))])
}

export function encodeBindAck(observed: UdpAddr, ttlS: number): Buffer {
  const ttl = Buffer.alloc(2)
  ttl.writeUInt16BE(ttlS)
  return Buffer.concat([Buffer.from([MSG.bindAck]), encodeAddr(observed), ttl])
}

export function encodePeerAddress(peer: string, observed: UdpAddr, local: UdpAddr[]): Buffer {
  return Buffer.concat([Buffer.from([MSG.peerAddress]), pkBytes(peer), encodeAddr(observed), encodeAddrList(local)])
}

export function encodeError(about: string, code: ResolverErrorCode): Buffer {
  return Buffer.concat([Buffer.from([MSG.error]), pkBytes(about), Buffer.from([code])])
}

/** The challenge body (after the type byte, before the MAC): the bind's pk, timestamp and locals, and the issue time. */
export function bindChallengeBody(m: { pk: string; timestampMs: number; local: UdpAddr[]; issuedS: number }): Buffer {
  const issued = Buffer.alloc(4)
  issued.writeUInt32BE(m.issuedS)
  return Buffer.concat([pkBytes(m.pk), u64(m.timestampMs), encodeAddrList(m.local), issued])
}

export function encodeBindChallenge(body: Buffer, mac: Buffer, type: 'bindChallenge' | 'bindConfirm' = 'bindChallenge'): Buffer {
  if (mac.length !== COOKIE_MAC_LEN) throw new TypeError(`the MAC is ${COOKIE_MAC_LEN} bytes`)
  return Buffer.concat([Buffer.from([MSG[type]]), body, mac])
}

export function encodePunch(pk: string): Buffer {
  return Buffer.concat([Buffer.from([MSG.punch]), pkBytes(pk)])
}

/** `ip:port`, IPv6 in brackets: the text form the HTTP API and the store use. */
export function formatAddr(a: UdpAddr): string {
  const ip = unmapV4(a.ip)
  return isIP(ip) === 6 ? `[${ip}]:${a.port}` : `${ip}:${a.port}`
}
