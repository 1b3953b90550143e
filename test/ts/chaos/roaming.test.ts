/**
 * Chaos A.3: the client's network changes under a live session, for a SUDPH
 * and an STCPR client at once (kill switch off: the routes into the TUN alone
 * must keep everything in).
 *
 * - Roaming: each client moves to the other one's LAN (its cable is plugged
 *   into the other NAT router's switch; the host gets a new address there and
 *   a new default route, as after a DHCP lease on the new network). The old
 *   default route goes with the old address; the visor's marked sockets
 *   follow the new one by themselves. The session
 *   must survive (SUDPH: the server follows the authenticated packets to the
 *   new NAT mapping) or be re-established within a bound (STCPR: the TCP
 *   connection's address is gone; the client redials as soon as it sees the
 *   default route change).
 * - NAT rebinding: each NAT router's masquerade moves to another port range
 *   and its connection tracking is flushed (its WAN link bounced, which drops
 *   masqueraded entries), so the client's flows leave from new public ports.
 *
 * Traffic must flow again each time, nothing may leave beside the tunnel, and
 * after `vpn stop` and moving the clients back each host is as it was.
 */
import { describe, expect, it } from 'vitest'
import { INTERNET, NAT_TABLE, type Host, type NatRouter } from '../../../ts/netlab/topology.js'
import type { VpnClientStatus } from '../../../ts/vpn/client.js'
import { labSkipReason } from '../helpers/lab.js'
import { skipUnlessAvailable } from '../helpers/skip.js'
import { type ChaosClient, itConnectsAll, recovered, useChaosLab } from './chaos-lab.js'

const skip = labSkipReason()
/** Recovery bound after a roam or a rebinding: SUDPH should not even notice; STCPR notices a dead TCP connection within CHAOS_STALE_S. */
const REBIND_PORTS = '40000-40999'

