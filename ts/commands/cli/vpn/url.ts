import { VisorCommand, notAvailable } from '../../../cli/base.js'

export default class VpnUrl extends VisorCommand {
  static override summary = 'Print the URL of the VPN web interface.'
  static override examples = ['<%= config.bin %> cli vpn url']

  async run(): Promise<unknown> {
    await this.parse(VpnUrl)
    notAvailable('cli vpn url')
  }
}
