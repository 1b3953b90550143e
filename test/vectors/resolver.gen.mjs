#!/usr/bin/env node
/**
 * Writes test/vectors/resolver.json: the address resolver's UDP messages (docs/wire.md section 3) as hex
 * bytes with their decoded fields, and invalid datagrams with the error a codec must report.
 *
 * The bytes are built here field by field from the tables in docs/wire.md, on purpose without either codec
 * (crates/skywire-core/src/wire/resolver.rs, ts/services/ar/udp-wire.ts): the vectors check the codecs
 * against the document, not one codec against the other. Keys come from fixed seeds and Ed25519 is
 * deterministic, so running this again gives the same file. Run: node test/vectors/resolver.gen.mjs
 */
import { createPrivateKey, createPublicKey, sign } from 'node:crypto'
import { writeFileSync } from 'node:fs'

// ---- keys: Ed25519 from 32-byte seeds (all bytes = n), the same seeds the Rust unit tests use ----
function keypair(n) {
  const seed = Buffer.alloc(32, n)
  const der = Buffer.concat([Buffer.from('302e020100300506032b657004220420', 'hex'), seed])
  const priv = createPrivateKey({ key: der, format: 'der', type: 'pkcs8' })
  const pk = Buffer.from(createPublicKey(priv).export({ format: 'jwk' }).x, 'base64url')
  return { pk, sign: (m) => sign(null, m, priv) }
}
const A = keypair(1)
const B = keypair(2)

// ---- the layout pieces of docs/wire.md section 3 ----
const CONTEXT = Buffer.from('skywire-ar-udp/1', 'ascii') // "the ASCII context skywire-ar-udp/1"
const u8 = (n) => Buffer.from([n])
const u16 = (n) => {
  const b = Buffer.alloc(2)
  b.writeUInt16BE(n)
  return b
}
const u32 = (n) => {
  const b = Buffer.alloc(4)
  b.writeUInt32BE(n)
  return b
}
const u64 = (n) => {
  const b = Buffer.alloc(8)
  b.writeBigUInt64BE(BigInt(n))
  return b
}
const hex = (b) => b.toString('hex')

/** `ADDR` = `family u8` (4 or 6), the address (4 or 16 bytes), `port u16`. `raw` is the address bytes in hex. */
function addr(family, raw, port) {
  const ip = Buffer.from(raw, 'hex')
  if (ip.length !== (family === 4 ? 4 : 16)) throw new Error(`bad test address ${raw}`)
  return { bytes: Buffer.concat([u8(family), ip, u16(port)]), family, raw, port }
}
const addrList = (list) => Buffer.concat([u8(list.length), ...list.map((a) => a.bytes)])
const addrField = (a) => ({ family: a.family, ip: ipText(a), port: a.port })
function ipText(a) {
  const b = Buffer.from(a.raw, 'hex')
  if (a.family === 4) return [...b].join('.')
  // Any valid IPv6 text; readers compare addresses, not spellings.
  const groups = []
  for (let i = 0; i < 16; i += 2) groups.push(b.readUInt16BE(i).toString(16))
  return groups.join(':')
}

const V4_LAN = addr(4, 'c0a80107', 5000) // 192.168.1.7:5000
const V6_ULA = addr(6, 'fd000000000000000000000000000001', 65535) // [fd00::1]:65535
const V4_PUB = addr(4, 'cb007109', 40000) // 203.0.113.9:40000
const V6_LO = addr(6, '00000000000000000000000000000001', 80) // [::1]:80
const V6_DOC = addr(6, '20010db8000000000000000000000005', 7) // [2001:db8::5]:7
const V4_MAPPED = addr(6, '00000000000000000000ffffc0000201', 443) // [::ffff:192.0.2.1]:443: family 6 stays 6
const V4_ZERO = addr(4, '00000000', 0) // 0.0.0.0:0, the smallest values

const valid = []
const invalid = []
function ok(name, kind, bytes, fields) {
  valid.push({ name, kind, type: bytes[0], hex: hex(bytes), fields })
  return bytes
}
function bad(name, bytes, error) {
  invalid.push({ name, hex: hex(bytes), error })
}

