import { VisorCommand, notAvailable } from '../../../cli/base.js'

export default class VpnUi extends VisorCommand {
  static override summary = 'Open the VPN web interface in your browser: browse servers, connect, monitor.'
  static override examples = ['<%= config.bin %> cli vpn ui']

  async run(): Promise<unknown> {
    await this.parse(VpnUi)
    notAvailable('cli vpn ui')
  }
}
