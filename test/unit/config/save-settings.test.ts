/**
 * `vpn set` without a visor writes the config file itself
 * (saveVpnClientSettings): the same checks as the visor's loader (safe-file),
 * validation of the whole result, and an atomic write that keeps everything
 * else. Hostile files: world-writable, a symlink to one, not JSON, not an
 * object, a value the schema refuses.
 */
import { chmodSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, readlinkSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { generateConfig, loadConfig, saveVpnClientSettings } from '../../../ts/config/file.js'

let dir: string
let file: string
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'skywire-save-'))
  file = join(dir, 'c.json')
  const cfg = generateConfig({ dataDir: join(dir, 'data') })
  writeFileSync(file, JSON.stringify({ ...cfg, vpnClient: { killswitch: true } }), { mode: 0o600 })
})
afterEach(() => rmSync(dir, { recursive: true, force: true }))

describe('saveVpnClientSettings', () => {
  it('sets the fields, keeps the rest of the section and the file (compact stays compact), mode 0600', async () => {
    expect(saveVpnClientSettings(file, { lockdown: true, dns: [] })).toEqual({ path: file, changed: true })
    const text = readFileSync(file, 'utf8')
    expect(text).not.toContain('\n')
    expect(JSON.parse(text).vpnClient).toEqual({ killswitch: true, lockdown: true, dns: [] })
    expect(statSync(file).mode & 0o777).toBe(0o600)
    expect((await loadConfig(file)).vpnClient.lockdown).toBe(true)
    expect(saveVpnClientSettings(file, { lockdown: true })).toEqual({ path: file, changed: false })
  })

  it('a symlink: the real file is written (if it passes the checks), the link stays a link', () => {
    const link = join(dir, 'link.json')
    symlinkSync(file, link)
    expect(saveVpnClientSettings(link, { allowLan: true }).path).toBe(file)
    expect(lstatSync(link).isSymbolicLink()).toBe(true)
    expect(readlinkSync(link)).toBe(file)
    expect(JSON.parse(readFileSync(file, 'utf8')).vpnClient.allowLan).toBe(true)
  })

  it('refuses a world-writable file, a symlink to one, and a file in a world-writable directory', () => {
    const before = readFileSync(file, 'utf8')
    chmodSync(file, 0o666)
    expect(() => saveVpnClientSettings(file, { lockdown: true })).toThrow(/writable by group or others/)
    const link = join(dir, 'link.json')
    symlinkSync(file, link)
    expect(() => saveVpnClientSettings(link, { lockdown: true })).toThrow(/writable by group or others/)
    chmodSync(file, 0o600)
    const open = join(dir, 'open')
    mkdirSync(open, { mode: 0o777 })
    chmodSync(open, 0o777)
    const inOpen = join(open, 'c.json')
    writeFileSync(inOpen, before, { mode: 0o600 })
    expect(() => saveVpnClientSettings(inOpen, { lockdown: true })).toThrow(/writable/)
    expect(readFileSync(inOpen, 'utf8')).toBe(before)
    expect(readFileSync(file, 'utf8')).toBe(before)
  })

  it('refuses what is no config, and values the schema refuses, without writing', () => {
    const before = readFileSync(file, 'utf8')
    expect(() => saveVpnClientSettings(file, { autoConnect: 'best:XX' })).toThrow(/vpnClient\.autoConnect/)
    expect(() => saveVpnClientSettings(file, { autoConnect: 'f'.repeat(64) })).toThrow(/vpnClient\.autoConnect/)
    expect(() => saveVpnClientSettings(file, { dns: ['not-an-ip'] })).toThrow(/vpnClient\.dns/)
    expect(readFileSync(file, 'utf8')).toBe(before)
    writeFileSync(file, '[1,2]', { mode: 0o600 })
    expect(() => saveVpnClientSettings(file, { lockdown: true })).toThrow(/not a JSON object/)
    writeFileSync(file, '{"version":1,', { mode: 0o600 })
    expect(() => saveVpnClientSettings(file, { lockdown: true })).toThrow(/cannot save the VPN client settings/)
    expect(() => saveVpnClientSettings(join(dir, 'missing.json'), { lockdown: true })).toThrow(/gone|no such/)
  })
})
