import { Flags, ux } from '@oclif/core'
import { VisorCommand } from '../../../cli/base.js'
import { pkFlag, secondsFlag } from '../../../cli/flags.js'

export default class VpnStart extends VisorCommand {
  static override summary = 'Connect to a VPN server; all traffic then goes through it.'
  static override description =
    'Opens a direct transport to the server visor (SUDPH, then STCPR, unless --existing-tp), asks it for a tunnel ' +
    'address and routes all traffic through a local TUN. The previous routes and DNS are saved first and restored ' +
    'by `vpn stop`.'
  static override examples = ['<%= config.bin %> cli vpn start -k 0230f9...c1', '<%= config.bin %> cli vpn start -k 0230f9...c1 --existing-tp -t 30']
  static override flags = {
    pk: pkFlag({ char: 'k', description: 'Public key of the VPN server.', required: true }),
    'existing-tp': Flags.boolean({ description: 'Use a transport that is already up to the server; fail if none.' }),
    timeout: secondsFlag({ char: 't', description: 'Give up after this many seconds.', default: 20 }),
  }

  async run(): Promise<unknown> {
    const { flags } = await this.parse(VpnStart)
    const visor = await this.visor()
    // A spinner only for a person at a terminal: scripts get one line of result or error.
    const progress = !this.jsonEnabled() && process.stderr.isTTY === true
    if (progress) ux.action.start(`connecting to ${flags.pk}`)
    let s
    try {
      s = await visor.vpnStart(flags.pk, { existingTp: flags['existing-tp'], timeoutS: flags.timeout })
    } catch (err) {
      if (progress) ux.action.stop('failed')
      throw err
    }
    if (progress) ux.action.stop('done')
    this.log(`connected to ${s.server} over ${s.transport}; tunnel IP ${s.tunnelIp}`)
    return s
  }
}
