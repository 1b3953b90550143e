import { Flags } from '@oclif/core'
import { VisorCommand, notAvailable } from '../../../cli/base.js'
import { countryFlag } from '../../../cli/flags.js'

export default class VpnList extends VisorCommand {
  static override summary = 'List VPN servers from service discovery.'
  static override examples = [
    '<%= config.bin %> cli vpn list',
    '<%= config.bin %> cli vpn list -c US',
    '<%= config.bin %> cli vpn list --stats',
  ]
  static override flags = {
    country: countryFlag({ char: 'c', description: 'Only servers in this country (two-letter code).' }),
    stats: Flags.boolean({ description: 'Print only the number of servers (per country).' }),
  }

  async run(): Promise<unknown> {
    await this.parse(VpnList)
    notAvailable('cli vpn list')
  }
}
