/**
 * IPv6 through the VPN (issue 15), the logic side: the server's v6 pool and
 * which IPv6 it offers (NAT66 ULA, routed pool6, none), the cryptokey routing
 * it asks the core for (a /128 next to the /32), the status fields and the
 * client's checks of a hostile offer, and what the client does with each. In
 * memory: the kernel side is in test/ts/sys/ipv6-*.test.ts.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { VpnClient } from '../../../ts/vpn/client.js'
import { checkOffer } from '../../../ts/vpn/offer.js'
import { AddressPool6, parsePool6 } from '../../../ts/vpn/pool.js'
import { decode, type Status } from '../../../ts/vpn/protocol.js'
import { type VpnServerOptions, VpnServer } from '../../../ts/vpn/server.js'
import { FakeClientHost, FakeServerHost } from '../fakes/host.js'
import { FakeNet, type FakeNode } from '../fakes/node.js'
import { silentLog, wire } from '../fakes/visor.js'

const SERVER = 'e'.repeat(64)
const ALICE = 'a'.repeat(64)
const BOB = 'b'.repeat(64)
const ULA = 'fd12:3456:789a::/64'

const flush = () => new Promise<void>((r) => setImmediate(r))

function setup(o: Partial<VpnServerOptions> = {}, globalUplink = true) {
  const net = new FakeNet()
  const exit = net.node(SERVER)
  const host = new FakeServerHost()
  host.v6 = { ula64: ULA, globalUplink }
  const server = new VpnServer(exit, host, silentLog, {
    netifc: '',
    secure: true,
    whitelist: [],
    pool: '10.77.0.0/16',
    dns: ['1.1.1.1', '2606:4700:4700::1111'],
    mtu: 1420,
    tunName: 'skyvpn0',
    ...o,
  })
  wire(exit, { server })
  return { net, exit, host, server }
}

type Setup = ReturnType<typeof setup>

async function hello(t: Setup, pk: string): Promise<{ c: FakeNode; sid: number; status: Status }> {
  const c = t.net.nodes.get(pk) ?? t.net.node(pk)
  const id = t.net.connect(c, SERVER, 'sudph')
  await flush()
  c.sendControl(id, Buffer.from(JSON.stringify({ type: 'hello', v: 1, usedNets: [] })))
  await flush()
  const s = c.receivedOn(id, 'status') as Status[]
  expect(s).toHaveLength(1)
  return { c, sid: t.exit.idOf(pk) as number, status: s[0] as Status }
}

beforeEach(() => {
  vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval', 'Date'] })
})
afterEach(() => {
  vi.useRealTimers()
})

describe('IPv6 pool', () => {
  it('hands out ::2 upwards, the lowest free one, the same one to the same owner', () => {
    const p = new AddressPool6(ULA)
    expect(p.gateway).toBe('fd12:3456:789a::1')
    expect(p.prefix).toBe(64)
    expect(p.allocate('a')).toBe('fd12:3456:789a::2')
    expect(p.allocate('b')).toBe('fd12:3456:789a::3')
    expect(p.allocate('a')).toBe('fd12:3456:789a::2')
    p.release('a')
    expect(p.allocate('c')).toBe('fd12:3456:789a::2')
  })

  it('refuses what is no pool: v4, too broad, too narrow, link-local, multicast, loopback, v4-mapped, garbage', () => {
    for (const bad of [
      '10.0.0.0/8',
      '2001:db8::/16',
      '2001:db8::/124',
      'fe80::/64',
      'ff02::/64',
      '::1/128',
      '::ffff:0:0/96',
      'x',
      '2001:db8::',
      '2001:db8::/64\n',
      '2001:db8::/64/1',
      '2001:db8::/064x',
      '2001:db8::1.2.3.4/96',
    ]) {
      expect(() => parsePool6(bad), bad).toThrow(/IPv6/)
    }
    expect(() => new AddressPool6('2001:db8:77::/120')).not.toThrow()
  })

  it('a /120 gives 253 clients and then null', () => {
    const p = new AddressPool6('2001:db8:77::/120')
    const got = new Set<string>()
    for (let i = 0; i < 253; i++) got.add(p.allocate(String(i)) as string)
    expect(got.size).toBe(253)
    expect(got.has('2001:db8:77::ff')).toBe(false)
    expect(p.allocate('one more')).toBeNull()
  })
})

describe('VPN server: IPv6', () => {
  it('with global IPv6 on the uplink: the ULA gateway on the TUN, NAT66, and each client a /128 next to its /32', async () => {
    const t = setup()
    await t.server.start()
    expect(t.exit.tuns.get('skyvpn0')).toEqual({ ipv4: '10.77.0.1/16', ipv6: 'fd12:3456:789a::1/64', mtu: 1420 })
    expect(t.host.up_).toMatchObject({ pool6: ULA, gateway6: 'fd12:3456:789a::1', nat6: true })
    const a = await hello(t, ALICE)
    const b = await hello(t, BOB)
    expect(a.status).toMatchObject({ status: 'ok', address: '10.77.0.2', address6: 'fd12:3456:789a::2', gateway6: 'fd12:3456:789a::1', prefix6: 64 })
    expect(a.status.dns).toEqual(['1.1.1.1', '2606:4700:4700::1111'])
    // What the core's cryptokey routing admits from each session: its own two addresses, no other.
    expect(t.exit.attached.get(a.sid)?.allowed).toEqual(['10.77.0.2/32', 'fd12:3456:789a::2/128'])
    expect(t.exit.attached.get(b.sid)?.allowed).toEqual(['10.77.0.3/32', 'fd12:3456:789a::3/128'])
    expect(t.server.status()).toMatchObject({ ipv6: 'nat66', gateway6: 'fd12:3456:789a::1' })
    expect(t.server.status().clients.map((c) => c.tunnelIp6)).toEqual(['fd12:3456:789a::2', 'fd12:3456:789a::3'])
    // A bye gives the v6 address back with the v4 one.
    a.c.sendControl(t.net.nodes.get(ALICE)?.idOf(SERVER) as number, Buffer.from('{"type":"bye"}'))
    await flush()
    const c = await hello(t, 'c'.repeat(64))
    expect(c.status).toMatchObject({ address: '10.77.0.2', address6: 'fd12:3456:789a::2' })
    await t.server.stop()
    expect(t.server.status()).toMatchObject({ ipv6: 'none', gateway6: null })
  })

  it('without global IPv6 (and no pool6): no v6 on the TUN, no v6 fields in the status, IPv6 resolvers left out', async () => {
    const t = setup({}, false)
    await t.server.start()
    expect(t.exit.tuns.get('skyvpn0')).toEqual({ ipv4: '10.77.0.1/16', mtu: 1420 })
    expect(t.host.up_?.pool6).toBeUndefined()
    const a = await hello(t, ALICE)
    expect(a.status).not.toHaveProperty('address6')
    expect(a.status).not.toHaveProperty('gateway6')
    expect(a.status).not.toHaveProperty('prefix6')
    expect(a.status.dns).toEqual(['1.1.1.1'])
    expect(t.exit.attached.get(a.sid)?.allowed).toEqual(['10.77.0.2/32'])
    expect(t.server.status()).toMatchObject({ ipv6: 'none', gateway6: null })
    expect(t.server.status().clients[0]).not.toHaveProperty('tunnelIp6')
  })

  it('a routed pool6 is used as given, without NAT, whatever the uplink', async () => {
    const t = setup({ pool6: '2001:db8:77::/64' }, false)
    await t.server.start()
    expect(t.host.up_).toMatchObject({ pool6: '2001:db8:77::/64', gateway6: '2001:db8:77::1', nat6: false })
    const a = await hello(t, ALICE)
    expect(a.status).toMatchObject({ address6: '2001:db8:77::2', gateway6: '2001:db8:77::1', prefix6: 64 })
    expect(t.server.status().ipv6).toBe('routed')
  })

  it('a bad pool6 is a one-line error at configure, and the old settings stay', async () => {
    const t = setup()
    expect(() => t.server.configure({ pool6: 'fe80::/64' })).toThrow(/neither global unicast/)
    expect(t.server.options().pool6).toBeUndefined()
  })

  it('a 0.3.0 client (which strips the v6 fields) still connects: the v4 part of the status is what it always was', async () => {
    const t = setup()
    await t.server.start()
    const a = await hello(t, ALICE)
    const { address6, gateway6, prefix6, ...old } = a.status
    expect(address6).toBeDefined()
    expect(old).toEqual({
      type: 'status',
      status: 'ok',
      address: '10.77.0.2',
      gateway: '10.77.0.1',
      prefix: 16,
      mtu: 1420,
      dns: ['1.1.1.1', '2606:4700:4700::1111'],
      features: ['exit-info'],
    })
  })
})

describe('the client checks an IPv6 offer', () => {
  const ok: Status = { type: 'status', status: 'ok', address: '10.77.0.2', gateway: '10.77.0.1', prefix: 16, mtu: 1420, dns: ['1.1.1.1'] }
  const v6 = { address6: 'fd12:3456:789a::2', gateway6: 'fd12:3456:789a::1', prefix6: 64 }
  const ctx = { usedNets: ['192.168.1.0/24', 'fd00:aaaa::/64'], mustReach: ['203.0.113.7', '2001:db8:1::7'], useServerDns: true }
  const check = (patch: Partial<Status>) => checkOffer('PK', { ...ok, ...patch }, ctx)

  it('takes a good one, normalised, and IPv6 DNS servers only with it', () => {
    expect(check({ ...v6, address6: 'FD12:3456:789A:0:0:0:0:2', dns: ['1.1.1.1', '2606:4700:4700::1111'] }).v6).toEqual({
      address: 'fd12:3456:789a::2',
      gateway: 'fd12:3456:789a::1',
      prefix: 64,
    })
    expect(check({}).v6).toBeUndefined()
    expect(() => check({ dns: ['2606:4700:4700::1111'] })).toThrow(/IPv4 only/)
  })

  it.each([
    [{ address6: 'fd12:3456:789a::2' }, /without its address, gateway or prefix/],
    [{ address6: 'fd12:3456:789a::2', gateway6: 'fd12:3456:789a::1' }, /without its address, gateway or prefix/],
    [{ ...v6, address6: '10.77.0.9' }, /not an IPv6 address/],
    [{ ...v6, address6: '::1' }, /not a global or unique-local/],
    [{ ...v6, address6: 'fe80::2', gateway6: 'fe80::1' }, /not a global or unique-local/],
    [{ ...v6, address6: 'ff02::2', gateway6: 'ff02::1' }, /not a global or unique-local/],
    [{ ...v6, address6: '::ffff:10.0.0.2', gateway6: '::ffff:10.0.0.1', prefix6: 120 }, /not a global or unique-local/],
    [{ ...v6, prefix6: 1 }, /outside \/32..\/120/],
    [{ ...v6, prefix6: 16 }, /outside \/32..\/120/],
    [{ ...v6, prefix6: 128 }, /outside \/32..\/120/],
    [{ ...v6, address6: 'fd99::2' }, /not in the gateway's network/],
    [{ ...v6, address6: 'fd12:3456:789a::1' }, /is the gateway itself/],
    [{ ...v6, address6: 'fd12:3456:789a::' }, /subnet-router anycast/],
    [{ address6: 'fd00:aaaa::2', gateway6: 'fd00:aaaa::1', prefix6: 64 }, /own network fd00:aaaa::\/64/],
    [{ address6: '2001:db8:1::2', gateway6: '2001:db8:1::1', prefix6: 64 }, /contains 2001:db8:1::7/],
    [{ ...v6, dns: ['fe80::53'] }, /DNS server fe80::53 is not a global/],
    [{ ...v6, dns: ['fd00:aaaa::53'] }, /lies in this host's own network/],
  ] as [Partial<Status>, RegExp][])('refuses %j', (patch, why) => {
    expect(() => check(patch)).toThrow(why)
  })

  it('the wire refuses v6 fields that are no address or prefix at all', () => {
    const frame = (p: Record<string, unknown>) => Buffer.from(JSON.stringify({ ...ok, ...v6, ...p }))
    expect(decode(frame({})).type).toBe('status')
    for (const p of [
      { address6: 'fd12::2\n' },
      { gateway6: 'x'.repeat(100) },
      { prefix6: 129 },
      { prefix6: 64.5 },
      { prefix6: '64' },
      { address6: 7 },
    ]) {
      expect(() => decode(frame(p)), JSON.stringify(p)).toThrow(/bad control message/)
    }
  })
})

describe('VPN client: IPv6', () => {
  async function connect(globalUplink: boolean, staleAfterMs?: number, hostIpv6 = true, mtu = 1420) {
    const t = setup({ mtu }, globalUplink)
    await t.server.start()
    const me = t.net.node(ALICE)
    const host = new FakeClientHost()
    host.ipv6 = hostIpv6
    const vpn = new VpnClient(me, null, host, silentLog, {
      order: ['sudph'],
      tunName: 'skyvpn-c',
      killswitch: true,
      dns: [],
      serviceHosts: [],
      ...(staleAfterMs ? { staleAfterMs } : {}),
    })
    wire(me, { client: vpn })
    const started = vpn.start(SERVER)
    await vi.advanceTimersByTimeAsync(200)
    expect(await started).toMatchObject({ state: 'connected' })
    return { ...t, me, host, vpn }
  }

  it('puts the offered v6 address on its TUN as a /128, tunnels IPv6 and shows it in status', async () => {
    const t = await connect(true)
    expect(t.me.tuns.get('skyvpn-c')).toEqual({ ipv4: '10.77.0.2/32', ipv6: 'fd12:3456:789a::2/128', mtu: 1420 })
    expect(t.host.applied).toMatchObject({ tunnelIp: '10.77.0.2', tunnelIp6: 'fd12:3456:789a::2', killswitch: true })
    expect(t.host.applied?.dns).toEqual(['1.1.1.1', '2606:4700:4700::1111'])
    expect(t.vpn.status()).toMatchObject({ state: 'connected', tunnelIp: '10.77.0.2', tunnelIp6: 'fd12:3456:789a::2' })
    await t.vpn.stop()
    expect(t.vpn.status().tunnelIp6).toBeNull()
    expect(t.host.applied).toBeNull()
  })

  it('with a server that has no IPv6: no v6 on the TUN, none given to the host (which then blocks IPv6)', async () => {
    const t = await connect(false)
    expect(t.me.tuns.get('skyvpn-c')).toEqual({ ipv4: '10.77.0.2/32', mtu: 1420 })
    expect(t.host.applied).not.toHaveProperty('tunnelIp6')
    expect(t.vpn.status().tunnelIp6).toBeNull()
    await t.vpn.stop()
  })

  it('a host with IPv6 off takes the IPv4 part of an IPv6 offer and keeps IPv6 blocked', async () => {
    const t = await connect(true, undefined, false)
    expect(t.me.tuns.get('skyvpn-c')).toEqual({ ipv4: '10.77.0.2/32', mtu: 1420 })
    expect(t.host.applied).not.toHaveProperty('tunnelIp6')
    expect(t.vpn.status()).toMatchObject({ state: 'connected', tunnelIp6: null })
    await t.vpn.stop()
  })

  it('a tunnel MTU below IPv6 minimum (1280) carries IPv4 only: no v6 on the TUN, IPv6 blocked', async () => {
    const t = await connect(true, undefined, true, 1200)
    expect(t.me.tuns.get('skyvpn-c')).toEqual({ ipv4: '10.77.0.2/32', mtu: 1200 })
    expect(t.host.applied).not.toHaveProperty('tunnelIp6')
    await t.vpn.stop()
  })

  it('a reconnect that gets another v6 address: the same TUN takes it in place, nothing restored', async () => {
    const t = await connect(true, 3_000)
    t.me.cut(t.vpn.status().transportId as number)
    await vi.advanceTimersByTimeAsync(6_000)
    // The server still held the silent transport's addresses: both are new.
    expect(t.vpn.status()).toMatchObject({ state: 'connected', tunnelIp: '10.77.0.3', tunnelIp6: 'fd12:3456:789a::3' })
    expect(t.host.calls).toContain('readdress skyvpn-c 10.77.0.2 -> 10.77.0.3')
    expect(t.host.calls).toContain('readdress6 skyvpn-c fd12:3456:789a::2 -> fd12:3456:789a::3')
    expect(t.host.calls.filter((c) => c.startsWith('restore'))).toEqual([])
    expect(t.host.applied?.tunnelIp6).toBe('fd12:3456:789a::3')
    await t.vpn.stop()
  })

  it('without readdress6, another v6 address rebuilds the TUN with it, the kill switch up all along', async () => {
    const t = await connect(true, 3_000)
    t.host.readdress6 = undefined
    t.me.cut(t.vpn.status().transportId as number)
    await vi.advanceTimersByTimeAsync(6_000)
    expect(t.vpn.status()).toMatchObject({ state: 'connected', tunnelIp: '10.77.0.3', tunnelIp6: 'fd12:3456:789a::3' })
    expect(t.host.calls.slice(-2)).toEqual(['restore keeping the kill switch', 'apply skyvpn-c 10.77.0.3 killswitch'])
    expect(t.host.killswitchLog.every((k) => k)).toBe(true)
    expect(t.me.tuns.get('skyvpn-c')).toEqual({ ipv4: '10.77.0.3/32', ipv6: 'fd12:3456:789a::3/128', mtu: 1420 })
    await t.vpn.stop()
  })

  it('a switch from a server with IPv6 to one without: the TUN drops its v6 address in place and the host blocks IPv6 again', async () => {
    const t = await connect(true)
    const other = t.net.node(BOB)
    const host2 = new FakeServerHost()
    const server2 = new VpnServer(other, host2, silentLog, {
      netifc: '',
      secure: true,
      whitelist: [],
      pool: '10.88.0.0/16',
      dns: ['9.9.9.9', '2620:fe::fe'],
      mtu: 1420,
      tunName: 'skyvpn0',
    })
    wire(other, { server: server2 })
    await server2.start()
    const switched = t.vpn.start(BOB)
    await vi.advanceTimersByTimeAsync(500)
    expect(await switched).toMatchObject({ state: 'connected', server: BOB, tunnelIp: '10.88.0.2', tunnelIp6: null })
    expect(t.host.calls).toContain('readdress6 skyvpn-c fd12:3456:789a::2 -> null')
    expect(t.host.calls.filter((c) => c.startsWith('restore'))).toEqual([])
    expect(t.host.applied).not.toHaveProperty('tunnelIp6')
    // The v6 resolver of a server without IPv6 is never handed out.
    expect(t.host.applied?.dns).toEqual(['9.9.9.9'])
    await t.vpn.stop()
  })
})
