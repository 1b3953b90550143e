/** The hop picker and the chain line of the web UI (ts/ui/lib/route.ts). */
import { describe, expect, it } from 'vitest'
import { ANY_HOP, DIRECT, KEY_HOP, hopOptions, routeChoice, routeLine } from '../../../../ts/ui/lib/route.js'

const EXIT = 'e'.repeat(64)
const HOP = 'a'.repeat(64)
const HOP2 = 'b'.repeat(64)

describe('hop picker', () => {
  it('turns the choice into the start request: direct, any hop from discovery, a listed hop, a typed key', () => {
    expect(routeChoice(DIRECT, '', EXIT)).toEqual({})
    expect(routeChoice(ANY_HOP, '', EXIT)).toEqual({ hops: 1 })
    expect(routeChoice(HOP, 'ignored', EXIT)).toEqual({ via: [HOP] })
    expect(routeChoice(KEY_HOP, `  ${HOP2.toUpperCase()} `, EXIT)).toEqual({ via: [HOP2] })
  })

  it('refuses a typed key that is no key, hostile text, or the exit itself, with one line', () => {
    for (const bad of ['', 'abc', `${HOP}0`, '<img src=x onerror=alert(1)>', `${HOP.slice(1)}g`, 'a'.repeat(10_000)]) {
      expect(routeChoice(KEY_HOP, bad, EXIT)).toEqual({ error: expect.stringMatching(/public key/) })
    }
    // A crafted option value is checked the same way as a typed key.
    expect(routeChoice('../../etc', '', EXIT)).toEqual({ error: expect.stringMatching(/public key/) })
    expect(routeChoice(KEY_HOP, EXIT, EXIT)).toEqual({ error: expect.stringMatching(/different/) })
    expect(routeChoice(EXIT, '', EXIT)).toEqual({ error: expect.stringMatching(/different/) })
  })

  it('offers each hop of discovery once, by country, never this visor, never an entry without a key', () => {
    const opts = hopOptions(
      [
        { address: `${HOP2}:3`, type: 'hop', country: 'NL' },
        { address: `${HOP}:3`, type: 'hop', country: 'DE' },
        { address: `${HOP}:3`, type: 'hop', country: 'DE' },
        { address: 'not-a-key:3', type: 'hop', country: 'FR' },
        { address: `${EXIT}:3`, type: 'hop', country: 'AT' },
      ],
      EXIT,
    )
    expect(opts.map((o) => o.pk)).toEqual([HOP, HOP2])
    expect(opts[0]?.label).toBe('DE – Germany – aaaaaaaa…aaaa')
    expect(opts[1]?.label).toBe('NL – Netherlands – bbbbbbbb…bbbb')
  })
})

describe('chain line', () => {
  it('shows the chain of a multi-hop route and nothing for a direct one', () => {
    expect(
      routeLine([
        { pk: HOP, role: 'hop' },
        { pk: EXIT, role: 'exit' },
      ]),
    ).toBe('you → hop aaaaaaaa…aaaa → exit eeeeeeee…eeee')
    expect(
      routeLine([
        { pk: HOP, role: 'hop' },
        { pk: HOP2, role: 'hop' },
        { pk: EXIT, role: 'exit' },
      ]),
    ).toBe('you → hop aaaaaaaa…aaaa → hop bbbbbbbb…bbbb → exit eeeeeeee…eeee')
    expect(routeLine([{ pk: EXIT, role: 'exit' }])).toBe('')
    expect(routeLine(null)).toBe('')
    expect(routeLine(undefined)).toBe('')
  })
})
