import { isIP } from 'node:net'
import * as Flags from '@oclif/core/flags'
import { VisorCommand } from '../../../cli/base.js'
import { DEFAULT_CONFIG } from '../../../cli/flags.js'
import { loadConfig, saveVpnClientSettings } from '../../../config/file.js'
import { isIsoCountryCode } from '../../../contracts/countries.js'
import { SkywireError } from '../../../contracts/errors.js'
import type { VpnSettings, VpnSettingsPatch } from '../../../contracts/settings.js'
import { parsePublicKey } from '../../../native/keys.js'
import { settingsOf } from '../../../visor/settings.js'

const onOff = (name: string) =>
  Flags.custom<boolean>({
    parse: async (input) => {
      if (input === 'on') return true
      if (input === 'off') return false
      throw new SkywireError('EUSAGE', `--${name} must be on or off, got ${JSON.stringify(input.slice(0, 40))}`)
    },
  })

/** `server` (the VPN server's own) or up to 4 distinct IP addresses. */
export function parseDnsList(input: string): string[] {
  if (input.trim() === 'server') return []
  const list = input.split(',').map((s) => s.trim())
  const bad = list.find((s) => isIP(s) === 0)
  if (bad !== undefined)
    throw new SkywireError(
      'EUSAGE',
      `--dns must be IP addresses separated by commas, or server; ${JSON.stringify(bad.slice(0, 60))} is not an IP address`,
    )
  if (list.length > 4) throw new SkywireError('EUSAGE', `--dns takes at most 4 servers, got ${list.length}`)
  if (new Set(list).size !== list.length) throw new SkywireError('EUSAGE', '--dns lists a server twice')
  return list
}

/** off | last | best | best:CC | a server's public key. */
export function parseAutoConnect(input: string): string {
  const s = input.trim()
  if (s === 'off' || s === 'last' || s === 'best') return s
  const best = /^best:([A-Za-z]{2})$/.exec(s)
  if (best) {
    const cc = (best[1] as string).toUpperCase()
    if (!isIsoCountryCode(cc)) throw new SkywireError('EUSAGE', `--auto-connect best:${cc}: unknown country code (ISO 3166, like DE)`)
    return `best:${cc}`
  }
  if (/^[0-9a-fA-F]{64}$/.test(s)) return parsePublicKey(s)
  throw new SkywireError('EUSAGE', `--auto-connect must be off, last, best, best:CC or a server public key, got ${JSON.stringify(s.slice(0, 70))}`)
}

/** One line of settings, as `vpn get` prints them too. */
export function describeSettings(s: VpnSettings): string[] {
  const on = (b: boolean) => (b ? 'on' : 'off')
  return [
    `killswitch:    ${on(s.killswitch)}`,
    `lockdown:      ${on(s.lockdown)}`,
    `allow-lan:     ${on(s.allowLan)}`,
    `dns:           ${s.dns.length > 0 ? s.dns.join(',') : "server (the VPN server's)"}`,
    `auto-connect:  ${s.autoConnect}`,
  ]
}

export default class VpnSet extends VisorCommand {
  static override summary = "Change the VPN client's settings; they are saved to the config file."
  static override description =
    'On a running visor the kill switch, lockdown and allow-LAN change the firewall at once (connected or not); DNS ' +
    'servers apply at the next connect, auto-connect at the next visor start. The visor saves them to its config ' +
    'file. When no visor is running, the config file (--config) is edited directly and the output says so.\n\n' +
    'Lockdown blocks everything but the visor itself and the tunnel from the visor start on, also before the first ' +
    'connect and after `vpn stop` or a visor stop, until it is turned off. Allow-LAN keeps the private networks this ' +
    'host is directly on reachable under the kill switch and lockdown.'
  static override examples = [
    '<%= config.bin %> cli vpn set --killswitch on',
    '<%= config.bin %> cli vpn set --lockdown on --allow-lan on',
    '<%= config.bin %> cli vpn set --dns 1.1.1.1,9.9.9.9',
    '<%= config.bin %> cli vpn set --dns server',
    '<%= config.bin %> cli vpn set --auto-connect best:DE',
    '<%= config.bin %> cli vpn set --lockdown off -c /etc/skywire/skywire-config.json --json',
  ]
  static override flags = {
    killswitch: onOff('killswitch')({ description: 'on|off: block traffic outside the tunnel while the VPN is up or reconnecting.' }),
    lockdown: onOff('lockdown')({ description: 'on|off: block traffic outside the tunnel always, from the visor start on.' }),
    'allow-lan': onOff('allow-lan')({ description: 'on|off: keep the directly connected private LAN reachable under the kill switch and lockdown.' }),
    dns: Flags.custom<string[]>({ parse: async (i) => parseDnsList(i) })({
      description: "DNS servers while connected (comma-separated IPs), or server for the VPN server's.",
    }),
    'auto-connect': Flags.custom<string>({ parse: async (i) => parseAutoConnect(i) })({
      description: 'At visor start connect to: off, last, best, best:CC, or a server public key.',
    }),
    config: Flags.string({ char: 'c', description: 'The config file to edit when no visor is running.', default: DEFAULT_CONFIG }),
  }

  async run(): Promise<unknown> {
    const { flags } = await this.parse(VpnSet)
    const patch: VpnSettingsPatch = {}
    if (flags.killswitch !== undefined) patch.killswitch = flags.killswitch
    if (flags.lockdown !== undefined) patch.lockdown = flags.lockdown
    if (flags['allow-lan'] !== undefined) patch.allowLan = flags['allow-lan']
    if (flags.dns !== undefined) patch.dns = flags.dns
    if (flags['auto-connect'] !== undefined) patch.autoConnect = flags['auto-connect']
    if (Object.keys(patch).length === 0) {
      throw new SkywireError('EUSAGE', 'nothing to set: give at least one of --killswitch, --lockdown, --allow-lan, --dns, --auto-connect')
    }
    const visor = await this.visor()
    try {
      const r = await visor.vpnSetSettings(patch)
      for (const l of describeSettings(r.settings)) this.log(l)
      if (r.live.length > 0) this.log(`applied now: ${r.live.join(', ')}`)
      if (r.later.length > 0) this.log(`applies at the next connect or visor start: ${r.later.join(', ')}`)
      if (r.savedTo !== null) this.log(r.changed ? `saved to ${r.savedTo}` : `already saved in ${r.savedTo}`)
      else this.log('not saved: this visor has no config file, so these settings last until it stops')
      return { via: 'visor', ...r }
    } catch (err) {
      if (!(err instanceof SkywireError) || err.code !== 'EUNREACHABLE') throw err
      // No visor: the file is what the next start reads.
      const r = saveVpnClientSettings(flags.config, patch)
      const settings = settingsOf((await loadConfig(r.path)).vpnClient)
      for (const l of describeSettings(settings)) this.log(l)
      this.log(
        `no visor is running at ${visor.rpc}: ${r.changed ? 'edited' : 'already set in'} the config file ${r.path}; applies when the visor starts`,
      )
      return { via: 'config', settings, savedTo: r.path, changed: r.changed, live: [], later: Object.keys(patch) }
    }
  }
}
