import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { native } from '../../ts/native/loader.js'
import { expectOneLineError, skywire } from './helpers/cli.js'

const dir = mkdtempSync(join(tmpdir(), 'skywire-config-'))
afterAll(() => rmSync(dir, { recursive: true, force: true }))

describe('cli config gen', () => {
  it('writes a valid 0600 config with a Rust-generated identity', () => {
    const file = join(dir, 'a.json')
    const r = skywire(['cli', 'config', 'gen', '-o', file, '--json'])
    expect(r.code).toBe(0)
    const out = JSON.parse(r.stdout) as { path: string; pk: string }
    expect(out.path).toBe(file)
    expect(statSync(file).mode & 0o777).toBe(0o600)
    const cfg = JSON.parse(readFileSync(file, 'utf8')) as { pk: string; sk: string }
    expect(cfg.pk).toBe(out.pk)
    // The identity is real: the secret key derives the public key and signs for it.
    expect(native.publicKeyFromSecret(cfg.sk)).toBe(cfg.pk)
    const msg = Buffer.from('skywire')
    expect(native.verify(cfg.pk, msg, native.sign(cfg.sk, msg))).toBe(true)
    expect(native.verify(cfg.pk, Buffer.from('other'), native.sign(cfg.sk, msg))).toBe(false)
  })

  it('two generated identities differ', () => {
    const a = join(dir, 'x.json')
    const b = join(dir, 'y.json')
    expect(skywire(['cli', 'config', 'gen', '-o', a]).code).toBe(0)
    expect(skywire(['cli', 'config', 'gen', '-o', b]).code).toBe(0)
    const pa = JSON.parse(readFileSync(a, 'utf8')).pk
    const pb = JSON.parse(readFileSync(b, 'utf8')).pk
    expect(pa).not.toBe(pb)
  })

  it('refuses to overwrite without --force and keeps the old file intact', () => {
    const file = join(dir, 'b.json')
    expect(skywire(['cli', 'config', 'gen', '-o', file]).code).toBe(0)
    const before = readFileSync(file, 'utf8')
    const r = skywire(['cli', 'config', 'gen', '-o', file])
    expect(r.code).toBe(1)
    expect(expectOneLineError(r)).toMatch(/already exists \(use --force/)
    expect(readFileSync(file, 'utf8')).toBe(before)
    const f = skywire(['cli', 'config', 'gen', '-o', file, '--force'])
    expect(f.code).toBe(0)
    expect(readFileSync(file, 'utf8')).not.toBe(before)
    expect(statSync(file).mode & 0o777).toBe(0o600)
  })

  it('--force restores mode 0600 on a file that had looser permissions', () => {
    const file = join(dir, 'loose.json')
    writeFileSync(file, '{}', { mode: 0o644 })
    expect(skywire(['cli', 'config', 'gen', '-o', file, '--force']).code).toBe(0)
    expect(statSync(file).mode & 0o777).toBe(0o600)
  })

  it('a directory that does not exist is one clear line', () => {
    const r = skywire(['cli', 'config', 'gen', '-o', join(dir, 'nope', 'c.json')])
    expect(r.code).not.toBe(0)
    expect(expectOneLineError(r)).toMatch(/directory does not exist/)
  })
})

describe('cli config show', () => {
  it('prints the config without the secret key', () => {
    const file = join(dir, 'show.json')
    expect(skywire(['cli', 'config', 'gen', '-o', file]).code).toBe(0)
    const cfg = JSON.parse(readFileSync(file, 'utf8')) as { sk: string }
    const r = skywire(['cli', 'config', 'show', '-c', file, '--json'])
    expect(r.code).toBe(0)
    expect(r.stdout).not.toContain(cfg.sk)
    expect(JSON.parse(r.stdout)).not.toHaveProperty('sk')
    const human = skywire(['cli', 'config', 'show', '-c', file])
    expect(human.stdout).not.toContain(cfg.sk)
    expect(human.stdout).toContain('"pk"')
  })

  it('reports every bad field, one line in all', () => {
    const file = join(dir, 'bad.json')
    expect(skywire(['cli', 'config', 'gen', '-o', file]).code).toBe(0)
    const cfg = JSON.parse(readFileSync(file, 'utf8'))
    cfg.services.url = 'ftp://x'
    cfg.vpnServer.pool = '10.0.0.0/33'
    cfg.transports.stcpr.listen = 'nope'
    cfg.surprise = true
    writeFileSync(file, JSON.stringify(cfg))
    const r = skywire(['cli', 'config', 'show', '-c', file])
    expect(r.code).toBe(2)
    const line = expectOneLineError(r)
    expect(line).toMatch(/services\.url: must be an http\(s\) URL/)
    expect(line).toMatch(/vpnServer\.pool: must be an IPv4 network/)
    expect(line).toMatch(/transports\.stcpr\.listen: must be HOST:PORT/)
    expect(line).toMatch(/surprise/)
  })

  it('catches a PK that does not match the secret key', () => {
    const file = join(dir, 'mismatch.json')
    expect(skywire(['cli', 'config', 'gen', '-o', file]).code).toBe(0)
    const cfg = JSON.parse(readFileSync(file, 'utf8'))
    cfg.pk = native.generateKeypair().publicKey
    writeFileSync(file, JSON.stringify(cfg))
    const r = skywire(['cli', 'config', 'show', '-c', file])
    expect(r.code).toBe(2)
    expect(expectOneLineError(r)).toMatch(/pk: does not match sk/)
  })

  it('missing file and broken JSON are one line each', () => {
    const missing = skywire(['cli', 'config', 'show', '-c', join(dir, 'missing.json')])
    expect(missing.code).toBe(2)
    expect(expectOneLineError(missing)).toMatch(/no such file/)
    const file = join(dir, 'broken.json')
    writeFileSync(file, '{ not json')
    const broken = skywire(['cli', 'config', 'show', '-c', file])
    expect(broken.code).toBe(2)
    expect(expectOneLineError(broken)).toMatch(/not valid JSON/)
  })
})

describe('commands that arrive later', () => {
  // They have arrived: both ask the visor for the UI's URL, so without one they fail like every visor command.
  it.each([
    ['cli', 'vpn', 'ui'],
    ['cli', 'vpn', 'url'],
  ])('%j asks the visor for the web UI and says when none runs', (...args) => {
    const r = skywire([...args, '--rpc', join(dir, 'no-visor.sock')])
    expect(r.code).toBe(3)
    expect(expectOneLineError(r)).toMatch(/no visor is running at/)
  })
})

describe('a visor that is not running', () => {
  it.each([
    ['cli', 'vpn', 'status'],
    ['cli', 'vpn', 'list'],
    ['cli', 'vpn', 'server', 'stop'],
  ])('%j is one line and exit 3', (...args) => {
    const r = skywire([...args, '--rpc', join(dir, 'no-visor.sock')])
    expect(r.code).toBe(3)
    expect(expectOneLineError(r)).toMatch(/no visor is running at/)
  })

  it('a malformed --rpc is a usage error', () => {
    const r = skywire(['cli', 'vpn', 'status', '--rpc', 'nonsense'])
    expect(r.code).toBe(2)
    expect(expectOneLineError(r)).toMatch(/--rpc must be a socket path or HOST:PORT/)
  })
})

describe('skywire visor', () => {
  it('a missing config is one line', () => {
    const r = skywire(['visor', '-c', join(dir, 'absent.json')])
    expect(r.code).toBe(2)
    expect(expectOneLineError(r)).toMatch(/cannot read config/)
  })
})

describe('vpnServer.country', () => {
  it('takes ISO 3166-1 codes only, the ones the discovery services accept', async () => {
    const { generateConfig, parseConfig } = await import('../../ts/config/file.js')
    const base = generateConfig()
    expect(parseConfig({ ...base, vpnServer: { ...base.vpnServer, country: 'DE' } }, 'x').vpnServer.country).toBe('DE')
    for (const country of ['UK', 'EU', 'ZZ', 'XK']) {
      expect(() => parseConfig({ ...base, vpnServer: { ...base.vpnServer, country } }, 'x'), country).toThrow(
        /vpnServer\.country: must be an ISO 3166-1 country code/,
      )
    }
  })
})

describe('reconnect and refresh timings', () => {
  it('takes whole seconds in range, defaults when absent, and names the field of a bad value in one line', async () => {
    const { generateConfig, parseConfig } = await import('../../ts/config/file.js')
    const base = generateConfig()
    const c = parseConfig(base, 'x')
    expect([c.vpnClient.reconnectTimeoutS, c.vpnClient.staleAfterS, c.services.refreshS]).toEqual([300, 15, 30])
    const bad: Array<[string, Record<string, unknown>]> = [
      ['vpnClient.reconnectTimeoutS', { vpnClient: { ...base.vpnClient, reconnectTimeoutS: -1 } }],
      ['vpnClient.reconnectTimeoutS', { vpnClient: { ...base.vpnClient, reconnectTimeoutS: 86_401 } }],
      ['vpnClient.reconnectTimeoutS', { vpnClient: { ...base.vpnClient, reconnectTimeoutS: 1.5 } }],
      // Below three missed 5 s pings a live session would be declared lost.
      ['vpnClient.staleAfterS', { vpnClient: { ...base.vpnClient, staleAfterS: 5 } }],
      ['vpnClient.staleAfterS', { vpnClient: { ...base.vpnClient, staleAfterS: '15' } }],
      ['services.refreshS', { services: { ...base.services, refreshS: 0 } }],
      ['services.refreshS', { services: { ...base.services, refreshS: 61 } }],
    ]
    for (const [field, patch] of bad) {
      let msg = ''
      try {
        parseConfig({ ...base, ...patch }, 'x')
      } catch (e) {
        msg = (e as Error).message
      }
      expect(msg, JSON.stringify(patch)).toContain(field)
      expect(msg).not.toMatch(/\n/)
    }
  })
})
