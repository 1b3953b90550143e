/** `vpn start --via/--hops` parsers and the chain in `vpn status`: bad values are one EUSAGE/EINVALIDPK line. */
import { describe, expect, it } from 'vitest'
import { parseHopCount, parseVia } from '../../../../../ts/commands/cli/vpn/start.js'
import { lines, oneLine, routeText } from '../../../../../ts/commands/cli/vpn/status.js'
import { controlRoutes } from '../../../../../ts/contracts/control-api.js'
import type { VpnClientStatus } from '../../../../../ts/contracts/status.js'
import { generateIdentity } from '../../../../../ts/native/keys.js'
import { clientStatus } from '../../../fakes/status.js'

function codeOf(f: () => unknown): { code: string; message: string } {
  try {
    f()
  } catch (err) {
    return err as { code: string; message: string }
  }
  throw new Error('no error')
}

describe('vpn start --via / --hops', () => {
  const a = generateIdentity().publicKey
  const b = generateIdentity().publicKey

  it('--via takes keys in order (any case, spaces trimmed)', () => {
    expect(parseVia(a)).toEqual([a])
    expect(parseVia(` ${a.toUpperCase()} , ${b}`)).toEqual([a, b])
  })

  it('--via refuses empty items, repeats, too many, bad and weak keys, one line each', () => {
    const c = generateIdentity().publicKey
    const d = generateIdentity().publicKey
    const e = generateIdentity().publicKey
    for (const bad of [
      '',
      ',',
      `${a},`,
      `${a},${a}`,
      [a, b, c, d, e].join(','),
      'x'.repeat(64),
      '0'.repeat(64),
      'a'.repeat(63),
      `${a};${b}`,
      'z'.repeat(5000),
    ]) {
      const err = codeOf(() => parseVia(bad))
      expect(err.code, bad).toMatch(/^E(USAGE|INVALIDPK)$/)
      expect(err.message).not.toContain('\n')
      expect(err.message.length).toBeLessThan(200)
    }
    expect(codeOf(() => parseVia(`${a},`)).message).toMatch(/none empty/)
    expect(codeOf(() => parseVia(`${a},${'q'.repeat(64)}`)).message).toMatch(/--via hop 2/)
  })

  it('--hops is a whole number from 1 to 4', () => {
    expect(parseHopCount('1')).toBe(1)
    expect(parseHopCount('4')).toBe(4)
    for (const bad of ['0', '5', '-1', '1.5', '1e0', '0x1', ' ', 'two', '99999999999999999999']) {
      const err = codeOf(() => parseHopCount(bad))
      expect(err.code, bad).toBe('EUSAGE')
      expect(err.message).toMatch(/^--hops must be a whole number from 1 to 4/)
    }
  })

  it('the control API takes via/hops within the same bounds', () => {
    const body = controlRoutes.vpnStart.body
    expect(body.safeParse({ pk: a, via: [b] }).success).toBe(true)
    expect(body.safeParse({ pk: a, hops: 2 }).success).toBe(true)
    for (const bad of [
      { via: [] },
      { via: ['nope'] },
      { via: [b, b, b, b, b] },
      { hops: 0 },
      { hops: 5 },
      { hops: 1.5 },
      { hops: '1' },
      { via: b },
    ]) {
      expect(body.safeParse({ pk: a, ...bad }).success, JSON.stringify(bad)).toBe(false)
    }
  })
})

describe('vpn status: the chain', () => {
  const base = clientStatus({
    state: 'connected',
    transportId: 3,
    server: 'e'.repeat(64),
    transport: 'sudph',
    remote: '203.0.113.20:30000',
    tunnelIp: '10.77.0.2',
    tun: 'swvpn0',
  })
  const routed: VpnClientStatus = {
    ...base,
    route: [
      { pk: 'c'.repeat(64), role: 'hop', transport: 'sudph' },
      { pk: 'e'.repeat(64), role: 'exit', transport: 'sudph' },
    ],
  }

  it('shows the hops and the exit in order', () => {
    expect(routeText(routed)).toBe(`you → hop cccccccc… (sudph) → exit eeeeeeee…`)
    expect(lines(routed)).toContain(`route:      you → hop cccccccc… (sudph) → exit eeeeeeee…`)
    expect(oneLine(routed)).toContain('route=cccccccc>eeeeeeee')
  })

  it('no route line for a direct tunnel, or a 0.3.0 visor without the field', () => {
    expect(lines({ ...base, route: [{ pk: 'e'.repeat(64), role: 'exit', transport: 'sudph' }] }).join('\n')).not.toMatch(/route:/)
    expect(lines(base).join('\n')).not.toMatch(/route:/)
  })
})
