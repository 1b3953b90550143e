/** Auto-connect's loop against fakes of what it uses: modes, waiting for the network, backoff, cancel. */
import { describe, expect, it } from 'vitest'
import { SkywireError } from '../../../ts/contracts/errors.js'
import { AutoConnect, type AutoConnectDeps, parseAutoConnect } from '../../../ts/visor/auto-connect.js'

const pk = (c: string) => c.repeat(64)

function deps(o: Partial<AutoConnectDeps> = {}) {
  const lines: string[] = []
  const connected: string[] = []
  const d: AutoConnectDeps = {
    connect: async (p) => {
      connected.push(p)
    },
    candidates: async () => [{ pk: pk('b') }, { pk: pk('c') }],
    lastServer: () => null,
    networkDown: async () => null,
    log: { info: (_o, m) => lines.push(m), warn: (_o, m) => lines.push(m) },
    firstWaitMs: 5,
    maxWaitMs: 20,
    ...o,
  }
  return { d, lines, connected }
}

describe('parseAutoConnect', () => {
  it('reads every documented spelling', () => {
    expect(parseAutoConnect(undefined)).toEqual({ kind: 'off' })
    expect(parseAutoConnect('off')).toEqual({ kind: 'off' })
    expect(parseAutoConnect('last')).toEqual({ kind: 'last' })
    expect(parseAutoConnect('best')).toEqual({ kind: 'best', country: null })
    expect(parseAutoConnect('best:de')).toEqual({ kind: 'best', country: 'DE' })
    expect(parseAutoConnect(pk('a'))).toEqual({ kind: 'key', pk: pk('a') })
  })

  it('refuses anything else in one line', () => {
    for (const bad of ['on', 'best:', 'best:DEU', 'AB'.repeat(32), `${pk('a')}:3`, 'x'.repeat(10_000)]) {
      expect(() => parseAutoConnect(bad), bad.slice(0, 20)).toThrow(/vpnClient.autoConnect must be/)
    }
  })
})

describe('AutoConnect', () => {
  it('off does nothing', async () => {
    const f = deps()
    const a = new AutoConnect(parseAutoConnect('off'), f.d)
    a.start()
    await a.done
    expect(f.connected).toEqual([])
  })

  it('best connects to the best, skipping one that fails', async () => {
    const f = deps({
      connect: async (p) => {
        if (p === pk('b')) throw new SkywireError('EREMOTE', 'refused')
        f.connected.push(p)
      },
    })
    const a = new AutoConnect(parseAutoConnect('best:DE'), f.d)
    a.start()
    await a.done
    expect(f.connected).toEqual([pk('c')])
    expect(f.lines).toEqual(['auto-connect: connected'])
  })

  it('best:CC asks for that country', async () => {
    const asked: (string | null)[] = []
    const f = deps({
      candidates: async (cc) => {
        asked.push(cc)
        return [{ pk: pk('d') }]
      },
    })
    const a = new AutoConnect(parseAutoConnect('best:us'), f.d)
    a.start()
    await a.done
    expect(asked).toEqual(['US'])
  })

  it('last connects to the last server, and to the best before there is one', async () => {
    const f = deps({ lastServer: () => pk('e') })
    const a = new AutoConnect(parseAutoConnect('last'), f.d)
    a.start()
    await a.done
    expect(f.connected).toEqual([pk('e')])
    const g = deps()
    const b = new AutoConnect(parseAutoConnect('last'), g.d)
    b.start()
    await b.done
    expect(g.connected).toEqual([pk('b')])
  })

  it('waits for the network with backoff, one line per attempt, then connects', async () => {
    let down = 3
    const f = deps({ networkDown: async () => (down-- > 0 ? 'no default route' : null) })
    const a = new AutoConnect(parseAutoConnect(pk('f')), f.d)
    a.start()
    await a.done
    expect(f.connected).toEqual([pk('f')])
    expect(a.attempts).toBe(4)
    expect(f.lines).toEqual([...Array(3).fill('auto-connect: waiting for the network (no default route)'), 'auto-connect: connected'])
  })

  it('a failed attempt is retried; a cancel (the user stopped the VPN) ends the loop', async () => {
    let tries = 0
    const f = deps({
      connect: async () => {
        tries++
        throw new SkywireError('ETIMEOUT', 'no answer')
      },
      firstWaitMs: 20,
    })
    const a = new AutoConnect(parseAutoConnect(pk('a')), f.d)
    a.start()
    await new Promise((r) => setTimeout(r, 120))
    a.cancel()
    await a.done
    const after = tries
    expect(after).toBeGreaterThanOrEqual(2)
    await new Promise((r) => setTimeout(r, 100))
    expect(tries).toBe(after)
    expect(f.lines.every((l) => l === 'auto-connect: attempt failed')).toBe(true)
    expect(a.active).toBe(false)
  })

  it('the VPN already on (the user connected first) ends it quietly', async () => {
    const f = deps({
      connect: async () => {
        throw new SkywireError('ESTATE', 'the VPN is already connected')
      },
    })
    const a = new AutoConnect(parseAutoConnect('best'), f.d)
    a.start()
    await a.done
    expect(a.attempts).toBe(1)
    expect(f.lines[0]).toMatch(/not needed/)
  })

  it('a cancel says whether a connect of ours was in flight (a start by the user then stops it instead of being refused)', async () => {
    let release: (e: Error) => void = () => {}
    let calls = 0
    const f = deps({
      connect: (_p) => {
        calls++
        return new Promise((_resolve, reject) => {
          release = reject
        })
      },
    })
    const a = new AutoConnect(parseAutoConnect(pk('a')), f.d)
    a.start()
    while (calls === 0) await new Promise((r) => setTimeout(r, 1))
    expect(a.cancel()).toBe(true)
    // The caller's stop aborts the dial: the attempt fails, and the loop ends without another try.
    release(new SkywireError('ECLOSED', 'stopped'))
    await a.done
    expect(calls).toBe(1)
    expect(a.cancel()).toBe(false)

    const idle = new AutoConnect(parseAutoConnect('off'), deps().d)
    idle.start()
    expect(idle.cancel()).toBe(false)
  })
})
