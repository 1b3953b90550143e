/**
 * Chaos A.4: while connected, the user (or a network manager) replaces the
 * default route with one through another gateway: `ip route replace default
 * via <other gw>`. Each client has a second uplink, eth1, into the other
 * client's LAN (another NAT router, another public address), from before the
 * visor starts. SUDPH client with the kill switch on, STCPR without.
 *
 * What is right, decided here:
 * - While connected, the VPN follows the host's current default route: the
 *   visor's own sockets carry the bypass mark and use the main table, so
 *   they leave through the new gateway at once, while everything else stays
 *   in the tunnel's table. The old gateway may well be why the user switched;
 *   pinning the transport to it would strand the VPN. SUDPH keeps its session
 *   (the server follows the new NAT mapping); STCPR's TCP connection cannot
 *   change address and is redialed as soon as the client sees the change.
 * - On `vpn stop` the VPN removes only what it added. The default route is
 *   the user's: it stays through the new gateway, as the user left it. So
 *   the host afterwards equals the snapshot from before the connect with that
 *   one line changed, and putting the old default back gives exactly the
 *   snapshot from before.
 * Nothing may leave beside the tunnel meanwhile (both NAT routers count).
 */
import { describe, expect, it } from 'vitest'
import type { NetSnapshot } from '../../../ts/netlab/probe.js'
import { BYPASS_MARK } from '../../../ts/sys/bypass.js'
import type { Host, NatRouter, Topology } from '../../../ts/netlab/topology.js'
import type { VpnClientStatus } from '../../../ts/vpn/client.js'
import { labSkipReason } from '../helpers/lab.js'
import { skipUnlessAvailable } from '../helpers/skip.js'
import { itConnectsAll, recovered, useChaosLab } from './chaos-lab.js'

const skip = labSkipReason()
const ALT_IF = 'eth1'

/** The other client's NAT: where eth1 leads. */
function altNat(t: Topology, h: Host): NatRouter {
  return (t.clients.find((c) => c.nat !== h.nat) as Host).nat as NatRouter
}
const altAddr = (nat: NatRouter) => nat.lanAddr.replace(/\.1$/, '.60')

describe.skipIf(skipUnlessAvailable(skip))('chaos: default route replaced while connected (SUDPH with kill switch, STCPR without)', () => {
  const lab = useChaosLab({
    killswitch: { sudph: true, stcpr: false },
    // A second uplink for each client, before any snapshot: the only later difference is the user's default route.
    beforeStart: async (t) => {
      for (const h of t.clients) {
        const nat = altNat(t, h)
        const port = `p-alt-${h.role}`
        await t.lab.veth({ ns: nat.ns, ifname: port }, { ns: h.ns, ifname: ALT_IF, addrs: [`${altAddr(nat)}/24`] })
        await t.lab.bridgePort(nat.ns, 'lan0', port)
      }
    },
  })
  const t = () => lab.topo()

  itConnectsAll(lab)

  it("the default route replaced: the visor's marked sockets take the new gateway and the tunnel is kept (or re-established)", async () => {
    const n0 = await lab.leaked()
    const before = await Promise.all(lab.clients().map((c) => c.api.vpnStatus()))
    const start = Date.now()
    for (const c of lab.clients()) await t().lab.ip(c.host.ns, ['route', 'replace', 'default', 'via', altNat(t(), c.host).lanAddr, 'dev', ALT_IF])
    // The transport's marked packets leave through the new gateway; unmarked ones still go into the tunnel.
    const moved = await Promise.all(
      lab.clients().map(async (c) => {
        const want = `via ${altNat(t(), c.host).lanAddr} dev ${ALT_IF}`
        await expect
          .poll(async () => (await t().lab.execOk(c.host.ns, ['ip', 'route', 'get', t().server.publicAddr, 'mark', String(BYPASS_MARK)])).stdout, {
            timeout: 10_000,
            interval: 100,
          })
          .toContain(want)
        expect((await t().lab.execOk(c.host.ns, ['ip', 'route', 'get', t().server.publicAddr])).stdout).toMatch(/dev swvpn/)
        return `${c.transport} marked path moved after ${Date.now() - start} ms`
      }),
    )
    const results = await Promise.all(lab.clients().map((c, i) => recovered(t(), c, before[i] as VpnClientStatus, start)))
    const leaked = (await lab.leaked()) - n0
    console.log(`default route replaced: ${moved.join(', ')}; ${results.join('; ')}; packets beside the tunnel: ${leaked}`)
    expect(leaked, await lab.leaks()).toBe(0)
  }, 120_000)

  it("vpn stop leaves the user's new default route and nothing of ours; the old default back, each host is exactly as before", async () => {
    for (const c of lab.clients()) {
      expect((await c.api.vpnStop()).state).toBe('disconnected')
      const nat = altNat(t(), c.host)
      const expected: NetSnapshot = {
        ...c.before,
        route: c.before.route.replace(`default via ${c.host.gateway} dev ${c.host.uplink} \n`, `default via ${nat.lanAddr} dev ${ALT_IF} \n`),
      }
      expect(expected.route).not.toBe(c.before.route)
      await expect.poll(() => t().snapshotNet(c.host.ns), { timeout: 5000, interval: 200 }).toEqual(expected)
      // Without the VPN, the host goes out through the gateway the user chose.
      expect(await t().curlWhoami(c.host.ns)).toBe(nat.wanAddr)
      await t().lab.ip(c.host.ns, ['route', 'replace', 'default', 'via', c.host.gateway, 'dev', c.host.uplink])
      expect(await t().snapshotNet(c.host.ns)).toEqual(c.before)
    }
  }, 60_000)
})
