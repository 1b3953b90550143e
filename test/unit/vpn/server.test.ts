/**
 * The VPN server's logic (ts/vpn/server.ts) against an in-memory node and
 * host: hellos, refusals, the pool, whitelist, passcode, transports that close
 * or expire. No root, no TUN: the real thing is in test/ts/vpn-*.test.ts.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { EARLY_BYTES_MAX, EARLY_FRAMES_MAX, type VpnServerOptions, VpnServer } from '../../../ts/vpn/server.js'
import type { Status } from '../../../ts/vpn/protocol.js'
import { FakeServerHost } from '../fakes/host.js'
import { FakeNet, type FakeNode } from '../fakes/node.js'
import { silentLog, wire } from '../fakes/visor.js'

const SERVER = 'e'.repeat(64)
const ALICE = 'a'.repeat(64)
const BOB = 'b'.repeat(64)
const CAROL = 'c'.repeat(64)

/** Lets the fake node's events (microtasks) and what they start run. */
const flush = () => new Promise<void>((r) => setImmediate(r))

function setup(o: Partial<VpnServerOptions> = {}) {
  const net = new FakeNet()
  const exit = net.node(SERVER)
  const host = new FakeServerHost()
  const server = new VpnServer(exit, host, silentLog, {
    netifc: '',
    secure: true,
    whitelist: [],
    pool: '10.77.0.0/16',
    dns: ['10.77.0.1'],
    mtu: 1420,
    tunName: 'skyvpn0',
    limits: { helloTimeoutMs: 10_000, closeAfterStatusMs: 500 },
    ...o,
  })
  wire(exit, { server })
  return { net, exit, host, server }
}

type Setup = ReturnType<typeof setup>

/** A client visor `pk` opens a transport to the server. */
async function dialIn(t: Setup, pk: string): Promise<{ c: FakeNode; id: number; sid: number }> {
  const c = t.net.nodes.get(pk) ?? t.net.node(pk)
  const id = t.net.connect(c, SERVER, 'sudph')
  await flush()
  return { c, id, sid: t.exit.idOf(pk) as number }
}

async function say(c: FakeNode, id: number, msg: unknown): Promise<void> {
  c.sendControl(id, Buffer.from(typeof msg === 'string' ? msg : JSON.stringify(msg)))
  await flush()
}

const hello = (extra: Record<string, unknown> = {}) => ({ type: 'hello', v: 1, usedNets: [], ...extra })

function statuses(c: FakeNode, id: number): Status[] {
  return c.receivedOn(id, 'status') as Status[]
}

/** Connects `pk` and returns the address it got. */
async function connected(t: Setup, pk: string, usedNets: string[] = []) {
  const d = await dialIn(t, pk)
  await say(d.c, d.id, hello({ usedNets }))
  const s = statuses(d.c, d.id)
  expect(s).toHaveLength(1)
  expect(s[0]?.status).toBe('ok')
  return { ...d, ip: s[0]?.address as string }
}

beforeEach(() => {
  vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval', 'Date'] })
})
afterEach(() => {
  vi.useRealTimers()
})

