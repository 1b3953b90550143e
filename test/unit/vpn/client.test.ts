/**
 * The VPN client's logic (ts/vpn/client.ts) against an in-memory node, host
 * and (real or scripted) server: connect, liveness, the reconnect loop and
 * its give-up, stop at every stage, and the server's refusals. Time is
 * vitest's fake clock: a 45 s backoff takes no time. No root, no TUN: the
 * real thing is in test/ts/vpn-*.test.ts.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { SkywireError } from '../../../ts/contracts/errors.js'
import { type VpnClientOptions, VpnClient } from '../../../ts/vpn/client.js'
import { type Status, decode } from '../../../ts/vpn/protocol.js'
import { VpnServer } from '../../../ts/vpn/server.js'
import { FakeClientHost, FakeServerHost } from '../fakes/host.js'
import { FakeNet } from '../fakes/node.js'
import { silentLog, wire } from '../fakes/visor.js'

const SERVER = 'e'.repeat(64)
const ME = 'a'.repeat(64)
const OTHER = 'b'.repeat(64)
const OK: Omit<Status, 'type'> = { status: 'ok', address: '10.77.0.2', gateway: '10.77.0.1', prefix: 16, mtu: 1400, dns: ['10.77.0.1'] }

const flush = () => new Promise<void>((r) => setImmediate(r))

/** A client visor and a server visor running the real VpnServer, on one fake network. */
async function setup(o: Partial<VpnClientOptions> = {}, whitelist: string[] = []) {
  const net = new FakeNet()
  const exit = net.node(SERVER)
  const server = new VpnServer(exit, new FakeServerHost(), silentLog, {
    netifc: '',
    secure: true,
    whitelist,
    pool: '10.77.0.0/16',
    dns: ['10.77.0.1'],
    mtu: 1420,
    tunName: 'skyvpn0',
  })
  wire(exit, { server })
  await server.start()
  return { ...client(net, o), exit, server }
}

/** A client visor on `net`; `states` collects every state it emits. */
function client(net: FakeNet, o: Partial<VpnClientOptions> = {}) {
  const me = net.node(ME)
  const host = new FakeClientHost()
  const vpn = new VpnClient(me, null, host, silentLog, { order: ['sudph'], tunName: 'skyvpn-c', killswitch: false, dns: [], serviceHosts: [], ...o })
  wire(me, { client: vpn })
  const states: string[] = []
  vpn.on('state', (s) => states.push(s.state))
  return { net, me, host, vpn, states }
}

/** A server visor that answers each hello with what `answer` says for the n-th hello (null: no answer). */
function scripted(net: FakeNet, answer: (n: number) => Omit<Status, 'type'> | string | null) {
  const exit = net.node(SERVER)
  let n = 0
  exit.on('control', ({ id, data }) => {
    if (decode(data).type !== 'hello') return
    const a = answer(n++)
    if (a !== null) exit.sendControl(id, Buffer.from(typeof a === 'string' ? a : JSON.stringify({ type: 'status', ...a })))
  })
  return exit
}

/** `p`, settled after `ms` of fake time; a rejection comes back as the error (never unhandled). */
async function settle<T>(p: Promise<T>, ms = 200): Promise<T | SkywireError> {
  const settled = p.catch((e: SkywireError) => e)
  await vi.advanceTimersByTimeAsync(ms)
  return settled
}

async function connectedClient(o: Partial<VpnClientOptions> = {}) {
  const t = await setup(o)
  const st = await settle(t.vpn.start(SERVER))
  expect(st).toMatchObject({ state: 'connected' })
  return { ...t, id: t.vpn.status().transportId as number }
}

beforeEach(() => {
  vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval', 'Date'] })
})
afterEach(() => {
  vi.useRealTimers()
})

