/**
 * `vpn set` on a running visor (ts/visor/settings.ts): a change is validated
 * as a whole config, applied on the host (here: in-memory fakes of the
 * lockdown table and the VPN client), then saved to a real config file in a
 * temp dir; a failure at either step leaves host and file as they were.
 */
import { chmodSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { generateConfig, loadConfig } from '../../../ts/config/file.js'
import type { Config } from '../../../ts/config/schema.js'
import { SkywireError } from '../../../ts/contracts/errors.js'
import { generateIdentity } from '../../../ts/native/keys.js'
import { controlApp, controlRoutes } from '../../../ts/visor/control-api.js'
import { applyLockdownAtStart, type LockdownHost, type SettingsClient, VpnSettingsManager } from '../../../ts/visor/settings.js'
import type { Visor } from '../../../ts/visor/visor.js'
import { silentLog } from '../fakes/visor.js'

class FakeLockdown implements LockdownHost {
  up = false
  allowLan = false
  failInstall = false
  calls: string[] = []
  async install(o: { allowLan: boolean }) {
    this.calls.push(`install ${o.allowLan}`)
    if (this.failInstall) throw new SkywireError('ESYSCMD', 'nft -f -: no nft here')
    this.up = true
    this.allowLan = o.allowLan
  }
  async remove() {
    this.calls.push('remove')
    this.up = false
  }
  async active() {
    return this.up
  }
}

class FakeClient implements SettingsClient {
  calls: unknown[] = []
  async configure(p: { killswitch?: boolean; dns?: string[]; allowLan?: boolean }) {
    this.calls.push(p)
  }
}

let dir: string
let file: string
let config: Config
let lockdown: FakeLockdown
let client: FakeClient
let mgr: VpnSettingsManager

beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), 'skywire-settings-'))
  file = join(dir, 'config.json')
  config = generateConfig({ dataDir: join(dir, 'data') })
  // An unknown-to-us field of a newer version and a hand-set value: both must survive a save.
  writeFileSync(file, `${JSON.stringify({ ...config, vpnClient: { ...config.vpnClient, staleAfterS: 42 } }, null, 4)}\n`, { mode: 0o600 })
  config = await loadConfig(file)
  lockdown = new FakeLockdown()
  client = new FakeClient()
  mgr = new VpnSettingsManager(config, file, client, lockdown, silentLog)
})
afterEach(() => rmSync(dir, { recursive: true, force: true }))

const onDisk = () => JSON.parse(readFileSync(file, 'utf8')) as Config