describe('VPN server: start and stop', () => {
  it('prepares the host before the TUN, brings it up with the pool, and undoes it on stop', async () => {
    const t = setup({ netifc: 'wlan0' })
    await t.server.start()
    expect(t.host.calls).toEqual(['prepare', 'up skyvpn0 wlan0 10.77.0.0/16 secure'])
    expect(t.exit.tuns.get('skyvpn0')).toEqual({ ipv4: '10.77.0.1/16', mtu: 1420 })
    expect(t.server.status()).toMatchObject({ running: true, netifc: 'wlan0', tun: 'skyvpn0', gateway: '10.77.0.1' })
    const a = await connected(t, ALICE)
    await t.server.stop()
    expect(t.host.calls.at(-1)).toBe('down')
    expect(t.exit.tuns.size).toBe(0)
    expect(t.exit.transport(a.sid)).toBeNull()
    expect(t.server.status()).toMatchObject({ running: false, clients: [], gateway: null })
  })

  it('a netifc that does not exist fails before anything changes on the host', async () => {
    const t = setup({ netifc: 'nosuch0' })
    await expect(t.server.start()).rejects.toThrow(/no network interface nosuch0/)
    expect(t.host.calls).toEqual([])
    expect(t.exit.tuns.size).toBe(0)
  })

  it('ignores hellos while stopped, and takes clients that connected meanwhile on start', async () => {
    const t = setup()
    const d = await dialIn(t, ALICE)
    expect(t.server.onControl(d.sid, Buffer.from(JSON.stringify(hello())))).toBe(false)
    await t.server.start()
    // The transport that was up before start now waits for its hello (and is closed without one).
    await vi.advanceTimersByTimeAsync(10_001)
    expect(t.exit.transport(d.sid)).toBeNull()
  })

  // Issue 18 (d6): after a restart the visor's node answers a redialing client's handshake before its VPN server
  // runs; the client's one hello was dropped and it waited ~10 s for the hello timeout to close the transport.
  it('answers on start a hello said while a start was expected (visor start-up), not after the hello timeout', async () => {
    const t = setup()
    t.server.expectStart()
    const d = await dialIn(t, ALICE)
    await say(d.c, d.id, hello())
    expect(statuses(d.c, d.id)).toHaveLength(0)
    await t.server.start()
    await flush()
    const s = statuses(d.c, d.id)
    expect(s).toHaveLength(1)
    expect(s[0]).toMatchObject({ status: 'ok', address: '10.77.0.2' })
    // Held once: a later start does not answer it again, and the transport stays (it has its address).
    await vi.advanceTimersByTimeAsync(20_000)
    expect(t.exit.transport(d.sid)).not.toBeNull()
    expect(statuses(d.c, d.id)).toHaveLength(1)
  })

  it('drops held hellos whose transport closed before the start, and those held for a start that failed', async () => {
    const t = setup({ netifc: 'nosuch0' })
    t.server.expectStart()
    const gone = await dialIn(t, ALICE)
    await say(gone.c, gone.id, hello())
    t.exit.closeTransport(gone.sid)
    const d = await dialIn(t, BOB)
    await say(d.c, d.id, hello())
    await expect(t.server.start()).rejects.toThrow(/no network interface/)
    // The failed start forgot what it held: a later start (fixed netifc) answers nothing on its own.
    t.server.configure({ netifc: '' })
    await t.server.start()
    await flush()
    expect(statuses(d.c, d.id)).toHaveLength(0)
    expect(statuses(gone.c, gone.id)).toHaveLength(0)
  })

  it('holds at most EARLY_FRAMES_MAX frames and EARLY_BYTES_MAX bytes before the start; the rest are not taken', async () => {
    const t = setup()
    t.server.expectStart()
    const d = await dialIn(t, ALICE)
    const big = Buffer.alloc(EARLY_BYTES_MAX + 1, 0x20)
    expect(t.server.onControl(d.sid, big)).toBe(false)
    const frame = Buffer.from(JSON.stringify({ type: 'bye' }))
    let taken = 0
    for (let i = 0; i < EARLY_FRAMES_MAX + 10; i++) if (t.server.onControl(d.sid, frame)) taken++
    expect(taken).toBe(EARLY_FRAMES_MAX)
  })

  it('holds nothing after stop() or without expectStart (a stopped server ignores hellos as before)', async () => {
    const t = setup()
    t.server.expectStart()
    await t.server.stop()
    const d = await dialIn(t, ALICE)
    expect(t.server.onControl(d.sid, Buffer.from(JSON.stringify(hello())))).toBe(false)
  })
})