describe('VPN client: connect and stop', () => {
  it('says hello with its networks, takes the address, and routes everything through the TUN', async () => {
    const t = await setup()
    const stages: string[] = []
    const st = await settle(t.vpn.start(SERVER, { onProgress: (s) => stages.push(s) }))
    expect(st).toMatchObject({
      state: 'connected',
      server: SERVER,
      transport: 'sudph',
      tunnelIp: '10.77.0.2',
      tun: 'skyvpn-c',
      dns: ['10.77.0.1'],
      lastError: null,
    })
    const id = t.vpn.status().transportId as number
    // IPv4 networks only, as the server's schema takes them.
    expect(t.me.sentOn(id, 'hello')).toEqual([{ type: 'hello', v: 1, usedNets: expect.arrayContaining(['192.168.1.0/24', '172.17.0.0/16']) }])
    expect((t.me.sentOn(id, 'hello')[0] as { usedNets: string[] }).usedNets).toHaveLength(2)
    expect(t.me.tuns.get('skyvpn-c')).toEqual({ ipv4: '10.77.0.2/32', mtu: 1420 })
    expect(t.me.attached.get(id)).toEqual({ tun: 'skyvpn-c', allowed: ['0.0.0.0/0', '::/0'] })
    expect(t.host.applied).toEqual({ tun: 'skyvpn-c', tunnelIp: '10.77.0.2', dns: ['10.77.0.1'], killswitch: false })
    expect(t.states).toEqual(['connecting', 'connected'])
    expect(stages).toEqual(['punching a UDP path (SUDPH)', 'asking the server for an address', 'routing traffic through the tunnel'])
    expect(t.server.status().clients.map((c) => [c.pk, c.tunnelIp])).toEqual([[ME, '10.77.0.2']])
  })

  it('stop says bye (the server frees the address at once), closes the transport and the TUN, and restores the host', async () => {
    const t = await connectedClient({ killswitch: true })
    expect(t.host.killswitch).toBe(true)
    const st = await t.vpn.stop()
    await flush()
    expect(st).toMatchObject({ state: 'disconnected', server: null, tun: null, tunnelIp: null, transportId: null })
    expect(t.me.sentOn(t.id, 'bye')).toHaveLength(1)
    expect(t.server.clientCount).toBe(0)
    expect(t.me.transports()).toEqual([])
    expect(t.me.tuns.size).toBe(0)
    expect(t.host.applied).toBeNull()
    expect(t.host.killswitch).toBe(false)
    expect(t.host.calls.slice(-2)).toEqual(['restore', 'tunGone skyvpn-c'])
  })

  it('uses its own DNS servers when configured', async () => {
    const t = await connectedClient({ dns: ['9.9.9.9'] })
    expect(t.host.applied?.dns).toEqual(['9.9.9.9'])
  })

  it('refuses a second start to the same server while connected, naming the server', async () => {
    const t = await connectedClient()
    const err = await settle(t.vpn.start(SERVER))
    expect(err).toMatchObject({ code: 'ESTATE', message: `the VPN is already connected to ${SERVER}; stop it first` })
    expect(t.vpn.status().server).toBe(SERVER)
  })

  it('--existing-tp rides the transport that is up and leaves it up on stop; without one it says so', async () => {
    const t = await setup()
    expect(await settle(t.vpn.start(SERVER, { existingTp: true }))).toMatchObject({ code: 'ENOTRANSPORT' })
    const id = t.net.connect(t.me, SERVER, 'sudph')
    await flush()
    expect(await settle(t.vpn.start(SERVER, { existingTp: true }))).toMatchObject({ state: 'connected', transportId: id })
    expect(t.me.dials).toEqual([])
    await t.vpn.stop()
    await flush()
    expect(t.me.transport(id)).not.toBeNull()
    expect(t.server.clientCount).toBe(0)
  })

  it('a server that is offline fails the start in one line, leaving the host untouched', async () => {
    const net = new FakeNet()
    const t = client(net)
    const err = await settle(t.vpn.start(SERVER, { timeoutS: 5 }), 5_000)
    expect(err).toBeInstanceOf(SkywireError)
    expect(err).toMatchObject({ code: 'EOFFLINE', message: `${SERVER} is offline (sudph: ${SERVER} is not bound at the address resolver)` })
    expect(t.host.applied).toBeNull()
    expect(t.host.calls.filter((c) => c.startsWith('apply'))).toEqual([])
    expect(t.vpn.status()).toMatchObject({ state: 'disconnected', server: null, lastError: (err as Error).message })
  })

  it('a server that never answers the hello fails the start at the deadline with a bye', async () => {
    const net = new FakeNet()
    const exit = scripted(net, () => null)
    const t = client(net)
    let settled = false
    const p = t.vpn.start(SERVER, { timeoutS: 8 }).catch((e: Error) => e)
    void p.finally(() => {
      settled = true
    })
    await vi.advanceTimersByTimeAsync(7_000)
    expect(settled).toBe(false)
    expect(exit.transports()).toHaveLength(1)
    await vi.advanceTimersByTimeAsync(1_100)
    const err = await p
    expect(err).toMatchObject({ code: 'ETIMEOUT', message: 'the server did not answer the VPN hello in time' })
    expect(t.me.transports()).toEqual([])
    expect(t.host.applied).toBeNull()
  })
})

