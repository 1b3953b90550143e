/**
 * The VPN client's settings on a running visor (`vpn get` / `vpn set`, the
 * web UI's settings section): kill switch, lockdown, allow-LAN, DNS and
 * auto-connect. A change is validated as a whole config, applied on the host
 * now where it can be (the nft tables of the kill switch and lockdown), then
 * saved to the config file, so a restart keeps it; if it cannot be saved, the
 * host goes back to the old settings and the error says why.
 */
import type { Logger } from 'pino'
import { configSchema, type Config } from '../config/schema.js'
import { describeIssues, saveVpnClientSettings } from '../config/file.js'
import { SkywireError } from '../contracts/errors.js'
import type { VpnSettings, VpnSettingsPatch, VpnSettingsResult } from '../contracts/settings.js'
import { lanPrefixes } from '../sys/lan.js'
import { installLockdown, lockdownActive, removeLockdown } from '../sys/lockdown.js'

/** The lockdown table on the host (ts/sys/lockdown.ts); a fake in unit tests. */
export interface LockdownHost {
  install(o: { allowLan: boolean }): Promise<void>
  remove(): Promise<void>
  active(): Promise<boolean>
}

export class LinuxLockdown implements LockdownHost {
  constructor(
    private readonly tunIf: string,
    private readonly serverTun: string,
  ) {}

  async install(o: { allowLan: boolean }): Promise<void> {
    await installLockdown({ tunIf: this.tunIf, serverTun: this.serverTun, lan: o.allowLan ? await lanPrefixes() : [] })
  }

  remove(): Promise<void> {
    return removeLockdown()
  }

  active(): Promise<boolean> {
    return lockdownActive()
  }
}

/** The part of the VPN client settings touch (VpnClient.configure). */
export interface SettingsClient {
  configure(p: { killswitch?: boolean; dns?: string[]; allowLan?: boolean }): Promise<void>
}

export function settingsOf(c: Config['vpnClient']): VpnSettings {
  return { killswitch: c.killswitch, lockdown: c.lockdown, allowLan: c.allowLan, dns: [...c.dns], autoConnect: c.autoConnect }
}

/**
 * Visor start, before any socket is opened: lockdown on installs its table
 * (the visor does not start unprotected: a failure stops the start), off
 * removes one a previous run left (lockdown was turned off in the file).
 */
export async function applyLockdownAtStart(c: Config['vpnClient'], host: LockdownHost, log: Logger): Promise<void> {
  if (c.lockdown) {
    try {
      await host.install({ allowLan: c.allowLan })
    } catch (err) {
      throw new SkywireError(
        'ESTATE',
        `lockdown is on but its firewall could not be installed, so the visor does not start: ${(err as Error).message}`,
        {
          cause: err,
        },
      )
    }
    log.info({ allowLan: c.allowLan }, 'lockdown on: nothing leaves this host outside the tunnel')
  } else if (await host.active().catch(() => false)) {
    await host.remove()
    log.info('lockdown is off in the config: removed the lockdown left by a previous run')
  }
}

/** How often the LAN's subnets are looked at while allow-LAN matters (a laptop that joins another network). */
export const LAN_CHECK_MS = 10_000

export class VpnSettingsManager {
  private current: VpnSettings
  /** set() calls (and LAN re-checks) run one at a time: two at once would interleave host changes and file writes. */
  private queue: Promise<unknown> = Promise.resolve()
  /** The LAN subnets the rules were last built with (JSON), so a re-check changes nothing when nothing moved. */
  private lanSeen: string | null = null
  private lanTimer: NodeJS.Timeout | null = null

  constructor(
    private readonly config: Config,
    private readonly configFile: string | null,
    private readonly client: SettingsClient,
    private readonly lockdown: LockdownHost,
    private readonly log: Logger,
    private readonly lan: () => Promise<string[]> = lanPrefixes,
  ) {
    this.current = settingsOf(config.vpnClient)
  }

  /** Re-checks the LAN every `ms` (0: never) until stop(). */
  watchLan(ms: number = LAN_CHECK_MS): void {
    if (ms <= 0 || this.lanTimer !== null) return
    this.lanTimer = setInterval(
      () => void this.checkLan().catch((e) => this.log.warn({ err: (e as Error).message }, 'cannot update the allowed LAN')),
      ms,
    )
    this.lanTimer.unref()
  }

