/**
 * IPv6 through the tunnel, end to end on the lab (issue 15): real services, real visors,
 * the real CLI, on an internet with IPv6 (2001:db8:203::/64).
 *   - a dual-stack server: the client's IPv6 "what is my IP" is the server's while connected
 *     and its own after stop, and secure mode blocks the server's IPv6 LAN;
 *   - an IPv6-only server, reached over the transports' IPv6 sockets;
 *   - a server without IPv6: nothing of the client's IPv6 leaves its home router while
 *     connected, and IPv6 sockets fail at once (happy eyeballs falls back to IPv4).
 */
import { beforeAll, describe, expect, it } from 'vitest'
import { skipUnlessAvailable } from './helpers/skip.js'
import { labServicesConfig } from '../../ts/netlab/lab-services.js'
import { INTERNET } from '../../ts/netlab/topology.js'
import { snapshotNet } from '../../ts/netlab/probe.js'
import { labSkipReason } from './helpers/lab.js'
import { useVpnLab, type TestVisor, type VpnLab } from './helpers/visors.js'
import type { Topology } from '../../ts/netlab/topology.js'

const skip = labSkipReason()

/** How a failed IPv6 connection looks when the host refuses it at once (unreachable route, reject). */
const FAST_FAILURE = /EHOSTUNREACH|ENETUNREACH|EACCES|EPERM|ECONNREFUSED/

/**
 * The server (handing clients the lab's DNS server in both families, or only IPv4 where the
 * server has no IPv6 to carry) and a client that serves nothing; both on the services their stack reaches.
 */
function pair(serverConfig: Record<string, unknown> = {}) {
  return (t: Topology) => ({
    server: {
      ns: t.server.ns,
      config: {
        services: labServicesConfig(t, t.server),
        vpnServer: { dns: t.server.stack === 'v4' ? [INTERNET.dns] : [INTERNET.dns, INTERNET.dns6] },
        ...serverConfig,
      },
    },
    client: { ns: t.client.ns, config: { services: labServicesConfig(t, t.client), vpnServer: { autostart: false } } },
  })
}

function visors(lab: VpnLab): { server: () => TestVisor; client: () => TestVisor } {
  let server: TestVisor | undefined
  let client: TestVisor | undefined
  beforeAll(() => {
    server = lab.visor('server')
    client = lab.visor('client')
  })
  return { server: () => server as TestVisor, client: () => client as TestVisor }
}

/** `vpn start` over the CLI; on failure the visors' logs are printed, since that is where the why is. */
function start(lab: VpnLab, client: TestVisor, server: TestVisor): { transport: string; remote: string } {
  const r = client.cli(['cli', 'vpn', 'start', '-k', server.config.pk, '-t', '20', '--json'])
  if (r.code !== 0) {
    console.log(
      r.stderr,
      r.stdout,
      '\n--- client\n',
      client.proc?.output().stdout.slice(-5000),
      '\n--- server\n',
      server.proc?.output().stdout.slice(-5000),
    )
    console.log('--- services\n', lab.services().output().stdout.slice(-3000))
  }
  expect(r.code, r.stderr).toBe(0)
  return JSON.parse(r.stdout) as { transport: string; remote: string }
}