describe('VPN client: a hello whose transport closes', () => {
  it('fails the start at once, not at the deadline', async () => {
    const net = new FakeNet()
    const exit = scripted(net, () => null)
    const t = client(net)
    const p = t.vpn.start(SERVER, { timeoutS: 20 }).catch((e: Error) => e)
    await vi.advanceTimersByTimeAsync(100)
    expect(exit.transports()).toHaveLength(1)
    const id = t.me.transports()[0]?.id as number
    t.me.drop(id, 'connection closed by peer')
    await vi.advanceTimersByTimeAsync(10)
    const err = await p
    expect(err).toMatchObject({
      code: 'ECLOSED',
      message: 'the transport closed before the server answered the VPN hello (connection closed by peer)',
    })
    expect(t.host.applied).toBeNull()
  })
})

describe('VPN client: refusals and what the server says', () => {
  it('a server refusing us (whitelist) fails the start in one line, nothing applied, transport closed', async () => {
    const t = await setup({}, [OTHER])
    const err = await settle(t.vpn.start(SERVER))
    expect(err).toMatchObject({
      code: 'EFORBIDDEN',
      message: `server ${SERVER} refused the connection (forbidden): this server only admits whitelisted public keys`,
    })
    expect((err as Error).message).not.toContain('\n')
    expect(t.host.calls.filter((c) => c.startsWith('apply'))).toEqual([])
    expect(t.me.tuns.size).toBe(0)
    expect(t.me.transports()).toEqual([])
    expect(t.me.dials).toHaveLength(1)
    expect(t.vpn.status()).toMatchObject({ state: 'disconnected', lastError: (err as Error).message })
  })

  it.each([
    [
      { status: 'version-mismatch', message: 'server speaks VPN protocol 2, client 1' },
      'EVERSION',
      'speaks another VPN protocol version: server speaks VPN protocol 2, client 1',
    ],
    [{ status: 'no-free-address' }, 'ENOADDRESS', 'has no free address for us'],
    [{ status: 'error', message: 'boom' }, 'EREMOTE', 'answered with an error: boom'],
    [
      { ...OK, address: '127.0.0.5', gateway: '127.0.0.1' },
      'EREMOTE',
      'sent an unusable VPN setup: tunnel address 127.0.0.5 is loopback; nothing was changed',
    ],
    [{ ...OK, address: '192.168.1.7', gateway: '192.168.1.1', prefix: 24 }, 'EREMOTE', "lies in this host's own network 192.168.1.0/24"],
    ['{"type":"status","status":"ok","address":"nope"}', 'EREMOTE', 'sent an unreadable VPN status'],
  ] as const)('an answer %j fails the start with %s, without a redial or a host change', async (answer, code, text) => {
    const net = new FakeNet()
    scripted(net, () => answer as Omit<Status, 'type'> | string)
    const t = client(net)
    const err = await settle(t.vpn.start(SERVER))
    expect(err).toMatchObject({ code })
    expect((err as Error).message).toContain(text)
    expect(t.me.dials).toHaveLength(1)
    expect(t.host.calls.filter((c) => c.startsWith('apply'))).toEqual([])
    expect(t.me.tuns.size).toBe(0)
    expect(t.me.transports()).toEqual([])
  })

  it('a server that answers retryAfterMs is dialed again after that pause on a new transport', async () => {
    const net = new FakeNet()
    const exit = scripted(net, (n) =>
      n === 0 ? { status: 'error', message: 'the previous transport is closing; dial again', retryAfterMs: 800 } : OK,
    )
    const t = client(net)
    const st = await settle(t.vpn.start(SERVER), 1_000)
    expect(st).toMatchObject({ state: 'connected', tunnelIp: '10.77.0.2' })
    expect(t.me.dials).toHaveLength(2)
    const [d0, d1] = t.me.dials
    // The first dial took dialMs; then the pause the server named.
    expect((d1?.at as number) - (d0?.at as number)).toBe(t.net.dialMs + 800)
    // The refused transport got a bye and was closed.
    const first = t.me.closed[0] as number
    expect(t.me.sentOn(first, 'bye')).toHaveLength(1)
    expect(exit.transports()).toHaveLength(1)
  })

  it('waits at most 5 s whatever retryAfterMs says, and redials at most twice', async () => {
    const net = new FakeNet()
    scripted(net, () => ({ status: 'error', message: 'again', retryAfterMs: 60_000 }))
    const t = client(net)
    const err = await settle(t.vpn.start(SERVER, { timeoutS: 60 }), 20_000)
    expect(err).toMatchObject({ code: 'EREMOTE', message: `server ${SERVER} answered with an error: again` })
    const at = t.me.dials.map((d) => d.at)
    expect(at.slice(1).map((x, i) => x - (at[i] as number))).toEqual([t.net.dialMs + 5_000, t.net.dialMs + 5_000])
  })

  it('does not redial for retryAfterMs over a transport it did not open', async () => {
    const net = new FakeNet()
    scripted(net, () => ({ status: 'error', message: 'again', retryAfterMs: 100 }))
    const t = client(net)
    const id = t.net.connect(t.me, SERVER, 'sudph')
    await flush()
    expect(await settle(t.vpn.start(SERVER, { existingTp: true }), 1_000)).toMatchObject({ code: 'EREMOTE' })
    expect(t.me.dials).toEqual([])
    expect(t.me.sentOn(id, 'hello')).toHaveLength(1)
  })
})

