import { VisorCommand, notAvailable } from '../../../cli/base.js'

export default class VpnStatus extends VisorCommand {
  static override summary = 'Show the VPN client\'s state: server, transport, tunnel IP, traffic, latency, uptime.'
  static override examples = ['<%= config.bin %> cli vpn status', '<%= config.bin %> cli vpn status --json']

  async run(): Promise<unknown> {
    await this.parse(VpnStatus)
    notAvailable('cli vpn status')
  }
}
