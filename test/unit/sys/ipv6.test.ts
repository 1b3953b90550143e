/**
 * The VPN server's IPv6 on the host, the pure parts: its ULA /64 (random,
 * kept in a file across restarts, a tampered file refused), whether the
 * uplink has the global IPv6 NAT66 needs, and the firewall lines for NAT66,
 * a routed pool6 and a host that was no IPv6 router. The kernel side is in
 * test/ts/sys/ipv6-server.test.ts.
 */
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { networkOf } from '../../../ts/sys/cidr.js'
import type { InterfaceAddress } from '../../../ts/sys/netifc.js'
import { serverFirewallBody, type ServerFirewallOptions } from '../../../ts/sys/server-firewall.js'
import { hasGlobalIpv6, loadOrCreateUla64, parseUlaLine, randomUla64 } from '../../../ts/sys/server-ula.js'
import { checkForwardingSnapshot, wasIpv6ForwardingOff } from '../../../ts/sys/sysctl.js'

describe('the server ULA /64', () => {
  let dir: string
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'sw-ula-'))
  })
  afterEach(() => rmSync(dir, { recursive: true, force: true }))

  it('is fd00::/8 with 40 random bits and subnet 0 (RFC 4193)', () => {
    expect(randomUla64(() => Buffer.from([0x12, 0x34, 0x56, 0x78, 0x9a]))).toBe('fd12:3456:789a::/64')
    expect(randomUla64(() => Buffer.alloc(5))).toBe('fd00::/64')
    const seen = new Set(Array.from({ length: 50 }, () => randomUla64()))
    expect(seen.size).toBe(50)
    // Each one what the file check takes back: fd00::/8, a /64, written the canonical way.
    for (const u of seen) expect(parseUlaLine(u)).toBe(u)
    expect(() => randomUla64(() => Buffer.alloc(4))).toThrow(/wrong length/)
  })

  it('is chosen once and read back the same at every start', () => {
    const path = join(dir, 'vpn-server-ula6')
    const first = loadOrCreateUla64(path)
    expect(readFileSync(path, 'utf8')).toBe(`${first}\n`)
    expect(loadOrCreateUla64(path, () => Buffer.from([1, 2, 3, 4, 5]))).toBe(first)
  })

  it('a file that holds anything but one canonical ULA /64 is refused, not replaced', () => {
    const path = join(dir, 'vpn-server-ula6')
    for (const bad of ['2001:db8::/64', 'fd12::/48', 'fc00::/64', 'fd12:0::/64', 'fd12::/64\nfd13::/64', '', 'x'.repeat(300)]) {
      writeFileSync(path, bad)
      chmodSync(path, 0o644)
      expect(() => loadOrCreateUla64(path), JSON.stringify(bad)).toThrow(/ULA file|larger|too large|bytes/i)
      expect(readFileSync(path, 'utf8')).toBe(bad)
    }
    expect(parseUlaLine(' fd12:3456:789a::/64\n')).toBe('fd12:3456:789a::/64')
  })

  it('a file others may write is refused', () => {
    const path = join(dir, 'vpn-server-ula6')
    writeFileSync(path, 'fd12:3456:789a::/64\n')
    chmodSync(path, 0o666)
    expect(() => loadOrCreateUla64(path)).toThrow(/writable by group or others/)
  })
})

describe('global IPv6 on the uplink', () => {
  const a = (ifname: string, address: string, prefixLen: number, scope = 'global'): InterfaceAddress => ({
    ifname,
    family: address.includes(':') ? 6 : 4,
    address,
    prefixLen,
    subnet: networkOf(address, prefixLen),
    scope,
  })
  it('counts a global address on netifc only; ULA, link-local, other interfaces and IPv4 do not', () => {
    expect(hasGlobalIpv6([a('eth0', '2001:db8:1::5', 64)], 'eth0')).toBe(true)
    expect(hasGlobalIpv6([a('eth0', '2a01:4f8::5', 64)], 'eth0')).toBe(true)
    expect(hasGlobalIpv6([a('eth0', 'fd00:1::5', 64)], 'eth0')).toBe(false)
    expect(hasGlobalIpv6([a('eth0', 'fe80::5', 64, 'link')], 'eth0')).toBe(false)
    expect(hasGlobalIpv6([a('eth1', '2001:db8:1::5', 64)], 'eth0')).toBe(false)
    expect(hasGlobalIpv6([a('eth0', '203.0.113.5', 24)], 'eth0')).toBe(false)
  })
})

