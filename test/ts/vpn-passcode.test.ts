/**
 * The VPN server's passcode (issue 12, item 8): compared in constant time,
 * and guesses capped per key and in total, so that neither timing nor brute
 * force finds it. The lab test runs a real VpnServer (the visor's wiring, in
 * a namespace) and a brute-forcer with several keys over real STCPR sessions.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { skipUnlessAvailable } from './helpers/skip.js'
import { createLab, labPrerequisites, type Lab } from '../../ts/netlab/netns.js'
import { native } from '../../ts/native/loader.js'
import { PasscodeGate, passcodeMatches } from '../../ts/vpn/passcode.js'

const HOSTILE = fileURLToPath(new URL('../fixtures/vpn-hostile.mjs', import.meta.url))
const SERVER = fileURLToPath(new URL('../fixtures/vpn-server.mjs', import.meta.url))
const pre = labPrerequisites()

describe('PasscodeGate', () => {
  it('compares whole passcodes only', () => {
    expect(passcodeMatches('sesame', 'sesame')).toBe(true)
    expect(passcodeMatches('sesam', 'sesame')).toBe(false)
    expect(passcodeMatches('sesame!', 'sesame')).toBe(false)
    expect(passcodeMatches(undefined, 'sesame')).toBe(false)
    expect(passcodeMatches('', '')).toBe(true)
  })

  it('after the per-key cap a key is refused without comparing, until the window moves on; other keys are not', () => {
    let now = 1_000_000
    const g = new PasscodeGate('sesame', { failuresPerKey: 5, failuresTotal: 100, windowMs: 60_000 }, () => now)
    for (let i = 0; i < 5; i++) expect(g.check('a', `guess${i}`)).toBe('wrong')
    expect(g.check('a', 'sesame')).toBe('too-many-failures')
    expect(g.check('b', 'sesame')).toBe('ok')
    now += 60_001
    expect(g.check('a', 'sesame')).toBe('ok')
  })

  it('after the total cap every key is refused without comparing; the set of keys it remembers stays small', () => {
    let now = 1_000_000
    const g = new PasscodeGate('sesame', { failuresPerKey: 5, failuresTotal: 20, windowMs: 60_000 }, () => now)
    for (let i = 0; i < 20; i++) expect(g.check(`k${i}`, 'nope')).toBe('wrong')
    expect(g.check('fresh', 'sesame')).toBe('too-many-failures')
    // Thousands of one-shot keys over many windows: memory stays bounded.
    for (let w = 0; w < 200; w++) {
      now += 60_001
      for (let i = 0; i < 25; i++) g.check(`w${w}k${i}`, 'nope')
    }
    expect((g as unknown as { perKey: Map<string, number[]> }).perKey.size).toBeLessThanOrEqual(21)
    expect((g as unknown as { total: number[] }).total.length).toBeLessThanOrEqual(20)
  })
})

describe.skipIf(skipUnlessAvailable(pre.ok ? null : pre.reason))('VPN passcode on the lab: a brute-forcer with several keys', () => {
  let lab: Lab
  let a: string
  let b: string
  const dir = mkdtempSync(join(tmpdir(), 'skywire-passcode-'))

  beforeAll(async () => {
    lab = createLab()
    a = await lab.addNamespace('pa')
    b = await lab.addNamespace('pb')
    await lab.veth({ ns: a, ifname: 'va', addrs: ['192.0.2.1/24'] }, { ns: b, ifname: 'vb', addrs: ['192.0.2.2/24'] })
  })
  afterAll(async () => {
    await lab?.close()
    rmSync(dir, { recursive: true, force: true })
  })

  it('five wrong guesses lock a key out (even the right passcode is refused), and the total cap locks everyone out', async () => {
    const serverKey = native.generateKeypair()
    const srv = lab.spawn(a, [
      process.execPath,
      SERVER,
      JSON.stringify({
        sk: serverKey.secretKey,
        stcpr: '192.0.2.1:7777',
        netifc: 'va',
        pool: '10.78.0.0/24',
        stateFile: join(dir, 'server.state.json'),
        passcode: 'correct horse battery staple',
        limits: { passcode: { failuresPerKey: 5, failuresTotal: 8, windowMs: 60_000 } },
      }),
    ])
    const keys = Object.fromEntries(['a', 'b', 'c', 'd'].map((k) => [k, native.generateKeypair().secretKey]))
    const hello = (passcode: string) => ({ type: 'hello', v: 1, usedNets: [], passcode })
    const attempts = [
      ...Array.from({ length: 5 }, (_, i) => ({ key: 'a', send: hello(`guess ${i}`) })),
      { key: 'a', send: hello('correct horse battery staple') },
      { key: 'b', send: hello('correct horse battery staple') },
      ...Array.from({ length: 3 }, (_, i) => ({ key: 'c', send: hello(`other ${i}`) })),
      { key: 'd', send: hello('correct horse battery staple') },
    ]
    let cli = null
    try {
      await srv.waitForOutput(/"ready"/, 15_000)
      cli = lab.spawn(b, [
        process.execPath,
        HOSTILE,
        JSON.stringify({
          role: 'client',
          sk: keys.a,
          keys,
          server: { pk: serverKey.publicKey, transport: 'stcpr', addrs: ['192.0.2.1:7777'] },
          attempts,
        }),
      ])
      await cli.waitForOutput(/"attemptsDone"/, 60_000)
      const got = cli
        .output()
        .stdout.split('\n')
        .filter((l) => l.includes('"attempt"'))
        .map((l) => (JSON.parse(l) as { status: { status: string; message?: string } | null }).status)
      const summary = got.map((s) => (s ? `${s.status}${s.message ? `: ${s.message}` : ''}` : 'no answer'))
      expect(summary).toEqual([
        ...Array<string>(5).fill('forbidden: wrong passcode'),
        'forbidden: too many wrong passcodes; try again later',
        'ok',
        ...Array<string>(3).fill('forbidden: wrong passcode'),
        'forbidden: too many wrong passcodes; try again later',
      ])
    } finally {
      await cli?.kill('SIGTERM', 2000)
      await srv.kill('SIGTERM', 5000)
    }
  }, 120_000)
})