  stop(): void {
    if (this.lanTimer !== null) clearInterval(this.lanTimer)
    this.lanTimer = null
  }

  /**
   * Allow-LAN's subnets are taken when the rules are built; when this host's
   * subnets changed since (another network joined, an address renewed into
   * another subnet), the lockdown and kill switch rules are rebuilt for the
   * new LAN, and the old one is no longer let through. True when it rebuilt.
   */
  checkLan(): Promise<boolean> {
    return this.serially(async () => {
      const s = this.current
      if (!s.allowLan || !(s.lockdown || s.killswitch)) {
        this.lanSeen = null
        return false
      }
      const now = JSON.stringify(await this.lan())
      const was = this.lanSeen
      this.lanSeen = now
      if (was === null || was === now) return false
      if (s.lockdown) await this.lockdown.install({ allowLan: true })
      if (s.killswitch) await this.client.configure({ killswitch: true, allowLan: true })
      this.log.info({ lan: JSON.parse(now) as string[] }, 'the LAN changed: allow-LAN rules rebuilt')
      return true
    })
  }

  get(): VpnSettings {
    return { ...this.current, dns: [...this.current.dns] }
  }

  set(patch: VpnSettingsPatch): Promise<VpnSettingsResult> {
    return this.serially(() => this.setNow(patch))
  }

  /** Runs `fn` after every earlier set() and LAN re-check has finished, failed or not. */
  private serially<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.queue.then(fn)
    this.queue = run.catch(() => {})
    return run
  }

  /** Back to `old` on the host after a failure (logged, not thrown: the caller reports the first error). */
  private async putBack(next: VpnSettings, old: VpnSettings): Promise<void> {
    await this.applyHost(next, old, []).catch((e) => this.log.error({ err: (e as Error).message }, 'cannot put the old VPN settings back'))
  }

  private async setNow(patch: VpnSettingsPatch): Promise<VpnSettingsResult> {
    const old = this.get()
    const next: VpnSettings = { ...old, ...defined(patch) }
    // The whole config must still be valid (weak keys, country codes): the file's loader has the last word.
    const check = configSchema.safeParse({ ...this.config, vpnClient: { ...this.config.vpnClient, ...next } })
    if (!check.success) throw new SkywireError('EUSAGE', describeIssues(check.error.issues).join('; '))
    const live: string[] = []
    const later: string[] = []
    if (JSON.stringify(next.dns) !== JSON.stringify(old.dns)) later.push('dns')
    if (next.autoConnect !== old.autoConnect) later.push('autoConnect')
    try {
      await this.applyHost(old, next, live)
    } catch (err) {
      await this.putBack(next, old)
      throw err
    }
    let saved: { savedTo: string | null; changed: boolean } = { savedTo: null, changed: JSON.stringify(next) !== JSON.stringify(old) }
    if (this.configFile !== null) {
      try {
        const r = saveVpnClientSettings(this.configFile, { ...defined(patch) })
        saved = { savedTo: r.path, changed: r.changed }
      } catch (err) {
        await this.putBack(next, old)
        throw new SkywireError(
          (err as SkywireError).code ?? 'ECONFIG',
          `${(err as Error).message}; nothing was changed, since the settings would be lost at restart`,
          {
            cause: err,
          },
        )
      }
    }
    this.current = next
    if (live.length + later.length > 0) this.log.info({ settings: next, live, later }, 'VPN settings changed')
    return { settings: this.get(), ...saved, live, later }
  }

  /** Makes the host match `to` (from `from`): lockdown's table, the kill switch's, the client's DNS for its next connect. */
  private async applyHost(from: VpnSettings, to: VpnSettings, live: string[]): Promise<void> {
    if (to.lockdown !== from.lockdown || (to.lockdown && to.allowLan !== from.allowLan)) {
      if (to.lockdown) await this.lockdown.install({ allowLan: to.allowLan })
      else await this.lockdown.remove()
      live.push('lockdown')
    }
    if (to.killswitch !== from.killswitch || to.allowLan !== from.allowLan) {
      await this.client.configure({ killswitch: to.killswitch, allowLan: to.allowLan })
      if (to.killswitch !== from.killswitch) live.push('killswitch')
    }
    if (to.allowLan !== from.allowLan) live.push('allowLan')
    if (JSON.stringify(to.dns) !== JSON.stringify(from.dns)) await this.client.configure({ dns: to.dns })
  }
}

function defined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>
}
