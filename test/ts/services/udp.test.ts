/**
 * The resolver's UDP port between real sockets on loopback: bind, bind ack,
 * connect request and the two peer-address messages, errors and rate limits,
 * with the exact bytes of docs/wire.md section 3.
 */
import { createSocket, type Socket } from 'node:dgram'
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest'
import { ServicesClient } from '../../../ts/discovery/client.js'
import type { Identity } from '../../../ts/keys.js'
import { native } from '../../../ts/native.js'
import {
  encodeAddr,
  encodeBind,
  encodeConnectRequest,
  encodeError,
  encodePeerAddress,
  type UdpAddr,
} from '../../../ts/services/ar/udp-wire.js'
import type { RunningServices, ServicesOptions } from '../../../ts/services/server.js'
import { eventually, identities, startTest, stopSharedRedis, storeFactories } from './helpers.js'

afterAll(stopSharedRedis)

/** A visor's UDP socket with a queue of received datagrams. */
class Peer {
  readonly sock: Socket
  private queue: Buffer[] = []
  private waiters: ((b: Buffer) => void)[] = []

  private constructor(readonly id: Identity) {
    this.sock = createSocket('udp4')
    this.sock.on('message', (m) => {
      const w = this.waiters.shift()
      if (w) w(m)
      else this.queue.push(m)
    })
  }

  static async open(id: Identity, host = '127.0.0.1'): Promise<Peer> {
    const p = new Peer(id)
    await new Promise<void>((r) => p.sock.bind(0, host, r))
    return p
  }

  get addr(): UdpAddr {
    const a = this.sock.address()
    return { ip: a.address, port: a.port }
  }

  send(buf: Buffer, to: UdpAddr): void {
    this.sock.send(buf, to.port, to.ip)
  }

  next(timeoutMs = 2000): Promise<Buffer> {
    const q = this.queue.shift()
    if (q) return Promise.resolve(q)
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w !== done)
        reject(new Error(`no datagram within ${timeoutMs} ms`))
      }, timeoutMs)
      const done = (b: Buffer) => {
        clearTimeout(t)
        resolve(b)
      }
      this.waiters.push(done)
    })
  }

  /** Nothing arrives for `ms`. */
  async silent(ms = 200): Promise<boolean> {
    return this.next(ms).then(
      () => false,
      () => true,
    )
  }

  drain(): Buffer[] {
    const q = this.queue
    this.queue = []
    return q
  }

  sign = (m: Buffer) => native.sign(this.id.secretKey, m)

  bind(local: UdpAddr[] = [], timestampMs = Date.now()): Buffer {
    return encodeBind({ pk: this.id.publicKey, timestampMs, local }, this.sign)
  }

  connect(target: string, timestampMs = Date.now()): Buffer {
    return encodeConnectRequest({ pk: this.id.publicKey, target, timestampMs }, this.sign)
  }

  close(): Promise<void> {
    return new Promise((r) => this.sock.close(() => r()))
  }
}

const hex = (b: Buffer) => b.toString('hex')
const ack = (observed: UdpAddr, ttl: number) => hex(Buffer.concat([Buffer.from([0x11]), encodeAddr(observed), Buffer.from([ttl >> 8, ttl & 0xff])]))

