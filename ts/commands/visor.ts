import { Flags } from '@oclif/core'
import { SkywireCommand, notAvailable } from '../cli/base.js'
import { configFlag } from '../cli/flags.js'

export default class Visor extends SkywireCommand {
  static override summary = 'Run a visor: the long-running daemon holding this node\'s identity, transports and VPN.'
  static override description =
    'Loads and validates the config, starts the STCPR and SUDPH listeners, registers with the discovery services, ' +
    'starts the VPN server unless the config disables it, and serves the local control API and web UI. ' +
    'Runs as root on Linux. Stops cleanly on SIGINT/SIGTERM, restoring routes, nftables and sysctls.'
  static override examples = ['<%= config.bin %> visor -c /etc/skywire/skywire-config.json']
  static override flags = {
    config: configFlag,
    'no-vpn-server': Flags.boolean({ description: 'Do not start the VPN server with the visor.' }),
  }

  async run(): Promise<unknown> {
    await this.parse(Visor)
    notAvailable('visor')
  }
}
