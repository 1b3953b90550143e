/**
 * The address resolver over IPv6 (docs/wire.md section 3), real sockets on
 * `::1` and `127.0.0.1` against one resolver bound to `::` (both families on
 * one socket): a binding per family, a connect request answered in the family
 * it came over, STCPR registrations of both families, and the v6 addresses a
 * caller may not publish.
 */
import { createSocket, type Socket } from 'node:dgram'
import { createRequire } from 'node:module'
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest'
import { ServicesClient } from '../../../ts/discovery/client.js'
import type { Identity } from '../../../ts/native/keys.js'
import { native } from '../../../ts/native/loader.js'
import { MSG, encodeBind, encodeConnectRequest, encodeError, encodePeerAddress, type UdpAddr } from '../../../ts/services/ar/udp-wire.js'
import type { RunningServices } from '../../../ts/services/server.js'
import { HEADER_NONCE, HEADER_PK, HEADER_SIG, signingMessage } from '../../../ts/discovery/signing.js'
import { eventually, identities, startTest, stopSharedRedis, storeFactories } from './helpers.js'

afterAll(stopSharedRedis)

const hex = (b: Buffer) => b.toString('hex')

let nonce = Date.now() * 1000
/** A signed PUT from a caller that claims `from` (the services trust one proxy hop here). */
async function putStcpr(svc: RunningServices, id: Identity, addresses: string[], from: string) {
  const body = JSON.stringify({ addresses })
  const n = String(++nonce)
  const sig = native.sign(id.secretKey, signingMessage('PUT', '/ar/stcpr', Buffer.from(body), n)).toString('hex')
  const res = await fetch(`${svc.url}/ar/stcpr`, {
    method: 'PUT',
    headers: { 'content-type': 'application/json', [HEADER_PK]: id.publicKey, [HEADER_NONCE]: n, [HEADER_SIG]: sig, 'x-forwarded-for': from },
    body,
  })
  return { status: res.status, json: (await res.json()) as { addresses: string[]; error?: { message: string } } }
}

/** A visor's UDP socket of one family, with a queue of what it received. */
class Peer {
  readonly sock: Socket
  private queue: Buffer[] = []
  private waiters: ((b: Buffer) => void)[] = []

  private constructor(
    readonly id: Identity,
    family: 4 | 6,
  ) {
    this.sock = createSocket(family === 6 ? 'udp6' : 'udp4')
    this.sock.on('message', (m) => {
      const w = this.waiters.shift()
      if (w) w(m)
      else this.queue.push(m)
    })
  }

  static async open(id: Identity, family: 4 | 6): Promise<Peer> {
    const p = new Peer(id, family)
    await new Promise<void>((r) => p.sock.bind(0, family === 6 ? '::1' : '127.0.0.1', r))
    return p
  }

  get addr(): UdpAddr {
    const a = this.sock.address()
    return { ip: a.address, port: a.port }
  }

  send(buf: Buffer, to: UdpAddr): void {
    this.sock.send(buf, to.port, to.ip)
  }

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

  async silent(ms = 300): Promise<boolean> {
    return this.next(ms).then(
      () => false,
      () => true,
    )
  }

  sign = (m: Buffer) => native.sign(this.id.secretKey, m)

  connect(target: string): Buffer {
    return encodeConnectRequest({ pk: this.id.publicKey, target, timestampMs: Date.now() }, this.sign)
  }

  /** What a visor does: bind, echo the challenge, return the ack. */
  async doBind(to: UdpAddr, local: UdpAddr[] = []): Promise<Buffer> {
    this.send(encodeBind({ pk: this.id.publicKey, timestampMs: Date.now(), local }, this.sign), to)
    const challenge = await this.next()
    if (challenge[0] !== MSG.bindChallenge) throw new Error(`expected a bind challenge, got ${hex(challenge)}`)
    this.send(Buffer.concat([Buffer.from([MSG.bindConfirm]), challenge.subarray(1)]), to)
    return this.next()
  }

