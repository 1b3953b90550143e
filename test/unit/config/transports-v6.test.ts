/** The transports' listen addresses and the resolver's second address: defaults, old configs, and bad values. */
import { describe, expect, it } from 'vitest'
import { generateConfig, parseConfig } from '../../../ts/config/file.js'

const base = generateConfig()

describe('transports over IPv6 in the config', () => {
  it('new configs listen dual-stack on [::] and name no second resolver address', () => {
    expect(base.transports.stcpr.listen).toBe('[::]:7777')
    expect(base.transports.sudph.listen).toBe('[::]:7778')
    expect(base.services.udp6).toBe('')
  })

  it('an existing config keeps what it says: 0.0.0.0 stays IPv4 only, and a file without udp6 still loads', () => {
    const { udp6: _, ...oldServices } = base.services
    const old = {
      ...base,
      services: oldServices,
      transports: { ...base.transports, stcpr: { listen: '0.0.0.0:7777' }, sudph: { listen: '0.0.0.0:7778' } },
    }
    const c = parseConfig(old, 't')
    expect(c.transports.stcpr.listen).toBe('0.0.0.0:7777')
    expect(c.transports.sudph.listen).toBe('0.0.0.0:7778')
    expect(c.services.udp6).toBe('')
  })

  it('takes IPv6 listen and resolver addresses in brackets', () => {
    const c = parseConfig(
      {
        ...base,
        services: { ...base.services, udp6: '[2001:db8::10]:9091' },
        transports: { ...base.transports, stcpr: { listen: '[2001:db8::5]:7777' } },
      },
      't',
    )
    expect(c.services.udp6).toBe('[2001:db8::10]:9091')
    expect(c.transports.stcpr.listen).toBe('[2001:db8::5]:7777')
  })

  it('refuses malformed addresses, naming the field', () => {
    for (const bad of [
      '2001:db8::10:9091',
      '[2001:db8::10]',
      '[2001:db8::10]:65536',
      '[::ffff:zz]:1',
      '[fe80::1%eth0]:9091',
      ' [::1]:9091',
      9091,
      null,
    ]) {
      expect(() => parseConfig({ ...base, services: { ...base.services, udp6: bad } }, 't'), String(bad)).toThrow('services.udp6')
    }
    for (const bad of ['::7777', '[::]', '[1.2.3.4]:7777', '[::]:-1']) {
      expect(() => parseConfig({ ...base, transports: { ...base.transports, sudph: { listen: bad } } }, 't'), bad).toThrow('transports.sudph.listen')
    }
  })
})
