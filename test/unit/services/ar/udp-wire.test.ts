/** The resolver's datagrams, checked byte by byte against docs/wire.md section 3. */
import { describe, expect, it } from 'vitest'
import {
  encodeAddr,
  encodeBind,
  encodeBindAck,
  encodeConnectRequest,
  encodeError,
  encodePeerAddress,
  encodePunch,
  decodeAddr,
  parseMessage,
  signingInput,
} from '../../../../ts/services/ar/udp-wire.js'
import { native } from '../../../../ts/native/loader.js'
import { generateIdentity } from '../../../../ts/native/keys.js'

// Real keys: the parser refuses 32 bytes that are no valid Ed25519 public key, as the core does.
const PK_A = generateIdentity().publicKey
const PK_B = generateIdentity().publicKey
const fakeSig = () => Buffer.alloc(64, 0xee)
const hex = (b: Buffer) => b.toString('hex')

describe('ADDR', () => {
  it('IPv4 is family 4, four bytes, big-endian port', () => {
    expect(hex(encodeAddr({ ip: '192.0.2.1', port: 7778 }))).toBe('04' + 'c0000201' + '1e62')
  })

  it('IPv6 is family 6, sixteen bytes, port', () => {
    expect(hex(encodeAddr({ ip: '2001:db8::1', port: 443 }))).toBe('06' + '20010db8000000000000000000000001' + '01bb')
    expect(hex(encodeAddr({ ip: '::', port: 1 }))).toBe('06' + '00'.repeat(16) + '0001')
    expect(hex(encodeAddr({ ip: 'fe80::1:2', port: 1 }))).toBe('06' + 'fe800000000000000000000000010002' + '0001')
  })

  it('a v4-mapped IPv6 address (dual-stack sockets) is sent as IPv4', () => {
    expect(hex(encodeAddr({ ip: '::ffff:198.51.100.7', port: 80 }))).toBe('04' + 'c6336407' + '0050')
  })

  it('round-trips and prints IPv6 in RFC 5952 form', () => {
    for (const ip of ['2001:db8::1', '::1', '::', 'fe80::1:0:0:2', '2001:db8:0:1:1:1:1:1', '1::', '203.0.113.9']) {
      const d = decodeAddr(encodeAddr({ ip, port: 9 }), 0)
      expect(d?.addr).toEqual({ ip, port: 9 })
    }
  })

  it('rejects a bad family byte or truncation', () => {
    expect(decodeAddr(Buffer.from('05c00002011e62', 'hex'), 0)).toBeNull()
    expect(decodeAddr(Buffer.from('04c0000201', 'hex'), 0)).toBeNull()
  })
})

