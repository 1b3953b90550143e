/**
 * `vpn set` / `vpn get` as a user runs them, with no visor running: bad
 * input is one line and a non-zero exit; good input edits the config file
 * (atomically, mode kept) and says that it did; a config file safe-file
 * refuses is refused here too.
 */
import { chmodSync, mkdtempSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { generateConfig } from '../../ts/config/file.js'
import { expectOneLineError, skywire } from './helpers/cli.js'

describe('vpn set / vpn get without a visor', () => {
  let dir: string
  let file: string
  let rpc: string
  const cli = (args: string[]) => skywire(['cli', 'vpn', ...args, '--rpc', rpc, '-c', file])
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'skywire-vpnset-'))
    file = join(dir, 'c.json')
    rpc = join(dir, 'no-visor.sock')
    writeFileSync(file, `${JSON.stringify(generateConfig({ dataDir: join(dir, 'data') }), null, 2)}\n`, { mode: 0o600 })
  })
  afterAll(() => rmSync(dir, { recursive: true, force: true }))

  it.each([
    [['set', '--killswitch', 'maybe'], /--killswitch must be on or off/],
    [['set', '--lockdown', ''], /--lockdown must be on or off/],
    [['set', '--allow-lan', 'ON; rm -rf /'], /--allow-lan must be on or off/],
    [['set', '--dns', '1.1.1.1,evil.example'], /not an IP address/],
    [['set', '--dns', '1.1.1.1,1.1.1.1'], /twice/],
    [['set', '--auto-connect', 'best:XX'], /unknown country/],
    [['set', '--auto-connect', '0'.repeat(64)], /not a valid public key/],
    [['set'], /nothing to set/],
    [['set', '--lockdown', 'on', '--colour', 'red'], /Nonexistent flag/],
  ])('%j is one line and a non-zero exit, and the file is untouched', (args, why) => {
    const before = readFileSync(file, 'utf8')
    const r = cli(args)
    expect(r.code).not.toBe(0)
    expect(expectOneLineError(r)).toMatch(why)
    expect(readFileSync(file, 'utf8')).toBe(before)
  })

  it('edits the config file, says so, and vpn get reads it back', () => {
    const r = cli(['set', '--lockdown', 'on', '--dns', '9.9.9.9', '--auto-connect', 'best:de'])
    expect(r.code, r.stderr).toBe(0)
    expect(r.stdout).toMatch(/no visor is running at .*: edited the config file/)
    expect(statSync(file).mode & 0o777).toBe(0o600)
    expect(JSON.parse(readFileSync(file, 'utf8')).vpnClient).toMatchObject({ lockdown: true, dns: ['9.9.9.9'], autoConnect: 'best:DE' })
    const g = cli(['get', '--json'])
    expect(g.code, g.stderr).toBe(0)
    expect(JSON.parse(g.stdout)).toEqual({
      via: 'config',
      killswitch: false,
      lockdown: true,
      allowLan: false,
      dns: ['9.9.9.9'],
      autoConnect: 'best:DE',
    })
    const back = cli(['set', '--dns', 'server', '--json'])
    expect(JSON.parse(back.stdout)).toMatchObject({ via: 'config', changed: true, settings: { dns: [] } })
  })

  it('refuses a world-writable config and a symlink to one, in one line', () => {
    chmodSync(file, 0o666)
    const link = join(dir, 'link.json')
    symlinkSync(file, link)
    for (const f of [file, link]) {
      const r = skywire(['cli', 'vpn', 'set', '--lockdown', 'off', '--rpc', rpc, '-c', f])
      expect(r.code).not.toBe(0)
      expect(expectOneLineError(r)).toMatch(/writable by group or others/)
    }
    chmodSync(file, 0o600)
    expect(JSON.parse(readFileSync(file, 'utf8')).vpnClient.lockdown).toBe(true)
  })
})
