import { Flags } from '@oclif/core'
import { VisorCommand } from '../../../cli/base.js'
import { pkFlag, secondsFlag } from '../../../cli/flags.js'

export default class TpAdd extends VisorCommand {
  static override summary = 'Open a transport to another visor (no VPN): SUDPH or STCPR, direct and encrypted.'
  static override description = 'A VPN started later with `vpn start --existing-tp` rides on it, and `vpn stop` leaves it up.'
  static override examples = ['<%= config.bin %> cli tp add -k 0230f9...c1', '<%= config.bin %> cli tp add -k 0230f9...c1 -t stcpr']
  static override flags = {
    pk: pkFlag({ char: 'k', description: 'Public key of the remote visor.', required: true }),
    type: Flags.string({ char: 't', description: "Transport type (default: the config's order, SUDPH then STCPR).", options: ['stcpr', 'sudph'] }),
    timeout: secondsFlag({ description: 'Give up after this many seconds.', default: 20 }),
  }

  async run(): Promise<unknown> {
    const { flags } = await this.parse(TpAdd)
    const t = await (await this.visor()).addTransport(flags.pk, {
      ...(flags.type ? { type: flags.type as 'stcpr' | 'sudph' } : {}),
      timeoutS: flags.timeout,
    })
    this.log(`transport ${t.id} up: ${t.type} to ${t.peer} (${t.remote})`)
    return t
  }
}
