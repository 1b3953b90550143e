/**
 * Switching servers make-before-break (ts/vpn/client.ts, switchTo) and the
 * exit-info question (the server's claim of where the tunnel meets the
 * internet), against an in-memory network with two real VpnServers. The leak
 * itself is measured on the lab (test/ts/vpn-switch.test.ts); here: the
 * order (the new server's ok before the old server's bye), that the host's
 * routes and kill switch are never taken down in between, and what happens
 * when the new server refuses or cannot be reached.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import type { SkywireError } from '../../../ts/contracts/errors.js'
import { type VpnClientOptions, VpnClient } from '../../../ts/vpn/client.js'
import { type Status, decode } from '../../../ts/vpn/protocol.js'
import { type ExitClaim, VpnServer } from '../../../ts/vpn/server.js'
import { FakeClientHost, FakeServerHost } from '../fakes/host.js'
import { FakeNet, type FakeNode } from '../fakes/node.js'
import { silentLog, wire } from '../fakes/visor.js'

const ONE = 'e'.repeat(64)
const TWO = 'd'.repeat(64)
const ME = 'a'.repeat(64)

const flush = () => new Promise<void>((r) => setImmediate(r))

function exitServer(net: FakeNet, pk: string, pool: string, o: { whitelist?: string[]; exitInfo?: () => Promise<ExitClaim> } = {}) {
  const node = net.node(pk)
  const server = new VpnServer(node, new FakeServerHost(), silentLog, {
    netifc: '',
    secure: true,
    whitelist: o.whitelist ?? [],
    pool,
    dns: ['203.0.113.53'],
    mtu: 1420,
    tunName: 'skyvpn0',
    ...(o.exitInfo ? { exitInfo: o.exitInfo } : {}),
  })
  wire(node, { server })
  return { node, server }
}

async function setup(o: Partial<VpnClientOptions> = {}, two: { whitelist?: string[] } = {}) {
  const net = new FakeNet()
  const one = exitServer(net, ONE, '10.77.0.0/16', { exitInfo: async () => ({ ip: '203.0.113.20', country: 'DE' }) })
  const second = exitServer(net, TWO, '10.88.0.0/16', { ...two, exitInfo: async () => ({ ip: '203.0.113.21', country: 'NL' }) })
  await one.server.start()
  await second.server.start()
  const me = net.node(ME)
  const host = new FakeClientHost()
  const vpn = new VpnClient(me, null, host, silentLog, { order: ['sudph'], tunName: 'skyvpn-c', killswitch: false, dns: [], serviceHosts: [], ...o })
  wire(me, { client: vpn })
  const states: string[] = []
  vpn.on('state', (s) => states.push(s.state))
  return { net, me, host, vpn, states, one, two: second }
}

async function settle<T>(p: Promise<T>, ms = 200): Promise<T | SkywireError> {
  const settled = p.catch((e: SkywireError) => e)
  await vi.advanceTimersByTimeAsync(ms)
  return settled
}

async function connected(o: Partial<VpnClientOptions> = {}, two: { whitelist?: string[] } = {}) {
  const t = await setup(o, two)
  expect(await settle(t.vpn.start(ONE))).toMatchObject({ state: 'connected', server: ONE })
  return { ...t, oldId: t.vpn.status().transportId as number }
}

/** Index in the client's sent log of the first message of `type` on transport `id`. */
function sentAt(me: FakeNode, id: number, type: string): number {
  return me.sent.findIndex((s) => s.id === id && s.msg?.type === type)
}

beforeEach(() => {
  vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval', 'Date'] })
})
afterEach(() => {
  vi.useRealTimers()
})

