import { VisorCommand } from '../../../cli/base.js'

export default class VpnUrl extends VisorCommand {
  static override summary = "Print the URL of the VPN web interface (it carries this visor's UI token: treat it like a password)."
  static override examples = ['<%= config.bin %> cli vpn url', '<%= config.bin %> cli vpn url --json']

  async run(): Promise<{ url: string; listen: string }> {
    await this.parse(VpnUrl)
    const ui = await (await this.visor()).ui()
    this.log(ui.url)
    return ui
  }
}
