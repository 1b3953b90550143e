/** The package as a library: imported by its name, the way a user's code does. */
import { spawnSync } from 'node:child_process'
import { describe, expect, it } from 'vitest'

describe('library API', () => {
  it('imports by package name and generates a working identity', () => {
    const code = `
      const m = await import('skywire-vpn')
      const cfg = m.generateConfig()
      const out = {
        exports: ['Visor', 'VisorClient', 'ServicesClient', 'startServices', 'VpnClient', 'Node', 'CoreNode', 'loadConfig'].filter((k) => typeof m[k] !== 'function'),
        pkOk: m.isPublicKey(cfg.pk),
        derived: m.publicKeyOf(cfg.sk) === cfg.pk,
      }
      console.log(JSON.stringify(out))
    `
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', code], { encoding: 'utf8', cwd: process.cwd() })
    expect(r.status, r.stderr).toBe(0)
    expect(JSON.parse(r.stdout)).toEqual({ exports: [], pkOk: true, derived: true })
  })
})
