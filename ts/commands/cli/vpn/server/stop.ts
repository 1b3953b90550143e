import { VisorCommand } from '../../../../cli/base.js'

export default class VpnServerStop extends VisorCommand {
  static override summary = "Stop this visor's VPN server; connected clients are dropped."
  static override description =
    'The server starts with the visor by default (as recent Skywire does): `vpnServer.autostart: false` in the config (or ' +
    '`skywire visor --no-vpn-server`) keeps it off at the next start.'
  static override examples = ['<%= config.bin %> cli vpn server stop']

  async run(): Promise<unknown> {
    await this.parse(VpnServerStop)
    const s = await (await this.visor()).serverStop()
    this.log('VPN server stopped')
    return s
  }
}
