import * as Args from '@oclif/core/args'
import * as Flags from '@oclif/core/flags'
import { VisorCommand } from '../../../cli/base.js'
import { pkFlag, secondsFlag } from '../../../cli/flags.js'
import { SkywireError } from '../../../contracts/errors.js'
import { parsePublicKey } from '../../../native/keys.js'

export default class TpAdd extends VisorCommand {
  static override summary = 'Open a transport to another visor (no VPN): SUDPH or STCPR, direct and encrypted.'
  static override description =
    'A VPN started later with `vpn start --existing-tp` rides on it, and `vpn stop` leaves it up. ' +
    "The key may be given as Skywire's `tp add PK` does, or with -k. Unlike Skywire, the types are stcpr and sudph only (no dmsg or stcp)."
  static override examples = [
    '<%= config.bin %> cli tp add 0230f9...c1',
    '<%= config.bin %> cli tp add -k 0230f9...c1',
    '<%= config.bin %> cli tp add -k 0230f9...c1 -t stcpr',
  ]
  static override args = {
    pk: Args.string({ description: 'Public key of the remote visor (or -k).', parse: async (input) => parsePublicKey(input) }),
  }
  static override flags = {
    pk: pkFlag({ char: 'k', description: 'Public key of the remote visor.' }),
    type: Flags.string({ char: 't', description: "Transport type (default: the config's order, SUDPH then STCPR).", options: ['stcpr', 'sudph'] }),
    timeout: secondsFlag({ description: 'Give up after this many seconds.', default: 20 }),
  }

  async run(): Promise<unknown> {
    const { args, flags } = await this.parse(TpAdd)
    if (args.pk !== undefined && flags.pk !== undefined && args.pk !== flags.pk) {
      throw new SkywireError('EUSAGE', 'two different public keys given (argument and -k): give one')
    }
    const pk = args.pk ?? flags.pk
    if (pk === undefined) throw new SkywireError('EUSAGE', 'say which visor: tp add PK (or -k PK)')
    const t = await (await this.visor()).addTransport(pk, {
      ...(flags.type ? { type: flags.type as 'stcpr' | 'sudph' } : {}),
      timeoutS: flags.timeout,
    })
    this.log(`transport ${t.id} up: ${t.type} to ${t.peer} (${t.remote})`)
    return t
  }
}
