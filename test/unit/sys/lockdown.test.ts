/** The kill switch's and lockdown's nft bodies with allow-LAN, and what counts as the LAN (pure: no nft run). */
import { describe, expect, it } from 'vitest'
import { killSwitchBody } from '../../../ts/sys/killswitch.js'
import { isLanPrefix } from '../../../ts/sys/lan.js'

describe('allow-LAN in the blocking tables', () => {
  it('lets the LAN through, per family, before the reject, and counts it', () => {
    const body = killSwitchBody('swvpn0', { lan: ['10.10.0.0/24', 'fd10:0:0:0::/64', '192.168.1.7/24'] })
    const lines = body.split('\n').map((l) => l.trim())
    const v4 = lines.findIndex((l) => l.startsWith('ip daddr'))
    const reject = lines.findIndex((l) => l.startsWith('counter reject'))
    expect(lines[v4]).toBe('ip daddr { 10.10.0.0/24, 192.168.1.0/24 } counter accept comment "killswitch-lan"')
    expect(lines).toContain('ip6 daddr { fd10::/64 } counter accept comment "killswitch-lan6"')
    expect(v4).toBeGreaterThan(0)
    expect(v4).toBeLessThan(reject)
    // Forwarded traffic (containers) gets no LAN exemption: only this host's own.
    expect(body.slice(body.indexOf('chain forward'))).not.toMatch(/daddr/)
  })

  it('refuses anything that is not a private network, and text that is no prefix at all', () => {
    expect(() => killSwitchBody('swvpn0', { lan: ['8.8.8.0/24'] })).toThrow(/not a LAN prefix/)
    expect(() => killSwitchBody('swvpn0', { lan: ['0.0.0.0/0'] })).toThrow(/not a LAN prefix/)
    expect(() => killSwitchBody('swvpn0', { lan: ['10.0.0.0/8 } accept; ip daddr { 0.0.0.0/0'] })).toThrow()
    expect(() => killSwitchBody('swvpn0', { lan: ['2001:db8::/32'] })).toThrow(/not a LAN prefix/)
  })

  it('lockdown: its own label, and the VPN server TUN keeps forwarding for its clients', () => {
    const body = killSwitchBody('swvpn0', { label: 'lockdown', serverTun: 'swvpns0' })
    expect(body).toContain('comment "lockdown"')
    expect(body).toContain('comment "lockdown-forward"')
    expect(body).toContain('iifname "swvpns0" accept')
    expect(body).toContain('oifname "swvpns0" ct state established,related accept')
    expect(() => killSwitchBody('swvpn0', { serverTun: 'bad"name' })).toThrow(/bad interface name/)
  })

  it('the LAN is private and not loopback', () => {
    expect(isLanPrefix('192.168.0.0/24')).toBe(true)
    expect(isLanPrefix('172.16.5.0/24')).toBe(true)
    expect(isLanPrefix('fe80::/64')).toBe(true)
    expect(isLanPrefix('127.0.0.0/8')).toBe(false)
    expect(isLanPrefix('::1/128')).toBe(false)
    expect(isLanPrefix('203.0.113.0/24')).toBe(false)
    expect(isLanPrefix('10.0.0.0/7')).toBe(false)
  })
})
