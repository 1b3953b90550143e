import * as Flags from '@oclif/core/flags'
import { SkywireCommand } from '../cli/base.js'
import { configFlag } from '../cli/flags.js'
import { loadConfig, loadTrustedConfig } from '../config/file.js'
import { SkywireError } from '../contracts/errors.js'

export default class VisorCmd extends SkywireCommand {
  static override summary = "Run a visor: the long-running daemon holding this node's identity, transports and VPN."
  static override description =
    'Loads and validates the config, starts the STCPR and SUDPH listeners, registers with the discovery services, ' +
    'starts the VPN server unless the config disables it, and serves the local control API and web UI. ' +
    'Runs as root on Linux. Stops cleanly on SIGINT/SIGTERM, restoring routes, nftables and sysctls. ' +
    "The VPN server is on by default, as with recent Skywire's `config gen --servevpn` (older releases left it off): " +
    '--no-vpn-server or `vpnServer.autostart: false` turns it off. ' +
    'Unlike Skywire, the CLI reaches the visor over a root-only unix socket (`control.socket`), not RPC on TCP port 3435.'
  static override examples = ['<%= config.bin %> visor -c /etc/skywire/skywire-config.json']
  static override enableJsonFlag = false
  static override flags = {
    config: configFlag,
    'no-vpn-server': Flags.boolean({ description: 'Do not start the VPN server with the visor.' }),
  }

  async run(): Promise<void> {
    const { flags } = await this.parse(VisorCmd)
    await loadConfig(flags.config)
    if (process.platform !== 'linux') throw new SkywireError('ENOTAVAILABLE', 'the visor runs on Linux only')
    if (process.getuid?.() !== 0) {
      throw new SkywireError('EPERM', 'the visor must run as root: it creates TUN devices and changes routes (try sudo)')
    }
    // Root uses the config only if nobody else could have written (or read: it holds the secret key) it.
    const { config, path: configFile } = loadTrustedConfig(flags.config)
    // Loaded here, not at the top: the visor pulls in fastify, pino and the
    // addon's node, which `visor --help` (and oclif without its manifest,
    // which imports every command file) should not wait for.
    const { Visor } = await import('../visor/visor.js')
    const visor = await Visor.start(config, { noVpnServer: flags['no-vpn-server'], configFile })
    await new Promise<void>((resolve) => {
      let stopping = false
      const stop = (sig: string) => {
        if (stopping) return
        stopping = true
        visor.log.info({ signal: sig }, 'stopping')
        void visor.close().finally(resolve)
      }
      process.once('SIGINT', () => stop('SIGINT'))
      process.once('SIGTERM', () => stop('SIGTERM'))
    })
  }
}
