/** Multi-hop on the command line: `vpn start --via/--hops` and `hop list`, documented, and bad input in one line. */
import { describe, expect, it } from 'vitest'
import { expectOneLineError, skywire } from './helpers/cli.js'

// Real keys (RFC 8032's test vectors): a repeated hex digit is a weak key, refused before anything else.
const K1 = 'd75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a'
const K2 = '3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c'

describe('multi-hop CLI', () => {
  it('vpn start documents --via and --hops with examples', () => {
    const r = skywire(['cli', 'vpn', 'start', '--help'])
    expect(r.code).toBe(0)
    for (const f of ['--via', '--hops', 'cli vpn start -k 0230f9...c1 --via', '--hops 1']) expect(r.stdout).toContain(f)
  })

  it('hop list documents its flags with examples', () => {
    const r = skywire(['cli', 'hop', 'list', '--help'])
    expect(r.code).toBe(0)
    for (const f of ['--country', '--keys', '--services', '--json', '--rpc', 'cli hop list -c DE']) expect(r.stdout).toContain(f)
  })

  it.each([
    [['--via', 'zz'], /--via hop 1 must be 64 hex characters/],
    [['--via', `${K2},${K2}`], /--via names a hop twice/],
    [['--via', `${K2},`], /none empty/],
    [['--via', K1], /the exit cannot also be a hop/],
    [['--hops', '0'], /--hops must be a whole number from 1 to 4/],
    [['--hops', '9'], /--hops must be a whole number from 1 to 4/],
    [['--via', K2, '--hops', '1'], /cannot also be provided when using/],
    [['--via', K2, '--existing-tp'], /cannot also be provided when using/],
  ])('vpn start -k K %j: one line, exit 2', (extra, msg) => {
    const r = skywire(['cli', 'vpn', 'start', '-k', K1, ...extra, '--rpc', '/nonexistent/visor.sock'])
    expect(r.code).toBe(2)
    expect(expectOneLineError(r)).toMatch(msg)
  })

  it('hop list: a bad services URL is one usage line; no visor is one line and exit 3', () => {
    const bad = skywire(['cli', 'hop', 'list', '--services', 'ftp://x'])
    expect(bad.code).toBe(2)
    expect(expectOneLineError(bad)).toMatch(/--services must be an http\(s\) URL/)
    const none = skywire(['cli', 'hop', 'list', '--rpc', '/nonexistent/visor.sock'], { cwd: '/' })
    expect(none.code).toBe(3)
    expect(expectOneLineError(none)).toMatch(/no visor is running at/)
  })
})