describe('VPN client: liveness and reconnecting', () => {
  it('a silent transport (staleAfterS) is closed and redialed at once; the routes stay meanwhile', async () => {
    const t = await connectedClient({ staleAfterMs: 3_000 })
    const cut = Date.now()
    t.me.cut(t.id)
    // A slow dial, so the state between the loss and the new transport can be seen.
    t.net.dialMs = 1_000
    await vi.advanceTimersByTimeAsync(2_900)
    expect(t.vpn.status().state).toBe('connected')
    await vi.advanceTimersByTimeAsync(1_200)
    expect(t.vpn.status()).toMatchObject({ state: 'reconnecting', lastError: 'no packets from the server for 3 s' })
    expect(t.me.closed).toEqual([t.id])
    expect(t.host.applied).not.toBeNull()
    expect(t.me.tuns.has('skyvpn-c')).toBe(true)
    // The first reconnect dial went out with the loss, not after a backoff.
    expect(t.me.dials).toHaveLength(2)
    expect((t.me.dials[1]?.at ?? 0) - cut).toBeLessThanOrEqual(4_100)
    await vi.advanceTimersByTimeAsync(1_100)
    // The server still holds the silent transport's address: the new one differs, and the TUN takes it in place.
    expect(t.vpn.status()).toMatchObject({ state: 'connected', tunnelIp: '10.77.0.3', lastError: null })
    expect(t.me.dials).toHaveLength(2)
    expect(t.host.calls).toContain('readdress skyvpn-c 10.77.0.2 -> 10.77.0.3')
    expect(t.host.calls).not.toContain('restore')
    expect(t.states).toEqual(['connecting', 'connected', 'reconnecting', 'connected'])
  })

  it('a transport that carries traffic is never counted as lost', async () => {
    const t = await connectedClient({ staleAfterMs: 3_000 })
    await vi.advanceTimersByTimeAsync(120_000)
    expect(t.vpn.status().state).toBe('connected')
    expect(t.me.dials).toHaveLength(1)
  })

  it('the default silence limit is 15 s', async () => {
    const t = await connectedClient()
    t.me.cut(t.id)
    t.net.dialMs = 1_000
    await vi.advanceTimersByTimeAsync(14_900)
    expect(t.vpn.status().state).toBe('connected')
    await vi.advanceTimersByTimeAsync(1_200)
    expect(t.vpn.status().state).toBe('reconnecting')
  })

  it('without readdress, a new address rebuilds the TUN while the kill switch stays up', async () => {
    const t = await connectedClient({ staleAfterMs: 3_000, killswitch: true })
    t.host.readdress = undefined
    t.me.cut(t.id)
    await vi.advanceTimersByTimeAsync(6_000)
    expect(t.vpn.status()).toMatchObject({ state: 'connected', tunnelIp: '10.77.0.3' })
    expect(t.host.calls.slice(-2)).toEqual(['restore keeping the kill switch', 'apply skyvpn-c 10.77.0.3 killswitch'])
    expect(t.host.killswitchLog).toEqual([true, true, true])
    expect(t.me.tuns.get('skyvpn-c')).toEqual({ ipv4: '10.77.0.3/32', mtu: 1420 })
  })

  it('a lost server is redialed at once, then 0.1, 0.2, 0.4 s, every 0.5 s for 10 s, every 1 s until 30 s, then 2, 4, 8, 15 s; the host keeps routes and kill switch until it is back', async () => {
    const t = await connectedClient({ killswitch: true })
    t.net.unreachable.add(SERVER)
    const lost = Date.now()
    t.me.drop(t.id, 'closed by the peer')
    await vi.advanceTimersByTimeAsync(46_000)
    expect(t.vpn.status()).toMatchObject({ state: 'reconnecting', lastError: `cannot reach ${SERVER}: sudph: no answer from ${SERVER}` })
    const at = t.me.dials.map((d) => d.at).slice(1)
    expect(at[0]).toBe(lost)
    // Each failed dial takes dialFailMs, then the next backoff.
    const gaps = at.slice(1).map((x, i) => x - (at[i] as number) - t.net.dialFailMs)
    expect(gaps.slice(0, 5)).toEqual([100, 200, 400, 500, 500])
    const fast = gaps.slice(0, -3)
    expect(fast.every((g) => g <= 1_000)).toBe(true)
    // Each gap is as long as the phase it started in allows: 0.5 s in the first 10 s, 1 s after.
    const lostAt = (i: number) => (at[i] as number) + t.net.dialFailMs - lost
    expect(fast.slice(3).every((g, i) => g === (lostAt(i + 3) < 10_000 ? 500 : 1_000))).toBe(true)
    expect(gaps.slice(-3)).toEqual([2_000, 4_000, 8_000])
    // About 18 in the first 10 s, 20 in the next 20, then no more than one per 15 s from then on.
    expect(at.length).toBeLessThanOrEqual(45)
    expect(t.host.applied).not.toBeNull()
    expect(t.host.killswitch).toBe(true)
    expect(t.host.calls.filter((c) => c.startsWith('restore'))).toEqual([])
    t.net.unreachable.delete(SERVER)
    await vi.advanceTimersByTimeAsync(15_100)
    expect(t.vpn.status()).toMatchObject({ state: 'connected', tunnelIp: '10.77.0.2', lastError: null })
    // The server freed the old address when the transport went down: the same one comes back, the TUN stays.
    expect(t.host.calls.filter((c) => c.startsWith('readdress'))).toEqual([])
  })

  it('reconnectTimeoutS: gives up in one line, restores routes and DNS, keeps the kill switch until stop', async () => {
    const t = await connectedClient({ killswitch: true, reconnectTimeoutS: 10 })
    t.net.unreachable.add(SERVER)
    t.me.drop(t.id, 'closed by the peer')
    await vi.advanceTimersByTimeAsync(9_900)
    expect(t.vpn.status().state).toBe('reconnecting')
    await vi.advanceTimersByTimeAsync(200)
    const st = t.vpn.status()
    expect(st.state).toBe('disconnected')
    expect(st.server).toBeNull()
    expect(st.lastError).toBe(
      `gave up reconnecting to VPN server ${SERVER} after 10 s: cannot reach ${SERVER}: sudph: no answer from ${SERVER}; ` +
        'routes and DNS restored, the kill switch stays on until `skywire cli vpn stop`',
    )
    expect(t.host.applied).toBeNull()
    expect(t.host.killswitch).toBe(true)
    expect(t.me.tuns.size).toBe(0)
    const dials = t.me.dials.length
    await vi.advanceTimersByTimeAsync(120_000)
    expect(t.me.dials).toHaveLength(dials)
    await t.vpn.stop()
    expect(t.host.killswitch).toBe(false)
  })

  it('reconnectTimeoutS without the kill switch says routes and DNS restored, and a later start connects again', async () => {
    const t = await connectedClient({ reconnectTimeoutS: 5 })
    t.net.unreachable.add(SERVER)
    t.me.drop(t.id, 'closed by the peer')
    await vi.advanceTimersByTimeAsync(5_100)
    expect(t.vpn.status().lastError).toMatch(/^gave up reconnecting to VPN server e+ after 5 s: .*; routes and DNS restored$/)
    expect(t.host.killswitch).toBe(false)
    t.net.unreachable.delete(SERVER)
    expect(await settle(t.vpn.start(SERVER))).toMatchObject({ state: 'connected' })
  })

  it('a roam (default route changed) redials a TCP transport but not a UDP one', async () => {
    const t = await connectedClient()
    t.host.changePath()
    expect(t.vpn.status().state).toBe('connected')
    // The same client over STCPR: the real services are not needed, only an address for the server.
    const net = new FakeNet()
    const exit = net.node(SERVER)
    const server = new VpnServer(exit, new FakeServerHost(), silentLog, {
      netifc: '',
      secure: true,
      whitelist: [],
      pool: '10.77.0.0/16',
      dns: [],
      mtu: 1420,
      tunName: 'skyvpn0',
    })
    wire(exit, { server })
    await server.start()
    const me = net.node(ME)
    const host = new FakeClientHost()
    const services = { resolve: async () => ({ stcpr: ['198.51.100.1:7777'], sudph: null }) }
    const vpn = new VpnClient(me, services as never, host, silentLog, {
      order: ['stcpr'],
      tunName: 'skyvpn-c',
      killswitch: false,
      dns: [],
      serviceHosts: [],
    })
    wire(me, { client: vpn })
    expect(await settle(vpn.start(SERVER))).toMatchObject({ state: 'connected', transport: 'stcpr' })
    host.changePath()
    expect(vpn.status()).toMatchObject({ state: 'reconnecting', lastError: 'the default route changed' })
    await vi.advanceTimersByTimeAsync(1_100)
    expect(vpn.status().state).toBe('connected')
    expect(me.dials.map((d) => d.transport)).toEqual(['stcpr', 'stcpr'])
  })
})

