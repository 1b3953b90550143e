/**
 * Signed latency probes against a real node over loopback (issue 14 item 3):
 * the node's SUDPH socket answers a probe for its own key, signed; the prober
 * (its own UDP socket, no root, no visor) reports the round trip, and nothing
 * for another key, a silent address or a forger. Hostile datagrams at the
 * SUDPH port draw no answer and leave the node answering; a flood from one
 * source is rate-limited and counted in limitStats().
 */
import { createSocket, type Socket } from 'node:dgram'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { generateIdentity } from '../../ts/native/keys.js'
import { native } from '../../ts/native/loader.js'
import { Node } from '../../ts/native/node.js'
import { probeLatency } from '../../ts/native/probe.js'

/** docs/wire.md section 4: both messages are 132 bytes. */
const PROBE_LEN = 132

function request(pk: string, nonce = Buffer.alloc(32, 7)): Buffer {
  const b = Buffer.alloc(PROBE_LEN)
  b[0] = 0x20
  nonce.copy(b, 4)
  Buffer.from(pk, 'hex').copy(b, 36)
  return b
}

/** Send every datagram from one fresh socket; what came back within `waitMs`. */
async function exchange(addr: string, msgs: Buffer[], waitMs: number, from = '127.0.0.1'): Promise<Buffer[]> {
  const [host, port] = [addr.slice(0, addr.lastIndexOf(':')), Number(addr.slice(addr.lastIndexOf(':') + 1))]
  const s: Socket = createSocket('udp4')
  const got: Buffer[] = []
  s.on('message', (m) => got.push(m))
  await new Promise<void>((r) => s.bind(0, from, r))
  for (const m of msgs) await new Promise<void>((r, j) => s.send(m, port, host, (e) => (e ? j(e) : r())))
  await new Promise((r) => setTimeout(r, waitMs))
  s.close()
  return got
}

describe('latency probe', () => {
  let node: Node
  let addr: string
  const id = generateIdentity()

  beforeAll(async () => {
    node = await Node.start({ secretKey: id.secretKey, sudphListen: '127.0.0.1:0' })
    addr = node.sudphAddr as string
  })
  afterAll(() => node?.close())

  it('times a signed answer from the node, and gets nothing for another key or a silent address', async () => {
    const r = await probeLatency(id.publicKey, [addr], 2000)
    expect(r?.addr).toBe(addr)
    expect(r?.rttMs).toBeGreaterThan(0)
    expect(r?.rttMs).toBeLessThan(1000)
    expect(node.limitStats().probesAnswered).toBe(1)
    const other = generateIdentity().publicKey
    const t = Date.now()
    expect(await probeLatency(other, [addr], 300)).toBeNull()
    expect(Date.now() - t).toBeGreaterThanOrEqual(250)
    expect(await probeLatency(id.publicKey, ['127.0.0.1:9'], 300)).toBeNull()
    expect(node.limitStats().probesAnswered).toBe(1)
  })

  it('accepts only an answer signed by the key asked for', async () => {
    // A forger on loopback: answers with a correct layout, the nonce, the pk, its own signature.
    const mallory = generateIdentity()
    const fake = createSocket('udp4')
    fake.on('message', (m, rinfo) => {
      const a = Buffer.from(m)
      a[0] = 0x21
      const signed = Buffer.concat([Buffer.from('skywire-latency-probe/1'), a.subarray(4, 68)])
      native.sign(mallory.secretKey, signed).copy(a, 68)
      fake.send(a, rinfo.port, rinfo.address)
    })
    await new Promise<void>((r) => fake.bind(0, '127.0.0.1', r))
    const fakeAddr = `127.0.0.1:${fake.address().port}`
    try {
      expect(await probeLatency(id.publicKey, [fakeAddr], 400)).toBeNull()
      // The same forger answering for itself is accepted when asked for itself: the check is the key.
      expect(await probeLatency(mallory.publicKey, [fakeAddr], 1000)).not.toBeNull()
    } finally {
      fake.close()
    }
  })

  it('answers no hostile datagram, and still answers a real probe after them', async () => {
    const good = request(id.publicKey)
    const flip = (i: number, v: number) => {
      const b = Buffer.from(good)
      b[i] = v
      return b
    }
    const hostile = [
      Buffer.alloc(0),
      Buffer.from([0x20]),
      good.subarray(0, 4),
      good.subarray(0, PROBE_LEN - 1), // a request must be padded to the answer's size
      Buffer.concat([good, Buffer.alloc(1)]),
      Buffer.concat([good, Buffer.alloc(1300)]),
      flip(1, 1), // reserved
      flip(131, 1), // padding
      flip(0, 0x21), // answer-shaped
      Buffer.alloc(PROBE_LEN, 0xff),
      request('00'.repeat(32)), // a weak key
      ...Array.from({ length: 20 }, (_, i) => Buffer.from(Array.from({ length: (i * 37) % 200 }, (_, j) => (j * 131 + i) & 0xff))),
    ]
    const before = node.limitStats().probesAnswered
    // No probe answer to any of them. A datagram shaped like a transport message (type 4, at least 33 bytes) for a
    // session this node does not know draws only the 8-byte unknown-session hint naming its receiver index
    // (docs/wire.md section 1), never more than it sent.
    const transportShaped = hostile.filter((b) => b[0] === 4 && b.length >= 33)
    const replies = await exchange(addr, hostile, 300)
    expect(replies.map((r) => r.toString('hex'))).toEqual(
      transportShaped.map((b) => Buffer.concat([Buffer.from([5, 0, 0, 0]), b.subarray(4, 8)]).toString('hex')),
    )
    expect(node.limitStats().probesAnswered).toBe(before)
    expect(await probeLatency(id.publicKey, [addr], 2000)).not.toBeNull()
  })

  it('rate-limits one source and counts it; other sources still get answers', async () => {
    const before = node.limitStats()
    const got = await exchange(
      addr,
      Array.from({ length: 60 }, () => request(id.publicKey)),
      300,
      // A source of its own (127/8 is all on lo): the probes above used some of 127.0.0.1's tokens.
      '127.0.0.4',
    )
    // 10 at once per source, then 5 per second.
    expect(got.length).toBeGreaterThanOrEqual(10)
    expect(got.length).toBeLessThanOrEqual(13)
    expect(got.every((a) => a.length === PROBE_LEN && a[0] === 0x21)).toBe(true)
    const after = node.limitStats()
    expect(after.probesAnswered - before.probesAnswered).toBe(got.length)
    expect(after.refusedProbesPerIp - before.refusedProbesPerIp).toBe(60 - got.length)
    // Another source still gets its answer at once.
    const other = await exchange(addr, [request(id.publicKey, Buffer.alloc(32, 9))], 300, '127.0.0.2')
    expect(other).toHaveLength(1)
    expect(other[0]?.subarray(4, 36)).toEqual(Buffer.alloc(32, 9))
  })

  it('refuses bad arguments with a coded one-line error', async () => {
    await expect(probeLatency('zz', [addr], 100)).rejects.toMatchObject({ code: 'EINVALIDPK' })
    await expect(probeLatency(id.publicKey, [], 100)).rejects.toMatchObject({ code: 'EINVALIDADDR' })
    await expect(probeLatency(id.publicKey, ['nope'], 100)).rejects.toMatchObject({ code: 'EINVALIDADDR' })
    await expect(probeLatency(id.publicKey, Array(9).fill(addr), 100)).rejects.toMatchObject({ code: 'EINVALIDADDR' })
  })
})
