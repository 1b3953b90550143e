/**
 * The VPN server's IPv6 (issue 15) with real packets between namespaces. A
 * bridge with a veth per client plays the TUN, as in server-firewall.test.ts:
 *
 *   client  10.99.0.2/32 fd99::2/128 2001:db8:77::2/128 ─tun0═╗
 *   client2 10.99.0.3/32 fd99::3/128 2001:db8:77::3/128 ─tun0═╩ swtun0 (bridge) server ─wan0─ inet (whoami 2001:db8:100::80)
 *                                                                 └─lan0 fd50::1, 2001:db8:50::1 ── lanhost (whoami)
 *
 * fd99::/64 stands for the server's ULA pool (NAT66 out of wan0), and
 * 2001:db8:77::/64 for an operator's routed pool6 (inet routes it to the
 * server; no NAT). Whoami answers with the caller's address, so an answer
 * shows whether NAT66 happened; drops show as timeouts and in the table's
 * counters.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { skipUnlessAvailable } from '../helpers/skip.js'
import { createLab, execOk, waitFor, type Lab } from '../../../ts/netlab/netns.js'
import { canHttpGet, httpGet, snapshotNet } from '../../../ts/netlab/probe.js'
import { requireFreshDist, sys, sys1, sysSkipReason } from './helpers.js'

const skip = sysSkipReason()
if (skip !== null) console.warn(`sys ipv6-server tests skipped: ${skip}`)

const INET6 = 'http://[2001:db8:100::80]/'
const LAN_ULA = 'http://[fd50::10]/'
const LAN_GLOBAL = 'http://[2001:db8:50::10]/'
const SERVER_OWN6 = 'http://[2001:db8:203::20]/'
const CLIENT2_ULA = 'http://[fd99::3]/'
const CLIENT2_ROUTED = 'http://[2001:db8:77::3]/'

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

// GET from a chosen source address (a client with both a ULA and a routed address picks by longest match otherwise).
const GET_FROM = `
const http = require('node:http')
const [url, localAddress, ms] = process.argv.slice(1)
const req = http.get(url, { localAddress, timeout: Number(ms) }, (res) => {
  let b = ''
  res.on('data', (d) => (b += d))
  res.on('end', () => { process.stdout.write(b); process.exit(0) })
})
req.on('timeout', () => { console.error('timeout'); process.exit(1) })
req.on('error', (e) => { console.error(e.message); process.exit(1) })
`

const NAT66 = {
  tunIf: 'swtun0',
  netIf: 'wan0',
  pool4: '10.99.0.0/24',
  gateway4: '10.99.0.1',
  pool6: 'fd99::/64',
  gateway6: 'fd99::1',
}
const ROUTED = { ...NAT66, pool6: '2001:db8:77::/64', gateway6: '2001:db8:77::1', nat6: false }

describe.skipIf(skipUnlessAvailable(skip))(`server IPv6: NAT66, routed pool6, secure drops${skip === null ? '' : ` (skipped: ${skip})`}`, () => {
  let lab: Lab
  let server: string
  let client: string
  let inet: string
  let lanhost: string

  /** Forwarding on (both families), the table applied; undone and the namespace compared byte for byte afterwards. */
  async function withFirewall(fw: object, body: () => Promise<void>): Promise<void> {
    const before = await snapshotNet(server, lab.resolvConfPath(server))
    const [fwd] = (await sys(server, [{ fn: 'enableForwarding', args: [{ ipv6: true }] }])) as [object]
    try {
      await sys1(server, 'applyServerFirewall', fw)
      await body()
    } finally {
      await sys(server, [{ fn: 'removeServerFirewall' }, { fn: 'restoreForwarding', args: [fwd] }])
    }
    expect(await snapshotNet(server, lab.resolvConfPath(server))).toEqual(before)
  }

  /** GET `url` from `ns` with source `from`: the body, or null when it fails (a drop shows as a timeout). */
  const getFrom = async (ns: string, url: string, from: string, ms = 1000): Promise<string | null> => {
    const r = await lab.exec(ns, [process.execPath, '-e', GET_FROM, url, from, String(ms)])
    return r.code === 0 ? r.stdout.trim() : null
  }

  const drops = async () => ((await sys1(server, 'serverFirewallStatus')) as { drops: Record<string, number> }).drops

  beforeAll(async () => {
    requireFreshDist()
    lab = createLab()
    inet = await lab.addNamespace('inet')
    server = await lab.addNamespace('server')
    lanhost = await lab.addNamespace('lanhost')
    client = await lab.addNamespace('client')
    const client2 = await lab.addNamespace('client2')
    await lab.veth(
      { ns: inet, ifname: 's-wan', addrs: ['203.0.113.1/24', '2001:db8:203::1/64'] },
      { ns: server, ifname: 'wan0', addrs: ['203.0.113.20/24', '2001:db8:203::20/64'] },
    )
    await lab.veth(
      { ns: server, ifname: 'lan0', addrs: ['192.168.50.1/24', 'fd50::1/64', '2001:db8:50::1/64'] },
      { ns: lanhost, ifname: 'eth0', addrs: ['192.168.50.10/24', 'fd50::10/64', '2001:db8:50::10/64'] },
    )
    await lab.bridge(server, 'swtun0', ['10.99.0.1/24', 'fd99::1/64', '2001:db8:77::1/64'])
    for (const [ns, port, n] of [
      [client, 'p-c1', 2],
      [client2, 'p-c2', 3],
    ] as const) {
      await lab.veth({ ns: server, ifname: port }, { ns, ifname: 'tun0', addrs: [`10.99.0.${n}/32`, `fd99::${n}/128`, `2001:db8:77::${n}/128`] })
      await lab.bridgePort(server, 'swtun0', port)
      await lab.route(ns, '10.99.0.1', { dev: 'tun0' })
      await lab.route(ns, 'fd99::1', { dev: 'tun0' })
      await lab.route(ns, 'default', { via: '10.99.0.1' })
      // The pool's address as source by default, as on a client's TUN (the routed one is picked per test).
      await lab.ip(ns, ['-6', 'route', 'add', 'default', 'via', 'fd99::1', 'src', `fd99::${n}`])
    }
    await lab.addr(inet, 'lo', '2001:db8:100::80/128')
    // The upstream routes the operator's pool6 to the server (a routed prefix), and the LAN's global /64 too.
    await lab.route(inet, '2001:db8:77::/64', { via: '2001:db8:203::20' })
    await lab.route(inet, '2001:db8:50::/64', { via: '2001:db8:203::20' })
    await lab.route(server, 'default', { via: '203.0.113.1' })
    await lab.route(server, 'default', { via: '2001:db8:203::1' })
    await lab.route(lanhost, 'default', { via: '192.168.50.1' })
    await lab.route(lanhost, 'default', { via: 'fd50::1' })
    const whoami = async (ns: string, listen: string[]) => {
      const p = lab.spawn(ns, [process.execPath, '-e', WHOAMI, ...listen])
      for (const l of listen) await p.waitForOutput(new RegExp(`listening on ${l.replace(/[[\]]/g, '\\$&')}`), 10_000)
    }
    await whoami(inet, ['[2001:db8:100::80]:80'])
    await whoami(lanhost, ['[::]:80'])
    await whoami(server, ['[2001:db8:203::20]:80'])
    await whoami(client, ['[::]:8080'])
    await whoami(client2, ['[::]:80'])
    for (const ns of [server, client, client2, lanhost, inet]) {
      await waitFor(async () => (await execOk(ns, ['ip', '-6', 'addr', 'show', 'tentative'])).stdout.trim() === '', 10_000, { what: 'IPv6 DAD' })
    }
  })
  afterAll(() => lab?.teardown())

  it('finds global IPv6 on the uplink only, so NAT66 is offered there and not out of a ULA-only LAN', async () => {
    expect(await sys1(server, 'uplinkHasGlobalIpv6', 'wan0')).toBe(true)
    await lab.ip(server, ['-6', 'addr', 'del', '2001:db8:50::1/64', 'dev', 'lan0'])
    try {
      expect(await sys1(server, 'uplinkHasGlobalIpv6', 'lan0')).toBe(false)
    } finally {
      await lab.addr(server, 'lan0', '2001:db8:50::1/64')
    }
  })

  it("NAT66 (secure): the IPv6 internet sees the server's address; the server, its LAN (ULA and global), other clients and spoofed sources are dropped", async () => {
    await withFirewall(NAT66, async () => {
      expect((await httpGet(client, INET6)).trim()).toBe('2001:db8:203::20')
      const [c2, lanUla, lanGlobal, own] = await Promise.all([
        canHttpGet(client, CLIENT2_ULA, 1000),
        canHttpGet(client, LAN_ULA, 1000),
        canHttpGet(client, LAN_GLOBAL, 1000),
        canHttpGet(client, SERVER_OWN6, 1000),
      ])
      expect({ c2, lanUla, lanGlobal, own }).toEqual({ c2: false, lanUla: false, lanGlobal: false, own: false })
      // A source outside the pool (the core would never let it in; this is the second line).
      await lab.addr(client, 'tun0', '2001:db8:dead::1/128')
      try {
        expect(await getFrom(client, INET6, '2001:db8:dead::1')).toBeNull()
      } finally {
        await lab.ip(client, ['-6', 'addr', 'del', '2001:db8:dead::1/128', 'dev', 'tun0'])
      }
      const d = await drops()
      expect(d['client-to-client']).toBeGreaterThan(0)
      expect(d['secure-local']).toBeGreaterThan(0)
      expect(d.spoofed).toBeGreaterThan(0)
      expect(d['server-itself']).toBeGreaterThan(0)
    })
  })

  it('a routed pool6: clients leave with their own addresses (no NAT), nobody outside opens connections to them, secure drops stay', async () => {
    await withFirewall(ROUTED, async () => {
      // The client's source is its routed address (the default route's source would be the ULA one: pick it).
      expect(await getFrom(client, INET6, '2001:db8:77::2', 3000)).toBe('2001:db8:77::2')
      const [inbound, lanGlobal, c2] = await Promise.all([
        canHttpGet(inet, 'http://[2001:db8:77::2]:8080/', 1000),
        getFrom(client, LAN_GLOBAL, '2001:db8:77::2').then((x) => x !== null),
        getFrom(client, CLIENT2_ROUTED, '2001:db8:77::2').then((x) => x !== null),
      ])
      expect({ inbound, lanGlobal, c2 }).toEqual({ inbound: false, lanGlobal: false, c2: false })
      expect((await drops())['unsolicited-to-client']).toBeGreaterThan(0)
      // And nothing of the ULA pool is NATed any more: fd99:: sources are outside pool6 now.
      expect(await canHttpGet(client, INET6, 1000)).toBe(false)
    })
  })

  it('a host that did not forward IPv6 does not start routing between its other interfaces (dropOtherForwarding6)', async () => {
    const fromLan = () => getFrom(lanhost, INET6, '2001:db8:50::10')
    await withFirewall(NAT66, async () => {
      // Without the drop, turning IPv6 forwarding on made this host a router for its LAN.
      expect(await fromLan()).toBe('2001:db8:50::10')
    })
    await withFirewall({ ...NAT66, dropOtherForwarding6: true }, async () => {
      expect(await fromLan()).toBeNull()
      expect((await drops())['not-a-router6']).toBeGreaterThan(0)
      // The clients are not affected.
      expect((await httpGet(client, INET6)).trim()).toBe('2001:db8:203::20')
    })
  })

  it('the uplink keeps taking router advertisements while IPv6 is forwarded (accept_ra 1 -> 2), and gets its 1 back', async () => {
    const ra = '/proc/sys/net/ipv6/conf/wan0/accept_ra'
    const read = async () => (await execOk(server, ['cat', '/proc/sys/net/ipv6/conf/all/forwarding', ra])).stdout
    await lab.sysctl(server, 'net.ipv6.conf.wan0.accept_ra', 1)
    const before = await read()
    expect(before).toBe('0\n1\n')
    const [snap] = (await sys(server, [{ fn: 'enableForwarding', args: [{ ipv6: true, raKeep: 'wan0' }] }])) as [object]
    expect(await read()).toBe('1\n2\n')
    await sys1(server, 'restoreForwarding', snap)
    expect(await read()).toBe(before)
    // Another value (0: the admin wants no RAs) is left alone.
    await lab.sysctl(server, 'net.ipv6.conf.wan0.accept_ra', 0)
    const [snap0] = (await sys(server, [{ fn: 'enableForwarding', args: [{ ipv6: true, raKeep: 'wan0' }] }])) as [object]
    expect(await read()).toBe('1\n0\n')
    await sys1(server, 'restoreForwarding', snap0)
    expect(await read()).toBe('0\n0\n')
    await lab.sysctl(server, 'net.ipv6.conf.wan0.accept_ra', 1)
  })

  it('IPv6 forwarding turned on by a server that then crashed is put back from its state file', async () => {
    const dir = (await execOk(server, ['mktemp', '-d'])).stdout.trim()
    const stateFile = `${dir}/vpn-server.state.json`
    const read = async () =>
      (
        await execOk(server, [
          'cat',
          '/proc/sys/net/ipv6/conf/all/forwarding',
          '/proc/sys/net/ipv6/conf/wan0/forwarding',
          '/proc/sys/net/ipv6/conf/wan0/accept_ra',
        ])
      ).stdout
    await lab.sysctl(server, 'net.ipv6.conf.wan0.accept_ra', 1)
    const before = await read()
    expect(before).toBe('0\n0\n1\n')
    const expectState = { tunIf: 'swtun0', table: 'skywire_vpn' }
    const [state, snap] = (await sys(server, [
      { fn: 'newServerState', args: [expectState] },
      { fn: 'snapshotForwarding', args: [{ ipv6: true, raKeep: 'wan0' }] },
    ])) as [Record<string, unknown>, object]
    // What LinuxServerHost.up does: the snapshot on disk first, then forwarding on; then the process dies.
    await sys(server, [
      { fn: 'writeServerState', args: [stateFile, { ...state, forwarding: snap }] },
      { fn: 'applyForwarding', args: [snap] },
    ])
    expect(await read()).toBe('1\n1\n2\n')
    await sys1(server, 'recoverServerStale', stateFile, expectState)
    expect(await read()).toBe(before)
    await execOk(server, ['rm', '-rf', dir])
  })
})