describe('VPN server: hello', () => {
  it('answers a hello with an address, the gateway, prefix, MTU and DNS, and routes the address to that transport only', async () => {
    const t = setup()
    await t.server.start()
    const d = await dialIn(t, ALICE)
    await say(d.c, d.id, hello())
    expect(statuses(d.c, d.id)).toEqual([
      {
        type: 'status',
        status: 'ok',
        address: '10.77.0.2',
        gateway: '10.77.0.1',
        prefix: 16,
        mtu: 1420,
        dns: ['10.77.0.1'],
        features: ['exit-info'],
      },
    ])
    expect(t.exit.attached.get(d.sid)).toEqual({ tun: 'skyvpn0', allowed: ['10.77.0.2/32'] })
    expect(t.server.status().clients).toEqual([expect.objectContaining({ pk: ALICE, transportId: d.sid, tunnelIp: '10.77.0.2', transport: 'sudph' })])
  })

  it('refuses another protocol version with version-mismatch and closes the transport after closeAfterStatusMs', async () => {
    const t = setup()
    await t.server.start()
    const d = await dialIn(t, ALICE)
    await say(d.c, d.id, hello({ v: 2 }))
    expect(statuses(d.c, d.id)).toEqual([expect.objectContaining({ status: 'version-mismatch', message: 'server speaks VPN protocol 1, client 2' })])
    expect(t.server.clientCount).toBe(0)
    expect(t.exit.attached.size).toBe(0)
    await vi.advanceTimersByTimeAsync(499)
    expect(t.exit.transport(d.sid)).not.toBeNull()
    await vi.advanceTimersByTimeAsync(1)
    expect(t.exit.transport(d.sid)).toBeNull()
  })

  it.each([
    ['not JSON', '{hello', /not JSON/],
    ['not a hello', { type: 'bogus' }, /bad control message/],
    ['a status instead of a hello', { type: 'status', status: 'ok' }, /expected a hello/],
    ['a prefix with a space', hello({ usedNets: ['10.0.0.0/ 8'] }), /usedNets\.0: must be ADDR\/PREFIX/],
    ['a hex prefix', hello({ usedNets: ['10.0.0.0/0x10'] }), /usedNets\.0/],
    ['a leading zero', hello({ usedNets: ['10.0.0.0/08'] }), /usedNets\.0/],
    ['two slashes', hello({ usedNets: ['10.0.0.0/8/9'] }), /usedNets\.0/],
    ['a prefix past 32', hello({ usedNets: ['10.0.0.0/33'] }), /usedNets\.0/],
    ['a network broader than /8', hello({ usedNets: ['192.168.1.0/24', '0.0.0.0/0'] }), /usedNets\.1: must be \/8 or narrower/],
    ['more than 64 networks', hello({ usedNets: Array.from({ length: 65 }, (_, i) => `10.${i}.0.0/16`) }), /usedNets/],
    ['no version', { type: 'hello', usedNets: [] }, /v:/],
  ])('refuses %s with one error status and closes the transport', async (_what, msg, why) => {
    const t = setup()
    await t.server.start()
    const d = await dialIn(t, ALICE)
    await say(d.c, d.id, msg)
    const s = statuses(d.c, d.id)
    expect(s).toHaveLength(1)
    expect(s[0]?.status).toBe('error')
    expect(s[0]?.message).toMatch(why)
    expect(s[0]?.retryAfterMs).toBeUndefined()
    expect(t.server.clientCount).toBe(0)
    await vi.advanceTimersByTimeAsync(500)
    expect(t.exit.transport(d.sid)).toBeNull()
  })

  it('takes IPv6 and narrow IPv4 networks the client uses, and never hands out an address inside them', async () => {
    const t = setup()
    await t.server.start()
    const a = await connected(t, ALICE, ['fd00::/64', '10.77.0.0/24', '10.77.1.0/30'])
    expect(a.ip).toBe('10.77.1.4')
  })

  it('closes a transport that says no hello within helloTimeoutMs, and keeps one that did', async () => {
    const t = setup()
    await t.server.start()
    const quiet = await dialIn(t, ALICE)
    const a = await dialIn(t, BOB)
    await vi.advanceTimersByTimeAsync(9_000)
    await say(a.c, a.id, hello())
    await vi.advanceTimersByTimeAsync(1_000)
    expect(t.exit.transport(quiet.sid)).toBeNull()
    expect(t.exit.transport(a.sid)).not.toBeNull()
    await vi.advanceTimersByTimeAsync(60_000)
    expect(t.exit.transport(a.sid)).not.toBeNull()
  })

  it('ignores transports it dialed itself', async () => {
    const t = setup()
    await t.server.start()
    t.net.node(ALICE)
    const id = t.net.connect(t.exit, ALICE, 'sudph')
    await flush()
    expect(t.server.onControl(id, Buffer.from(JSON.stringify(hello())))).toBe(false)
    await vi.advanceTimersByTimeAsync(20_000)
    expect(t.exit.transport(id)).not.toBeNull()
  })
})

