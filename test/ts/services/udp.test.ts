/**
 * The resolver's UDP port between real sockets on loopback: bind, challenge,
 * confirm, bind ack, connect request and the two peer-address messages,
 * errors and rate limits, with the exact bytes of docs/wire.md section 3.
 */
import { createHmac, randomBytes } from 'node:crypto'
import { createSocket, type Socket } from 'node:dgram'
import { createRequire } from 'node:module'
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest'
import { ServicesClient } from '../../../ts/discovery/client.js'
import type { Identity } from '../../../ts/native/keys.js'
import { native } from '../../../ts/native/loader.js'
import {
  MSG,
  bindChallengeBody,
  encodeAddr,
  encodeBind,
  encodeBindChallenge,
  encodeConnectRequest,
  encodeError,
  encodePeerAddress,
  parseMessage,
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

  /** The bound only turns a missing answer into a failure; a busy machine may take seconds. */
  next(timeoutMs = 10_000): Promise<Buffer> {
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

  bind(local: UdpAddr[] = [], timestampMs: number | bigint = Date.now()): Buffer {
    return encodeBind({ pk: this.id.publicKey, timestampMs, local }, this.sign)
  }

  connect(target: string, timestampMs: number | bigint = Date.now()): Buffer {
    return encodeConnectRequest({ pk: this.id.publicKey, target, timestampMs }, this.sign)
  }

  /** What a visor does: bind, echo the challenge as a confirm, return the ack. */
  async doBind(to: UdpAddr, local: UdpAddr[] = [], timestampMs = Date.now()): Promise<Buffer> {
    this.send(this.bind(local, timestampMs), to)
    const challenge = await this.next()
    if (challenge[0] !== MSG.bindChallenge) throw new Error(`expected a bind challenge, got ${hex(challenge)}`)
    this.send(confirmOf(challenge), to)
    return this.next()
  }

  close(): Promise<void> {
    return new Promise((r) => this.sock.close(() => r()))
  }
}

const hex = (b: Buffer) => b.toString('hex')
/** The echo is the challenge with type 0x17. */
const confirmOf = (challenge: Buffer) => Buffer.concat([Buffer.from([MSG.bindConfirm]), challenge.subarray(1)])
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
    const local = [
      { ip: '192.168.1.10', port: 7778 },
      { ip: 'fd00::10', port: 7778 },
    ]
    expect(hex(await a.doBind(resolver, local))).toBe(ack(a.addr, 60))
    expect(await client.resolve(a.id.publicKey)).toEqual({
      pk: a.id.publicKey,
      stcpr: [],
      sudph: { observed: `127.0.0.1:${a.addr.port}`, local: ['192.168.1.10:7778', '[fd00::10]:7778'] },
    })
  })

  it('connect request: the client learns the target, the target learns the client', async () => {
    const aLocal = [{ ip: '192.168.1.10', port: 7778 }]
    const bLocal = [{ ip: '10.1.2.3', port: 4000 }]
    await a.doBind(resolver, aLocal)
    await b.doBind(resolver, bLocal)
    b.send(b.connect(a.id.publicKey), resolver)
    const toClient = await b.next()
    const toTarget = await a.next()
    expect(hex(toClient)).toBe(hex(encodePeerAddress(a.id.publicKey, a.addr, aLocal)))
    expect(hex(toTarget)).toBe(hex(encodePeerAddress(b.id.publicKey, b.addr, bLocal)))
    // Byte layout spelled out once, independent of the encoder.
    expect(hex(toClient)).toBe('13' + a.id.publicKey + '047f000001' + a.addr.port.toString(16).padStart(4, '0') + '01' + '04c0a8010a1e62')
  })

  it('a client is served only from the address of its own verified binding; otherwise "not bound" about itself', async () => {
    await a.doBind(resolver)
    const req = b.connect(a.id.publicKey)
    b.send(req, resolver)
    const reply = await b.next()
    expect(hex(reply)).toBe(hex(encodeError(b.id.publicKey, 1)))
    // Smaller than the request, and nothing went to the target.
    expect(reply.length).toBeLessThan(req.length)
    expect(await a.silent(300)).toBe(true)
    // The refused request consumed nothing: once bound, the same request is served.
    await b.doBind(resolver)
    b.send(req, resolver)
    expect(hex(await b.next())).toBe(hex(encodePeerAddress(a.id.publicKey, a.addr, [])))
    expect(hex(await a.next())).toBe(hex(encodePeerAddress(b.id.publicKey, b.addr, [])))
    // The same key from another socket is not its binding.
    const other = await Peer.open(b.id)
    try {
      other.send(other.connect(a.id.publicKey), resolver)
      expect(hex(await other.next())).toBe(hex(encodeError(b.id.publicKey, 1)))
      expect(await a.silent(300)).toBe(true)
    } finally {
      await other.close()
    }
  })

  it('a bind from an unverified address gets a challenge smaller than the bind, and nothing is stored until the echo', async () => {
    const local = [{ ip: '192.168.1.10', port: 7778 }]
    const bind = a.bind(local)
    a.send(bind, resolver)
    const challenge = await a.next()
    expect(challenge[0]).toBe(0x16)
    expect(challenge.length).toBeLessThan(bind.length)
    const parsed = parseMessage(challenge)
    expect(parsed).toMatchObject({ type: 'bindChallenge', pk: a.id.publicKey, local })
    expect(await client.resolve(a.id.publicKey)).toBeNull()
    // The echo from any other address binds nothing and gets no answer.
    const elsewhere = await Peer.open(a.id)
    try {
      elsewhere.send(confirmOf(challenge), resolver)
      expect(await elsewhere.silent(300)).toBe(true)
      expect(await client.resolve(a.id.publicKey)).toBeNull()
    } finally {
      await elsewhere.close()
    }
    // A tampered MAC or content: dropped.
    const tampered = confirmOf(challenge)
    tampered[tampered.length - 1] = (tampered[tampered.length - 1] as number) ^ 1
    a.send(tampered, resolver)
    const moved = confirmOf(challenge)
    moved[42 + 4] = 11 // the local address 192.168.1.10 -> 192.168.1.11
    a.send(moved, resolver)
    expect(await a.silent(300)).toBe(true)
    expect(await client.resolve(a.id.publicKey)).toBeNull()
    // The echo from the address it was sent to binds, once.
    a.send(confirmOf(challenge), resolver)
    expect(hex(await a.next())).toBe(ack(a.addr, 60))
    expect((await client.resolve(a.id.publicKey))?.sudph).toEqual({ observed: `127.0.0.1:${a.addr.port}`, local: ['192.168.1.10:7778'] })
    a.send(confirmOf(challenge), resolver)
    expect(hex(await a.next())).toBe(hex(encodeError(a.id.publicKey, 3)))
    // Re-binds from the verified address are acknowledged directly.
    a.send(a.bind(local), resolver)
    expect(hex(await a.next())).toBe(ack(a.addr, 60))
  })

  it('a challenge is only good for its TTL', async () => {
    await svc.close()
    await Promise.all([a.close(), b.close()])
    const secret = randomBytes(32)
    await start({ udpCookieSecret: secret, udpChallengeTtlS: 10 })
    // Made with the resolver's key, for a's real address, but issued 11 s ago.
    const body = bindChallengeBody({ pk: a.id.publicKey, timestampMs: Date.now(), local: [], issuedS: Math.floor(Date.now() / 1000) - 11 })
    const mac = createHmac('sha256', secret).update('skywire-ar-cookie/1').update(body).update(encodeAddr(a.addr)).digest().subarray(0, 16)
    a.send(encodeBindChallenge(body, mac, 'bindConfirm'), resolver)
    expect(await a.silent(300)).toBe(true)
    expect(await client.resolve(a.id.publicKey)).toBeNull()
    // The same, issued now, binds: the MAC above is exactly the resolver's.
    const fresh = bindChallengeBody({ pk: a.id.publicKey, timestampMs: Date.now(), local: [], issuedS: Math.floor(Date.now() / 1000) })
    const mac2 = createHmac('sha256', secret).update('skywire-ar-cookie/1').update(fresh).update(encodeAddr(a.addr)).digest().subarray(0, 16)
    a.send(encodeBindChallenge(fresh, mac2, 'bindConfirm'), resolver)
    expect(hex(await a.next())).toBe(ack(a.addr, 60))
  })

  it('local addresses follow the STCPR rule: link-local, metadata, multicast and unspecified ones are dropped', async () => {
    const local = [
      { ip: '169.254.169.254', port: 80 },
      { ip: '127.0.0.1', port: 7778 },
      { ip: '0.0.0.0', port: 7778 },
      { ip: '224.0.0.1', port: 7778 },
      { ip: 'fe80::1', port: 7778 },
      { ip: '10.0.0.1', port: 7778 },
    ]
    await a.doBind(resolver, local)
    // From loopback, loopback is allowed (one host); the rest of the junk is not.
    expect((await client.resolve(a.id.publicKey))?.sudph?.local).toEqual(['127.0.0.1:7778', '10.0.0.1:7778'])
  })

  it('a real visor (the Rust core) binds through the challenge, and two of them punch through via the resolver', async () => {
    // The generated types: the event is a union narrowed by `kind`.
    const { Node } = createRequire(import.meta.url)('../../../native/index.js') as typeof import('../../../native/index.js')
    const [ia, ib] = identities(2) as [Identity, Identity]
    const bound: Record<string, string> = {}
    const start = (id: Identity) =>
      Node.start({ secretKey: id.secretKey, sudphListen: '127.0.0.1:0', resolver: `${resolver.ip}:${resolver.port}` }, (ev) => {
        if (ev.kind === 'bound') bound[id.publicKey] = ev.observed
      })
    const na = await start(ia)
    const nb = await start(ib)
    try {
      await eventually(async () => bound[ia.publicKey] !== undefined && bound[ib.publicKey] !== undefined, 5000)
      expect(bound[ia.publicKey]).toBe(na.sudphAddr)
      expect((await client.resolve(ia.publicKey))?.sudph?.observed).toBe(na.sudphAddr)
      const metrics = await (await fetch(`${svc.url}/metrics`)).text()
      expect(metrics).toMatch(/skywire_udp_datagrams_total\{type="bind",result="challenged"\} [1-9]/)
      const id = await nb.dial(ia.publicKey, 'sudph', null, 8000)
      expect(id).toBeGreaterThan(0)
    } finally {
      na.close()
      nb.close()
    }
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
    await a.doBind(resolver, [], now - 10)
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
    // Any u64 is a well-formed timestamp (docs/wire.md); one no clock shows is stale, also beyond 2^53.
    b.send(b.bind([], 2n ** 64n - 1n), resolver)
    expect(hex(await b.next())).toBe(hex(encodeError(b.id.publicKey, 3)))
    b.send(b.connect(a.id.publicKey, 2n ** 53n + 1n), resolver)
    expect(hex(await b.next())).toBe(hex(encodeError(b.id.publicKey, 3)))
    // Timestamps are per message type: a connect with the bind's timestamp is fine.
    a.send(a.connect(b.id.publicKey, now), resolver)
    expect(hex(await a.next())).toBe(hex(encodeError(b.id.publicKey, 1)))
  })

  it('garbage, truncated and non-resolver datagrams are dropped and the port keeps working', async () => {
    const good = a.bind()
    for (const junk of [
      Buffer.alloc(0),
      Buffer.from([0x10]),
      good.subarray(0, 50),
      Buffer.alloc(1500, 0x12),
      Buffer.from([0x15, 1, 2]),
      Buffer.from([0x04, 0, 0, 0]),
    ]) {
      a.send(junk, resolver)
    }
    expect(await a.silent(200)).toBe(true)
    a.send(good, resolver)
    expect((await a.next())[0]).toBe(MSG.bindChallenge)
    const metrics = await (await fetch(`${svc.url}/metrics`)).text()
    expect(metrics).toMatch(/skywire_udp_datagrams_total\{type="invalid",result="dropped"\} [1-9]/)
  })

  it('a binding expires after its TTL', async () => {
    await svc.close()
    await Promise.all([a.close(), b.close()])
    // Long enough that the resolve right after the bind sees it on a stalled machine (300 ms was not); polled after.
    await start({ ttl: { sudphMs: 2000 } })
    expect(hex(await a.doBind(resolver))).toBe(ack(a.addr, 2))
    expect(await client.resolve(a.id.publicKey)).not.toBeNull()
    await eventually(async () => (await client.resolve(a.id.publicKey)) === null, 15_000)
    b.send(b.connect(a.id.publicKey), resolver)
    expect(hex(await b.next())).toBe(hex(encodeError(a.id.publicKey, 1)))
  })

  it('a total budget over all sources bounds the work a flood of (forged) sources can cause; over it, silence', async () => {
    await svc.close()
    await Promise.all([a.close(), b.close()])
    // The services' clock held still (ServicesOptions.now): at 1/s, three round trips stalled past a second refilled the budget.
    const t0 = Date.now()
    await start({ udpTotalRate: { ratePerSec: 1, burst: 3 }, now: () => t0 })
    for (let i = 0; i < 3; i++) {
      a.send(a.bind([], Date.now() + i), resolver)
      expect((await a.next())[0]).toBe(MSG.bindChallenge)
    }
    // Another source, with its own per-source budget untouched, gets nothing while the total is spent.
    const other = await Peer.open(b.id, '127.0.0.3')
    try {
      other.send(other.bind(), resolver)
      expect(await other.silent(300)).toBe(true)
      const metrics = await (await fetch(`${svc.url}/metrics`)).text()
      expect(metrics).toMatch(/skywire_udp_datagrams_total\{type="bind",result="over_total_rate"\} 1/)
    } finally {
      await other.close()
    }
  })

  it('rate limits per source: error 4 at most once a second, then silence', async () => {
    await svc.close()
    await Promise.all([a.close(), b.close()])
    // Time held still for the limiters: how fast 20 datagrams are handled no longer decides how many tokens refill.
    const t0 = Date.now()
    await start({ udpRate: { ratePerSec: 2, burst: 3 }, now: () => t0 })
    for (let i = 0; i < 20; i++) a.send(a.bind([], t0 + i), resolver)
    // The four answers due, however long they take, then nothing more. (Reading until 300 ms of silence stopped
    // early when the process was stalled: Node runs expired timers before it reads the socket.)
    const got: Buffer[] = []
    for (let i = 0; i < 4; i++) got.push(await a.next())
    expect(await a.silent(300)).toBe(true)
    const acks = got.filter((m) => m[0] === MSG.bindChallenge)
    const limited = got.filter((m) => hex(m) === hex(encodeError(a.id.publicKey, 4)))
    // The burst of 3 is served; one "rate limited" error, the rest dropped.
    expect(acks.length).toBe(3)
    expect(limited.length).toBe(1)
    expect(got.length).toBe(acks.length + 1)
    // Another source IP is not affected (the whole 127/8 is loopback on Linux).
    const other = await Peer.open(b.id, '127.0.0.2')
    expect(hex(await other.doBind(resolver))).toBe(ack(other.addr, 60))
    await other.close()
  })
})
