/**
 * The VPN's policies and failure paths on the lab network: whitelist, secure
 * mode off, STCPR, --existing-tp, two clients, crash recovery, 50 cycles and
 * a restarted server. Driven through the control API (the same calls the CLI
 * makes) where speed matters, and through the CLI where the output matters.
 */
import { beforeAll, describe, expect, it } from 'vitest'
import { skipUnlessAvailable } from './helpers/skip.js'
import { snapshotNet } from '../../ts/netlab/probe.js'
import { native } from '../../ts/native/loader.js'
import { VisorClient } from '../../ts/visor/rpc-client.js'
import { expectOneLineError } from './helpers/cli.js'
import { labSkipReason } from './helpers/lab.js'
import { SERVICES_HTTP, useVpnLab, type TestVisor } from './helpers/visors.js'

const skip = labSkipReason()

describe.skipIf(skipUnlessAvailable(skip))('VPN policies (public server, two NATed clients)', () => {
  const lab = useVpnLab({ clients: 2 }, (t) => ({
    server: { ns: t.server.ns, config: { vpnServer: { dns: ['203.0.113.53'] } } },
    c1: { ns: t.clients[0]!.ns, config: { vpnServer: { autostart: false } } },
    // The second client prefers STCPR, so both transports carry the VPN here.
    // It also opts in to publishing its VPN transport, which c1 (the default) does not.
    c2: {
      ns: t.clients[1]!.ns,
      config: { vpnServer: { autostart: false }, transports: { order: ['stcpr'] }, vpnClient: { publishTransport: true } },
    },
  }))
  const topo = lab.topo
  let server: TestVisor
  let c1: TestVisor
  let c2: TestVisor
  let api1: VisorClient
  let api2: VisorClient
  let apiS: VisorClient

  beforeAll(() => {
    server = lab.visor('server')
    c1 = lab.visor('c1')
    c2 = lab.visor('c2')
    api1 = new VisorClient(c1.rpc)
    api2 = new VisorClient(c2.rpc)
    apiS = new VisorClient(server.rpc)
  })

  it('a PK not on the whitelist is refused with a clear message; a listed one connects', async () => {
    const t = topo()
    await apiS.serverStop()
    await apiS.serverStart({ whitelist: [c2.config.pk] })
    const r = c1.cli(['cli', 'vpn', 'start', '-k', server.config.pk])
    expect(r.code).not.toBe(0)
    expect(expectOneLineError(r)).toMatch(/refused the connection \(forbidden\)/)
    expect(await t.curlWhoami(t.clients[0]!.ns)).toBe(t.clients[0]!.publicAddr)
    expect(server.proc!.output().stdout).toMatch(/not on the whitelist/)
    const ok = await api2.vpnStart(server.config.pk)
    expect(ok.state).toBe('connected')
    expect(ok.transport).toBe('stcpr')
    expect(await t.curlWhoami(t.clients[1]!.ns)).toBe(t.server.publicAddr)
    await api2.vpnStop()
    await apiS.serverStop()
    await apiS.serverStart({ whitelist: [] })
  }, 60_000)

  it('two clients get different addresses and cannot reach each other through the tunnel', async () => {
    const t = topo()
    const a = await api1.vpnStart(server.config.pk)
    const b = await api2.vpnStart(server.config.pk)
    expect(a.transport).toBe('sudph')
    expect(b.transport).toBe('stcpr')
    expect(a.tunnelIp).not.toBe(b.tunnelIp)
    expect(await t.curlWhoami(t.clients[0]!.ns)).toBe(t.server.publicAddr)
    expect(await t.curlWhoami(t.clients[1]!.ns)).toBe(t.server.publicAddr)
    const p = await t.ping(t.clients[0]!.ns, b.tunnelIp!, 2)
    expect(p.received).toBe(0)
    await api2.vpnStop()
  }, 60_000)

  it('transport discovery does not learn which exit a client uses, unless the client opts in', async () => {
    const t = topo()
    // What anyone can ask the public services: the transports with this key as an edge.
    const published = async (pk: string): Promise<string[][]> => {
      const r = await t.lab.execOk(t.clients[0]!.ns, ['curl', '-sf', `http://${SERVICES_HTTP}/tpd/transports?pk=${pk}`])
      return (JSON.parse(r.stdout) as { entries: { edges: string[] }[] }).entries.map((e) => [...e.edges].sort())
    }
    const pair = [c2.config.pk, server.config.pk].sort()
    if ((await api1.vpnStatus()).state !== 'connected') await api1.vpnStart(server.config.pk)
    await api2.vpnStart(server.config.pk)
    await expect.poll(() => published(c2.config.pk), { timeout: 10_000 }).toEqual([pair])
    expect(await published(c1.config.pk)).toEqual([])
    expect(await published(server.config.pk)).toEqual([pair])
    await api2.vpnStop()
  }, 60_000)

  it('secure off makes the server LAN reachable; secure on blocks it', async () => {
    const t = topo()
    expect(await t.canHttpGet(t.clients[0]!.ns, t.lanhost.url)).toBe(false)
    await apiS.serverStop()
    await apiS.serverStart({ secure: false })
    await api1.vpnStop()
    await api1.vpnStart(server.config.pk)
    expect(await t.canHttpGet(t.clients[0]!.ns, t.lanhost.url)).toBe(true)
    await api1.vpnStop()
    await apiS.serverStop()
    await apiS.serverStart({ secure: true })
  }, 60_000)

  it('--existing-tp fails clearly without a transport, and rides on one opened with tp add', async () => {
    const t = topo()
    const none = c2.cli(['cli', 'vpn', 'start', '-k', server.config.pk, '--existing-tp'])
    expect(none.code).not.toBe(0)
    expect(expectOneLineError(none)).toMatch(/no transport to .* is up/)

    const add = c2.cli(['cli', 'tp', 'add', '-k', server.config.pk, '-t', 'stcpr', '--json'])
    expect(add.code, add.stderr).toBe(0)
    const tp = JSON.parse(add.stdout) as { id: number; type: string }
    expect(tp.type).toBe('stcpr')
    const s = await api2.vpnStart(server.config.pk, { existingTp: true })
    expect(s.transportId).toBe(tp.id)
    expect(await t.curlWhoami(t.clients[1]!.ns)).toBe(t.server.publicAddr)
    await api2.vpnStop()
    // The VPN said bye: the server freed the address at once; the transport stays up.
    expect((await apiS.serverStatus()).clients.map((c) => c.pk)).not.toContain(c2.config.pk)
    expect((await api2.transports()).map((x) => x.id)).toContain(tp.id)
    expect(c2.cli(['cli', 'tp', 'rm', '-i', String(tp.id)]).code).toBe(0)
    await expect.poll(async () => (await api2.transports()).map((x) => x.id), { timeout: 15_000 }).not.toContain(tp.id)
  }, 60_000)

  it('a named interface that does not exist is one clear line', async () => {
    await apiS.serverStop()
    const r = server.cli(['cli', 'vpn', 'server', 'start', '-i', 'nosuchif0'])
    expect(r.code).not.toBe(0)
    expect(expectOneLineError(r)).toMatch(/network interface "nosuchif0" does not exist/)
    // A stopped server is gone from service discovery.
    expect(c1.cli(['cli', 'vpn', 'list']).stdout).not.toContain(server.config.pk)
    await apiS.serverStart({})
    await expect.poll(() => c1.cli(['cli', 'vpn', 'list']).stdout, { timeout: 15_000 }).toContain(server.config.pk)
  }, 60_000)

  it('a server that is not there is one clear line', async () => {
    const r = c1.cli(['cli', 'vpn', 'start', '-k', native.generateKeypair().publicKey, '-t', '5'])
    expect(r.code).not.toBe(0)
    expect(expectOneLineError(r)).toMatch(/offline|cannot reach|timed out/)
  }, 30_000)

  it('50 connect/disconnect cycles leave the routing table identical', async () => {
    const t = topo()
    const ns = t.clients[0]!.ns
    const before = await snapshotNet(ns)
    for (let i = 0; i < 50; i++) {
      const s = await api1.vpnStart(server.config.pk)
      expect(s.state).toBe('connected')
      await api1.vpnStop()
    }
    expect(await snapshotNet(ns)).toEqual(before)
  }, 240_000)

  it('kill -9 of the client visor, then a restart, restores routes and DNS byte for byte', async () => {
    const t = topo()
    const ns = t.clients[0]!.ns
    const before = await snapshotNet(ns)
    await api1.vpnStart(server.config.pk)
    expect(await snapshotNet(ns)).not.toEqual(before)
    await c1.kill9()
    await c1.start()
    expect(await snapshotNet(ns)).toEqual(before)
    expect(c1.proc!.output().stdout).toMatch(/restored routes and DNS left by a previous visor/)
  }, 60_000)

  it('a restarted server is reconnected to', async () => {
    const t = topo()
    await api1.vpnStart(server.config.pk)
    await server.stop()
    await expect.poll(async () => (await api1.vpnStatus()).state, { timeout: 30_000, interval: 500 }).toBe('reconnecting')
    await server.start()
    await expect.poll(async () => (await api1.vpnStatus()).state, { timeout: 45_000, interval: 500 }).toBe('connected')
    expect(await t.curlWhoami(t.clients[0]!.ns)).toBe(t.server.publicAddr)
    await api1.vpnStop()
  }, 120_000)
})