describe('server firewall: IPv6 lines', () => {
  const opts: ServerFirewallOptions = {
    tunIf: 'swvpn0',
    netIf: 'eth0',
    pool4: '10.218.0.0/16',
    gateway4: '10.218.0.1',
    pool6: 'fd00:218::/64',
    gateway6: 'fd00:218::1',
  }
  const lines = (o: ServerFirewallOptions) =>
    serverFirewallBody(o, { v4: ['10.0.0.0/8'], v6: ['fc00::/7'] })
      .split('\n')
      .map((l) => l.trim())

  it('NAT66 by default; a routed pool6 (nat6 false) leaves with its own addresses, still only from the pool', () => {
    expect(lines(opts)).toContain('oifname != "swvpn0" ip6 saddr fd00:218::/64 masquerade')
    const routed = lines({ ...opts, pool6: '2001:db8:77::/64', gateway6: '2001:db8:77::1', nat6: false })
    expect(routed.filter((l) => l.includes('masquerade'))).toEqual(['oifname != "swvpn0" ip saddr 10.218.0.0/16 masquerade'])
    expect(routed).toContain('iifname "swvpn0" meta nfproto ipv6 ip6 saddr != 2001:db8:77::/64 counter drop comment "spoofed"')
    expect(routed).toContain('iifname "swvpn0" ip6 daddr 2001:db8:77::1 icmpv6 type echo-request accept')
    // Nobody outside opens connections to a routed client address.
    expect(routed).toContain('oifname "swvpn0" counter drop comment "unsolicited-to-client"')
  })

  it('a host that did not forward IPv6 does not become an IPv6 router between its other interfaces', () => {
    expect(lines({ ...opts, dropOtherForwarding6: true })).toContain(
      'meta nfproto ipv6 iifname != "swvpn0" oifname != "swvpn0" counter drop comment "not-a-router6"',
    )
    expect(lines(opts).some((l) => l.includes('not-a-router6'))).toBe(false)
  })

  it('the secure drops and the client-to-client drop cover IPv6 too', () => {
    const l = lines(opts)
    expect(l).toContain('iifname "swvpn0" ip6 daddr @local6 counter drop comment "secure-local"')
    expect(l).toContain('iifname "swvpn0" oifname "swvpn0" counter drop comment "client-to-client"')
  })
})

describe('IPv6 forwarding snapshot', () => {
  it('tells whether IPv6 forwarding was off, and a state file may name only forwarding switches', () => {
    const snap = {
      globals: [{ path: '/proc/sys/net/ipv6/conf/all/forwarding', value: '0' }],
      perInterface: { '/proc/sys/net/ipv6/conf/eth0/forwarding': '0' },
    }
    expect(wasIpv6ForwardingOff(snap)).toBe(true)
    expect(wasIpv6ForwardingOff({ ...snap, globals: [{ path: '/proc/sys/net/ipv6/conf/all/forwarding', value: '1' }] })).toBe(false)
    expect(() => checkForwardingSnapshot({ ...snap, perInterface: { '/proc/sys/net/ipv6/conf/all/accept_ra': '2' } })).toThrow(
      /not a forwarding switch/,
    )
    expect(() => checkForwardingSnapshot({ ...snap, perInterface: { '/proc/sys/net/ipv6/conf/../forwarding': '1' } })).toThrow(
      /not a forwarding switch/,
    )
    // The uplink's accept_ra (kept taking router advertisements while forwarding): that key only, one of it.
    expect(checkForwardingSnapshot({ ...snap, acceptRa: { '/proc/sys/net/ipv6/conf/wan0/accept_ra': '1' } })).toBeTruthy()
    for (const acceptRa of <Record<string, string>[]>[
      { '/proc/sys/net/ipv6/conf/wan0/forwarding': '1' },
      { '/proc/sys/net/ipv6/conf/../accept_ra': '1' },
      { '/proc/sys/net/ipv6/conf/wan0/accept_ra': '1; reboot' },
      { '/proc/sys/net/ipv6/conf/a/accept_ra': '1', '/proc/sys/net/ipv6/conf/b/accept_ra': '1' },
    ]) {
      expect(() => checkForwardingSnapshot({ ...snap, acceptRa }), JSON.stringify(acceptRa)).toThrow(/bad forwarding snapshot/)
    }
  })
})
