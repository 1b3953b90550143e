/**
 * The network lab itself: the topology behaves like the design's test network
 * (NAT, public server, unreachable LAN), and nothing of it survives teardown,
 * not even after a failed build, while the machine's own namespace is untouched.
 */
import { spawnSync } from 'node:child_process'
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { skipUnlessAvailable } from './helpers/skip.js'
import { CommandError, Lab, listNetns, NETNS_ETC, sweepStale } from '../../ts/netlab/netns.js'
import { recordPath } from '../../ts/netlab/registry.js'
import { buildTopology, INTERNET, LAB_NAMES, ROUTED6, type Topology } from '../../ts/netlab/topology.js'
import { NetlabError } from '../../ts/netlab/errors.js'
import { answer, parseRecord, type DnsRecords } from '../../ts/netlab/dns.js'
import { parseListen } from '../../ts/netlab/whoami.js'
import { labSkipReason } from './helpers/lab.js'

const skip = labSkipReason()
if (skip !== null) console.warn(`netlab tests skipped: ${skip}`)

function sh(argv: string[]): string {
  const r = spawnSync(argv[0] as string, argv.slice(1), { encoding: 'utf8' })
  if (r.status !== 0) throw new Error(`${argv.join(' ')}: ${r.stderr}`)
  return r.stdout
}

/** What the lab must never change in the machine's own namespace. */
function rootState() {
  return {
    route: sh(['ip', '-4', 'route', 'show', 'table', 'all']),
    route6: sh(['ip', '-6', 'route', 'show', 'table', 'all']),
    nft: sh(['nft', 'list', 'ruleset']),
    // Only the kinds of link the lab creates: a TUN a concurrent Rust test makes must not fail this file.
    links: [...sh(['ip', '-o', 'link', 'show', 'type', 'veth']).split('\n'), ...sh(['ip', '-o', 'link', 'show', 'type', 'bridge']).split('\n')]
      .map((l) => l.split(':')[1]?.trim() ?? '')
      .filter(Boolean)
      .sort(),
    resolvConf: readFileSync('/etc/resolv.conf', 'utf8'),
  }
}

/** Everything a lab with this prefix could leave behind. */
function leftovers(prefix: string): string[] {
  const etc = existsSync(NETNS_ETC) ? sh(['ls', NETNS_ETC]).split('\n') : []
  return [
    ...listNetns().filter((n) => n.startsWith(prefix)),
    ...etc.filter((n) => n.startsWith(prefix)).map((n) => `${NETNS_ETC}/${n}`),
    ...(existsSync(recordPath(prefix)) ? [recordPath(prefix)] : []),
  ]
}

// Pure parts: run everywhere, root or not.
describe('netlab dns and whoami parsing', () => {
  const query = (name: string, type: number) => {
    const q = Buffer.from([0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0])
    const labels = name.split('.').flatMap((l) => [l.length, ...Buffer.from(l)])
    return Buffer.concat([q, Buffer.from([...labels, 0, type >> 8, type & 0xff, 0, 1])])
  }
  const records: DnsRecords = new Map()
  parseRecord('whoami.lab=203.0.113.80', records)
  parseRecord('whoami.lab=2001:db8:203::80', records)

  it('answers A and AAAA for known names, NXDOMAIN otherwise', () => {
    const a = answer(query('WHOAMI.lab', 1), records)!
    expect(a.log).toEqual({ name: 'whoami.lab', type: 'A', rcode: 'NOERROR' })
    expect(a.reply.readUInt16BE(0)).toBe(0x1234)
    expect(a.reply.readUInt16BE(6)).toBe(1)
    expect([...a.reply.subarray(-4)]).toEqual([203, 0, 113, 80])
    const aaaa = answer(query('whoami.lab', 28), records)!
    expect(aaaa.reply.subarray(-16).toString('hex')).toBe('20010db8020300000000000000000080')
    const nx = answer(query('other.lab', 1), records)!
    expect(nx.log.rcode).toBe('NXDOMAIN')
    expect(nx.reply.readUInt16BE(2) & 0xf).toBe(3)
  })

  it('rejects malformed queries without throwing', () => {
    expect(answer(Buffer.alloc(3), records)).toBeNull()
    expect(answer(query('whoami.lab', 1).subarray(0, 16), records)?.log.rcode).toBe('FORMERR')
    expect(() => parseRecord('nope', new Map())).toThrow(/NAME=IP/)
  })

  it('parses listen addresses', () => {
    expect(parseListen('203.0.113.80:80')).toEqual({ host: '203.0.113.80', port: 80 })
    expect(parseListen('[2001:db8::1]:8080')).toEqual({ host: '2001:db8::1', port: 8080 })
    expect(() => parseListen('2001:db8::1:80')).toThrow(/bad --listen/)
  })
})

