import { describe, expect, it } from 'vitest'
import { expectOneLineError, skywire } from './helpers/cli.js'

describe('command tree', () => {
  it('top-level help lists visor, services and the cli topic', () => {
    const r = skywire(['--help'])
    expect(r.code).toBe(0)
    expect(r.stdout).toMatch(/\bvisor\b/)
    expect(r.stdout).toMatch(/\bservices\b/)
    expect(r.stdout).toMatch(/\bcli\b/)
  })

  it('vpn help lists every client command and the server topic', () => {
    const r = skywire(['cli', 'vpn', '--help'])
    expect(r.code).toBe(0)
    for (const c of ['list', 'start', 'stop', 'status', 'ui', 'url']) expect(r.stdout).toContain(`cli vpn ${c}`)
    expect(r.stdout).toContain('cli vpn server')
  })

  it('vpn server help lists start, stop and status', () => {
    const r = skywire(['cli', 'vpn', 'server', '--help'])
    expect(r.code).toBe(0)
    for (const c of ['start', 'stop', 'status']) expect(r.stdout).toContain(`cli vpn server ${c}`)
  })

  it('visor and tp help list their commands', () => {
    const visor = skywire(['cli', 'visor', '--help'])
    expect(visor.code).toBe(0)
    for (const c of ['pk', 'info', 'install-service']) expect(visor.stdout).toContain(`cli visor ${c}`)
    const tp = skywire(['cli', 'tp', '--help'])
    expect(tp.code).toBe(0)
    for (const c of ['add', 'ls', 'rm']) expect(tp.stdout).toContain(`cli tp ${c}`)
  })

  it.each([
    [
      ['cli', 'vpn', 'start', '--help'],
      ['--pk', '-k', '--existing-tp', '--timeout', '-t', '--json', '--rpc'],
    ],
    [
      ['cli', 'vpn', 'list', '--help'],
      ['--country', '-c', '--stats', '--json'],
    ],
    [
      ['cli', 'vpn', 'server', 'start', '--help'],
      ['--netifc', '-i', '--[no-]secure', '--whitelist', '-w', '--json'],
    ],
    [
      ['cli', 'config', 'gen', '--help'],
      ['--output', '-o', '--force'],
    ],
    [
      ['services', '--help'],
      ['--http', '--udp', '--db', '--redis', '--geoip'],
    ],
    [
      ['visor', '--help'],
      ['--config', '-c'],
    ],
    [
      ['cli', 'tp', 'rm', '--help'],
      ['--id', '-i', '--all', '-a', '--json', '--rpc'],
    ],
    [
      ['cli', 'visor', 'pk', '--help'],
      ['--config', '-c', '--json', '--rpc'],
    ],
    [
      ['cli', 'visor', 'info', '--help'],
      ['--json', '--rpc'],
    ],
  ])('%j documents its flags', (args, flags) => {
    const r = skywire(args)
    expect(r.code).toBe(0)
    for (const f of flags) expect(r.stdout).toContain(f)
  })
})

describe('bad input gets one line and a non-zero exit', () => {
  it('malformed PK', () => {
    const r = skywire(['cli', 'vpn', 'start', '-k', 'abc'])
    expect(r.code).toBe(2)
    expect(expectOneLineError(r)).toMatch(/public key must be 64 hex characters, got 3/)
  })

  it('a PK that is hex but not a curve point', () => {
    // y = 2 does not decode to an Ed25519 point.
    const r = skywire(['cli', 'vpn', 'start', '-k', '02' + '00'.repeat(31)])
    expect(r.code).toBe(2)
    expect(expectOneLineError(r)).toMatch(/not a valid Ed25519 key/)
  })

  it('no key picks the best server, which needs the visor: without one, one line and exit 3', () => {
    const r = skywire(['cli', 'vpn', 'start', '--rpc', '/nonexistent/visor.sock'])
    expect(r.code).toBe(3)
    expect(expectOneLineError(r)).toMatch(/no visor is running at/)
  })

  it('unknown flag', () => {
    const r = skywire(['cli', 'vpn', 'list', '--bogus'])
    expect(r.code).toBe(2)
    expect(expectOneLineError(r)).toMatch(/Nonexistent flag: --bogus/)
  })

  it('bad country code', () => {
    const r = skywire(['cli', 'vpn', 'list', '-c', 'USA'])
    expect(r.code).toBe(2)
    expect(expectOneLineError(r)).toMatch(/two-letter code/)
  })

  it('unknown country code', () => {
    const r = skywire(['cli', 'vpn', 'list', '-c', 'XX'])
    expect(r.code).toBe(2)
    expect(expectOneLineError(r)).toMatch(/unknown country code "XX"/)
  })

  it('a code ICU names but ISO 3166-1 has not assigned (UK, EU) is unknown too: discovery would never match it', () => {
    for (const cc of ['UK', 'EU']) {
      const r = skywire(['cli', 'vpn', 'list', '-c', cc])
      expect(r.code, cc).toBe(2)
      expect(expectOneLineError(r)).toMatch(new RegExp(`unknown country code "${cc}"`))
    }
  })

  it('bad timeout', () => {
    // A real key (RFC 8032's first): 'a'.repeat(64) is a weak key, refused before the timeout.
    // -t 0 is no deadline (Skywire's habit); above an hour is refused.
    const r = skywire(['cli', 'vpn', 'start', '-k', 'd75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a', '-t', '3601'])
    expect(r.code).toBe(2)
    expect(expectOneLineError(r)).toMatch(/timeout must be a whole number/)
  })

  it('bad whitelist entry names which one', () => {
    const r = skywire(['cli', 'vpn', 'server', 'start', '-w', 'zz'])
    expect(r.code).toBe(2)
    expect(expectOneLineError(r)).toMatch(/whitelist entry 1/)
  })

  it('tp rm with neither -i nor -a, or with both', () => {
    expect(expectOneLineError(skywire(['cli', 'tp', 'rm']))).toMatch(/-i ID .* or -a for all/)
    const both = skywire(['cli', 'tp', 'rm', '-a', '-i', '2'])
    expect(both.code).toBe(2)
    expect(expectOneLineError(both)).toMatch(/cannot also be provided/)
  })

  it('visor pk -c of a config that is not there', () => {
    const r = skywire(['cli', 'visor', 'pk', '-c', '/nonexistent/skywire-config.json'])
    expect(r.code).toBe(2)
    expect(expectOneLineError(r)).toMatch(/cannot read config \/nonexistent\/skywire-config.json: no such file/)
  })

  it('unknown command', () => {
    const r = skywire(['frobnicate'])
    expect(r.code).not.toBe(0)
    expect(expectOneLineError(r)).toMatch(/frobnicate not found/)
  })
})