describe.skipIf(skipUnlessAvailable(skip))('IPv6 through the tunnel: dual-stack server, client on a routed IPv6 LAN', () => {
  // A routed client LAN (no NAT66): whoami then shows the client's own address, not its router's.
  const lab = useVpnLab({ clientV6: 'routed' }, pair())
  const v = visors(lab)

  it("shows the server's IPv6 address while connected and the client's own after stop; the server's IPv6 LAN stays blocked", async () => {
    const t = lab.topo()
    const client = v.client()
    const server = v.server()
    const before = await snapshotNet(t.client.ns)
    expect(await t.curlWhoami(t.client.ns, { v6: true })).toBe(t.client.addr6)
    // The server reaches its LAN host over IPv6: what secure mode must keep the client from.
    expect((await t.httpGet(t.server.ns, t.lanhost.url6!)).trim()).toBe(t.server.lanAddr6)
    await expect.poll(() => client.cli(['cli', 'vpn', 'list']).stdout, { timeout: 15_000 }).toContain(server.config.pk)

    start(lab, client, server)
    expect(await t.curlWhoami(t.client.ns, { v6: true })).toBe(t.server.publicAddr6)
    expect(await t.curlWhoami(t.client.ns)).toBe(t.server.publicAddr)
    // Both statuses name the tunnel's IPv6 address: from the server's random ULA /64, NAT66 out of its uplink.
    const st = JSON.parse(client.cli(['cli', 'vpn', 'status', '--json']).stdout) as { tunnelIp6: string | null }
    expect(st.tunnelIp6).toMatch(/^fd[0-9a-f]{2}:/)
    const ss = JSON.parse(server.cli(['cli', 'vpn', 'server', 'status', '--json']).stdout) as {
      ipv6: string
      clients: Array<{ pk: string; tunnelIp6?: string }>
    }
    expect(ss.ipv6).toBe('nat66')
    expect(ss.clients.find((c) => c.pk === client.config.pk)?.tunnelIp6).toBe(st.tunnelIp6)
    const text = server.cli(['cli', 'vpn', 'server', 'status']).stdout
    expect(text).toMatch(/^ipv6: +NAT66/m)
    expect(text).toContain(`${st.tunnelIp6}`)
    // Secure mode: neither family reaches the server's LAN.
    expect(await t.canHttpGet(t.client.ns, t.lanhost.url6!, 1500)).toBe(false)
    expect(await t.canHttpGet(t.client.ns, t.lanhost.url, 1500)).toBe(false)
    expect((await t.ping(t.client.ns, t.lanhost.addr6!, 1)).ok).toBe(false)

    const stop = client.cli(['cli', 'vpn', 'stop'])
    expect(stop.code, stop.stderr).toBe(0)
    expect(await t.curlWhoami(t.client.ns, { v6: true })).toBe(t.client.addr6)
    expect(await t.curlWhoami(t.client.ns)).toBe(t.natc.wanAddr)
    expect(await snapshotNet(t.client.ns)).toEqual(before)
  }, 90_000)
})

describe.skipIf(skipUnlessAvailable(skip))('IPv6 through the tunnel: secure off, and a routed pool6', () => {
  // The ISP routes 2001:db8:77::/64 to the server, which hands clients addresses from it without NAT66.
  const POOL6 = '2001:db8:77::/64'
  const lab = useVpnLab({}, pair({ vpnServer: { dns: [INTERNET.dns, INTERNET.dns6], pool6: POOL6 } }))
  const v = visors(lab)

  it("with a routed pool6, the internet sees the client's own tunnel address", async () => {
    const t = lab.topo()
    const client = v.client()
    const server = v.server()
    await t.delegatePrefix(t.server, POOL6)
    await expect.poll(() => client.cli(['cli', 'vpn', 'list']).stdout, { timeout: 15_000 }).toContain(server.config.pk)
    start(lab, client, server)
    const st = JSON.parse(client.cli(['cli', 'vpn', 'status', '--json']).stdout) as { tunnelIp6: string | null }
    expect(st.tunnelIp6).toMatch(/^2001:db8:77:/)
    expect((JSON.parse(server.cli(['cli', 'vpn', 'server', 'status', '--json']).stdout) as { ipv6: string }).ipv6).toBe('routed')
    expect(await t.curlWhoami(t.client.ns, { v6: true })).toBe(st.tunnelIp6)
    expect(client.cli(['cli', 'vpn', 'stop']).code).toBe(0)
    expect(await t.curlWhoami(t.client.ns, { v6: true })).toBe(t.natc.wanAddr6)
  }, 90_000)

  it("secure off lets the client reach the server's IPv6 LAN (so it is secure mode that blocks it)", async () => {
    const t = lab.topo()
    const client = v.client()
    const server = v.server()
    expect(server.cli(['cli', 'vpn', 'server', 'stop']).code).toBe(0)
    const on = server.cli(['cli', 'vpn', 'server', 'start', '--no-secure'])
    expect(on.code, on.stderr).toBe(0)
    start(lab, client, server)
    expect((await t.httpGet(t.client.ns, t.lanhost.url6!)).trim()).toMatch(/^2001:db8:77:/)
    expect(client.cli(['cli', 'vpn', 'stop']).code).toBe(0)
  }, 90_000)
})

