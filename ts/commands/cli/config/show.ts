import { SkywireCommand } from '../../../cli/base.js'
import { configFlag } from '../../../cli/flags.js'
import { loadConfig, redactConfig } from '../../../config/file.js'

export default class ConfigShow extends SkywireCommand {
  static override summary = 'Validate a config and print it without the secret key.'
  static override examples = ['<%= config.bin %> cli config show -c skywire-config.json']
  static override flags = { config: configFlag }

  async run(): Promise<unknown> {
    const { flags } = await this.parse(ConfigShow)
    const shown = redactConfig(await loadConfig(flags.config))
    if (!this.jsonEnabled()) this.log(JSON.stringify(shown, null, 2))
    return shown
  }
}