describe('VPN client: switching servers make-before-break', () => {
  it('start -k OTHER while connected: the new server says ok before the old one gets its bye, and the routes never go', async () => {
    const t = await connected({ killswitch: true })
    const callsBefore = t.host.calls.length
    const st = await settle(t.vpn.start(TWO))
    expect(st).toMatchObject({ state: 'connected', server: TWO, tunnelIp: '10.88.0.2', tun: 'skyvpn-c', lastError: null })
    const newId = t.vpn.status().transportId as number
    expect(newId).not.toBe(t.oldId)
    // Order on the wire: hello to TWO, its ok, then bye to ONE.
    const okAt = t.me.received.findIndex((r) => r.id === newId && r.msg?.type === 'status')
    expect(sentAt(t.me, newId, 'hello')).toBeGreaterThan(-1)
    expect(okAt).toBeGreaterThan(-1)
    expect(sentAt(t.me, t.oldId, 'bye')).toBeGreaterThan(sentAt(t.me, newId, 'hello'))
    // The host: the same TUN takes the new address; no restore, so the routes and the kill switch stay throughout.
    expect(t.host.calls.slice(callsBefore)).toEqual(['readdress skyvpn-c 10.77.0.2 -> 10.88.0.2', 'apply skyvpn-c 10.88.0.2 killswitch'])
    expect(t.host.killswitchLog.every(Boolean)).toBe(true)
    expect(t.me.tuns.size).toBe(1)
    // Everything into the new transport; the old one is closed, and the old server freed our address.
    expect([...t.me.attached.entries()]).toEqual([[newId, { tun: 'skyvpn-c', allowed: ['0.0.0.0/0', '::/0'] }]])
    expect(t.me.closed).toEqual([t.oldId])
    await flush()
    expect(t.one.server.clientCount).toBe(0)
    expect(t.two.server.status().clients.map((c) => [c.pk, c.tunnelIp])).toEqual([[ME, '10.88.0.2']])
    // Never disconnected in between.
    expect(t.states).toEqual(['connecting', 'connected', 'connected'])
  })

  it('a new server that refuses leaves the old tunnel as it was', async () => {
    const t = await connected({}, { whitelist: ['f'.repeat(64)] })
    const calls = [...t.host.calls]
    const err = await settle(t.vpn.start(TWO))
    expect(err).toMatchObject({ code: 'EFORBIDDEN' })
    expect(t.vpn.status()).toMatchObject({ state: 'connected', server: ONE, transportId: t.oldId, tunnelIp: '10.77.0.2' })
    expect(t.host.calls).toEqual(calls)
    expect(t.me.attached.get(t.oldId)).toEqual({ tun: 'skyvpn-c', allowed: ['0.0.0.0/0', '::/0'] })
    expect(t.one.server.clientCount).toBe(1)
    expect(sentAt(t.me, t.oldId, 'bye')).toBe(-1)
  })

  it('a new server that cannot be reached leaves the old tunnel as it was', async () => {
    const t = await connected()
    t.net.unreachable.add(TWO)
    const err = await settle(t.vpn.start(TWO, { timeoutS: 5 }), 6_000)
    expect((err as SkywireError).message).toMatch(/cannot reach|no answer/)
    expect(t.vpn.status()).toMatchObject({ state: 'connected', server: ONE, transportId: t.oldId })
    expect(t.me.closed).toEqual([])
  })

  it('start -k OTHER while reconnecting ends the loop to the old server and connects to the new one in place', async () => {
    const t = await connected({ staleAfterMs: 3_000 })
    t.net.unreachable.add(ONE)
    t.me.cut(t.oldId)
    await vi.advanceTimersByTimeAsync(4_500)
    expect(t.vpn.status().state).toBe('reconnecting')
    const st = await settle(t.vpn.start(TWO), 1_000)
    expect(st).toMatchObject({ state: 'connected', server: TWO, tunnelIp: '10.88.0.2' })
    expect(t.host.calls).not.toContain('restore')
    // The loop to ONE is over: no more dials to it, however long we wait.
    const dialsToOne = t.me.dials.filter((d) => d.pk === ONE).length
    await vi.advanceTimersByTimeAsync(60_000)
    expect(t.me.dials.filter((d) => d.pk === ONE)).toHaveLength(dialsToOne)
    expect(t.vpn.status()).toMatchObject({ state: 'connected', server: TWO })
  })

  it('a second start to the same server is still refused while connected', async () => {
    const t = await connected()
    expect(await settle(t.vpn.start(ONE))).toMatchObject({ code: 'ESTATE' })
  })

  it('stop during a switch ends it and restores the host', async () => {
    const t = await connected()
    t.net.dialMs = 1_000
    const p = settle(t.vpn.start(TWO), 100)
    await vi.advanceTimersByTimeAsync(50)
    await t.vpn.stop()
    expect(await p).toMatchObject({ code: 'ESTATE' })
    await vi.advanceTimersByTimeAsync(2_000)
    await flush()
    expect(t.vpn.status()).toMatchObject({ state: 'disconnected', server: null })
    expect(t.host.applied).toBeNull()
    expect(t.me.transports()).toEqual([])
  })
})

