/**
 * Chaos A.2: the link goes away and comes back, for a SUDPH and an STCPR
 * client at once (kill switch off: the routes into the TUN alone must keep
 * everything in while the link is gone).
 *
 * - The NAT router's uplink is cut (its port on the fake internet set down):
 *   both clients must say "reconnecting", then, once it is back, connect
 *   again on their own and carry traffic.
 * - The client's own uplink goes down and up: the kernel flushes every route
 *   through it, the default route included. On "up" the test puts the
 *   default route back, as a DHCP client or network manager would; the
 *   visor's marked sockets follow it (they use the main table) and the VPN
 *   must recover.
 *
 * (The second runs with SKYWIRE_CHAOS_LONG=1, as `npm run test:chaos` does.)
 *
 * Nothing may leave the client LANs beside the tunnel meanwhile, and vpn stop
 * leaves each host as it was.
 */
import { describe, expect, it } from 'vitest'
import type { Host } from '../../../ts/netlab/topology.js'
import { labSkipReason } from '../helpers/lab.js'
import { skipUnlessAvailable } from '../helpers/skip.js'
import { cliState, expectTunnelTraffic, itConnectsAll, itRestoresHosts, useChaosLab, waitState } from './chaos-lab.js'

const skip = labSkipReason()
const LONG = process.env.SKYWIRE_CHAOS_LONG === '1'

describe.skipIf(skipUnlessAvailable(skip))('chaos: link cut and restored (SUDPH and STCPR)', () => {
  const lab = useChaosLab({ killswitch: false })
  const t = () => lab.topo()

  itConnectsAll(lab)

  it("the NAT routers' uplinks cut: reconnecting, then connected again once restored", async () => {
    const n0 = await lab.leaked()
    const cut = Date.now()
    for (const nat of lab.nats()) await t().lab.ip(nat.port.ns, ['link', 'set', nat.port.ifname, 'down'])
    try {
      await Promise.all(lab.clients().map((c) => waitState(c, 'reconnecting', 30_000)))
      for (const c of lab.clients()) expect(cliState(c)).toBe('reconnecting')
    } finally {
      for (const nat of lab.nats()) await t().lab.ip(nat.port.ns, ['link', 'set', nat.port.ifname, 'up'])
    }
    const restored = Date.now() - cut
    await Promise.all(
      lab.clients().map(async (c) => {
        await waitState(c, 'connected', 60_000)
        await expectTunnelTraffic(t(), c)
      }),
    )
    const leaked = (await lab.leaked()) - n0
    console.log(`NAT uplinks cut: restored after ${restored} ms, both connected after ${Date.now() - cut} ms; packets beside the tunnel: ${leaked}`)
    expect(leaked, await lab.leaks()).toBe(0)
  }, 120_000)

  // Longer (two more stale-session waits): in `npm run test:chaos`, not in npm test's budget. The roaming
  // test covers the same fault (the default route flushed under the tunnel) within the budget. Not a skip
  // (nothing is missing): without SKYWIRE_CHAOS_LONG the case does not exist, so CI's strict mode is not tripped.
  if (LONG)
    it("the clients' own uplinks down and up (routes flushed, default route put back): the VPN recovers", async () => {
      const n0 = await lab.leaked()
      const cut = Date.now()
      const hosts = lab.clients().map((c) => c.host)
      for (const h of hosts) await t().lab.ip(h.ns, ['link', 'set', h.uplink, 'down'])
      // Down long enough for both to notice; nothing of ours may leak while the routes are gone.
      await Promise.all(lab.clients().map((c) => waitState(c, 'reconnecting', 30_000)))
      for (const h of hosts) await upAgain(h)
      const restored = Date.now() - cut
      await Promise.all(
        lab.clients().map(async (c) => {
          await waitState(c, 'connected', 60_000)
          await expectTunnelTraffic(t(), c)
          expect(cliState(c)).toBe('connected')
        }),
      )
      const leaked = (await lab.leaked()) - n0
      console.log(
        `client uplinks down: up again after ${restored} ms, both connected after ${Date.now() - cut} ms; packets beside the tunnel: ${leaked}`,
      )
      expect(leaked, await lab.leaks()).toBe(0)
    }, 120_000)

  itRestoresHosts(lab)

  /** What a network manager does when a link comes back: up, then its addresses and default routes. */
  async function upAgain(h: Host): Promise<void> {
    const lab = t().lab
    await lab.ip(h.ns, ['link', 'set', h.uplink, 'up'])
    // IPv6 drops static addresses on link down (keep_addr_on_down=0); IPv4 keeps them.
    if (h.addr6 !== null) await lab.ip(h.ns, ['-6', 'addr', 'replace', `${h.addr6}/64`, 'dev', h.uplink])
    await lab.ip(h.ns, ['route', 'replace', 'default', 'via', h.gateway])
    if (h.gateway6 !== null) await lab.ip(h.ns, ['-6', 'route', 'replace', 'default', 'via', h.gateway6])
  }
})