describe.skipIf(skipUnlessAvailable(skip))('chaos: roaming to another LAN, and a NAT that rebinds ports (SUDPH and STCPR)', () => {
  const lab = useChaosLab({ killswitch: false })
  const t = () => lab.topo()
  /** Where each client is now: its address and NAT. */
  const at = new Map<string, { nat: NatRouter; addr: string; addr6: string | null }>()

  itConnectsAll(lab, (c) => void at.set(c.host.ns, { nat: c.host.nat as NatRouter, addr: c.host.addr, addr6: c.host.addr6 }))

  it("roaming: each client moves to the other NAT's LAN with a new address and default route; traffic flows again", async () => {
    const [a, b] = lab.clients() as [ChaosClient, ChaosClient]
    const natA = a.host.nat as NatRouter
    const natB = b.host.nat as NatRouter
    const n0 = await lab.leaked()
    const before = await Promise.all(lab.clients().map((c) => c.api.vpnStatus()))
    const start = Date.now()
    // Both at once: a into natB's LAN as .50, b into natA's as .50.
    await Promise.all([moveTo(a.host, natB, 50), moveTo(b.host, natA, 50)])
    const results = await Promise.all(lab.clients().map((c, i) => recovered(t(), c, before[i] as VpnClientStatus, start)))
    const leaked = (await lab.leaked()) - n0
    console.log(`roaming: ${results.join('; ')}; packets beside the tunnel: ${leaked}`)
    expect(leaked, await lab.leaks()).toBe(0)
  }, 120_000)

  it('NAT rebinding: new public ports for every flow (port range changed, conntrack flushed); traffic flows again', async () => {
    const n0 = await lab.leaked()
    const before = await Promise.all(lab.clients().map((c) => c.api.vpnStatus()))
    const start = Date.now()
    for (const nat of lab.nats()) await rebind(nat)
    const results = await Promise.all(lab.clients().map((c, i) => recovered(t(), c, before[i] as VpnClientStatus, start, false)))
    // The rebinding really happened: each client's transport flow now leaves from a port in the new range.
    for (const c of lab.clients()) {
      const where = at.get(c.host.ns) as { nat: NatRouter; addr: string }
      const port = c.transport === 'sudph' ? 7778 : 7777
      const ct = (await t().lab.execOk(where.nat.ns, ['cat', '/proc/net/nf_conntrack'])).stdout
      const flow = ct
        .split('\n')
        .find((l) => l.includes(`src=${where.addr} `) && l.includes(`dst=${INTERNET.serverPublic} `) && l.includes(`dport=${port} `))
      expect(flow, `${c.transport}: no conntrack entry for its transport on ${where.nat.role}`).toBeDefined()
      // The second tuple is the reply direction: its destination port is the public one the NAT picked.
      const mapped = Number([...(flow as string).matchAll(/dport=(\d+)/g)][1]?.[1])
      expect(mapped, flow).toBeGreaterThanOrEqual(40000)
      expect(mapped, flow).toBeLessThanOrEqual(40999)
    }
    const leaked = (await lab.leaked()) - n0
    console.log(`NAT rebinding: ${results.join('; ')}; packets beside the tunnel: ${leaked}`)
    expect(leaked, await lab.leaks()).toBe(0)
  }, 120_000)

  it('vpn stop leaves nothing of ours; moved back, each host is exactly as before', async () => {
    const [a, b] = lab.clients() as [ChaosClient, ChaosClient]
    for (const c of lab.clients()) {
      expect((await c.api.vpnStop()).state).toBe('disconnected')
      // Where the user is now, the VPN's routes, rules, nft table and DNS are gone.
      const s = await t().snapshotNet(c.host.ns)
      expect(s.route).not.toMatch(/proto 158/)
      expect(s.route6).not.toMatch(/proto 158/)
      expect(s.rule).toBe(c.before.rule)
      expect(s.nft).toBe(c.before.nft)
      expect(s.resolvConf).toBe(c.before.resolvConf)
    }
    for (const nat of lab.nats()) await unrebind(nat)
    await Promise.all([moveTo(a.host, a.host.nat as NatRouter, 10), moveTo(b.host, b.host.nat as NatRouter, 10)])
    for (const c of lab.clients()) await expect.poll(() => t().snapshotNet(c.host.ns), { timeout: 5000, interval: 200 }).toEqual(c.before)
    expect(await t().curlWhoami(a.host.ns)).toBe((a.host.nat as NatRouter).wanAddr)
    expect(await t().curlWhoami(b.host.ns)).toBe((b.host.nat as NatRouter).wanAddr)
  }, 60_000)

  /**
   * Moves host h's cable to `to`'s LAN switch and gives it `.hostPart` there
   * (addresses and default routes), like joining another network.
   */
  async function moveTo(h: Host, to: NatRouter, hostPart: number): Promise<void> {
    const lab = t().lab
    const from = (at.get(h.ns) as { nat: NatRouter }).nat
    const port = h.port.ifname
    if (from.ns !== to.ns) {
      await lab.ip(from.ns, ['link', 'set', port, 'netns', to.ns])
      await lab.bridgePort(to.ns, 'lan0', port)
      // Moving a link to another namespace sets it down.
      await lab.ip(to.ns, ['link', 'set', port, 'up'])
    }
    const cur = at.get(h.ns) as { addr: string; addr6: string | null }
    const addr = to.lanAddr.replace(/\.1$/, `.${hostPart}`)
    const addr6 = to.lanAddr6?.replace(/::1$/, `::${hostPart}`) ?? null
    // The old address goes, and with it every route through its network, the default included.
    await lab.ip(h.ns, ['-4', 'addr', 'del', `${cur.addr}/24`, 'dev', h.uplink])
    if (cur.addr6 !== null) await lab.ip(h.ns, ['-6', 'addr', 'del', `${cur.addr6}/64`, 'dev', h.uplink])
    await lab.ip(h.ns, ['-4', 'addr', 'add', `${addr}/24`, 'dev', h.uplink])
    if (addr6 !== null) await lab.ip(h.ns, ['-6', 'addr', 'add', `${addr6}/64`, 'dev', h.uplink, 'nodad'])
    await lab.ip(h.ns, ['-4', 'route', 'replace', 'default', 'via', to.lanAddr])
    if (to.lanAddr6 !== null) await lab.ip(h.ns, ['-6', 'route', 'replace', 'default', 'via', to.lanAddr6])
    at.set(h.ns, { nat: to, addr, addr6 })
  }

  /** Masquerade into REBIND_PORTS, then bounce the WAN link: the kernel drops every entry masqueraded through it. */
  async function rebind(nat: NatRouter): Promise<void> {
    await setMasquerade(nat, ` to :${REBIND_PORTS}`)
  }

  async function unrebind(nat: NatRouter): Promise<void> {
    await setMasquerade(nat, '')
  }

  async function setMasquerade(nat: NatRouter, ports: string): Promise<void> {
    const lab = t().lab
    // A port range needs a transport protocol: TCP and UDP get it, the rest (ICMP) plain masquerade.
    await lab.nft(
      nat.ns,
      `flush chain inet ${NAT_TABLE} postrouting
${ports === '' ? '' : `add rule inet ${NAT_TABLE} postrouting oifname "wan0" meta l4proto { tcp, udp } masquerade${ports}\n`}add rule inet ${NAT_TABLE} postrouting oifname "wan0" masquerade
`,
    )
    await lab.ip(nat.ns, ['link', 'set', nat.wanIf, 'down'])
    await lab.ip(nat.ns, ['link', 'set', nat.wanIf, 'up'])
    // Link down took the routes (and IPv6 its static addresses) with it.
    if (nat.wanAddr6 !== null) await lab.ip(nat.ns, ['-6', 'addr', 'replace', `${nat.wanAddr6}/64`, 'dev', nat.wanIf, 'nodad'])
    await lab.ip(nat.ns, ['-4', 'route', 'replace', 'default', 'via', INTERNET.gateway])
    if (nat.wanAddr6 !== null) await lab.ip(nat.ns, ['-6', 'route', 'replace', 'default', 'via', INTERNET.gateway6])
  }
})