  close(): Promise<void> {
    return new Promise((r) => this.sock.close(() => r()))
  }
}

const ackOf = (observed: UdpAddr) => {
  const v6 = observed.ip.includes(':')
  return v6
    ? `1106${hexOfV6(observed.ip)}`
    : `1104${observed.ip
        .split('.')
        .map((n) => Number(n).toString(16).padStart(2, '0'))
        .join('')}`
}
/** Only `::1` is needed here. */
const hexOfV6 = (ip: string) => {
  if (ip !== '::1') throw new Error(`test helper knows ::1 only, got ${ip}`)
  return `${'00'.repeat(15)}01`
}

describe.each(storeFactories)('UDP resolver over both families on $name', (factory) => {
  let svc: RunningServices
  let v4: UdpAddr
  let v6: UdpAddr
  let client: ServicesClient
  const peers: Peer[] = []
  const open = async (id: Identity, family: 4 | 6) => {
    const p = await Peer.open(id, family)
    peers.push(p)
    return p
  }

  beforeEach(async () => {
    svc = await startTest(await factory.make(), { udp: { host: '::', port: 0 } })
    v6 = { ip: '::1', port: svc.udp!.port }
    v4 = { ip: '127.0.0.1', port: svc.udp!.port }
    client = new ServicesClient({ url: svc.url, retries: 0 })
  })

  afterEach(async () => {
    await Promise.all(peers.splice(0).map((p) => p.close()))
    await svc?.close()
  })

  it('one socket on :: binds a key over each family, and resolve hands out both', async () => {
    const [ia] = identities(1) as [Identity]
    const a4 = await open(ia, 4)
    const a6 = await open(ia, 6)
    const ack6 = await a6.doBind(v6, [{ ip: '2001:db8::10', port: 7778 }])
    // The ack names the v6 source as the resolver saw it: ::1, family 6.
    expect(hex(ack6).startsWith(ackOf({ ip: '::1', port: 0 }))).toBe(true)
    const ack4 = await a4.doBind(v4)
    // An IPv4 peer on the dual-stack socket is answered as IPv4 (not ::ffff:127.0.0.1).
    expect(hex(ack4).startsWith(ackOf({ ip: '127.0.0.1', port: 0 }))).toBe(true)
    expect(await client.resolve(ia.publicKey)).toEqual({
      pk: ia.publicKey,
      stcpr: [],
      sudph: { observed: `127.0.0.1:${a4.addr.port}`, local: [] },
      sudph6: { observed: `[::1]:${a6.addr.port}`, local: ['[2001:db8::10]:7778'] },
    })
  })

  it('IPv6 local addresses follow the publishing rules: link-local, multicast, unspecified, reserved and mapped junk are dropped', async () => {
    const [ia] = identities(1) as [Identity]
    const a6 = await open(ia, 6)
    const local = [
      { ip: 'fe80::1', port: 7778 },
      { ip: 'ff02::1', port: 7778 },
      { ip: '::', port: 7778 },
      { ip: 'fec0::1', port: 7778 },
      { ip: '::ffff:169.254.169.254', port: 80 },
      { ip: '::ffff:10.0.0.7', port: 7778 },
      { ip: 'fd00::7', port: 7778 },
      { ip: '2001:db8::7', port: 7778 },
    ]
    await a6.doBind(v6, local)
    // From loopback (a private-class caller for these rules): the mapped private address as IPv4, ULA and documentation kept.
    expect((await client.resolve(ia.publicKey))?.sudph6?.local).toEqual(['10.0.0.7:7778', '[fd00::7]:7778', '[2001:db8::7]:7778'])
  })

  it('a key bound over IPv6 only resolves with that binding in the old field too', async () => {
    const [ia] = identities(1) as [Identity]
    const a6 = await open(ia, 6)
    await a6.doBind(v6)
    const r = await client.resolve(ia.publicKey)
    expect(r?.sudph).toEqual({ observed: `[::1]:${a6.addr.port}`, local: [] })
    expect(r?.sudph6).toEqual(r?.sudph)
  })

  it('a connect request is answered in its own family: each side learns the other over that family', async () => {
    const [ia, ib] = identities(2) as [Identity, Identity]
    const [a4, a6, b4, b6] = await Promise.all([open(ia, 4), open(ia, 6), open(ib, 4), open(ib, 6)])
    for (const [p, to] of [
      [a4, v4],
      [a6, v6],
      [b4, v4],
      [b6, v6],
    ] as const)
      await p.doBind(to)
    b6.send(b6.connect(ia.publicKey), v6)
    expect(hex(await b6.next())).toBe(hex(encodePeerAddress(ia.publicKey, a6.addr, [])))
    expect(hex(await a6.next())).toBe(hex(encodePeerAddress(ib.publicKey, b6.addr, [])))
    expect(await a4.silent()).toBe(true)
    b4.send(b4.connect(ia.publicKey), v4)
    expect(hex(await b4.next())).toBe(hex(encodePeerAddress(ia.publicKey, a4.addr, [])))
    expect(hex(await a4.next())).toBe(hex(encodePeerAddress(ib.publicKey, b4.addr, [])))
    expect(await a6.silent()).toBe(true)
  })

  it('no binding in the request family: "not bound" about the target, or about the client itself', async () => {
    const [ia, ib] = identities(2) as [Identity, Identity]
    const [a4, b4, b6] = await Promise.all([open(ia, 4), open(ib, 4), open(ib, 6)])
    await a4.doBind(v4)
    await b4.doBind(v4)
    // The target has no IPv6 binding: the client asking over IPv6 is told so (and tries IPv4).
    await b6.doBind(v6)
    b6.send(b6.connect(ia.publicKey), v6)
    expect(hex(await b6.next())).toBe(hex(encodeError(ia.publicKey, 1)))
    expect(await a4.silent()).toBe(true)
    // A client whose IPv6 binding is elsewhere (another socket) is not served over IPv6.
    const a6 = await open(ia, 6)
    await a6.doBind(v6)
    const other6 = await open(ib, 6)
    other6.send(other6.connect(ia.publicKey), v6)
    expect(hex(await other6.next())).toBe(hex(encodeError(ib.publicKey, 1)))
    expect(await a6.silent()).toBe(true)
  })

  it('binds and connect requests signed in the same millisecond over both families are each accepted once', async () => {
    const [ia, ib] = identities(2) as [Identity, Identity]
    const [a4, a6, b6] = await Promise.all([open(ia, 4), open(ia, 6), open(ib, 6)])
    const t = Date.now()
    const bind = encodeBind({ pk: ia.publicKey, timestampMs: t, local: [] }, a4.sign)
    a4.send(bind, v4)
    a6.send(bind, v6)
    const [c4, c6] = await Promise.all([a4.next(), a6.next()])
    a6.send(Buffer.concat([Buffer.from([MSG.bindConfirm]), c6.subarray(1)]), v6)
    expect((await a6.next())[0]).toBe(0x11)
    a4.send(Buffer.concat([Buffer.from([MSG.bindConfirm]), c4.subarray(1)]), v4)
    expect((await a4.next())[0]).toBe(0x11)
    // The same bytes again over one family are a replay there: stale timestamp.
    a4.send(bind, v4)
    expect(hex(await a4.next())).toBe(hex(encodeError(ia.publicKey, 3)))
    const r = await client.resolve(ia.publicKey)
    expect([r?.sudph?.observed, r?.sudph6?.observed]).toEqual([`127.0.0.1:${a4.addr.port}`, `[::1]:${a6.addr.port}`])
    await b6.doBind(v6)
    b6.send(b6.connect(ia.publicKey), v6)
    expect(hex(await b6.next())).toBe(hex(encodePeerAddress(ia.publicKey, a6.addr, [])))
  })

  it('two real visors (the Rust core) bind over both families and punch over IPv6', async () => {
    const { Node } = createRequire(import.meta.url)('../../../native/index.js') as typeof import('../../../native/index.js')
    const [ia, ib] = identities(2) as [Identity, Identity]
    const bound: Record<string, string[]> = {}
    const start = (id: Identity) =>
      Node.start({ secretKey: id.secretKey, sudphListen: '[::]:0', resolver: `127.0.0.1:${v4.port}`, resolver6: `[::1]:${v6.port}` }, (ev) => {
        if (ev.kind === 'bound') bound[id.publicKey] = [...(bound[id.publicKey] ?? []), ev.observed]
      })
    const na = await start(ia)
    const nb = await start(ib)
    try {
      await eventually(async () => (bound[ia.publicKey]?.length ?? 0) >= 2 && (bound[ib.publicKey]?.length ?? 0) >= 2, 8000)
      const r = await client.resolve(ia.publicKey)
      const port = Number(na.sudphAddr?.split(':').pop())
      expect(r?.sudph?.observed).toBe(`127.0.0.1:${port}`)
      expect(r?.sudph6?.observed).toBe(`[::1]:${port}`)
      const id = await nb.dial(ia.publicKey, 'sudph', null, 8000)
      // Asked over both families at once; the resolver named the peer over each, IPv6 is tried first.
      const tp = nb.transports().find((t) => t.id === id)
      expect(tp?.remote).toMatch(/^(\[::1\]|127\.0\.0\.1):\d+$/)
    } finally {
      na.close()
      nb.close()
    }
  })
})