describe('messages', () => {
  it('bind: 0x10 pk ts u64 n ADDR×n sig, signed over the context and everything before sig', () => {
    let signed: Buffer | null = null
    const msg = encodeBind({ pk: PK_A, timestampMs: 0x0102030405, local: [{ ip: '10.0.0.2', port: 7778 }] }, (m) => {
      signed = m
      return fakeSig()
    })
    const expected = '10' + PK_A + '0000000102030405' + '01' + '040a000002' + '1e62' + 'ee'.repeat(64)
    expect(hex(msg)).toBe(expected)
    expect(signed!.toString('latin1')).toBe('skywire-ar-udp/1' + msg.subarray(0, msg.length - 64).toString('latin1'))
    const p = parseMessage(msg)
    expect(p).toMatchObject({ type: 'bind', pk: PK_A, timestampMs: 0x0102030405n, local: [{ ip: '10.0.0.2', port: 7778 }] })
    expect(hex((p as { sig: Buffer }).sig)).toBe('ee'.repeat(64))
  })

  it('bind with no local addresses', () => {
    const msg = encodeBind({ pk: PK_A, timestampMs: 1, local: [] }, fakeSig)
    expect(msg.length).toBe(1 + 32 + 8 + 1 + 64)
    expect(msg[41]).toBe(0)
  })

  it('a real signature verifies with the PK', () => {
    const id = generateIdentity()
    const msg = encodeBind({ pk: id.publicKey, timestampMs: Date.now(), local: [] }, (m) => native.sign(id.secretKey, m))
    const p = parseMessage(msg)
    if (p?.type !== 'bind') throw new Error('not a bind')
    expect(native.verify(id.publicKey, signingInput(p.signed), p.sig)).toBe(true)
  })

  it('bind ack: 0x11 ADDR ttl u16', () => {
    const msg = encodeBindAck({ ip: '203.0.113.5', port: 40000 }, 60)
    expect(hex(msg)).toBe('11' + '04cb007105' + '9c40' + '003c')
    expect(parseMessage(msg)).toEqual({ type: 'bindAck', observed: { ip: '203.0.113.5', port: 40000 }, ttlS: 60 })
  })

  it('connect request: 0x12 pk target ts sig', () => {
    const msg = encodeConnectRequest({ pk: PK_A, target: PK_B, timestampMs: 5 }, fakeSig)
    expect(hex(msg)).toBe('12' + PK_A + PK_B + '0000000000000005' + 'ee'.repeat(64))
    expect(parseMessage(msg)).toMatchObject({ type: 'connectRequest', pk: PK_A, target: PK_B, timestampMs: 5n })
  })

  it('peer address: 0x13 peer ADDR n ADDR×n', () => {
    const msg = encodePeerAddress(PK_B, { ip: '203.0.113.5', port: 1 }, [
      { ip: '192.168.1.2', port: 2 },
      { ip: 'fd00::2', port: 3 },
    ])
    expect(hex(msg)).toBe('13' + PK_B + '04cb0071050001' + '02' + '04c0a801020002' + '06fd000000000000000000000000000002' + '0003')
    expect(parseMessage(msg)).toEqual({
      type: 'peerAddress',
      peer: PK_B,
      observed: { ip: '203.0.113.5', port: 1 },
      local: [
        { ip: '192.168.1.2', port: 2 },
        { ip: 'fd00::2', port: 3 },
      ],
    })
  })

  it('error: 0x14 about code; punch: 0x15 pk', () => {
    expect(hex(encodeError(PK_B, 1))).toBe('14' + PK_B + '01')
    expect(parseMessage(encodeError(PK_B, 4))).toEqual({ type: 'error', about: PK_B, code: 4 })
    expect(hex(encodePunch(PK_A))).toBe('15' + PK_A)
    expect(parseMessage(encodePunch(PK_A))).toEqual({ type: 'punch', pk: PK_A })
  })

  it('refuses to encode more than 8 local addresses', () => {
    const local = Array.from({ length: 9 }, (_, i) => ({ ip: '10.0.0.1', port: i + 1 }))
    expect(() => encodeBind({ pk: PK_A, timestampMs: 1, local }, fakeSig)).toThrow(/at most 8/)
  })
})

describe('garbage is dropped, never thrown', () => {
  const valid = [
    encodeBind({ pk: PK_A, timestampMs: 1, local: [{ ip: '2001:db8::1', port: 1 }] }, fakeSig),
    encodeBindAck({ ip: '192.0.2.1', port: 1 }, 60),
    encodeConnectRequest({ pk: PK_A, target: PK_B, timestampMs: 1 }, fakeSig),
    encodePeerAddress(PK_B, { ip: '192.0.2.1', port: 1 }, [{ ip: '10.0.0.1', port: 2 }]),
    encodeError(PK_A, 2),
    encodePunch(PK_A),
  ]

  it('every truncation and every one-byte extension of a valid message is null', () => {
    for (const m of valid) {
      for (let n = 0; n < m.length; n++) expect(parseMessage(m.subarray(0, n))).toBeNull()
      expect(parseMessage(Buffer.concat([m, Buffer.from([0])]))).toBeNull()
    }
  })

  it('unknown types, session messages (1..4), n > 8 and bad families are null', () => {
    for (const t of [0, 1, 2, 3, 4, 0x0f, 0x16, 0xff]) expect(parseMessage(Buffer.from([t, ...Buffer.alloc(200)]))).toBeNull()
    const nine = Buffer.concat([Buffer.from([0x10]), Buffer.alloc(40), Buffer.from([9]), Buffer.alloc(9 * 7 + 64)])
    expect(parseMessage(nine)).toBeNull()
    const badFam = Buffer.from(valid[1]!)
    badFam[1] = 5
    expect(parseMessage(badFam)).toBeNull()
  })

  it('random bytes never throw (bounded fuzz)', () => {
    let seed = 12345
    const rnd = () => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff
      return seed
    }
    let parsed = 0
    expect(() => {
      for (let i = 0; i < 20_000; i++) {
        const len = rnd() % 200
        const b = Buffer.alloc(len)
        for (let j = 0; j < len; j++) b[j] = rnd() & 0xff
        if (len > 0 && i % 2 === 0) b[0] = 0x10 + (rnd() % 6)
        if (parseMessage(b)) parsed++
      }
    }).not.toThrow()
    expect(parsed).toBeGreaterThanOrEqual(0)
  })
})