describe.skipIf(skipUnlessAvailable(skip))('IPv6 through the tunnel: an IPv6-only server', () => {
  // The server has no IPv4 at all: the transports must listen and dial over IPv6, and it
  // registers at the services over IPv6 (they then listen on both families).
  const lab = useVpnLab({ stacks: { server: 'v6' }, clients: 2 }, (t) => ({
    // No netifc: the server finds its uplink by the IPv6 default route (it has no IPv4 one).
    // The transports listen where a new config says ([::], dual-stack).
    ...pair({ vpnServer: { dns: [INTERNET.dns, INTERNET.dns6] } })(t),
    // A second client that dials STCPR only, so both transports are proven over IPv6.
    stcpr: {
      ns: t.clients[1]!.ns,
      config: { services: labServicesConfig(t, t.clients[1]!), vpnServer: { autostart: false }, transports: { order: ['stcpr'] } },
    },
  }))
  const v = visors(lab)

  it('is reached over the transports on IPv6, and the client leaves with its IPv6 address', async () => {
    const t = lab.topo()
    const client = v.client()
    const server = v.server()
    expect(t.server.stack).toBe('v6')
    await expect.poll(() => client.cli(['cli', 'vpn', 'list']).stdout, { timeout: 20_000 }).toContain(server.config.pk)

    const s = start(lab, client, server)
    // The transport's far end is the server's IPv6 address ([addr]:port).
    expect(s.remote).toContain(t.server.addr6)
    expect(await t.curlWhoami(t.client.ns, { v6: true })).toBe(t.server.publicAddr6)
    expect(client.cli(['cli', 'vpn', 'stop']).code).toBe(0)
    expect(await t.curlWhoami(t.client.ns, { v6: true })).toBe(t.natc.wanAddr6)
  }, 90_000)

  it('STCPR alone connects over IPv6 too', async () => {
    const t = lab.topo()
    const client = lab.visor('stcpr')
    const s = start(lab, client, v.server())
    expect(s.transport).toBe('stcpr')
    expect(s.remote).toContain(t.server.addr6)
    expect(await t.curlWhoami(t.clients[1]!.ns, { v6: true })).toBe(t.server.publicAddr6)
    expect(client.cli(['cli', 'vpn', 'stop']).code).toBe(0)
  }, 90_000)
})

describe.skipIf(skipUnlessAvailable(skip))('IPv6 through the tunnel: a server without IPv6 (no leak, no black hole)', () => {
  // The client's home network has working IPv6 (NAT66); the server has none to offer.
  const lab = useVpnLab({ stacks: { server: 'v4' } }, pair())
  const v = visors(lab)

  it("sends no IPv6 past the client's router while connected, and IPv6 sockets fail at once", async () => {
    const t = lab.topo()
    const client = v.client()
    const server = v.server()
    const before = await snapshotNet(t.client.ns)
    expect(await t.curlWhoami(t.client.ns, { v6: true })).toBe(t.natc.wanAddr6)
    await expect.poll(() => client.cli(['cli', 'vpn', 'list']).stdout, { timeout: 15_000 }).toContain(server.config.pk)

    start(lab, client, server)
    // The hello said so: no IPv6 in the tunnel, and the client keeps blocking it.
    const st = JSON.parse(client.cli(['cli', 'vpn', 'status', '--json']).stdout) as { tunnelIp6: string | null }
    expect(st.tunnelIp6).toBeNull()
    expect((JSON.parse(server.cli(['cli', 'vpn', 'server', 'status', '--json']).stdout) as { ipv6: string }).ipv6).toBe('none')
    const v6 = await t.countForwarded(t.natc, 'ipv6')
    const v4 = await t.countForwarded(t.natc, 'ipv4')
    expect(await t.curlWhoami(t.client.ns)).toBe(t.server.publicAddr)
    for (const url of [t.internet.whoamiUrl6!, `http://[${INTERNET.serverPublic6}]/`]) {
      const started = Date.now()
      await expect(t.httpGet(t.client.ns, url, 3000)).rejects.toThrow(FAST_FAILURE)
      // Fast: an application's happy eyeballs moves on to IPv4 instead of waiting out a timeout.
      expect(Date.now() - started).toBeLessThan(2000)
    }
    expect((await t.ping(t.client.ns, INTERNET.gateway6, 2)).ok).toBe(false)
    // IPv4 went through the tunnel (the transport crossed the router), IPv6 not at all.
    expect((await v4.read()).packets).toBeGreaterThan(0)
    expect(await v6.read()).toEqual({ packets: 0, bytes: 0 })

    expect(client.cli(['cli', 'vpn', 'stop']).code).toBe(0)
    expect(await t.curlWhoami(t.client.ns, { v6: true })).toBe(t.natc.wanAddr6)
    expect(await snapshotNet(t.client.ns)).toEqual(before)
  }, 90_000)
})