describe.each(storeFactories)('STCPR registrations of both families on $name', (factory) => {
  let svc: RunningServices

  afterEach(async () => {
    await svc?.close()
  })

  it('lists IPv4 and IPv6 addresses, and refuses or drops the v6 ones a caller may not publish', async () => {
    svc = await startTest(await factory.make(), { trustProxy: 1 })
    const [a] = identities(1) as [Identity]
    const put = (addresses: string[], from: string) => putStcpr(svc, a, addresses, from)
    const publicV6 = '2a00:1450:4001::1'
    for (const bad of [
      '[::]:7777',
      '[::1]:7777',
      '[fe80::1]:7777',
      '[ff02::1]:7777',
      '[ff05::2]:7777',
      '[::ffff:127.0.0.1]:7777',
      '[::ffff:169.254.169.254]:80',
      '[::7f00:1]:7777',
      '[fec0::1]:7777',
      '[100::1]:7777',
    ]) {
      const r = await put(['[2a00:1450:4001::5]:7777', bad], publicV6)
      expect(r.status, bad).toBe(400)
      expect(String(r.json.error?.message)).toMatch(/is not one other visors may be sent to dial/)
    }
    // ULA, documentation and NAT64 addresses from a public caller are dropped, the global ones kept.
    const r = await put(['[fd00::5]:7777', '[2001:db8::5]:7777', '[64:ff9b::a9fe:a9fe]:80', '[2a00:1450:4001::5]:7777', '8.8.8.8:7777'], publicV6)
    expect(r.status).toBe(200)
    expect(r.json.addresses).toEqual(['[2a00:1450:4001::5]:7777', '8.8.8.8:7777'])
    const resolved = await new ServicesClient({ url: svc.url, retries: 0 }).resolve(a.publicKey)
    expect(resolved?.stcpr).toEqual(['[2a00:1450:4001::5]:7777', '8.8.8.8:7777'])
    // From a ULA (private) caller its own network's v6 addresses are fine.
    expect((await put(['[fd00::5]:7777', '10.0.0.5:7777'], 'fd00::9')).json.addresses).toEqual(['[fd00::5]:7777', '10.0.0.5:7777'])
  })
})
