/**
 * The VPN server's host changes with real traffic. A bridge with a veth per
 * client plays the TUN:
 *
 *   client  10.99.0.2/32 ─tun0═╗
 *   client2 10.99.0.3/32 ─tun0═╩ swtun0 (bridge) server 10.99.0.1 ─wan0─ inet 203.0.113.1 (+198.51.100.80, whoami)
 *                                                  └─lan0 192.168.50.1 ── lanhost 192.168.50.10 (whoami)
 *
 * Clients hold /32s and route everything via 10.99.0.1, so client-to-client
 * traffic enters and leaves the server through swtun0, as it does through a
 * TUN. The inet namespace has no route back to the client pool, so an answer
 * from it proves masquerade; lanhost routes via the server, so only the
 * firewall decides whether it is reachable.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { skipUnlessAvailable } from '../helpers/skip.js'
import { createLab, execOk, waitFor, type Lab } from '../../../ts/netlab/netns.js'
import { canHttpGet, httpGet, ping, snapshotNet } from '../../../ts/netlab/probe.js'
import { requireFreshDist, sys, sys1, SysCallError, sysSkipReason } from './helpers.js'

const skip = sysSkipReason()
if (skip !== null) console.warn(`sys server-firewall tests skipped: ${skip}`)

const INET = 'http://198.51.100.80/'
const INET6 = 'http://[2001:db8:100::80]/'
const UPLINK_NEIGHBOUR = 'http://203.0.113.1/'
const LANHOST = 'http://192.168.50.10/'
const LANHOST6 = 'http://[fd50::10]/'
const SERVER_OWN = 'http://203.0.113.20/'
const SERVER_GW = 'http://10.99.0.1/'
const CLIENT2 = 'http://10.99.0.3/'
const OTHER_TABLE = 'table ip admin_stuff {\n  set blocked { type ipv4_addr; elements = { 192.0.2.66 } }\n}\n'

// The caller's address, one listener per argument: enough to see NAT at work, and independent of netlab's scripts.
const WHOAMI = `
const http = require('node:http')
for (const a of process.argv.slice(1)) {
  const m = /^\\[?(.*?)\\]?:(\\d+)$/.exec(a)
  http
    .createServer((req, res) => {
      res.setHeader('connection', 'close')
      res.end(req.socket.remoteAddress.replace(/^::ffff:/, '') + '\\n')
    })
    .listen(Number(m[2]), m[1], () => console.log('listening on ' + a))
}
`

const FW = {
  tunIf: 'swtun0',
  netIf: 'wan0',
  pool4: '10.99.0.0/24',
  gateway4: '10.99.0.1',
  pool6: 'fd99::/64',
  gateway6: 'fd99::1',
}

describe.skipIf(skipUnlessAvailable(skip))(`server firewall, forwarding, interfaces${skip === null ? '' : ` (skipped: ${skip})`}`, () => {
  let lab: Lab
  let server: string
  let client: string
  let client2: string

  beforeAll(async () => {
    requireFreshDist()
    lab = createLab()
    const inet = await lab.addNamespace('inet')
    server = await lab.addNamespace('server')
    const lanhost = await lab.addNamespace('lanhost')
    client = await lab.addNamespace('client')
    client2 = await lab.addNamespace('client2')
    await lab.veth(
      { ns: inet, ifname: 's-wan', addrs: ['203.0.113.1/24', '2001:db8:203::1/64'] },
      { ns: server, ifname: 'wan0', addrs: ['203.0.113.20/24', '2001:db8:203::20/64'] },
    )
    await lab.veth(
      { ns: server, ifname: 'lan0', addrs: ['192.168.50.1/24', 'fd50::1/64'] },
      { ns: lanhost, ifname: 'eth0', addrs: ['192.168.50.10/24', 'fd50::10/64'] },
    )
    await lab.bridge(server, 'swtun0', ['10.99.0.1/24', 'fd99::1/64'])
    for (const [ns, port, a, a6] of [
      [client, 'p-c1', '10.99.0.2/32', 'fd99::2/128'],
      [client2, 'p-c2', '10.99.0.3/32', 'fd99::3/128'],
    ] as const) {
      await lab.veth({ ns: server, ifname: port }, { ns, ifname: 'tun0', addrs: [a, a6] })
      await lab.bridgePort(server, 'swtun0', port)
      await lab.route(ns, '10.99.0.1', { dev: 'tun0' })
      await lab.route(ns, 'fd99::1', { dev: 'tun0' })
      await lab.route(ns, 'default', { via: '10.99.0.1' })
      await lab.route(ns, 'default', { via: 'fd99::1' })
    }
    await lab.addr(inet, 'lo', '198.51.100.80/32')
    await lab.addr(inet, 'lo', '2001:db8:100::80/128')
    await lab.route(server, 'default', { via: '203.0.113.1' })
    await lab.route(server, 'default', { via: '2001:db8:203::1' })
    await lab.route(lanhost, 'default', { via: '192.168.50.1' })
    await lab.route(lanhost, 'default', { via: 'fd50::1' })
    await lab.nft(server, OTHER_TABLE)
    const whoami = async (ns: string, listen: string[]) => {
      const p = lab.spawn(ns, [process.execPath, '-e', WHOAMI, ...listen])
      for (const l of listen) await p.waitForOutput(new RegExp(`listening on ${l.replace(/[[\]]/g, '\\$&')}`), 10_000)
    }
    await whoami(inet, ['198.51.100.80:80', '203.0.113.1:80', '[2001:db8:100::80]:80'])
    await whoami(lanhost, ['192.168.50.10:80', '[fd50::10]:80', '192.168.50.10:53'])
    await whoami(server, ['203.0.113.20:80', '10.99.0.1:80'])
    await whoami(client2, ['10.99.0.3:80'])
    // Snapshots must not race the kernel finishing link-local addresses.
    for (const ns of [server, client, client2]) {
      await waitFor(async () => (await execOk(ns, ['ip', '-6', 'addr', 'show', 'tentative'])).stdout.trim() === '', 10_000, { what: 'IPv6 DAD' })
    }
  })
  afterAll(() => lab?.teardown())

  it('finds the default route, addresses and subnets, and names a missing interface in one line', async () => {
    const [d4, d6, subnets, exists, missing] = await sys(server, [
      { fn: 'defaultRoute', args: [4] },
      { fn: 'defaultRoute', args: [6] },
      { fn: 'localSubnets', args: [] },
      { fn: 'interfaceExists', args: ['lan0'] },
      { fn: 'interfaceExists', args: ['nosuchif'] },
    ])
    expect(d4).toMatchObject({ dev: 'wan0', gateway: '203.0.113.1' })
    expect(d6).toMatchObject({ dev: 'wan0', gateway: '2001:db8:203::1' })
    expect(subnets).toEqual(
      expect.arrayContaining(['203.0.113.0/24', '192.168.50.0/24', '10.99.0.0/24', '2001:db8:203::/64', 'fd50::/64', 'fd99::/64']),
    )
    expect(subnets).not.toContain('127.0.0.0/8')
    expect(exists).toBe(true)
    expect(missing).toBe(false)
    const err = await sys1(server, 'requireInterface', 'nosuchif').catch((e: unknown) => e)
    expect(err).toBeInstanceOf(SysCallError)
    expect((err as SysCallError).code).toBe('ENOIFACE')
    expect((err as SysCallError).message).toMatch(/^network interface "nosuchif" does not exist \(this host has: .*wan0.*\)$/)
    const fwErr = await sys1(server, 'applyServerFirewall', { ...FW, netIf: 'nosuchif' }).catch((e: unknown) => e)
    expect((fwErr as SysCallError).code).toBe('ENOIFACE')
    // No default route is an answer (null), not an error.
    await lab.ip(server, ['-6', 'route', 'del', 'default'])
    try {
      expect(await sys1(server, 'defaultRoute', 6)).toBeNull()
    } finally {
      await lab.route(server, 'default', { via: '2001:db8:203::1' })
    }
  })

  it('forwarding on and back, per-interface values included', async () => {
    const key = '/proc/sys/net/ipv4/conf/lan0/forwarding'
    const read = async () =>
      (
        await execOk(server, [
          'cat',
          '/proc/sys/net/ipv4/ip_forward',
          key,
          '/proc/sys/net/ipv6/conf/all/forwarding',
          '/proc/sys/net/ipv6/conf/wan0/forwarding',
        ])
      ).stdout
    // An admin's odd setting: forwarding only on lan0. Turning the global switch on and off would lose it.
    await lab.sysctl(server, 'net.ipv4.conf.lan0.forwarding', 1)
    const before = await read()
    expect(before).toBe('0\n1\n0\n0\n')
    const [snap] = (await sys(server, [{ fn: 'enableForwarding', args: [{ ipv6: true }] }])) as [object]
    expect(await read()).toBe('1\n1\n1\n1\n')
    expect(await sys1(server, 'forwardingStatus')).toEqual({ ipv4: true, ipv6: true })
    await sys1(server, 'restoreForwarding', snap)
    expect(await read()).toBe(before)
    await lab.sysctl(server, 'net.ipv4.conf.lan0.forwarding', 0)
    expect(await sys1(server, 'readSysctl', 'net.ipv4.ip_forward')).toBe('0')
    const old = await sys1(server, 'writeSysctl', 'net.ipv4.ip_forward', '1')
    expect(old).toBe('0')
    await sys1(server, 'writeSysctl', 'net.ipv4.ip_forward', old)
  })

  it('secure (default): internet reachable and NATed, LAN and the server itself not; remove() restores the ruleset', async () => {
    const before = await snapshotNet(server, lab.resolvConfPath(server))
    const [fwd] = (await sys(server, [{ fn: 'enableForwarding', args: [{ ipv6: true }] }])) as [object]
    try {
      // Forwarding alone is not enough: inet has no route back to the pool. Clients reach each other, though.
      expect(await canHttpGet(client, INET, 1000)).toBe(false)
      expect(await canHttpGet(client, CLIENT2)).toBe(true)
      const [applied] = (await sys(server, [{ fn: 'applyServerFirewall', args: [FW] }])) as [
        { secure: boolean; blocked: { v4: string[]; v6: string[] } },
      ]
      expect(applied.secure).toBe(true)
      expect(applied.blocked.v4).toEqual(expect.arrayContaining(['10.0.0.0/8', '100.64.0.0/10', '192.168.0.0/16', '203.0.113.20/32']))
      expect(applied.blocked.v4).not.toContain('203.0.113.0/24')
      expect(applied.blocked.v6).toEqual(expect.arrayContaining(['fc00::/7', 'fe80::/10', 'ff00::/8', '2001:db8:203::20/128']))

      expect((await httpGet(client, INET)).trim()).toBe('203.0.113.20')
      expect((await httpGet(client, INET6)).trim()).toBe('2001:db8:203::20')
      expect(await canHttpGet(client, UPLINK_NEIGHBOUR)).toBe(true)
      // Drops only show as timeouts: wait for them all at once.
      const [c2, lan, lan6, own, gw, pingGw, pingGw6, pingOwn] = await Promise.all([
        canHttpGet(client, CLIENT2, 1000),
        canHttpGet(client, LANHOST, 1000),
        canHttpGet(client, LANHOST6, 1000),
        canHttpGet(client, SERVER_OWN, 1000),
        canHttpGet(client, SERVER_GW, 1000),
        ping(client, '10.99.0.1', { count: 1 }),
        ping(client, 'fd99::1', { count: 1 }),
        ping(client, '203.0.113.20', { count: 1, timeoutS: 0.5 }),
      ])
      expect({ c2, lan, lan6, own, gw }).toEqual({ c2: false, lan: false, lan6: false, own: false, gw: false })
      expect([pingGw.ok, pingGw6.ok, pingOwn.ok]).toEqual([true, true, false])
      const status = (await sys1(server, 'serverFirewallStatus')) as { present: boolean; drops: Record<string, number> }
      expect(status.present).toBe(true)
      expect(status.drops['secure-local']).toBeGreaterThan(0)
      expect(status.drops['server-itself']).toBeGreaterThan(0)
      expect(status.drops['client-to-client']).toBeGreaterThan(0)
      // The LAN itself still works for the server: only clients are fenced in.
      expect(await canHttpGet(server, LANHOST)).toBe(true)

      // (Replacing the table resets its counters, so this comes last.)
      // A resolver on the LAN handed out as the clients' DNS: port 53 only.
      expect(await canHttpGet(client, 'http://192.168.50.10:53/', 1000)).toBe(false)
      await sys1(server, 'applyServerFirewall', { ...FW, dns: ['192.168.50.10'] })
      expect((await httpGet(client, 'http://192.168.50.10:53/')).trim()).toBe('192.168.50.1')
      expect(await canHttpGet(client, LANHOST, 1000)).toBe(false)
    } finally {
      await sys(server, [{ fn: 'removeServerFirewall' }, { fn: 'restoreForwarding', args: [fwd] }])
    }
    expect(await sys1(server, 'serverFirewallStatus')).toEqual({ present: false, drops: {} })
    expect(await snapshotNet(server, lab.resolvConfPath(server))).toEqual(before)
    // Somebody else's table was there all along, untouched.
    expect(before.nft).toMatch(/table ip admin_stuff/)
  })

  it('not secure: the LAN is reachable (NATed), the server itself still is not; re-applying replaces atomically', async () => {
    const before = await snapshotNet(server, lab.resolvConfPath(server))
    const [fwd] = (await sys(server, [{ fn: 'enableForwarding', args: [{ ipv6: true }] }])) as [object]
    try {
      await sys(server, [
        { fn: 'applyServerFirewall', args: [FW] },
        { fn: 'applyServerFirewall', args: [{ ...FW, secure: false }] },
      ])
      expect((await httpGet(client, LANHOST)).trim()).toBe('192.168.50.1')
      expect((await httpGet(client, LANHOST6)).trim()).toBe('fd50::1')
      expect((await httpGet(client, INET)).trim()).toBe('203.0.113.20')
      const [own, c2] = await Promise.all([canHttpGet(client, SERVER_OWN, 1000), canHttpGet(client, CLIENT2, 1000)])
      expect({ own, c2 }).toEqual({ own: false, c2: false })
      const tables = (await execOk(server, ['nft', 'list', 'tables'])).stdout
      expect(tables.match(/skywire_vpn/g)).toHaveLength(1)
    } finally {
      await sys(server, [{ fn: 'removeServerFirewall' }, { fn: 'restoreForwarding', args: [fwd] }])
    }
    expect(await snapshotNet(server, lab.resolvConfPath(server))).toEqual(before)
    // Removing twice is fine: stop after a failed start must not fail.
    await sys1(server, 'removeServerFirewall')
  })
})