describe('VPN server: one hello per transport, and the answer while closing', () => {
  it('refuses a second hello with retryAfterMs, frees the address, and answers one hello on the closing transport', async () => {
    const t = setup()
    await t.server.start()
    const a = await connected(t, ALICE)
    await say(a.c, a.id, hello())
    const s = statuses(a.c, a.id)
    expect(s).toHaveLength(2)
    expect(s[1]).toMatchObject({ status: 'error', retryAfterMs: 1000 })
    expect(s[1]?.message).toMatch(/one hello per transport/)
    expect(t.server.clientCount).toBe(0)
    expect(t.exit.attached.has(a.sid)).toBe(false)
    // A client that lost the transport without a bye says hello again on it while it closes: told once to dial again.
    await say(a.c, a.id, { type: 'bye' })
    await say(a.c, a.id, '{garbage')
    await say(a.c, a.id, hello())
    await say(a.c, a.id, hello())
    const later = statuses(a.c, a.id).slice(2)
    expect(later).toEqual([
      expect.objectContaining({ status: 'error', message: 'the previous transport is closing; dial again', retryAfterMs: 1000 }),
    ])
    await vi.advanceTimersByTimeAsync(500)
    expect(t.exit.transport(a.sid)).toBeNull()
    // The next transport gets a fresh hello and the freed address.
    const again = await connected(t, ALICE)
    expect(again.ip).toBe('10.77.0.2')
  })

  it('after a bye the same transport may say hello again and gets an address', async () => {
    const t = setup()
    await t.server.start()
    const a = await connected(t, ALICE)
    await say(a.c, a.id, { type: 'bye' })
    expect(t.server.clientCount).toBe(0)
    expect(t.exit.attached.has(a.sid)).toBe(false)
    await say(a.c, a.id, hello())
    expect(statuses(a.c, a.id).map((s) => s.status)).toEqual(['ok', 'ok'])
    expect(t.server.clientCount).toBe(1)
  })

  it('a transport idle after its bye is closed after helloTimeoutMs', async () => {
    const t = setup()
    await t.server.start()
    const a = await connected(t, ALICE)
    await vi.advanceTimersByTimeAsync(30_000)
    await say(a.c, a.id, { type: 'bye' })
    await vi.advanceTimersByTimeAsync(9_999)
    expect(t.exit.transport(a.sid)).not.toBeNull()
    await vi.advanceTimersByTimeAsync(1)
    expect(t.exit.transport(a.sid)).toBeNull()
  })

  it('a bye before any hello does not restart the hello timer', async () => {
    const t = setup()
    await t.server.start()
    const d = await dialIn(t, ALICE)
    await vi.advanceTimersByTimeAsync(6_000)
    await say(d.c, d.id, { type: 'bye' })
    await vi.advanceTimersByTimeAsync(4_000)
    expect(t.exit.transport(d.sid)).toBeNull()
  })
})

