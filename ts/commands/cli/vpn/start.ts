import * as Args from '@oclif/core/args'
import * as Flags from '@oclif/core/flags'
import { VisorCommand } from '../../../cli/base.js'
import { countryFlag, pkFlag } from '../../../cli/flags.js'
import { parseHopCount, parseStartTimeout, parseVia, startVpn } from '../../../cli/vpn-start.js'
import { MAX_ROUTE_HOPS } from '../../../contracts/constants.js'

/** Seconds; 0 is no deadline (Skywire's habit). */
const timeoutFlag = Flags.custom<number>({ parse: async (input) => parseStartTimeout(input) })
const viaFlag = Flags.custom<string[]>({ parse: async (input) => parseVia(input) })
const hopsFlag = Flags.custom<number>({ parse: async (input) => parseHopCount(input) })

// What the command does is defined once, in cli/vpn-start.ts (shared with the fast entry, cli/fast.ts).
export { parseHopCount, parseVia }

export default class VpnStart extends VisorCommand {
  static override summary = 'Connect to a VPN server; all traffic then goes through it.'
  static override description =
    'Opens a direct transport to the server visor (SUDPH, then STCPR, unless --existing-tp), asks it for a tunnel ' +
    'address and routes all traffic through a local TUN. The previous routes and DNS are saved first and restored ' +
    'by `vpn stop`.\n\n' +
    'Without a key it picks the best server (the score of `vpn list`), in the country given by -c if any; a server ' +
    'that refuses or fails is skipped for the next best, all within -t. -t 0 means no deadline.\n\n' +
    'Multi-hop: --via HOP[,HOP2] routes through those visors (each must forward: hop.enabled in its config), ' +
    "or --hops N picks N of the visors listed as hops in service discovery (best score, outside the exit's " +
    "country). A hop sees your address and the next visor's key, never your traffic; the exit sees the last " +
    "hop's address, not yours. A lost hop makes the VPN reconnect: through the same hops with --via, a new pick " +
    'with --hops. `vpn status` shows the chain.'
  static override examples = [
    '<%= config.bin %> cli vpn start 0230f9...c1',
    '<%= config.bin %> cli vpn start -k 0230f9...c1 --existing-tp -t 30',
    '<%= config.bin %> cli vpn start -c DE',
    '<%= config.bin %> cli vpn start -t 0',
    '<%= config.bin %> cli vpn start -k 0230f9...c1 --via 03a1b2...9e',
    '<%= config.bin %> cli vpn start -k 0230f9...c1 --via 03a1b2...9e,02c3d4...7f',
    '<%= config.bin %> cli vpn start -k 0230f9...c1 --hops 1 --json',
  ]
  static override args = {
    pk: Args.string({ description: 'Public key of the VPN server (as -k).', required: false }),
  }
  static override flags = {
    pk: pkFlag({ char: 'k', description: 'Public key of the VPN server (none: the best one).' }),
    country: countryFlag({ char: 'c', description: 'Without a key: the best server in this country (two-letter code).' }),
    'existing-tp': Flags.boolean({ description: 'Use a transport that is already up to the server; fail if none.' }),
    timeout: timeoutFlag({ char: 't', description: 'Give up after this many seconds (0: never).', default: 20 }),
    via: viaFlag({ description: 'Route through these hops, first to last (comma-separated keys).', exclusive: ['hops', 'existing-tp'] }),
    hops: hopsFlag({
      description: `Route through this many hops picked from service discovery (1-${MAX_ROUTE_HOPS}).`,
      exclusive: ['via', 'existing-tp'],
    }),
  }

  async run(): Promise<unknown> {
    const { args, flags } = await this.parse(VpnStart)
    return startVpn(
      {
        positionalPk: args.pk,
        pk: flags.pk,
        country: flags.country,
        existingTp: flags['existing-tp'],
        timeout: flags.timeout,
        via: flags.via,
        hops: flags.hops,
        rpc: flags.rpc,
      },
      {
        json: this.jsonEnabled(),
        log: (l) => this.log(l),
        logToStderr: (l) => this.logToStderr(l),
        visor: () => this.visor(),
      },
    )
  }
}
