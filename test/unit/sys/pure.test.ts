/**
 * The pure parts of ts/sys, no root needed: prefix arithmetic, the nft
 * scripts' content, resolv.conf in its three shapes, the state file's checks.
 */
import { lstatSync, mkdtempSync, readFileSync, readlinkSync, rmSync, symlinkSync, writeFileSync, existsSync, chmodSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { contains, formatPrefix, isPrivate, minimalPrefixes, networkOf, parsePrefix } from '../../../ts/sys/cidr.js'
import { readState, writeState, type ClientState } from '../../../ts/sys/client-state.js'
import { killSwitchBody } from '../../../ts/sys/killswitch.js'
import { bypassRules, ruleLine } from '../../../ts/sys/bypass.js'
import { nftIfname } from '../../../ts/sys/nft.js'
import type { InterfaceAddress } from '../../../ts/sys/netifc.js'
import { backupResolvConf, restoreResolvConf, writeResolvConf } from '../../../ts/sys/resolv-conf.js'
import { blockedDestinations, serverFirewallBody, type ServerFirewallOptions } from '../../../ts/sys/server-firewall.js'
import { sysctlPath } from '../../../ts/sys/sysctl.js'

describe('prefixes', () => {
  it('computes networks and canonical IPv6 text', () => {
    expect(networkOf('192.168.50.1', 24)).toBe('192.168.50.0/24')
    expect(networkOf('10.1.2.3', 0)).toBe('0.0.0.0/0')
    expect(networkOf('2001:db8:203::20', 64)).toBe('2001:db8:203::/64')
    expect(networkOf('fe80::1c2d:3eff:fe4f:5a6b', 64)).toBe('fe80::/64')
    expect(formatPrefix(parsePrefix('2001:0db8:0:0:1:0:0:1'))).toBe('2001:db8::1:0:0:1/128')
    expect(formatPrefix(parsePrefix('::ffff:10.0.0.1'))).toBe('::ffff:a00:1/128')
    expect(formatPrefix(parsePrefix('::'))).toBe('::/128')
    expect(() => parsePrefix('10.0.0.0/33')).toThrow(/prefix length/)
    expect(() => parsePrefix('eth0')).toThrow(/not an IP/)
  })

  it('drops covered prefixes and duplicates', () => {
    expect(
      minimalPrefixes(['192.168.50.0/24', '192.168.0.0/16', '10.0.0.1', '10.0.0.0/8', '10.0.0.0/8', 'fd50::/64', 'fc00::/7', '2001:db8::1']),
    ).toEqual(['10.0.0.0/8', '192.168.0.0/16', '2001:db8::1/128', 'fc00::/7'])
    expect(contains(parsePrefix('0.0.0.0/1'), parsePrefix('127.0.0.1'))).toBe(true)
    expect(contains(parsePrefix('0.0.0.0/1'), parsePrefix('::1'))).toBe(false)
  })

  it('knows private from public', () => {
    for (const p of ['10.1.0.0/16', '100.64.1.0/24', '172.20.0.0/16', '192.168.1.0/24', 'fd10::/64', 'fe80::/64']) expect(isPrivate(p)).toBe(true)
    for (const p of ['203.0.113.0/24', '8.8.8.0/24', '2001:db8::/64', '172.32.0.0/16']) expect(isPrivate(p)).toBe(false)
  })
})

describe('server firewall script', () => {
  const opts: ServerFirewallOptions = {
    tunIf: 'swvpn0',
    netIf: 'eth0',
    pool4: '10.218.0.0/16',
    gateway4: '10.218.0.1',
    pool6: 'fd00:218::/64',
    gateway6: 'fd00:218::1',
  }
  const addr = (ifname: string, address: string, prefixLen: number): InterfaceAddress => ({
    ifname,
    family: address.includes(':') ? 6 : 4,
    address,
    prefixLen,
    subnet: networkOf(address, prefixLen),
    scope: 'global',
  })
  const host = [
    addr('eth0', '203.0.113.20', 24),
    addr('eth0', '2001:db8:203::20', 64),
    addr('eth1', '198.51.100.1', 29),
    addr('eth2', '192.168.50.1', 24),
    addr('eth3', '10.0.0.5', 24),
    addr('swvpn0', '10.218.0.1', 16),
  ]

  it('blocks every local range and the host, but not the public uplink subnet', () => {
    const b = blockedDestinations(opts, host)
    expect(b.v4).toEqual(
      expect.arrayContaining([
        '10.0.0.0/8',
        '100.64.0.0/10',
        '127.0.0.0/8',
        '169.254.0.0/16',
        '172.16.0.0/12',
        '192.168.0.0/16',
        '224.0.0.0/4',
        '240.0.0.0/4',
        '0.0.0.0/8',
      ]),
    )
    expect(b.v4).toContain('203.0.113.20/32')
    expect(b.v4).toContain('198.51.100.0/29')
    expect(b.v4).not.toContain('203.0.113.0/24')
    expect(b.v6).toEqual(expect.arrayContaining(['::1/128', 'fc00::/7', 'fe80::/10', 'ff00::/8', '2001:db8:203::20/128']))
    expect(b.v6).not.toContain('2001:db8:203::/64')
    // Covered ranges are folded away, so the nft interval set never sees overlaps.
    expect(b.v4).not.toContain('192.168.50.0/24')
    const strict = blockedDestinations({ ...opts, blockUplinkSubnet: true }, host)
    expect(strict.v4).toContain('203.0.113.0/24')
    expect(strict.v6).toContain('2001:db8:203::/64')
  })

  it('secure: NAT only out of netIf, client-to-client and local drops before the accept', () => {
    const body = serverFirewallBody(opts, blockedDestinations(opts, host))
    const lines = body.split('\n').map((l) => l.trim())
    const at = (re: RegExp) => lines.findIndex((l) => re.test(l))
    expect(at(/^iifname "swvpn0" oifname "swvpn0" counter drop/)).toBeGreaterThan(-1)
    expect(at(/ip daddr @local4 counter drop/)).toBeLessThan(at(/^iifname "swvpn0" accept$/))
    expect(at(/ip6 daddr @local6 counter drop/)).toBeLessThan(at(/^iifname "swvpn0" accept$/))
    expect(at(/oifname != "eth0" counter drop/)).toBeLessThan(at(/^iifname "swvpn0" accept$/))
    expect(lines).toContain('oifname != "swvpn0" ip saddr 10.218.0.0/16 masquerade')
    expect(lines).toContain('oifname != "swvpn0" ip6 saddr fd00:218::/64 masquerade')
    expect(lines).toContain('iifname "swvpn0" ip daddr 10.218.0.1 icmp type echo-request accept')
    expect(lines.at(lines.indexOf('chain postrouting {') - 2)).toBe('iifname "swvpn0" counter drop comment "server-itself"')
    expect(body).not.toMatch(/flush|ruleset/)
  })

  it('not secure: no local sets, NAT out of any interface but the TUN; no pool6 means no client IPv6', () => {
    const body = serverFirewallBody({ ...opts, secure: false, pool6: undefined, gateway6: undefined }, { v4: [], v6: [] })
    expect(body).not.toMatch(/@local/)
    expect(body).toContain('oifname != "swvpn0" ip saddr 10.218.0.0/16 masquerade')
    expect(body).toContain('iifname "swvpn0" meta nfproto ipv6 counter drop comment "no-ipv6"')
    expect(body).toContain('iifname "swvpn0" oifname "swvpn0" counter drop')
  })

  it('the DNS servers handed out stay reachable on port 53 only, before the secure drops, also on the server itself', () => {
    const body = serverFirewallBody({ ...opts, dns: ['192.168.50.53', '10.218.0.1', 'fd00:218::1'] }, blockedDestinations(opts, host))
    const lines = body.split('\n').map((l) => l.trim())
    const rule4 = 'iifname "swvpn0" ip daddr { 192.168.50.53, 10.218.0.1 } meta l4proto { tcp, udp } th dport 53 accept'
    expect(lines.indexOf(rule4)).toBeGreaterThan(-1)
    expect(lines.indexOf(rule4)).toBeLessThan(lines.findIndex((l) => l.includes('@local4')))
    expect(lines.lastIndexOf(rule4)).toBeGreaterThan(lines.indexOf('chain input {'))
    expect(lines).toContain('iifname "swvpn0" ip6 daddr { fd00:218::1 } meta l4proto { tcp, udp } th dport 53 accept')
    expect(() => serverFirewallBody({ ...opts, dns: ['dns.example'] }, { v4: [], v6: [] })).toThrow(/dns must be IP/)
  })

  it('rejects what could break out of the script', () => {
    expect(() => nftIfname('eth0" accept; #')).toThrow(/bad interface name/)
    expect(() => serverFirewallBody({ ...opts, pool4: '10.0.0.1' }, { v4: [], v6: [] })).toThrow(/pool4 must be/)
    expect(() => serverFirewallBody({ ...opts, gateway6: '10.0.0.1' }, { v4: [], v6: [] })).toThrow(/gateway6 must be/)
    expect(() => serverFirewallBody({ ...opts, gatewayServices: [{ proto: 'udp', port: 70000 }] }, { v4: [], v6: [] })).toThrow(/port/)
  })

  it("the kill switch lets out only the TUN, loopback, the visor's marked sockets and link plumbing, no addresses", () => {
    const body = killSwitchBody('swvpn0')
    expect(body).toContain('oifname "swvpn0" accept')
    expect(body).toContain('meta mark 0x736b accept')
    expect(body).not.toMatch(/daddr/)
    expect(body.trim().split('\n').at(-2)?.trim()).toMatch(/^counter reject/)
  })

  it('the state file holds only the bypass rules, nothing else a file could make root add or delete', () => {
    const rules = bypassRules([4, 6])
    expect(rules.map((r) => `-${r.family} ${ruleLine('add', r)}`)).toEqual([
      '-4 rule add pref 29000 table main suppress_prefixlength 0',
      '-4 rule add pref 29001 not fwmark 0x736b table 29547',
      '-6 rule add pref 29000 table main suppress_prefixlength 0',
      '-6 rule add pref 29001 not fwmark 0x736b table 29547',
    ])
  })

  it('sysctl keys map to /proc/sys paths and nothing else', () => {
    expect(sysctlPath('net.ipv4.ip_forward')).toBe('/proc/sys/net/ipv4/ip_forward')
    expect(() => sysctlPath('../../etc/passwd')).toThrow(/bad sysctl key/)
  })
})

describe('resolv.conf and the state file', () => {
  let dir: string
  beforeEach(() => {
    dir = mkdtempSync(`${tmpdir()}/sw-sys-unit-`)
  })
  afterEach(() => rmSync(dir, { recursive: true, force: true }))

  it('a regular file is rewritten in place and restored byte for byte, mode included', () => {
    const p = `${dir}/resolv.conf`
    const original = Buffer.from('# from DHCP\nsearch lan\nnameserver 192.168.1.1\n\xff\n', 'latin1')
    writeFileSync(p, original)
    chmodSync(p, 0o640)
    const ino = statSync(p).ino
    const b = JSON.parse(JSON.stringify(backupResolvConf(p))) as ReturnType<typeof backupResolvConf>
    writeResolvConf(b, ['10.218.0.1'])
    expect(readFileSync(p, 'utf8')).toMatch(/^nameserver 10\.218\.0\.1$/m)
    expect(readFileSync(p, 'utf8')).not.toMatch(/search/)
    expect(statSync(p).ino).toBe(ino)
    restoreResolvConf(b)
    expect(readFileSync(p).equals(original)).toBe(true)
    expect(statSync(p).mode & 0o777).toBe(0o640)
  })

  it('a symlink (systemd-resolved) is replaced by a file and put back as the same link', () => {
    const target = `${dir}/stub-resolv.conf`
    writeFileSync(target, 'nameserver 127.0.0.53\n')
    const p = `${dir}/resolv.conf`
    symlinkSync(target, p)
    const b = backupResolvConf(p)
    writeResolvConf(b, ['10.218.0.1', 'fd00:218::1'])
    expect(lstatSync(p).isSymbolicLink()).toBe(false)
    expect(readFileSync(target, 'utf8')).toBe('nameserver 127.0.0.53\n')
    restoreResolvConf(b)
    expect(readlinkSync(p)).toBe(target)
    restoreResolvConf(b)
    expect(readlinkSync(p)).toBe(target)
  })

  it('a missing resolv.conf is created and removed again', () => {
    const p = `${dir}/resolv.conf`
    const b = backupResolvConf(p)
    writeResolvConf(b, ['10.218.0.1'])
    expect(existsSync(p)).toBe(true)
    restoreResolvConf(b)
    expect(existsSync(p)).toBe(false)
    expect(() => writeResolvConf(b, ['dns.example'])).toThrow(/not an IP/)
  })

  it('the state file round-trips, is private, and bad ones are refused with the path', () => {
    const p = `${dir}/sub/state.json`
    const s: ClientState = {
      version: 1,
      pid: 1,
      bootId: null,
      createdAt: new Date(0).toISOString(),
      tunIf: 'swvpn0',
      routes: [{ family: 4, dst: '0.0.0.0/1', type: 'unicast', dev: 'swvpn0', why: 'into the tunnel' }],
      resolvConf: { path: '/etc/resolv.conf', kind: 'missing' },
      dns: ['10.218.0.1'],
      killSwitch: null,
    }
    writeState(p, s)
    expect(statSync(p).mode & 0o777).toBe(0o600)
    expect(readState(p)).toEqual(s)
    expect(readState(`${dir}/none.json`)).toBeNull()
    writeFileSync(p, JSON.stringify({ ...s, routes: [{ family: 5 }] }))
    expect(() => readState(p)).toThrow(new RegExp(`${p}.*invalid.*routes`))
  })
})
