/** What a wildcard listener publishes: the families it covers, global addresses only, never the VPN's TUN. */
import { describe, expect, it } from 'vitest'
import type { InterfaceAddress } from '../../../ts/sys/index.js'
import { wildcardAddrs } from '../../../ts/visor/sudph-locals.js'

const ifa = (ifname: string, address: string, scope = 'global'): InterfaceAddress => ({
  ifname,
  family: address.includes(':') ? 6 : 4,
  address,
  prefixLen: address.includes(':') ? 64 : 24,
  subnet: '',
  scope,
})

const HOST = [
  ifa('lo', '127.0.0.1', 'host'),
  ifa('lo', '::1', 'host'),
  ifa('eth0', '2001:db8:1::5'),
  ifa('eth0', 'fe80::5', 'link'),
  ifa('eth0', '203.0.113.5'),
  ifa('swvpn0', '10.77.0.2'),
  ifa('swvpn0', 'fd77::2'),
]

describe('wildcardAddrs', () => {
  it('0.0.0.0 publishes IPv4 only; [::] both families, IPv4 first; never loopback, link-local or the tunnel', () => {
    expect(wildcardAddrs('0.0.0.0:7777', HOST)).toEqual(['203.0.113.5:7777'])
    expect(wildcardAddrs('[::]:7777', HOST)).toEqual(['203.0.113.5:7777', '[2001:db8:1::5]:7777'])
  })

  it('a concrete address is itself; the port can be overridden; at most 8, IPv4 kept first', () => {
    expect(wildcardAddrs('[2001:db8::9]:7777', HOST)).toEqual(['[2001:db8::9]:7777'])
    expect(wildcardAddrs('[::]:0', HOST, 40000)).toEqual(['203.0.113.5:40000', '[2001:db8:1::5]:40000'])
    const many = [...Array.from({ length: 10 }, (_, i) => ifa('eth0', `2001:db8:1::${i + 1}`)), ifa('eth0', '203.0.113.5')]
    const got = wildcardAddrs('[::]:1', many)
    expect(got).toHaveLength(8)
    expect(got[0]).toBe('203.0.113.5:1')
    expect(wildcardAddrs('nonsense', HOST)).toEqual([])
  })
})
