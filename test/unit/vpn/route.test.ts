/**
 * Routes client → hop(s) → exit (ts/vpn/route.ts, and the VPN client using
 * it) over in-memory nodes running the real VpnServer and HopService: the
 * order of dials, forwards and handshakes; the chain in the status; the MTU;
 * the exit's whitelist applying to the client's key; refusals as one-line
 * errors that leave no transport behind; the reconnect through the same hop;
 * picking hops from service discovery (--hops).
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import type { SkywireError } from '../../../ts/contracts/errors.js'
import type { ServiceEntry } from '../../../ts/contracts/services.js'
import { rankServers } from '../../../ts/contracts/server-score.js'
import { type VpnClientOptions, VpnClient } from '../../../ts/vpn/client.js'
import { HopService, type HopOptions } from '../../../ts/vpn/hop.js'
import { HOP_PORT, listHops, pickHops } from '../../../ts/vpn/hop-pick.js'
import { LAYER_OVERHEAD } from '../../../ts/vpn/route.js'
import { VpnServer } from '../../../ts/vpn/server.js'
import { FakeClientHost, FakeServerHost } from '../fakes/host.js'
import { FakeNet, type FakeNode } from '../fakes/node.js'
import { silentLog, wire } from '../fakes/visor.js'

const ME = 'a'.repeat(64)
const HOP1 = 'c'.repeat(64)
const HOP2 = 'd'.repeat(64)
const EXIT = 'e'.repeat(64)
const HOP_ON: HopOptions = { enabled: true, whitelist: [], maxSessionsPerClient: 4, bytesPerSecPerClient: 0, maxClients: 8 }

beforeEach(() => {
  vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval', 'Date'] })
})
afterEach(() => {
  vi.useRealTimers()
})

/** `p`, settled after `ms` of fake time; a rejection comes back as the error. */
async function settle<T>(p: Promise<T>, ms = 500): Promise<T | SkywireError> {
  const settled = p.catch((e: SkywireError) => e)
  await vi.advanceTimersByTimeAsync(ms)
  return settled
}

function newServer(node: FakeNode, whitelist: string[] = [], pool = '10.77.0.0/16'): VpnServer {
  return new VpnServer(node, new FakeServerHost(), silentLog, {
    netifc: '',
    secure: true,
    whitelist,
    pool,
    dns: ['10.77.0.1'],
    mtu: 1420,
    tunName: 'skyvpn0',
  })
}

/** A hop visor; with `server`, it runs a VPN server too (wired together, as the visor does). */
async function hopOn(net: FakeNet, pk: string, o: Partial<HopOptions> = {}, server = false) {
  const node = net.node(pk)
  const hop = new HopService(node, (to, deadline) => node.dial(to, 'sudph', null, deadline - Date.now()), silentLog, { ...HOP_ON, ...o })
  const vpn = server ? newServer(node, [], '10.78.0.0/16') : undefined
  wire(node, { hop, ...(vpn ? { server: vpn } : {}) })
  await vpn?.start()
  return { node, hop }
}

async function setup(
  o: { whitelist?: string[]; hop1?: Partial<HopOptions>; hop1Server?: boolean; client?: Partial<VpnClientOptions>; services?: unknown } = {},
) {
  const net = new FakeNet()
  const exit = net.node(EXIT)
  const server = newServer(exit, o.whitelist ?? [])
  const exitHop = new HopService(exit, async () => -1, silentLog, { ...HOP_ON, enabled: false })
  wire(exit, { server, hop: exitHop })
  await server.start()
  const h1 = await hopOn(net, HOP1, o.hop1, o.hop1Server)
  const h2 = await hopOn(net, HOP2)
  const me = net.node(ME)
  const vpn = new VpnClient(me, (o.services ?? null) as never, new FakeClientHost(), silentLog, {
    order: ['sudph'],
    tunName: 'skyvpn-c',
    killswitch: false,
    dns: [],
    serviceHosts: [],
    ...o.client,
  })
  wire(me, { client: vpn })
  return { net, exit, server, h1, h2, me, vpn }
}