describe('VPN exit info: the server says where the tunnel meets the internet', () => {
  it('a server that lists exit-info is asked after connecting, and its claim is in the status; a switch asks the new one', async () => {
    const t = await connected()
    await flush()
    expect(t.me.sentOn(t.oldId, 'exit-info')).toHaveLength(1)
    expect(t.vpn.status()).toMatchObject({ exitIp: '203.0.113.20', exitCountry: 'DE' })
    await settle(t.vpn.start(TWO))
    await flush()
    expect(t.vpn.status()).toMatchObject({ server: TWO, exitIp: '203.0.113.21', exitCountry: 'NL' })
  })

  it('asks again every minute while connected, and the server looks up at most once a minute however often it is asked', async () => {
    let lookups = 0
    const net = new FakeNet()
    const s = exitServer(net, ONE, '10.77.0.0/16', { exitInfo: async () => ({ ip: `203.0.113.${20 + lookups++}`, country: 'DE' }) })
    await s.server.start()
    const me = net.node(ME)
    const vpn = new VpnClient(me, null, new FakeClientHost(), silentLog, {
      order: ['sudph'],
      tunName: 'c',
      killswitch: false,
      dns: [],
      serviceHosts: [],
    })
    wire(me, { client: vpn })
    await settle(vpn.start(ONE))
    const id = vpn.status().transportId as number
    // A client that asks in a loop costs one frame per question, not a lookup.
    for (let i = 0; i < 50; i++) me.sendControl(id, Buffer.from(JSON.stringify({ type: 'exit-info' })))
    await vi.advanceTimersByTimeAsync(100)
    expect(lookups).toBe(1)
    expect(vpn.status().exitIp).toBe('203.0.113.20')
    await vi.advanceTimersByTimeAsync(61_000)
    expect(me.sentOn(id, 'exit-info').length).toBeGreaterThanOrEqual(52)
    expect(lookups).toBe(2)
    expect(vpn.status().exitIp).toBe('203.0.113.21')
  })

  it('a 0.2.0 server (no features in its ok) is never sent exit-info, and the exit stays unknown', async () => {
    const net = new FakeNet()
    const old = net.node(ONE)
    const ok: Omit<Status, 'type'> = { status: 'ok', address: '10.77.0.2', gateway: '10.77.0.1', prefix: 16, mtu: 1400, dns: ['10.77.0.1'] }
    const seen: string[] = []
    old.on('control', ({ id, data }) => {
      const m = decode(data)
      seen.push(m.type)
      if (m.type === 'hello') old.sendControl(id, Buffer.from(JSON.stringify({ type: 'status', ...ok })))
    })
    const me = net.node(ME)
    const vpn = new VpnClient(me, null, new FakeClientHost(), silentLog, {
      order: ['sudph'],
      tunName: 'c',
      killswitch: false,
      dns: [],
      serviceHosts: [],
    })
    wire(me, { client: vpn })
    expect(await settle(vpn.start(ONE))).toMatchObject({ state: 'connected', exitIp: null, exitCountry: null })
    await vi.advanceTimersByTimeAsync(180_000)
    expect(seen).toEqual(['hello'])
    expect(vpn.status()).toMatchObject({ state: 'connected', exitIp: null, exitCountry: null })
  })

  it('hostile exit answers: a bad IP or country, or a cut-off message, is not taken', async () => {
    const t = await connected()
    await flush()
    const sid = t.one.node.idOf(ME) as number
    for (const bad of [{ ip: 'not-an-ip' }, { country: 'de' }, { country: 'DEU' }, { ip: '1.2.3.4'.repeat(20) }]) {
      t.one.node.sendControl(sid, Buffer.from(JSON.stringify({ type: 'exit', ...bad })))
      await flush()
      expect(t.vpn.status()).toMatchObject({ state: 'connected', exitIp: '203.0.113.20', exitCountry: 'DE' })
    }
    t.one.node.sendControl(sid, Buffer.from('{"type":"exit"'))
    await flush()
    expect(t.vpn.status()).toMatchObject({ state: 'connected', exitIp: '203.0.113.20' })
  })
})

describe('VPN server: exit-info', () => {
  it('ignores exit-info before a hello (nothing is answered, the transport is not refused)', async () => {
    const net = new FakeNet()
    const s = exitServer(net, ONE, '10.77.0.0/16', { exitInfo: async () => ({ ip: '203.0.113.20', country: 'DE' }) })
    await s.server.start()
    const c = net.node(ME)
    const id = net.connect(c, ONE, 'sudph')
    await flush()
    c.sendControl(id, Buffer.from(JSON.stringify({ type: 'exit-info' })))
    await vi.advanceTimersByTimeAsync(1_000)
    expect(c.receivedOn(id)).toEqual([])
    expect(c.transport(id)).not.toBeNull()
  })

  it('sends only what validates, and nothing known when the lookup fails or there is no provider', async () => {
    for (const [exitInfo, want] of [
      [async () => ({ ip: 'garbage', country: 'de' }), { type: 'exit' }],
      [async () => ({ ip: '2001:db8::1', country: null }), { type: 'exit', ip: '2001:db8::1' }],
      [
        async () => {
          throw new Error('services down')
        },
        { type: 'exit' },
      ],
      [undefined, { type: 'exit' }],
    ] as const) {
      const net = new FakeNet()
      const s = exitServer(net, ONE, '10.77.0.0/16', exitInfo ? { exitInfo } : {})
      await s.server.start()
      const c = net.node(ME)
      const id = net.connect(c, ONE, 'sudph')
      await flush()
      c.sendControl(id, Buffer.from(JSON.stringify({ type: 'hello', v: 1, usedNets: [] })))
      await flush()
      c.sendControl(id, Buffer.from(JSON.stringify({ type: 'exit-info' })))
      await vi.advanceTimersByTimeAsync(10)
      expect(c.receivedOn(id, 'exit')).toEqual([want])
    }
  })
})
