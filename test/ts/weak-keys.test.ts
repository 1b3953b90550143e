/**
 * Weak Ed25519 public keys (issue 12 item 8) are no identity: not as `-k`,
 * not in a whitelist (flag or config), not through the binding. The 8
 * small-order points and non-canonical spellings all decode as curve points,
 * which is all the old check asked.
 */
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { generateConfig, loadConfig } from '../../ts/config/file.js'
import { isPublicKey, parsePublicKey, parsePublicKeyList } from '../../ts/native/keys.js'
import { native } from '../../ts/native/loader.js'
import { expectOneLineError, skywire } from './helpers/cli.js'
import { tempDir } from './helpers/visors.js'

/** The 8 points of small order (canonical encodings). */
const SMALL_ORDER = [
  '0100000000000000000000000000000000000000000000000000000000000000', // identity
  'ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f', // order 2
  '0000000000000000000000000000000000000000000000000000000000000000', // order 4
  '0000000000000000000000000000000000000000000000000000000000000080', // order 4
  'c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a', // order 8
  'c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac03fa',
  '26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05',
  '26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc85',
]
/** Non-canonical spellings of small-order points (y >= p, or x = 0 with the sign bit). */
const NON_CANONICAL = [
  'eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f', // y = p + 1: the identity
  'edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f', // y = p: order 4
  'ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff', // order 2 with the sign bit
]

describe('weak public keys', () => {
  const tmp = tempDir('skywire-weak-')
  afterAll(() => tmp.cleanup())

  it('the binding refuses every small-order or non-canonical key, with the reason', () => {
    for (const pk of [...SMALL_ORDER, ...NON_CANONICAL]) {
      expect(native.isValidPublicKey(pk), pk).toBe(false)
      expect(isPublicKey(pk), pk).toBe(false)
      expect(native.publicKeyProblem(pk), pk).toBe('small-order point')
    }
    const good = native.generateKeypair().publicKey
    expect(isPublicKey(good)).toBe(true)
    expect(native.publicKeyProblem(good)).toBeNull()
    expect(() => native.verify(SMALL_ORDER[0] as string, Buffer.from('x'), Buffer.alloc(64))).toThrow(
      /EINVALIDPK: not a valid public key: small-order point/,
    )
  })

  it('parsePublicKey and the whitelist list refuse them in one line', () => {
    expect(() => parsePublicKey(SMALL_ORDER[2] as string)).toThrow(/^not a valid public key: small-order point$/)
    const good = native.generateKeypair().publicKey
    expect(() => parsePublicKeyList(`${good},${SMALL_ORDER[4]}`)).toThrow(/^whitelist entry 2: not a valid public key: small-order point$/)
  })

  it('`skywire cli vpn start -k <weak>` exits non-zero with one line, before contacting any visor', () => {
    for (const pk of [SMALL_ORDER[0], SMALL_ORDER[2], SMALL_ORDER[6], NON_CANONICAL[0]] as string[]) {
      const r = skywire(['cli', 'vpn', 'start', '-k', pk, '--rpc', join(tmp.dir, 'none.sock')])
      expect(r.code, r.stderr).not.toBe(0)
      expect(expectOneLineError(r)).toMatch(/not a valid public key: small-order point/)
    }
  })

  it('`skywire cli vpn server start -w` refuses a weak whitelist entry in one line', () => {
    const good = native.generateKeypair().publicKey
    const r = skywire(['cli', 'vpn', 'server', 'start', '-w', `${good},${SMALL_ORDER[1]}`, '--rpc', join(tmp.dir, 'none.sock')])
    expect(r.code).not.toBe(0)
    expect(expectOneLineError(r)).toMatch(/whitelist entry 2: not a valid public key: small-order point/)
  })

  it('a config whose whitelist holds a weak key does not load', async () => {
    const cfg = generateConfig({ dataDir: join(tmp.dir, 'data') })
    const file = join(tmp.dir, 'weak.json')
    writeFileSync(file, JSON.stringify({ ...cfg, vpnServer: { whitelist: [SMALL_ORDER[3]] } }), { mode: 0o600 })
    await expect(loadConfig(file)).rejects.toThrow(/vpnServer\.whitelist\.0: not a valid public key: small-order point/)
  })
})
