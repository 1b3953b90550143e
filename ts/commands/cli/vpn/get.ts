import * as Flags from '@oclif/core/flags'
import { VisorCommand } from '../../../cli/base.js'
import { DEFAULT_CONFIG } from '../../../cli/flags.js'
import { loadConfig } from '../../../config/file.js'
import { SkywireError } from '../../../contracts/errors.js'
import { settingsOf } from '../../../visor/settings.js'
import { describeSettings } from './set.js'

export default class VpnGet extends VisorCommand {
  static override summary = "Show the VPN client's settings (kill switch, lockdown, allow-LAN, DNS, auto-connect)."
  static override description =
    'Asks the running visor; when none is running, reads the config file (--config) and says so. Change them with `vpn set`.'
  static override examples = [
    '<%= config.bin %> cli vpn get',
    '<%= config.bin %> cli vpn get --json',
    '<%= config.bin %> cli vpn get -c /etc/skywire/skywire-config.json',
  ]
  static override flags = {
    config: Flags.string({ char: 'c', description: 'The config file to read when no visor is running.', default: DEFAULT_CONFIG }),
  }

  async run(): Promise<unknown> {
    const { flags } = await this.parse(VpnGet)
    const visor = await this.visor()
    try {
      const s = await visor.vpnSettings()
      for (const l of describeSettings(s)) this.log(l)
      return { via: 'visor', ...s }
    } catch (err) {
      if (!(err instanceof SkywireError) || err.code !== 'EUNREACHABLE') throw err
      const s = settingsOf((await loadConfig(flags.config)).vpnClient)
      for (const l of describeSettings(s)) this.log(l)
      this.log(`no visor is running at ${visor.rpc}: read from the config file ${flags.config}`)
      return { via: 'config', ...s }
    }
  }
}
