/** The config's `hop` section: off by default, bounded, and values a hand-edited file may not hold. */
import { describe, expect, it } from 'vitest'
import { generateConfig, parseConfig } from '../../../ts/config/file.js'
import { generateIdentity } from '../../../ts/native/keys.js'

const base = generateConfig()
const withHop = (v: Record<string, unknown>) => ({ ...base, hop: { ...base.hop, ...v } })

describe('hop settings in the config', () => {
  it('default to not forwarding, with limits set', () => {
    expect(base.hop).toMatchObject({ enabled: false, whitelist: [], maxSessionsPerClient: 4, bytesPerSecPerClient: 12_500_000, maxClients: 64 })
    // A config written before 0.4.0 (no hop section) reads the same.
    const { hop: _, ...old } = base
    expect(parseConfig(old, 't').hop.enabled).toBe(false)
  })

  it('take a whitelist of keys, no rate cap (0) and a country', () => {
    const pk = generateIdentity().publicKey
    const c = parseConfig(withHop({ enabled: true, whitelist: [pk], bytesPerSecPerClient: 0, country: 'FR' }), 't')
    expect(c.hop).toMatchObject({ enabled: true, whitelist: [pk], bytesPerSecPerClient: 0, country: 'FR' })
  })

  it('refuse wrong types, unknown keys, weak keys, out-of-range limits and unknown countries, naming the field', () => {
    for (const [bad, field] of [
      [{ enabled: 'yes' }, 'hop.enabled'],
      [{ enabeld: true }, 'hop'],
      [{ whitelist: ['0'.repeat(64)] }, 'hop.whitelist'],
      [{ whitelist: ['A'.repeat(64)] }, 'hop.whitelist'],
      [{ whitelist: 'x' }, 'hop.whitelist'],
      [{ maxSessionsPerClient: 0 }, 'hop.maxSessionsPerClient'],
      [{ maxSessionsPerClient: 1.5 }, 'hop.maxSessionsPerClient'],
      [{ maxSessionsPerClient: 65 }, 'hop.maxSessionsPerClient'],
      [{ bytesPerSecPerClient: -1 }, 'hop.bytesPerSecPerClient'],
      [{ bytesPerSecPerClient: 1e20 }, 'hop.bytesPerSecPerClient'],
      [{ bytesPerSecPerClient: '100' }, 'hop.bytesPerSecPerClient'],
      [{ maxClients: 0 }, 'hop.maxClients'],
      [{ maxClients: null }, 'hop.maxClients'],
      [{ country: 'fr' }, 'hop.country'],
      [{ country: 'XX' }, 'hop.country'],
    ] as const) {
      expect(() => parseConfig(withHop(bad), 't'), JSON.stringify(bad)).toThrow(field)
    }
  })
})
