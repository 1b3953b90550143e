/** Which resolver addresses the node binds to, per family, from services.udp and services.udp6 (lookup faked). */
import { describe, expect, it } from 'vitest'
import { SkywireError } from '../../../ts/contracts/errors.js'
import { resolverAddrs } from '../../../ts/visor/resolver-addrs.js'

const names: Record<string, { address: string; family: number }[]> = {
  'ar.dual': [
    { address: '2001:db8::10', family: 6 },
    { address: '203.0.113.10', family: 4 },
  ],
  'ar.v6': [{ address: '2001:db8::11', family: 6 }],
  'ar.none': [],
}
const look = async (host: string) => {
  const r = names[host]
  if (!r) throw new Error('ENOTFOUND')
  return r
}

describe('resolverAddrs', () => {
  it('a literal is its one family', async () => {
    expect(await resolverAddrs({ udp: '203.0.113.10:9091' }, look)).toEqual({ resolver: '203.0.113.10:9091' })
    expect(await resolverAddrs({ udp: '[2001:db8::10]:9091', udp6: '' }, look)).toEqual({ resolver: '[2001:db8::10]:9091' })
  })

  it('a name with both families gives both, IPv4 first', async () => {
    expect(await resolverAddrs({ udp: 'ar.dual:9091' }, look)).toEqual({ resolver: '203.0.113.10:9091', resolver6: '[2001:db8::10]:9091' })
  })

  it('udp6 adds the other family beside a literal, and a second address of a family already there is ignored', async () => {
    expect(await resolverAddrs({ udp: '203.0.113.10:9091', udp6: '[2001:db8::10]:9092' }, look)).toEqual({
      resolver: '203.0.113.10:9091',
      resolver6: '[2001:db8::10]:9092',
    })
    expect(await resolverAddrs({ udp: '203.0.113.10:9091', udp6: 'ar.v6:9091' }, look)).toEqual({
      resolver: '203.0.113.10:9091',
      resolver6: '[2001:db8::11]:9091',
    })
    expect(await resolverAddrs({ udp: 'ar.dual:9091', udp6: '[2001:db8::99]:1' }, look)).toEqual({
      resolver: '203.0.113.10:9091',
      resolver6: '[2001:db8::10]:9091',
    })
  })

  it('fails with one clear line on a name that does not resolve or a malformed address', async () => {
    for (const [services, code, msg] of [
      [{ udp: 'ar.missing:9091' }, 'EUNREACHABLE', /cannot resolve the address resolver host ar.missing/],
      [{ udp: 'ar.none:9091' }, 'EUNREACHABLE', /cannot resolve/],
      [{ udp: '203.0.113.10:9091', udp6: 'ar.missing:9091' }, 'EUNREACHABLE', /ar.missing/],
      [{ udp: '2001:db8::10:9091' }, 'ECONFIG', /services.udp must be HOST:PORT/],
      [{ udp: '203.0.113.10:9091', udp6: '[nope]:1' }, 'ECONFIG', /services.udp6 must be HOST:PORT/],
    ] as const) {
      const err = await resolverAddrs(services, look).catch((e: unknown) => e)
      expect(err, JSON.stringify(services)).toBeInstanceOf(SkywireError)
      expect((err as SkywireError).code).toBe(code)
      expect((err as SkywireError).message).toMatch(msg)
      expect((err as SkywireError).message).not.toContain('\n')
    }
  })
})