describe('VPN client: stop at every stage', () => {
  it('stop ends a dial in flight at once, and the transport that comes up later is closed', async () => {
    const t = await setup()
    t.me.holdDials = true
    const p = t.vpn.start(SERVER, { timeoutS: 60 }).catch((e: Error) => e)
    await flush()
    expect(t.me.held).toHaveLength(1)
    const st = await t.vpn.stop()
    expect(st.state).toBe('disconnected')
    // No fake time passed: the start ended because of the stop, not its deadline.
    expect(await p).toMatchObject({ code: 'ESTATE', message: 'the VPN was stopped while connecting' })
    const late = await (t.me.held[0] as { complete(): Promise<number> }).complete()
    await flush()
    expect(t.me.closed).toEqual([late])
    expect(t.me.transports()).toEqual([])
    expect(t.exit.transports()).toEqual([])
    expect(t.host.calls.filter((c) => c.startsWith('apply'))).toEqual([])
    expect(t.me.sentOn(late, 'hello')).toEqual([])
  })

  it('stop while waiting for the server answer ends the start at once with a bye', async () => {
    const net = new FakeNet()
    scripted(net, () => null)
    const t = client(net)
    const p = t.vpn.start(SERVER, { timeoutS: 60 }).catch((e: Error) => e)
    await vi.advanceTimersByTimeAsync(100)
    const id = t.me.transports()[0]?.id as number
    expect(t.me.sentOn(id, 'hello')).toHaveLength(1)
    await t.vpn.stop()
    expect(await p).toMatchObject({ code: 'ESTATE' })
    expect(t.me.sentOn(id, 'bye')).toHaveLength(1)
    expect(t.me.transports()).toEqual([])
    expect(t.host.calls.filter((c) => c.startsWith('apply'))).toEqual([])
  })

  it('a stop that lands with the server answer leaves nothing applied: the connect does not put the routes back', async () => {
    const t = await setup({ killswitch: true })
    let stopped: Promise<unknown> | null = null
    // Runs right after the client took the answer, before its connect goes on.
    t.me.on('control', () => {
      stopped ??= t.vpn.stop()
    })
    const err = await settle(t.vpn.start(SERVER))
    await stopped
    await flush()
    expect(err).toMatchObject({ code: 'ESTATE', message: 'the VPN was stopped while connecting' })
    expect(t.vpn.status()).toMatchObject({ state: 'disconnected', server: null })
    expect(t.host.calls.filter((c) => c.startsWith('apply'))).toEqual([])
    expect(t.host.applied).toBeNull()
    expect(t.host.killswitch).toBe(false)
    expect(t.me.tuns.size).toBe(0)
    expect(t.me.transports()).toEqual([])
    expect(t.server.clientCount).toBe(0)
  })

  it('stop during a backoff wait ends the reconnect loop: host restored, no more dials', async () => {
    const t = await connectedClient({ killswitch: true })
    t.net.unreachable.add(SERVER)
    t.me.drop(t.id, 'closed by the peer')
    await vi.advanceTimersByTimeAsync(500)
    expect(t.vpn.status().state).toBe('reconnecting')
    const dialed = t.me.dials.length
    const st = await t.vpn.stop()
    expect(st).toMatchObject({ state: 'disconnected', server: null })
    expect(t.host.applied).toBeNull()
    expect(t.host.killswitch).toBe(false)
    expect(t.me.tuns.size).toBe(0)
    await vi.advanceTimersByTimeAsync(120_000)
    expect(t.me.dials).toHaveLength(dialed)
    expect(t.vpn.status().state).toBe('disconnected')
  })

  it('stop during a reconnect dial: the loop ends, the late transport is closed, and a new start works', async () => {
    const t = await connectedClient()
    t.me.holdDials = true
    t.me.drop(t.id, 'closed by the peer')
    await vi.advanceTimersByTimeAsync(1_000)
    expect(t.me.held).toHaveLength(1)
    await t.vpn.stop()
    expect(t.vpn.status().state).toBe('disconnected')
    const late = await (t.me.held[0] as { complete(): Promise<number> }).complete()
    await flush()
    expect(t.me.transport(late)).toBeNull()
    expect(t.host.applied).toBeNull()
    t.me.holdDials = false
    expect(await settle(t.vpn.start(SERVER))).toMatchObject({ state: 'connected' })
    expect(t.server.clientCount).toBe(1)
  })
})