describe('route: client → hops → exit', () => {
  it('one hop: dials the hop, asks it to forward, hands shakes with the exit through it; the exit sees the client key', async () => {
    const t = await setup()
    const stages: string[] = []
    const st = await settle(t.vpn.start(EXIT, { via: [HOP1], onProgress: (s) => stages.push(s) }))
    expect(st).toMatchObject({ state: 'connected', server: EXIT, tunnelIp: '10.77.0.2' })
    expect(t.vpn.status().route).toEqual([
      { pk: HOP1, role: 'hop', transport: 'sudph' },
      { pk: EXIT, role: 'exit', transport: 'sudph' },
    ])
    // The direct dial goes to the hop; the exit is reached only through the circuit.
    expect(t.me.dials.map((d) => d.pk)).toEqual([HOP1, EXIT])
    const inner = t.vpn.status().transportId as number
    expect((t.me.transport(inner) as { via?: number }).via).toBe(t.me.idOf(HOP1))
    expect(t.h1.node.spliceLog).toMatchObject([{ op: 'splice', fromId: t.h1.node.idOf(ME), toId: t.h1.node.idOf(EXIT) }])
    // The exit's client is the user (whose key its whitelist would check), not the hop.
    expect(t.server.status().clients.map((c) => c.pk)).toEqual([ME])
    expect(t.me.tuns.get('skyvpn-c')?.mtu).toBe(1420 - LAYER_OVERHEAD)
    expect(stages.slice(0, 3)).toEqual([
      `opening a transport to hop ${HOP1}`,
      'punching a UDP path (SUDPH)',
      `asking hop ${HOP1} to forward to ${EXIT}`,
    ])
  })

  it('transports that carry circuits say no hello, and VPN servers on the hop and the exit do not close them for it', async () => {
    // The hop runs a VPN server of its own too.
    const t = await setup({ hop1Server: true })
    expect(await settle(t.vpn.start(EXIT, { via: [HOP1] }))).toMatchObject({ state: 'connected' })
    const [fromClient, toExit] = [t.h1.node.idOf(ME), t.exit.idOf(HOP1)]
    // Well past the servers' 10 s hello timeout.
    await settle(Promise.resolve(), 30_000)
    expect(t.h1.node.idOf(ME)).toBe(fromClient)
    expect(t.exit.idOf(HOP1)).toBe(toExit)
    expect(t.vpn.status()).toMatchObject({ state: 'connected' })
  })

  it('two hops: each circuit rides the one before, in order', async () => {
    const t = await setup()
    expect(await settle(t.vpn.start(EXIT, { via: [HOP1, HOP2] }))).toMatchObject({ state: 'connected' })
    expect(t.vpn.status().route?.map((l) => [l.pk, l.role])).toEqual([
      [HOP1, 'hop'],
      [HOP2, 'hop'],
      [EXIT, 'exit'],
    ])
    expect(t.me.dials.map((d) => d.pk)).toEqual([HOP1, HOP2, EXIT])
    // HOP1 forwards to HOP2; HOP2 (reached through HOP1) forwards to the exit; HOP2 never holds a transport from the client's address.
    expect(t.h1.node.spliceLog[0]?.toId).toBe(t.h1.node.idOf(HOP2))
    expect(t.h2.node.spliceLog[0]?.toId).toBe(t.h2.node.idOf(EXIT))
    expect(t.server.status().clients.map((c) => c.pk)).toEqual([ME])
    expect(t.me.tuns.get('skyvpn-c')?.mtu).toBe(1420 - 2 * LAYER_OVERHEAD)
  })

  it("the exit's whitelist is the client's key: a whitelist of the hop alone refuses the client", async () => {
    const ok = await setup({ whitelist: [ME] })
    expect(await settle(ok.vpn.start(EXIT, { via: [HOP1] }))).toMatchObject({ state: 'connected' })
    const no = await setup({ whitelist: [HOP1] })
    const err = await settle(no.vpn.start(EXIT, { via: [HOP1] }))
    expect((err as SkywireError).code).toBe('EFORBIDDEN')
  })

  it('a visor that does not forward: one line, EFORBIDDEN, and no transport left open', async () => {
    const t = await setup({ hop1: { enabled: false } })
    const err = (await settle(t.vpn.start(EXIT, { via: [HOP1] }))) as SkywireError
    expect(err.code).toBe('EFORBIDDEN')
    expect(err.message).toMatch(new RegExp(`^${HOP1} does not forward for others`))
    expect(err.message).not.toMatch(/\n/)
    await settle(Promise.resolve())
    expect(t.me.transports()).toEqual([])
    expect(t.vpn.status().state).toBe('disconnected')
  })

  it('a hop that cannot reach the exit: EUNREACHABLE naming both', async () => {
    const t = await setup()
    t.net.unreachable.add(EXIT)
    const err = (await settle(t.vpn.start(EXIT, { via: [HOP1] }), 2000)) as SkywireError
    expect(err.code).toBe('EUNREACHABLE')
    expect(err.message).toContain(`hop ${HOP1} cannot reach ${EXIT}`)
    await settle(Promise.resolve())
    expect(t.me.transports()).toEqual([])
  })

  it('stop closes the whole route', async () => {
    const t = await setup()
    await settle(t.vpn.start(EXIT, { via: [HOP1, HOP2] }))
    await t.vpn.stop()
    await settle(Promise.resolve())
    expect(t.me.transports()).toEqual([])
    expect(t.vpn.status().route).toEqual([])
  })

  it('a hop going down: the client reconnects through the same hop when it is back', async () => {
    const t = await setup()
    await settle(t.vpn.start(EXIT, { via: [HOP1] }))
    const first = t.vpn.status().transportId
    t.net.unreachable.add(HOP1)
    t.me.drop(t.me.idOf(HOP1) as number, 'the hop went away')
    await settle(Promise.resolve(), 100)
    expect(t.vpn.status().state).toBe('reconnecting')
    // Attempts fail while it is away.
    await settle(Promise.resolve(), 3500)
    expect(t.vpn.status().state).toBe('reconnecting')
    t.net.unreachable.delete(HOP1)
    await settle(Promise.resolve(), 10_000)
    expect(t.vpn.status()).toMatchObject({ state: 'connected' })
    expect(t.vpn.status().transportId).not.toBe(first)
    expect(t.vpn.status().route?.map((l) => l.pk)).toEqual([HOP1, EXIT])
  })

  it('refuses hops with --existing-tp, both via and hops, and too many hops', async () => {
    const t = await setup()
    await expect(t.vpn.start(EXIT, { via: [HOP1], existingTp: true })).rejects.toMatchObject({ code: 'EUSAGE' })
    await expect(t.vpn.start(EXIT, { via: [HOP1], hops: 1 })).rejects.toMatchObject({ code: 'EUSAGE' })
    await expect(t.vpn.start(EXIT, { hops: 5 })).rejects.toMatchObject({ code: 'EUSAGE' })
    expect(t.me.dials).toEqual([])
  })

  it('the exit or this visor named as a hop, or a hop twice: EUSAGE before any dial', async () => {
    const t = await setup()
    const own = (await settle(t.vpn.start(EXIT, { via: [EXIT] }))) as SkywireError
    expect(own).toMatchObject({ code: 'EUSAGE', message: 'the exit cannot also be a hop of its own route' })
    expect(((await settle(t.vpn.start(EXIT, { via: [ME] }))) as SkywireError).code).toBe('EUSAGE')
    expect(((await settle(t.vpn.start(EXIT, { via: [HOP1, HOP1] }))) as SkywireError).code).toBe('EUSAGE')
    expect(t.me.dials).toEqual([])
  })
})