// 0x10 bind: pk[32] timestamp_ms u64 n u8 ADDR×n sig[64]; sig by pk over CONTEXT ‖ every byte before sig.
function bind(kp, ts, local) {
  const unsigned = Buffer.concat([u8(0x10), kp.pk, u64(ts), addrList(local)])
  const sig = kp.sign(Buffer.concat([CONTEXT, unsigned]))
  return { bytes: Buffer.concat([unsigned, sig]), fields: { pk: hex(kp.pk), timestamp_ms: String(ts), local: local.map(addrField), sig: hex(sig) } }
}
// 0x11 bind ack: observed ADDR, ttl_s u16.
const bindAck = (observed, ttl) => ({
  bytes: Buffer.concat([u8(0x11), observed.bytes, u16(ttl)]),
  fields: { observed: addrField(observed), ttl_s: ttl },
})
// 0x12 connect request: pk[32] target[32] timestamp_ms u64 sig[64].
function connect(kp, target, ts) {
  const unsigned = Buffer.concat([u8(0x12), kp.pk, target, u64(ts)])
  const sig = kp.sign(Buffer.concat([CONTEXT, unsigned]))
  return { bytes: Buffer.concat([unsigned, sig]), fields: { pk: hex(kp.pk), target: hex(target), timestamp_ms: String(ts), sig: hex(sig) } }
}
// 0x13 peer address: peer[32] observed ADDR n u8 ADDR×n.
const peerAddress = (peer, observed, local) => ({
  bytes: Buffer.concat([u8(0x13), peer, observed.bytes, addrList(local)]),
  fields: { peer: hex(peer), observed: addrField(observed), local: local.map(addrField) },
})
// 0x14 error: about[32] code u8 (1..4).
const error = (about, code) => ({ bytes: Buffer.concat([u8(0x14), about, u8(code)]), fields: { about: hex(about), code } })
// 0x15 punch: pk[32].
const punch = (pk) => ({ bytes: Buffer.concat([u8(0x15), pk]), fields: { pk: hex(pk) } })
// 0x16 bind challenge / 0x17 bind confirm: pk[32] timestamp_ms u64 n u8 ADDR×n issued_s u32 mac[16].
const challenge = (type, pk, ts, local, issued, mac) => ({
  bytes: Buffer.concat([u8(type), pk, u64(ts), addrList(local), u32(issued), mac]),
  fields: { pk: hex(pk), timestamp_ms: String(ts), local: local.map(addrField), issued_s: issued, mac: hex(mac) },
})

const TS = 1_700_000_000_123
const MAC = Buffer.from('000102030405060708090a0b0c0d0e0f', 'hex')
const EIGHT = [V4_LAN, V6_ULA, V4_PUB, V6_LO, V6_DOC, V4_MAPPED, V4_ZERO, addr(4, '0a000001', 258)]

// ---- valid messages ----
const m = {}
m.bind0 = ok('bind, no local addresses', 'bind', ...Object.values(bind(A, TS, [])))
m.bind2 = ok('bind, an IPv4 and an IPv6 local address', 'bind', ...Object.values(bind(A, TS, [V4_LAN, V6_ULA])))
m.bind8 = ok('bind, eight local addresses (the most allowed)', 'bind', ...Object.values(bind(B, 1, EIGHT)))
ok('bind, timestamp 2^53 - 1 (the largest a JavaScript number holds exactly)', 'bind', ...Object.values(bind(A, 2 ** 53 - 1, [V4_LAN])))
ok('bind, timestamp 2^53 + 1 (a JavaScript number would round it)', 'bind', ...Object.values(bind(A, 2n ** 53n + 1n, [V4_LAN])))
ok(
  'bind, timestamp 2^64 - 1 (any u64 is well-formed; the resolver refuses it as stale, not the parser)',
  'bind',
  ...Object.values(bind(B, 2n ** 64n - 1n, [])),
)
m.ack4 = ok('bind ack, IPv4 observed, ttl 60', 'bind_ack', ...Object.values(bindAck(V4_PUB, 60)))
ok('bind ack, IPv6 observed, ttl 0x0102', 'bind_ack', ...Object.values(bindAck(V6_LO, 0x0102)))
ok('bind ack, a v4-mapped IPv6 address keeps family 6', 'bind_ack', ...Object.values(bindAck(V4_MAPPED, 65535)))
ok('bind ack, 0.0.0.0 port 0, ttl 0', 'bind_ack', ...Object.values(bindAck(V4_ZERO, 0)))
m.conn = ok('connect request', 'connect_request', ...Object.values(connect(A, B.pk, TS)))
ok('connect request, timestamp 0', 'connect_request', ...Object.values(connect(B, A.pk, 0)))
ok('connect request, timestamp 2^64 - 1', 'connect_request', ...Object.values(connect(A, B.pk, 2n ** 64n - 1n)))
m.peer = ok('peer address, IPv6 observed, two local addresses', 'peer_address', ...Object.values(peerAddress(B.pk, V6_DOC, [V4_LAN, V6_ULA])))
ok('peer address, IPv4 observed, no local addresses', 'peer_address', ...Object.values(peerAddress(A.pk, V4_PUB, [])))
ok('peer address, eight local addresses', 'peer_address', ...Object.values(peerAddress(A.pk, V4_PUB, EIGHT)))
for (const code of [1, 2, 3, 4]) m[`err${code}`] = ok(`error, code ${code}`, 'error', ...Object.values(error(B.pk, code)))
m.punch = ok('punch', 'punch', ...Object.values(punch(A.pk)))
m.chal = ok(
  'bind challenge, one local address',
  'bind_challenge',
  ...Object.values(challenge(0x16, A.pk, TS, [addr(4, '0a000001', 258)], 0x01020304, MAC)),
)
ok(
  'bind challenge, no local addresses, timestamp 2^64 - 1, issued_s 2^32 - 1',
  'bind_challenge',
  ...Object.values(challenge(0x16, B.pk, 2n ** 64n - 1n, [], 0xffffffff, Buffer.alloc(16, 0xff))),
)
m.conf = ok(
  'bind confirm: the challenge bytes after the type byte, unchanged',
  'bind_confirm',
  ...Object.values(challenge(0x17, A.pk, TS, [addr(4, '0a000001', 258)], 0x01020304, MAC)),
)

