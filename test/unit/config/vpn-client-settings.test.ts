/** The config fields `vpn set` writes: defaults, and values a hand-edited file may not hold. */
import { describe, expect, it } from 'vitest'
import { generateConfig, parseConfig } from '../../../ts/config/file.js'
import { generateIdentity } from '../../../ts/native/keys.js'

const base = generateConfig()
const withClient = (v: Record<string, unknown>) => ({ ...base, vpnClient: { ...base.vpnClient, ...v } })

describe('vpnClient settings in the config', () => {
  it('default to off', () => {
    expect(base.vpnClient).toMatchObject({ killswitch: false, lockdown: false, allowLan: false, dns: [], autoConnect: 'off' })
  })

  it('take every auto-connect form', () => {
    const pk = generateIdentity().publicKey
    for (const v of ['off', 'last', 'best', 'best:DE', pk]) expect(parseConfig(withClient({ autoConnect: v }), 't').vpnClient.autoConnect).toBe(v)
  })

  it('refuse wrong types, unknown keys, weak keys and unknown countries, naming the field', () => {
    for (const [bad, field] of [
      [{ lockdown: 'yes' }, 'vpnClient.lockdown'],
      [{ allowLan: 1 }, 'vpnClient.allowLan'],
      [{ lockdwon: true }, 'vpnClient'],
      [{ autoConnect: 'best:XX' }, 'vpnClient.autoConnect'],
      [{ autoConnect: 'best:de' }, 'vpnClient.autoConnect'],
      [{ autoConnect: '0'.repeat(64) }, 'vpnClient.autoConnect'],
      [{ autoConnect: 'A'.repeat(64) }, 'vpnClient.autoConnect'],
      [{ autoConnect: '' }, 'vpnClient.autoConnect'],
      [{ autoConnect: null }, 'vpnClient.autoConnect'],
      [{ dns: ['1.1.1.1', 'resolver'] }, 'vpnClient.dns'],
    ] as const) {
      expect(() => parseConfig(withClient(bad), 't'), JSON.stringify(bad)).toThrow(field)
    }
  })
})
