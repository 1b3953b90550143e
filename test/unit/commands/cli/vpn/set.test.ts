/** `vpn set`'s flag parsers: every bad value is one EUSAGE line, good ones come out canonical. */
import { describe, expect, it } from 'vitest'
import { parseAutoConnect, parseDnsList } from '../../../../../ts/commands/cli/vpn/set.js'
import { generateIdentity } from '../../../../../ts/native/keys.js'

describe('vpn set flags', () => {
  it('--dns: up to 4 distinct addresses, or server', () => {
    expect(parseDnsList('server')).toEqual([])
    expect(parseDnsList('1.1.1.1, 2606:4700:4700::1111')).toEqual(['1.1.1.1', '2606:4700:4700::1111'])
    for (const bad of [
      '',
      '1.1.1.1,',
      'dns.example',
      '1.1.1.1,1.1.1.1',
      '1.1.1.1,2.2.2.2,3.3.3.3,4.4.4.4,5.5.5.5',
      '1.1.1.1;rm -rf /',
      'x'.repeat(5000),
    ]) {
      let err: unknown
      try {
        parseDnsList(bad)
      } catch (e) {
        err = e
      }
      expect(err, bad).toMatchObject({ code: 'EUSAGE' })
      expect((err as Error).message).not.toContain('\n')
      expect((err as Error).message.length).toBeLessThan(200)
    }
  })

  it('--auto-connect: off, last, best, best:CC (any case), a public key (not a weak one)', () => {
    const pk = generateIdentity().publicKey
    expect(parseAutoConnect('off')).toBe('off')
    expect(parseAutoConnect('last')).toBe('last')
    expect(parseAutoConnect('best')).toBe('best')
    expect(parseAutoConnect('best:de')).toBe('best:DE')
    expect(parseAutoConnect(pk.toUpperCase())).toBe(pk)
    for (const bad of ['best:XX', 'best:', 'worst', '0'.repeat(64), 'a'.repeat(63), '', 'off\nlast']) {
      expect(() => parseAutoConnect(bad), bad).toThrow(expect.objectContaining({ code: expect.stringMatching(/^E(USAGE|INVALIDPK)$/) }))
    }
  })
})
