import { VisorCommand, notAvailable } from '../../../../cli/base.js'

export default class VpnServerStatus extends VisorCommand {
  static override summary = 'Show the VPN server: running or not, interface, secure, whitelist and clients.'
  static override examples = ['<%= config.bin %> cli vpn server status', '<%= config.bin %> cli vpn server status --json']

  async run(): Promise<unknown> {
    await this.parse(VpnServerStatus)
    notAvailable('cli vpn server status')
  }
}
