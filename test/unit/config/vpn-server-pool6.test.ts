/** The config field `vpnServer.pool6` (a routed IPv6 prefix for the VPN's clients): absent by default, and what a hand-edited file may not hold. */
import { describe, expect, it } from 'vitest'
import { generateConfig, parseConfig } from '../../../ts/config/file.js'

const base = generateConfig()
const withPool6 = (pool6: unknown) => ({ ...base, vpnServer: { ...base.vpnServer, pool6 } })

describe('vpnServer.pool6 in the config', () => {
  it('is absent by default (a ULA /64 with NAT66 when the uplink has global IPv6)', () => {
    expect(parseConfig(base, 't').vpnServer.pool6).toBeUndefined()
  })

  it('takes a global or ULA prefix from /32 to /120', () => {
    for (const v of ['2001:db8:77::/64', '2a01:4f8:1:2::/48', 'fd12:3456:789a::/64', '2001:db8::/32', '2001:db8::ff00/120'])
      expect(parseConfig(withPool6(v), 't').vpnServer.pool6).toBe(v)
  })

  it('refuses anything else in one line naming the field', () => {
    for (const bad of [
      '10.0.0.0/8',
      '2001:db8::/16',
      '2001:db8::/121',
      'fe80::/64',
      'ff02::/64',
      '::ffff:0:0/96',
      '::/0',
      '2001:db8::',
      '2001:db8::/64/1',
      '2001:db8::/ 64',
      `2001:db8::/64${'0'.repeat(100)}`,
      '',
      64,
      null,
      ['2001:db8::/64'],
    ]) {
      let msg = ''
      try {
        parseConfig(withPool6(bad), 't')
      } catch (e) {
        msg = (e as Error).message
      }
      expect(msg, JSON.stringify(bad)).toMatch(/vpnServer\.pool6/)
      expect(msg.split('\n'), JSON.stringify(bad)).toHaveLength(1)
    }
  })
})