describe.skipIf(skipUnlessAvailable(skip))(`netlab${skip === null ? '' : ` (skipped: ${skip})`}`, () => {
  let before: ReturnType<typeof rootState>
  beforeAll(() => {
    sweepStale()
    before = rootState()
  })

  describe('default topology', () => {
    let t: Topology
    beforeAll(async () => {
      t = await buildTopology()
    })
    afterAll(() => t?.close())

    it('names every namespace with the lab prefix and keeps interface names short', async () => {
      expect(t.namespaces().length).toBeGreaterThanOrEqual(6)
      for (const ns of t.namespaces()) {
        expect(ns).toMatch(new RegExp(`^${t.lab.prefix}-[a-z0-9-]+$`))
        const names = sh(['ip', '-n', ns, '-o', 'link', 'show'])
          .split('\n')
          .map((l) => l.split(':')[1]?.trim().split('@')[0] ?? '')
        for (const n of names) expect(n.length).toBeLessThanOrEqual(15)
      }
    })

    it("routers forward, visor hosts do not (turning it on is the VPN server's job)", async () => {
      const fwd = async (ns: string) => (await t.lab.execOk(ns, ['cat', '/proc/sys/net/ipv4/ip_forward'])).stdout.trim()
      expect(await fwd(t.natc.ns)).toBe('1')
      expect(await fwd(t.internet.ns)).toBe('1')
      expect(await fwd(t.server.ns)).toBe('0')
      expect(await fwd(t.client.ns)).toBe('0')
    })

    it('client leaves through its NAT, the server with its own public address', async () => {
      const [client, server, client6] = await Promise.all([
        t.curlWhoami(t.client.ns),
        t.curlWhoami(t.server.ns),
        t.curlWhoami(t.client.ns, { v6: true }),
      ])
      expect(client).toBe('203.0.113.30')
      expect(server).toBe('203.0.113.20')
      // IPv6 works too (NAT66), so a VPN that ignores IPv6 would leak: what leak tests need.
      expect(client6).toBe('2001:db8:203::30')
      const json = JSON.parse(await t.httpGet(t.client.ns, `${t.internet.whoamiUrl}json`)) as { ip: string }
      expect(json.ip).toBe('203.0.113.30')
    })

    it('NAT66 changes the IPv6 source to the router, and a counter sees the IPv6 the router forwards', async () => {
      expect(t.client.stack).toBe('dual')
      expect(t.natc.v6).toBe('nat66')
      expect(t.client.addr6).toBe('fd10:0:0:0::10')
      expect(t.client.publicAddr6).toBe(t.natc.wanAddr6)
      const v6 = await t.countForwarded(t.natc, 'ipv6')
      const v4 = await t.countForwarded(t.natc, 'ipv4')
      expect((await v6.read()).packets).toBe(0)
      expect(await t.curlWhoami(t.client.ns, { v6: true })).toBe(t.natc.wanAddr6)
      const seen = await v6.read()
      // A TCP connection: SYN, ACK, request, ... all of it IPv6, none of it counted as IPv4.
      expect(seen.packets).toBeGreaterThanOrEqual(3)
      expect(seen.bytes).toBeGreaterThan(seen.packets * 40)
      expect((await v4.read()).packets).toBe(0)
      await v6.remove()
      await v4.remove()
      await expect(v6.read()).rejects.toThrow()
    })

    it('a prefix delegated to a public host is routed to it', async () => {
      await t.lab.execOk(t.server.ns, ['ip', '-6', 'addr', 'add', '2001:db8:99::1/128', 'dev', 'lo'])
      expect((await t.ping(t.client.ns, '2001:db8:99::1', 1)).ok).toBe(false)
      await t.delegatePrefix(t.server, '2001:db8:99::/64')
      expect((await t.ping(t.client.ns, '2001:db8:99::1', 1)).ok).toBe(true)
      await expect(t.delegatePrefix(t.client, '2001:db8:98::/64')).rejects.toThrow(/not a public IPv6 host/)
      await expect(t.delegatePrefix(t.server, '10.0.0.0/8')).rejects.toThrow(/not an IPv6 prefix/)
    })

    it('lanhost is reachable from the server but not from the client', async () => {
      expect((await t.httpGet(t.server.ns, t.lanhost.url)).trim()).toBe('192.168.50.1')
      expect(await t.canHttpGet(t.client.ns, t.lanhost.url, 1500)).toBe(false)
      expect((await t.ping(t.client.ns, t.lanhost.addr, 1)).ok).toBe(false)
    })

    it('ping reports RTTs', async () => {
      const r = await t.ping(t.client.ns, INTERNET.serverPublic, 2)
      expect(r.ok).toBe(true)
      expect(r.received).toBe(2)
      expect(r.rtts).toHaveLength(2)
    })

    it('each namespace has its own resolv.conf; writing it never touches the host file', async () => {
      const ns = t.client.ns
      const hostResolv = readFileSync('/etc/resolv.conf', 'utf8')
      expect((await t.lab.execOk(ns, ['cat', '/etc/resolv.conf'])).stdout).toBe(readFileSync(t.lab.resolvConfPath(ns), 'utf8'))
      const before = await t.snapshotNet(ns)
      await t.lab.execOk(ns, ['sh', '-c', 'echo "nameserver 10.99.0.1" > /etc/resolv.conf'])
      expect(readFileSync(t.lab.resolvConfPath(ns), 'utf8')).toBe('nameserver 10.99.0.1\n')
      expect(readFileSync('/etc/resolv.conf', 'utf8')).toBe(hostResolv)
      const after = await t.snapshotNet(ns)
      expect(after.resolvConf).not.toBe(before.resolvConf)
      expect({ ...after, resolvConf: '' }).toEqual({ ...before, resolvConf: '' })
      writeFileSync(t.lab.resolvConfPath(ns), before.resolvConf)
      expect(await t.snapshotNet(ns)).toEqual(before)
    })

    it('a host can be cut off and reconnected through its port', async () => {
      await t.lab.setLink(t.server.port.ns, t.server.port.ifname, 'down')
      expect(await t.canHttpGet(t.server.ns, t.internet.whoamiUrl, 500)).toBe(false)
      await t.lab.setLink(t.server.port.ns, t.server.port.ifname, 'up')
      expect(await t.curlWhoami(t.server.ns)).toBe('203.0.113.20')
    })

    it('forwards an IPv6 port through a client NAT', async () => {
      const p = t.lab.spawn(t.client.ns, [
        process.execPath,
        '-e',
        "require('net').createServer(s => s.end()).listen(7001, '::', () => console.log('ready'))",
      ])
      await p.waitForOutput(/ready/, 5000)
      await t.forwardPort(t.natc, 'tcp', 7001, t.client.addr6!)
      await t.lab.waitForTcp(t.server.ns, t.natc.wanAddr6!, 7001, 3000)
      await p.kill()
    })

    it('DNS goes to the lab server, which answers lab names and logs who asked', async () => {
      const lookup = (name: string) =>
        t.lab.execOk(t.client.ns, [
          process.execPath,
          '-e',
          `require('node:dns').promises.resolve4(${JSON.stringify(name)}).then((a) => console.log(a.join()), (e) => console.log(e.code))`,
        ])
      expect((await lookup(LAB_NAMES.whoami)).stdout.trim()).toBe(INTERNET.whoami)
      expect((await lookup('nowhere.test')).stdout.trim()).toBe('ENOTFOUND')
      expect(t.dnsQueries()).toContainEqual({ from: '203.0.113.30', name: 'whoami.lab', type: 'A', rcode: 'NOERROR' })
      expect(t.dnsQueries()).toContainEqual({ from: '203.0.113.30', name: 'nowhere.test', type: 'A', rcode: 'NXDOMAIN' })
    })

    it('execOk throws a CommandError with argv, status and stderr', async () => {
      const err = await t.lab.execOk(t.client.ns, ['sh', '-c', 'echo boom >&2; exit 7']).catch((e: unknown) => e)
      expect(err).toBeInstanceOf(CommandError)
      const ce = err as CommandError
      expect(ce.status).toBe(7)
      expect(ce.stderr).toContain('boom')
      expect(ce.ns).toBe(t.client.ns)
      expect(ce.message).toContain('exit 7')
    })

    it('spawned processes can be waited on and killed', async () => {
      const p = t.lab.spawn(t.services.ns, [
        process.execPath,
        '-e',
        "require('net').createServer().listen(9000, '203.0.113.10', () => console.log('ready'))",
      ])
      await p.waitForOutput(/ready/, 5000)
      await t.lab.waitForTcp(t.client.ns, INTERNET.services, 9000, 3000)
      const exit = await p.kill()
      expect(exit.signal).toBe('SIGTERM')
      await expect(t.lab.waitForTcp(t.client.ns, INTERNET.services, 9000, 300)).rejects.toThrow(/timed out/)
    })
  })

  describe('server behind NAT, two clients, IPv6 off', () => {
    let t: Topology
    beforeAll(async () => {
      t = await buildTopology({ serverBehindNat: true, clients: 2, ipv6: false })
    })
    afterAll(() => t?.teardown())

    it('server leaves through nats, each client through its own NAT', async () => {
      const [server, c1, c2] = await Promise.all([t.curlWhoami(t.server.ns), t.curlWhoami(t.clients[0]!.ns), t.curlWhoami(t.clients[1]!.ns)])
      expect(server).toBe('203.0.113.40')
      expect(t.server.publicAddr).toBe('203.0.113.40')
      expect(c1).toBe('203.0.113.30')
      expect(c2).toBe('203.0.113.31')
      expect((await t.httpGet(t.server.ns, t.lanhost.url)).trim()).toBe('192.168.50.1')
    })

    it('a forwarded port reaches the NATed server', async () => {
      const p = t.lab.spawn(t.server.ns, [
        process.execPath,
        '-e',
        "require('net').createServer(s => s.end('hi')).listen(7000, () => console.log('ready'))",
      ])
      await p.waitForOutput(/ready/, 5000)
      await t.forwardPort(t.nats!, 'tcp', 7000, t.server.addr)
      await t.lab.waitForTcp(t.client.ns, '203.0.113.40', 7000, 3000)
      await p.kill()
    })

    it('has no IPv6 at all', async () => {
      const addrs = (await t.lab.execOk(t.client.ns, ['ip', '-6', 'addr'])).stdout
      expect(addrs.trim()).toBe('')
      await expect(t.curlWhoami(t.client.ns, { v6: true })).rejects.toThrow(/ipv6: false/)
    })
  })

  describe('IPv6 per host and per router: routed client LANs, an IPv6-only client, an IPv4-only server', () => {
    let t: Topology
    beforeAll(async () => {
      t = await buildTopology({ clients: 2, clientV6: 'routed', stacks: { client2: 'v6', server: 'v4' } })
    })
    afterAll(() => t?.close())

    it('a routed LAN keeps its global IPv6 source: no NAT66', async () => {
      const c = t.client
      expect(t.natc.v6).toBe('routed')
      expect(t.natc.lanCidr6).toBe(`${ROUTED6.clientLan(0)}/64`)
      expect(c.addr6).toBe(`${ROUTED6.clientLan(0)}10`)
      expect(c.publicAddr6).toBe(c.addr6)
      expect(await t.curlWhoami(c.ns, { v6: true })).toBe(c.addr6)
      // IPv4 is still masqueraded.
      expect(await t.curlWhoami(c.ns)).toBe(t.natc.wanAddr)
    })

    it("a routed LAN's firewall drops new inbound connections until a port is opened", async () => {
      const c = t.client
      // s.end() without data: a probe resets its connection, and an unread reply would turn that into
      // an ECONNRESET nobody handles, killing the listener.
      const p = t.lab.spawn(c.ns, [
        process.execPath,
        '-e',
        "require('net').createServer(s => s.end()).listen(7002, '::', () => console.log('ready'))",
      ])
      await p.waitForOutput(/ready/, 5000)
      // Reachable on its own LAN, not from the internet.
      await t.lab.waitForTcp(t.natc.ns, c.addr6!, 7002, 3000)
      await expect(t.lab.waitForTcp(t.services.ns, c.addr6!, 7002, 700)).rejects.toThrow(/timed out/)
      await t.forwardPort(t.natc, 'tcp', 7002, c.addr6!)
      await t.lab.waitForTcp(t.services.ns, c.addr6!, 7002, 3000)
      await p.kill()
    })

    it('an IPv6-only host has no IPv4: no address, no route, IPv4 fails at once; IPv6 and DNS work', async () => {
      const c = t.clients[1]!
      expect(c.stack).toBe('v6')
      expect(c.addr).toBe(c.addr6)
      expect(c.addr6).toBe(`${ROUTED6.clientLan(1)}10`)
      expect((await t.lab.execOk(c.ns, ['ip', '-4', 'addr', 'show', 'scope', 'global'])).stdout.trim()).toBe('')
      expect((await t.lab.execOk(c.ns, ['ip', '-4', 'route', 'show', 'table', 'all'])).stdout).not.toMatch(/default/)
      const started = Date.now()
      await expect(t.httpGet(c.ns, t.internet.whoamiUrl, 3000)).rejects.toThrow(/ENETUNREACH/)
      expect(Date.now() - started).toBeLessThan(2500)
      expect(await t.curlWhoami(c.ns, { v6: true })).toBe(c.addr6)
      expect((await t.lab.execOk(c.ns, ['cat', '/etc/resolv.conf'])).stdout).toContain(`nameserver ${INTERNET.dns6}`)
      const aaaa = await t.lab.execOk(c.ns, [
        process.execPath,
        '-e',
        `require('node:dns').promises.resolve6(${JSON.stringify(LAB_NAMES.whoami)}).then((a) => console.log(a.join()))`,
      ])
      expect(aaaa.stdout.trim()).toBe(INTERNET.whoami6)
      expect(t.dnsQueries()).toContainEqual({ from: c.addr6, name: LAB_NAMES.whoami, type: 'AAAA', rcode: 'NOERROR' })
    })

    it('an IPv4-only host has no global IPv6, and IPv6 connections fail at once', async () => {
      const s = t.server
      expect(s.stack).toBe('v4')
      expect(s.addr6).toBeNull()
      expect(s.publicAddr6).toBeNull()
      expect((await t.lab.execOk(s.ns, ['ip', '-6', 'addr', 'show', 'dev', 'wan0', 'scope', 'global'])).stdout.trim()).toBe('')
      const started = Date.now()
      await expect(t.curlWhoami(s.ns, { v6: true, timeoutMs: 3000 })).rejects.toThrow(/ENETUNREACH/)
      expect(Date.now() - started).toBeLessThan(2500)
      expect(await t.curlWhoami(s.ns)).toBe(INTERNET.serverPublic)
      // Its own LAN keeps both families (the stack is the uplink's).
      expect((await t.httpGet(s.ns, t.lanhost.url6!)).trim()).toBe('fd50::1')
    })
  })

  it('refuses IPv6 options it cannot build, before building anything', async () => {
    const cases: Array<[Parameters<typeof buildTopology>[0], RegExp]> = [
      [{ stacks: { nobody: 'v6' } }, /no host "nobody"/],
      [{ stacks: { client: 'v7' as 'v6' } }, /stacks.client must be one of/],
      [{ ipv6: false, stacks: { client: 'v6' } }, /needs IPv6/],
      [{ ipv6: false, clientV6: 'routed' }, /needs IPv6/],
      [{ clientV6: 'none', stacks: { client: 'v6' } }, /router natc has no IPv6/],
      [{ serverV6: 'routed' }, /needs serverBehindNat/],
      [{ clientV6: 'nat64' as 'none' }, /clientV6 must be one of/],
    ]
    for (const [opts, msg] of cases) {
      const err = await buildTopology({ ...opts, whoami: false, dns: false }).catch((e: unknown) => e)
      expect(err, JSON.stringify(opts)).toBeInstanceOf(NetlabError)
      expect((err as NetlabError).message).toMatch(msg)
    }
  })

  it('a router without IPv6 leaves the hosts behind it IPv4-only', async () => {
    const t = await buildTopology({ clientV6: 'none', serverBehindNat: true, serverV6: 'routed', whoami: false, dns: false })
    try {
      expect(t.natc.v6).toBe('none')
      expect(t.natc.wanAddr6).toBeNull()
      expect(t.client.stack).toBe('v4')
      expect(t.client.addr6).toBeNull()
      expect((await t.lab.execOk(t.client.ns, ['ip', '-6', 'route', 'show'])).stdout).not.toMatch(/default/)
      // The server side routes its LAN's global prefix: the server is reachable at its own address.
      expect(t.server.addr6).toBe(`${ROUTED6.serverLan}10`)
      expect((await t.ping(t.server.ns, INTERNET.gateway6, 1)).ok).toBe(true)
      expect((await t.ping(t.client.ns, INTERNET.gateway6, 1)).ok).toBe(false)
    } finally {
      t.teardown()
    }
  })

  it('teardown removes everything and is idempotent', async () => {
    const t = await buildTopology({ whoami: false })
    const prefix = t.lab.prefix
    expect(leftovers(prefix).length).toBeGreaterThan(0)
    t.teardown()
    t.teardown()
    expect(leftovers(prefix)).toEqual([])
  })

  it('a build that throws midway leaves nothing behind', async () => {
    const lab = new Lab()
    try {
      const a = await lab.addNamespace('a')
      const b = await lab.addNamespace('b')
      lab.spawn(a, ['sleep', '30'])
      await expect(lab.veth({ ns: a, ifname: 'eth0' }, { ns: b, ifname: 'an-interface-name-too-long' })).rejects.toThrow(/longer than 15/)
      await expect(lab.addr(a, 'nonexistent0', '10.0.0.1/24')).rejects.toBeInstanceOf(CommandError)
      throw new Error('mid-build failure')
    } catch (e) {
      expect((e as Error).message).toBe('mid-build failure')
    } finally {
      lab.teardown()
    }
    expect(leftovers(lab.prefix)).toEqual([])
    await expect(lab.addNamespace('x')).rejects.toThrow(/torn down/)
  })

  it('sweepStale removes a dead lab and keeps a live one', async () => {
    const live = new Lab()
    await live.addNamespace('keep')
    // A crashed lab: its owner pid no longer exists.
    const dead = spawnSync('true').pid as number
    const prefix = 'sw-zz' + Math.random().toString(36).slice(2, 6).padEnd(4, '0')
    mkdirSync('/run/skywire-netlab', { recursive: true })
    writeFileSync(recordPath(prefix), JSON.stringify({ prefix, pid: dead, startTime: null, createdAt: '' }))
    sh(['ip', 'netns', 'add', `${prefix}-client`])
    mkdirSync(`${NETNS_ETC}/${prefix}-client`, { recursive: true })
    try {
      const removed = sweepStale()
      expect(removed).toContain(`${prefix}-client`)
      expect(leftovers(prefix)).toEqual([])
      expect(listNetns()).toContain(live.nsName('keep'))
    } finally {
      live.teardown()
      spawnSync('ip', ['netns', 'del', `${prefix}-client`])
    }
  })

  it("leaves the root namespace's routes, nftables, links and resolv.conf as they were", () => {
    expect(rootState()).toEqual(before)
  })
})
