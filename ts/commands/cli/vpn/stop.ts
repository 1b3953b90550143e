import { VisorCommand } from '../../../cli/base.js'

export default class VpnStop extends VisorCommand {
  static override summary = 'Disconnect the VPN and restore the routes and DNS exactly as they were.'
  static override description =
    "Unlike Skywire's vpn-client app (running/stopped), the client's state afterwards is `disconnected` (see `vpn status`)."
  static override examples = ['<%= config.bin %> cli vpn stop']

  async run(): Promise<unknown> {
    await this.parse(VpnStop)
    const s = await (await this.visor()).vpnStop()
    this.log('disconnected; routes and DNS restored')
    return s
  }
}