describe('VpnSettingsManager', () => {
  it('lockdown on: installed now and saved; every other field, the indentation and the mode kept', async () => {
    const before = readFileSync(file, 'utf8')
    const r = await mgr.set({ lockdown: true })
    expect(r).toMatchObject({ savedTo: file, changed: true, live: ['lockdown'], later: [] })
    expect(lockdown.calls).toEqual(['install false'])
    expect(onDisk().vpnClient).toMatchObject({ lockdown: true, staleAfterS: 42, killswitch: false })
    expect(readFileSync(file, 'utf8').split('\n')[1]).toMatch(/^ {4}"/)
    expect(statSync(file).mode & 0o777).toBe(0o600)
    expect({ ...onDisk(), vpnClient: null }).toEqual({ ...JSON.parse(before), vpnClient: null })
    expect(mgr.get().lockdown).toBe(true)
    // The same again: nothing to install, nothing to write.
    expect(await mgr.set({ lockdown: true })).toMatchObject({ changed: false, live: [] })
    expect(lockdown.calls).toEqual(['install false'])
  })

  it('allow-LAN under lockdown replaces the lockdown rules and tells the client (its kill switch)', async () => {
    await mgr.set({ lockdown: true })
    const r = await mgr.set({ allowLan: true })
    expect(r.live).toEqual(['lockdown', 'allowLan'])
    expect(lockdown.calls).toEqual(['install false', 'install true'])
    expect(client.calls).toEqual([{ killswitch: false, allowLan: true }])
  })

  it('kill switch live, DNS and auto-connect for later', async () => {
    const key = generateIdentity().publicKey
    const r = await mgr.set({ killswitch: true, dns: ['9.9.9.9'], autoConnect: key })
    expect(r.live).toEqual(['killswitch'])
    expect(r.later).toEqual(['dns', 'autoConnect'])
    expect(client.calls).toEqual([{ killswitch: true, allowLan: false }, { dns: ['9.9.9.9'] }])
    expect(onDisk().vpnClient).toMatchObject({ killswitch: true, dns: ['9.9.9.9'], autoConnect: key })
    expect((await loadConfig(file)).vpnClient.autoConnect).toBe(key)
  })

  it('refuses a weak key or an unknown country for auto-connect: nothing applied, nothing written', async () => {
    const before = readFileSync(file, 'utf8')
    await expect(mgr.set({ autoConnect: '0'.repeat(64) })).rejects.toMatchObject({ code: 'EUSAGE', message: /vpnClient\.autoConnect/ })
    await expect(mgr.set({ autoConnect: 'best:XX' })).rejects.toMatchObject({ code: 'EUSAGE' })
    await expect(mgr.set({ lockdown: true, dns: ['1.1.1.1', '1.1.1.2', '1.1.1.3', '1.1.1.4', '1.1.1.5'] })).rejects.toMatchObject({ code: 'EUSAGE' })
    expect(readFileSync(file, 'utf8')).toBe(before)
    expect(lockdown.calls).toEqual([])
    expect(client.calls).toEqual([])
  })

  it('a config file that became group/world-writable is not written; the host goes back', async () => {
    chmodSync(file, 0o666)
    await expect(mgr.set({ lockdown: true })).rejects.toMatchObject({ message: /writable by group or others.*nothing was changed/ })
    expect(lockdown.calls).toEqual(['install false', 'remove'])
    expect(lockdown.up).toBe(false)
    expect(mgr.get().lockdown).toBe(false)
  })

  it('a lockdown that cannot be installed is not saved', async () => {
    lockdown.failInstall = true
    const before = readFileSync(file, 'utf8')
    await expect(mgr.set({ lockdown: true })).rejects.toMatchObject({ code: 'ESYSCMD' })
    expect(readFileSync(file, 'utf8')).toBe(before)
    expect(mgr.get().lockdown).toBe(false)
  })

  it('without a config file the change lasts until the visor stops, and says so', async () => {
    const m = new VpnSettingsManager(config, null, client, lockdown, silentLog)
    expect(await m.set({ killswitch: true })).toMatchObject({ savedTo: null, changed: true })
  })

  it('changes run one at a time', async () => {
    await Promise.all([mgr.set({ lockdown: true }), mgr.set({ lockdown: false }), mgr.set({ lockdown: true })])
    expect(lockdown.calls).toEqual(['install false', 'remove', 'install false'])
    expect(onDisk().vpnClient.lockdown).toBe(true)
  })
})

describe('allow-LAN follows the LAN', () => {
  it('rebuilds the lockdown and kill switch rules when the subnets change, and only then', async () => {
    let lan = ['192.168.1.0/24']
    const m = new VpnSettingsManager(config, file, client, lockdown, silentLog, async () => lan)
    expect(await m.checkLan()).toBe(false)
    await m.set({ lockdown: true, killswitch: true, allowLan: true })
    lockdown.calls = []
    client.calls = []
    expect(await m.checkLan()).toBe(false)
    expect(await m.checkLan()).toBe(false)
    lan = ['10.0.5.0/24']
    expect(await m.checkLan()).toBe(true)
    expect(lockdown.calls).toEqual(['install true'])
    expect(client.calls).toEqual([{ killswitch: true, allowLan: true }])
    expect(await m.checkLan()).toBe(false)
    // Allow-LAN off: nothing to follow.
    await m.set({ allowLan: false })
    lan = ['172.16.0.0/24']
    lockdown.calls = []
    expect(await m.checkLan()).toBe(false)
    expect(lockdown.calls).toEqual([])
  })
})

describe('lockdown at visor start', () => {
  it('on: installed (with allow-LAN as configured); failing to install stops the start', async () => {
    await applyLockdownAtStart({ ...config.vpnClient, lockdown: true, allowLan: true }, lockdown, silentLog)
    expect(lockdown.calls).toEqual(['install true'])
    const broken = new FakeLockdown()
    broken.failInstall = true
    await expect(applyLockdownAtStart({ ...config.vpnClient, lockdown: true }, broken, silentLog)).rejects.toMatchObject({
      code: 'ESTATE',
      message: /visor does not start/,
    })
  })

  it('off: a lockdown a previous run left is removed; none: nothing happens', async () => {
    lockdown.up = true
    await applyLockdownAtStart(config.vpnClient, lockdown, silentLog)
    expect(lockdown.calls).toEqual(['remove'])
    await applyLockdownAtStart(config.vpnClient, lockdown, silentLog)
    expect(lockdown.calls).toEqual(['remove'])
  })
})

describe('POST /api/vpn/settings: hostile bodies', () => {
  it('unknown keys, wrong types and bad values are one-line 400s that never reach the visor', async () => {
    const asked: unknown[] = []
    const visor = {
      config: { dataDir: dir, control: { listen: '' } },
      settings: {
        get: () => mgr.get(),
        set: async (p: unknown) => {
          asked.push(p)
          return { ok: true }
        },
      },
    } as unknown as Visor
    const app = controlApp(visor, null, (api) => controlRoutes(api, visor))
    const post = (payload: unknown) => app.inject({ method: 'POST', url: '/api/vpn/settings', payload: payload as object })
    for (const bad of [
      { lockdown: true, extra: 1 },
      { killswitch: 'on' },
      { allowLan: 1 },
      { dns: ['1.1.1.1', 'evil.example'] },
      { dns: '1.1.1.1' },
      { dns: ['1.1.1.1', '1.1.1.1'] },
      { autoConnect: 'sometimes' },
      { autoConnect: 'best:de' },
      { __proto__: { lockdown: true }, constructor: 1 },
      [true],
    ]) {
      const r = await post(bad)
      expect(r.statusCode, JSON.stringify(bad)).toBe(400)
      expect(r.json().error.code).toBe('EUSAGE')
      expect(r.body).not.toContain('\n')
    }
    expect(asked).toEqual([])
    const ok = await post({ lockdown: true, dns: [] })
    expect(ok.statusCode).toBe(200)
    expect(asked).toEqual([{ lockdown: true, dns: [] }])
    const got = await app.inject({ method: 'GET', url: '/api/vpn/settings' })
    expect(got.json()).toEqual({ killswitch: false, lockdown: false, allowLan: false, dns: [], autoConnect: 'off' })
    await app.close()
  })
})