describe.each(storeFactories)('UDP resolver on $name', (factory) => {
  let svc: RunningServices
  let resolver: UdpAddr
  let a: Peer
  let b: Peer
  let client: ServicesClient

  async function start(opts: Partial<ServicesOptions> = {}) {
    svc = await startTest(await factory.make(), { udp: { host: '127.0.0.1', port: 0 }, ...opts })
    resolver = svc.udp!
    const [ia, ib] = identities(2) as [Identity, Identity]
    a = await Peer.open(ia)
    b = await Peer.open(ib)
    client = new ServicesClient({ url: svc.url, retries: 0 })
  }

  beforeEach(async () => {
    await start()
  })

  afterEach(async () => {
    await Promise.all([a?.close(), b?.close()])
    await svc?.close()
  })

  it('bind is acknowledged with the observed address and TTL, and shows in HTTP resolve', async () => {
    const local = [{ ip: '192.168.1.10', port: 7778 }, { ip: 'fd00::10', port: 7778 }]
    a.send(a.bind(local), resolver)
    expect(hex(await a.next())).toBe(ack(a.addr, 60))
    expect(await client.resolve(a.id.publicKey)).toEqual({
      pk: a.id.publicKey,
      stcpr: [],
      sudph: { observed: `127.0.0.1:${a.addr.port}`, local: ['192.168.1.10:7778', '[fd00::10]:7778'] },
    })
  })

  it('connect request: the client learns the target, the target learns the client', async () => {
    const aLocal = [{ ip: '192.168.1.10', port: 7778 }]
    const bLocal = [{ ip: '10.1.2.3', port: 4000 }]
    a.send(a.bind(aLocal), resolver)
    await a.next()
    b.send(b.bind(bLocal), resolver)
    await b.next()
    b.send(b.connect(a.id.publicKey), resolver)
    const toClient = await b.next()
    const toTarget = await a.next()
    expect(hex(toClient)).toBe(hex(encodePeerAddress(a.id.publicKey, a.addr, aLocal)))
    expect(hex(toTarget)).toBe(hex(encodePeerAddress(b.id.publicKey, b.addr, bLocal)))
    // Byte layout spelled out once, independent of the encoder.
    expect(hex(toClient)).toBe(
      '13' + a.id.publicKey + '047f000001' + a.addr.port.toString(16).padStart(4, '0') + '01' + '04c0a8010a1e62',
    )
  })

  it('a client without a binding of its own still gets through, with no local addresses', async () => {
    a.send(a.bind(), resolver)
    await a.next()
    b.send(b.connect(a.id.publicKey), resolver)
    expect(hex(await b.next())).toBe(hex(encodePeerAddress(a.id.publicKey, a.addr, [])))
    expect(hex(await a.next())).toBe(hex(encodePeerAddress(b.id.publicKey, b.addr, [])))
  })

  it('error 1 when the target is not bound', async () => {
    b.send(b.connect(a.id.publicKey), resolver)
    expect(hex(await b.next())).toBe(hex(encodeError(a.id.publicKey, 1)))
  })

  it('error 2 for a bad signature (and nothing is recorded)', async () => {
    const m = a.bind()
    m[m.length - 1] = (m[m.length - 1] as number) ^ 0xff
    a.send(m, resolver)
    expect(hex(await a.next())).toBe(hex(encodeError(a.id.publicKey, 2)))
    const forged = encodeBind({ pk: a.id.publicKey, timestampMs: Date.now(), local: [] }, b.sign)
    b.send(forged, resolver)
    expect(hex(await b.next())).toBe(hex(encodeError(a.id.publicKey, 2)))
    expect(await client.resolve(a.id.publicKey)).toBeNull()
  })

  it('a PK or target that is not a curve point is dropped without an answer (the core could not parse one)', async () => {
    const notAPoint = '02' + '00'.repeat(31)
    a.send(encodeBind({ pk: notAPoint, timestampMs: Date.now(), local: [] }, a.sign), resolver)
    expect(await a.silent(300)).toBe(true)
    a.send(a.connect(notAPoint), resolver)
    expect(await a.silent(300)).toBe(true)
  })

  it('error 3 for a replayed, older, too old or future timestamp', async () => {
    const now = Date.now()
    const first = a.bind([], now)
    a.send(first, resolver)
    await a.next()
    a.send(first, resolver)
    expect(hex(await a.next())).toBe(hex(encodeError(a.id.publicKey, 3)))
    a.send(a.bind([], now - 1), resolver)
    expect(hex(await a.next())).toBe(hex(encodeError(a.id.publicKey, 3)))
    b.send(b.bind([], now - 61_000), resolver)
    expect(hex(await b.next())).toBe(hex(encodeError(b.id.publicKey, 3)))
    b.send(b.bind([], now + 61_000), resolver)
    expect(hex(await b.next())).toBe(hex(encodeError(b.id.publicKey, 3)))
    // Timestamps are per message type: a connect with the bind's timestamp is fine.
    a.send(a.connect(b.id.publicKey, now), resolver)
    expect(hex(await a.next())).toBe(hex(encodeError(b.id.publicKey, 1)))
  })

  it('garbage, truncated and non-resolver datagrams are dropped and the port keeps working', async () => {
    const good = a.bind()
    for (const junk of [Buffer.alloc(0), Buffer.from([0x10]), good.subarray(0, 50), Buffer.alloc(1500, 0x12), Buffer.from([0x15, 1, 2]), Buffer.from([0x04, 0, 0, 0])]) {
      a.send(junk, resolver)
    }
    expect(await a.silent(200)).toBe(true)
    a.send(good, resolver)
    expect(hex(await a.next())).toBe(ack(a.addr, 60))
    const metrics = await (await fetch(`${svc.url}/metrics`)).text()
    expect(metrics).toMatch(/skywire_udp_datagrams_total\{type="invalid",result="dropped"\} [1-9]/)
  })

  it('a binding expires after its TTL', async () => {
    await svc.close()
    await Promise.all([a.close(), b.close()])
    await start({ ttl: { sudphMs: 300 } })
    a.send(a.bind(), resolver)
    expect(hex(await a.next())).toBe(ack(a.addr, 1))
    expect(await client.resolve(a.id.publicKey)).not.toBeNull()
    await eventually(async () => (await client.resolve(a.id.publicKey)) === null, 3000)
    b.send(b.connect(a.id.publicKey), resolver)
    expect(hex(await b.next())).toBe(hex(encodeError(a.id.publicKey, 1)))
  })

  it('rate limits per source: error 4 at most once a second, then silence', async () => {
    await svc.close()
    await Promise.all([a.close(), b.close()])
    await start({ udpRate: { ratePerSec: 2, burst: 3 } })
    const t0 = Date.now()
    for (let i = 0; i < 20; i++) a.send(a.bind([], t0 + i), resolver)
    const got: Buffer[] = []
    for (;;) {
      const m = await a.next(300).catch(() => null)
      if (!m) break
      got.push(m)
    }
    const acks = got.filter((m) => m[0] === 0x11)
    const limited = got.filter((m) => hex(m) === hex(encodeError(a.id.publicKey, 4)))
    // The burst of 3 (plus at most one refilled token) is served; one "rate limited" error, the rest dropped.
    expect(acks.length).toBeGreaterThanOrEqual(3)
    expect(acks.length).toBeLessThanOrEqual(4)
    expect(limited.length).toBe(1)
    expect(got.length).toBe(acks.length + 1)
    // Another source IP is not affected (the whole 127/8 is loopback on Linux).
    const other = await Peer.open(b.id, '127.0.0.2')
    other.send(other.bind(), resolver)
    expect(hex(await other.next())).toBe(ack(other.addr, 60))
    await other.close()
  })
})