function entry(pk: string, type: string, country: string | null, stats: Record<string, number> = { connectedClients: 0 }): ServiceEntry {
  return { address: `${pk}:${type === 'vpn' ? 3 : HOP_PORT}`, pk, type, country, version: '0.4.0', stats, updatedAt: 0, expiresAt: 0 }
}

/** A services client listing `entries` by type, one page. */
function servicesOf(entries: ServiceEntry[]) {
  return {
    listServices: async (q: { type: string; offset: number; limit: number }) => {
      const all = entries.filter((e) => e.type === q.type)
      return { entries: all.slice(q.offset, q.offset + q.limit), total: all.length, offset: q.offset, limit: q.limit }
    },
    getService: async (address: string) => entries.find((e) => e.address === address) ?? null,
  }
}

describe('picking hops (--hops)', () => {
  const A = '1'.repeat(64)
  const B = '2'.repeat(64)
  const C = '3'.repeat(64)
  const D = '4'.repeat(64)

  it('lists type=hop entries and VPN entries flagged hop, not plain VPN servers', async () => {
    const s = servicesOf([entry(A, 'hop', 'FR'), entry(B, 'vpn', 'NL', { connectedClients: 0, hop: 1 }), entry(C, 'vpn', 'SE')])
    expect((await listHops(s)).map((r) => r.pk).sort()).toEqual([A, B])
    expect((await listHops(s, { exclude: [A] })).map((r) => r.pk)).toEqual([B])
  })

  it("leaves out the exit's country, the exit, itself and hops to avoid; unknown countries come last", () => {
    const ranked = rankServers([entry(A, 'hop', 'DE'), entry(B, 'hop', null), entry(C, 'hop', 'FR'), entry(D, 'hop', 'NL')])
    expect(pickHops(ranked, 2, { exit: EXIT, exitCountry: 'DE', self: ME })).toEqual([C, D])
    expect(pickHops(ranked, 3, { exit: EXIT, exitCountry: 'DE', self: ME })).toEqual([C, D, B])
    expect(pickHops(ranked, 1, { exit: EXIT, exitCountry: 'DE', self: C, avoid: [D] })).toEqual([B])
    expect(pickHops(ranked, 1, { exit: C, exitCountry: 'FR', self: ME, sameCountry: false })[0]).not.toBe(C)
    expect(pickHops(ranked, 4, { exit: EXIT, exitCountry: 'DE', self: ME, sameCountry: true })).toHaveLength(4)
  })

  it('too few hops: ENOTFOUND saying how many and where', () => {
    const ranked = rankServers([entry(A, 'hop', 'DE')])
    expect(() => pickHops(ranked, 1, { exit: EXIT, exitCountry: 'DE', self: ME })).toThrow(/asked for 1 hop, found 0 usable outside DE/)
  })

  it('vpn start --hops 1 picks a hop outside the exit country and connects through it', async () => {
    const services = servicesOf([entry(HOP1, 'hop', 'DE'), entry(HOP2, 'hop', 'FR'), entry(EXIT, 'vpn', 'DE')])
    const t = await setup({ services })
    expect(await settle(t.vpn.start(EXIT, { hops: 1 }))).toMatchObject({ state: 'connected' })
    expect(t.vpn.status().route?.map((l) => l.pk)).toEqual([HOP2, EXIT])
  })

  it('with --hops, a reconnect after the hop failed picks another one', async () => {
    const services = servicesOf([entry(HOP1, 'hop', 'FR'), entry(HOP2, 'hop', 'NL'), entry(EXIT, 'vpn', 'DE')])
    const t = await setup({ services })
    await settle(t.vpn.start(EXIT, { hops: 1 }))
    const used = t.vpn.status().route?.[0]?.pk as string
    const other = used === HOP1 ? HOP2 : HOP1
    t.net.unreachable.add(used)
    t.me.drop(t.me.idOf(used) as number, 'the hop went away')
    await settle(Promise.resolve(), 15_000)
    expect(t.vpn.status()).toMatchObject({ state: 'connected' })
    expect(t.vpn.status().route?.map((l) => l.pk)).toEqual([other, EXIT])
  })
})