// ---- invalid datagrams ----
// error kinds: empty | unknown_type | truncated | trailing | bad_address_family | too_many_addresses |
//              unknown_error_code | bad_public_key
bad('empty datagram', Buffer.alloc(0), 'empty')
for (const t of [0x00, 0x01, 0x04, 0x0f, 0x18, 0xff])
  bad(`type 0x${t.toString(16).padStart(2, '0')} is not a resolver message`, Buffer.concat([u8(t), A.pk]), 'unknown_type')
for (const [name, bytes] of Object.entries(m)) {
  const kind = valid.find((v) => v.hex === hex(bytes)).kind
  bad(`${kind} (${name}) one byte short`, bytes.subarray(0, bytes.length - 1), 'truncated')
  bad(`${kind} (${name}) with one trailing byte`, Buffer.concat([bytes, u8(0)]), 'trailing')
}
bad('bind, type byte only', u8(0x10), 'truncated')
bad('bind ack cut inside an IPv6 address', Buffer.concat([u8(0x11), u8(6), Buffer.alloc(4)]), 'truncated')
bad('bind whose local list says 2 but ends after 1', Buffer.concat([u8(0x10), A.pk, u64(TS), u8(2), V4_LAN.bytes]), 'truncated')
bad('bind ack, address family 5', Buffer.concat([u8(0x11), u8(5), Buffer.from('01020304', 'hex'), u16(1), u16(60)]), 'bad_address_family')
bad('bind ack, address family 0', Buffer.concat([u8(0x11), u8(0), Buffer.from('01020304', 'hex'), u16(1), u16(60)]), 'bad_address_family')
bad(
  'peer address, a local address of family 16',
  Buffer.concat([u8(0x13), A.pk, V4_PUB.bytes, u8(1), u8(16), Buffer.alloc(18)]),
  'bad_address_family',
)
const NINE = [...EIGHT, V4_PUB]
bad('bind with nine local addresses', Buffer.concat([u8(0x10), A.pk, u64(TS), addrList(NINE), Buffer.alloc(64)]), 'too_many_addresses')
bad('peer address with nine local addresses', Buffer.concat([u8(0x13), A.pk, V4_PUB.bytes, addrList(NINE)]), 'too_many_addresses')
bad('bind challenge with nine local addresses', Buffer.concat([u8(0x16), A.pk, u64(TS), addrList(NINE), u32(1), MAC]), 'too_many_addresses')
for (const code of [0, 5, 255]) bad(`error, code ${code} (only 1 to 4 are defined)`, Buffer.concat([u8(0x14), B.pk, u8(code)]), 'unknown_error_code')
// "PK is a 32-byte Ed25519 public key": bytes that are no curve point, or a weak point, are not one.
const NOT_A_POINT = Buffer.concat([u8(2), Buffer.alloc(31)]) // y = 2 has no x on Ed25519
const IDENTITY = Buffer.concat([u8(1), Buffer.alloc(31)]) // the neutral point: small order
const ZERO = Buffer.alloc(32) // a small-order point (order 4)
bad('punch from bytes that are no curve point', Buffer.concat([u8(0x15), NOT_A_POINT]), 'bad_public_key')
bad('punch from the identity point (small order)', Buffer.concat([u8(0x15), IDENTITY]), 'bad_public_key')
bad('error about the all-zero key (small order)', Buffer.concat([u8(0x14), ZERO, u8(1)]), 'bad_public_key')
bad('bind from a key that is no curve point', Buffer.concat([u8(0x10), NOT_A_POINT, u64(TS), u8(0), Buffer.alloc(64)]), 'bad_public_key')
bad('connect request to a small-order target', Buffer.concat([u8(0x12), A.pk, ZERO, u64(TS), Buffer.alloc(64)]), 'bad_public_key')
bad('peer address about a key that is no curve point', Buffer.concat([u8(0x13), NOT_A_POINT, V4_PUB.bytes, u8(0)]), 'bad_public_key')
bad('bind challenge for the identity point', Buffer.concat([u8(0x16), IDENTITY, u64(TS), u8(0), u32(1), MAC]), 'bad_public_key')

const out = {
  about: [
    'Test vectors for the address resolver UDP messages, docs/wire.md section 3. Generated by resolver.gen.mjs',
    'from the documented layouts (not from either codec); checked by crates/skywire-core/tests/resolver_vectors.rs',
    'and test/unit/services/ar/udp-wire-vectors.test.ts. Format: see README.md next to this file.',
  ],
  signing_context: CONTEXT.toString('ascii'),
  valid,
  invalid,
}
writeFileSync(new URL('./resolver.json', import.meta.url), `${JSON.stringify(out, null, 1)}\n`)
console.log(`${valid.length} valid, ${invalid.length} invalid vectors`)