describe('VPN server: the address pool', () => {
  it('gives each client its own address and attaches each transport to its own /32 only', async () => {
    const t = setup()
    await t.server.start()
    const a = await connected(t, ALICE)
    const b = await connected(t, BOB)
    const c = await connected(t, CAROL)
    expect([a.ip, b.ip, c.ip]).toEqual(['10.77.0.2', '10.77.0.3', '10.77.0.4'])
    // Client-to-client traffic the firewall drops; here the logic: a transport
    // is allowed exactly its own address as source and destination.
    expect([...t.exit.attached.values()].map((x) => x.allowed)).toEqual([['10.77.0.2/32'], ['10.77.0.3/32'], ['10.77.0.4/32']])
  })

  it('frees the address on bye, on a transport that goes down, and on one the core expires', async () => {
    const t = setup()
    await t.server.start()
    const a = await connected(t, ALICE)
    const b = await connected(t, BOB)
    const c = await connected(t, CAROL)
    await say(a.c, a.id, { type: 'bye' })
    t.exit.drop(b.sid, 'closed by the peer')
    // An idle transport the core gives up on ends the same way, with its reason.
    t.exit.drop(c.sid, 'expired: no packets for 60 s')
    await flush()
    expect(t.server.clientCount).toBe(0)
    expect(t.server.status().clients).toEqual([])
    const got: string[] = []
    for (const pk of ['d'.repeat(64), 'f'.repeat(64), '1'.repeat(64)]) got.push((await connected(t, pk)).ip)
    expect(got.sort()).toEqual(['10.77.0.2', '10.77.0.3', '10.77.0.4'])
  })

  it('refuses with no-free-address when the pool is used up, and serves again once one is freed', async () => {
    const t = setup({ pool: '10.9.0.0/29' })
    await t.server.start()
    const held = []
    for (let i = 0; i < 5; i++) held.push(await connected(t, String(i).repeat(64)))
    expect(held.map((h) => h.ip)).toEqual(['10.9.0.2', '10.9.0.3', '10.9.0.4', '10.9.0.5', '10.9.0.6'])
    const late = await dialIn(t, ALICE)
    await say(late.c, late.id, hello())
    expect(statuses(late.c, late.id)).toEqual([
      expect.objectContaining({ status: 'no-free-address', message: "no address left in the pool outside the client's networks" }),
    ])
    t.exit.drop(held[2]?.sid as number, 'closed by the peer')
    await flush()
    expect((await connected(t, BOB)).ip).toBe('10.9.0.4')
  })

  it('says so when the client networks cover the whole pool', async () => {
    const t = setup({ pool: '10.9.0.0/24' })
    await t.server.start()
    const d = await dialIn(t, ALICE)
    await say(d.c, d.id, hello({ usedNets: ['10.9.0.0/25', '10.9.0.128/25'] }))
    expect(statuses(d.c, d.id)).toEqual([
      expect.objectContaining({ status: 'no-free-address', message: "your networks cover the server's whole pool 10.9.0.0/24" }),
    ])
  })

  it('stop gives every address back: after a restart numbering starts over', async () => {
    const t = setup()
    await t.server.start()
    await connected(t, ALICE)
    await connected(t, BOB)
    await t.server.stop()
    await flush()
    await t.server.start()
    expect((await connected(t, CAROL)).ip).toBe('10.77.0.2')
  })
})

describe('VPN server: whitelist and passcode', () => {
  it('admits only whitelisted keys, before any address is given', async () => {
    const t = setup({ whitelist: [BOB] })
    await t.server.start()
    const a = await dialIn(t, ALICE)
    await say(a.c, a.id, hello())
    expect(statuses(a.c, a.id)).toEqual([
      expect.objectContaining({ status: 'forbidden', message: 'this server only admits whitelisted public keys' }),
    ])
    expect(t.exit.attached.size).toBe(0)
    // Bob gets the first address: Alice's refusal took none.
    expect((await connected(t, BOB)).ip).toBe('10.77.0.2')
  })

  it('an empty whitelist admits everyone; configure changes it only while stopped', async () => {
    const t = setup()
    await t.server.start()
    expect(() => t.server.configure({ whitelist: [BOB] })).toThrow(/stop it first/)
    await connected(t, ALICE)
    await t.server.stop()
    t.server.configure({ whitelist: [BOB] })
    await t.server.start()
    const a = await dialIn(t, ALICE)
    await say(a.c, a.id, hello())
    expect(statuses(a.c, a.id).at(-1)?.status).toBe('forbidden')
  })

  it('checks the passcode, and refuses a key past its wrong guesses until the window moves on', async () => {
    const t = setup({ passcode: 'sesame', limits: { passcode: { failuresPerKey: 3, failuresTotal: 100, windowMs: 60_000 } } })
    await t.server.start()
    const tryOnce = async (pk: string, passcode?: string) => {
      const d = await dialIn(t, pk)
      await say(d.c, d.id, hello(passcode === undefined ? {} : { passcode }))
      const s = statuses(d.c, d.id).at(-1)
      await vi.advanceTimersByTimeAsync(500)
      return s?.status === 'ok' ? 'ok' : (s?.message ?? '')
    }
    expect(await tryOnce(ALICE)).toBe('wrong passcode')
    expect(await tryOnce(ALICE, 'sesam')).toBe('wrong passcode')
    expect(await tryOnce(ALICE, 'Sesame')).toBe('wrong passcode')
    expect(await tryOnce(ALICE, 'sesame')).toBe('too many wrong passcodes; try again later')
    // Another key is not held back by Alice's guesses.
    expect(await tryOnce(BOB, 'sesame')).toBe('ok')
    await vi.advanceTimersByTimeAsync(60_000)
    expect(await tryOnce(ALICE, 'sesame')).toBe('ok')
  })
})
