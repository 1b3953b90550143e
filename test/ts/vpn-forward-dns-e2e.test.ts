/**
 * Kill switch for forwarded traffic and the DNS re-check, end to end: real
 * services, real server and client visors (kill switch on, DNS re-checked
 * every second), and a "container" namespace behind the client wired the way
 * Docker wires one (veth, forwarding, masquerade).
 *
 * What leaves the client's uplink is counted on its NAT router (prerouting,
 * before anything could drop it): "blocked" means "never left the client".
 */
import { readFileSync } from 'node:fs'
import { beforeAll, describe, expect, it } from 'vitest'
import { skipUnlessAvailable } from './helpers/skip.js'
import { ping, snapshotNet } from '../../ts/netlab/probe.js'
import type { Topology } from '../../ts/netlab/topology.js'
import { labSkipReason } from './helpers/lab.js'
import { useVpnLab, type TestVisor } from './helpers/visors.js'

const skip = labSkipReason()

const WHOAMI = '203.0.113.80'

describe.skipIf(skipUnlessAvailable(skip))('kill switch on forwarded traffic and DNS re-check, end to end', () => {
  let container = ''
  let before: Awaited<ReturnType<typeof snapshotNet>>
  const lab = useVpnLab(
    {},
    (t) => ({
      server: { ns: t.server.ns, config: { vpnServer: { dns: ['203.0.113.53'] } } },
      client: { ns: t.client.ns, config: { vpnServer: { autostart: false }, vpnClient: { killswitch: true, dnsRecheckS: 1 } } },
    }),
    {
      beforeStart: async (t) => {
        container = await t.lab.addNamespace('ctr')
        await t.lab.veth({ ns: container, ifname: 'eth0', addrs: ['172.17.0.2/16'] }, { ns: t.client.ns, ifname: 'ctr0', addrs: ['172.17.0.1/16'] })
        await t.lab.route(container, 'default', { via: '172.17.0.1' })
        await t.lab.sysctl(t.client.ns, 'net.ipv4.ip_forward', 1)
        await t.lab.nft(
          t.client.ns,
          'table ip dockerish {\n  chain post {\n    type nat hook postrouting priority srcnat;\n    oifname != "ctr0" ip saddr 172.17.0.0/16 masquerade\n  }\n}\n',
        )
        await t.lab.nft(
          t.natc.ns,
          `table inet watch {
  chain pre {
    type filter hook prerouting priority -300; policy accept;
    iifname "lan0" ip daddr ${t.server.publicAddr} icmp type echo-request counter comment "endpoint"
    iifname "lan0" ip daddr ${WHOAMI} counter comment "whoami"
  }
}
`,
        )
        before = await snapshotNet(t.client.ns)
      },
    },
  )
  let t: Topology
  let server: TestVisor
  let client: TestVisor
  beforeAll(() => {
    t = lab.topo()
    server = lab.visor('server')
    client = lab.visor('client')
  })

  const left = async (comment: string) => {
    const out = (await t.lab.execOk(t.natc.ns, ['nft', 'list', 'table', 'inet', 'watch'])).stdout
    return Number(new RegExp(`counter packets (\\d+) bytes \\d+ comment "${comment}"`).exec(out)?.[1] ?? NaN)
  }
  const pingEndpoint = async () => {
    const n0 = await left('endpoint')
    const r = await ping(container, t.server.publicAddr, { count: 2, intervalS: 0.2, timeoutS: 0.5 })
    return { ok: r.ok, left: (await left('endpoint')) - n0 }
  }
  const whoami = async () => {
    const n0 = await left('whoami')
    let seen: string | null
    try {
      seen = await t.curlWhoami(container, { timeoutMs: 2000 })
    } catch {
      seen = null
    }
    return { seen, left: (await left('whoami')) - n0 }
  }

  it('before connecting the container reaches the internet through the NAT (the lab works)', async () => {
    expect(await whoami()).toMatchObject({ seen: t.natc.wanAddr })
    expect((await whoami()).left).toBeGreaterThan(0)
    expect(await pingEndpoint()).toEqual({ ok: true, left: 2 })
  })

  it("connected: the container goes out through the tunnel, never around it (not even to the server's own address)", async () => {
    await expect.poll(() => client.cli(['cli', 'vpn', 'list']).stdout, { timeout: 15_000 }).toContain(server.config.pk)
    const start = client.cli(['cli', 'vpn', 'start', '-k', server.config.pk, '-t', '20'])
    expect(start.code, start.stderr).toBe(0)
    expect(await whoami()).toEqual({ seen: t.server.publicAddr, left: 0 })
    expect(await pingEndpoint()).toEqual({ ok: false, left: 0 })
  }, 60_000)

  it("connected: resolv.conf rewritten behind the visor's back (as by DHCP) is put back within the re-check period", async () => {
    const file = t.lab.resolvConfPath(t.client.ns)
    const ours = readFileSync(file, 'utf8')
    expect(ours).toMatch(/^nameserver 203\.0\.113\.53$/m)
    expect(ours).toMatch(/skywire/)
    // Through the namespace's mounted /etc/resolv.conf, as a DHCP client there would write it.
    await t.lab.execOk(t.client.ns, ['sh', '-c', "printf '# dhclient\\nnameserver 10.10.0.1\\n' > /etc/resolv.conf"])
    const t0 = Date.now()
    await expect.poll(() => readFileSync(file, 'utf8'), { timeout: 15_000, interval: 100 }).toBe(ours)
    console.log(`visor put its resolv.conf back ${Date.now() - t0} ms after the rewrite (re-check every 1 s)`)
  }, 30_000)

  it('reconnecting (server gone): nothing from the container leaves the uplink', async () => {
    await server.stop()
    await expect
      .poll(() => JSON.parse(client.cli(['cli', 'vpn', 'status', '--json']).stdout).state, { timeout: 40_000, interval: 500 })
      .toBe('reconnecting')
    expect(await whoami()).toEqual({ seen: null, left: 0 })
    expect(await pingEndpoint()).toEqual({ ok: false, left: 0 })
  }, 60_000)

  it('stop restores the client namespace exactly', async () => {
    const stop = client.cli(['cli', 'vpn', 'stop'])
    expect(stop.code, stop.stderr).toBe(0)
    expect(await snapshotNet(t.client.ns)).toEqual(before)
    expect(await whoami()).toMatchObject({ seen: t.natc.wanAddr })
  }, 30_000)
})
