import { Args, Flags, ux } from '@oclif/core'
import { VisorCommand } from '../../../cli/base.js'
import { countryFlag, pkFlag } from '../../../cli/flags.js'
import { serverSource } from '../../../cli/server-source.js'
import { SkywireError } from '../../../contracts/errors.js'
import { connectFirst, rankedCandidates } from '../../../discovery/choose.js'
import { MAX_ROUTE_HOPS } from '../../../contracts/control-api.js'
import { parsePublicKey } from '../../../native/keys.js'

/** Seconds; 0 is no deadline (Skywire's habit). The control API takes at most an hour per attempt. */
const timeoutFlag = Flags.custom<number>({
  parse: async (input) => {
    const n = Number(input)
    if (!Number.isInteger(n) || n < 0 || n > 3600) {
      throw new SkywireError('EUSAGE', `timeout must be a whole number of seconds from 0 (none) to 3600, got "${input}"`)
    }
    return n
  },
})
const MAX_ATTEMPT_S = 3600

/** --via HOP[,HOP2]: hop keys, first to last; each checked, none twice. */
export function parseVia(input: string): string[] {
  const items = input.split(',').map((x) => x.trim())
  if (items.some((x) => x === '')) throw new SkywireError('EUSAGE', '--via takes hop keys separated by commas, with none empty')
  if (items.length > MAX_ROUTE_HOPS) throw new SkywireError('EUSAGE', `--via takes at most ${MAX_ROUTE_HOPS} hops, got ${items.length}`)
  const keys = items.map((x, i) => parsePublicKey(x, `--via hop ${i + 1}`))
  if (new Set(keys).size !== keys.length) throw new SkywireError('EUSAGE', '--via names a hop twice')
  return keys
}

/** --hops N: how many hops to pick from service discovery. */
export function parseHopCount(input: string): number {
  const n = Number(input)
  if (!/^[0-9]+$/.test(input.trim()) || !Number.isInteger(n) || n < 1 || n > MAX_ROUTE_HOPS) {
    throw new SkywireError('EUSAGE', `--hops must be a whole number from 1 to ${MAX_ROUTE_HOPS}, got "${input}"`)
  }
  return n
}

const viaFlag = Flags.custom<string[]>({ parse: async (input) => parseVia(input) })
const hopsFlag = Flags.custom<number>({ parse: async (input) => parseHopCount(input) })

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
    let pk = flags.pk
    if (args.pk !== undefined) {
      const positional = parsePublicKey(args.pk)
      if (pk !== undefined && pk !== positional) throw new SkywireError('EUSAGE', 'two different keys given (a positional key and -k); give one')
      pk = positional
    }
    if (pk !== undefined && flags.country !== undefined) throw new SkywireError('EUSAGE', '-c picks a server in a country; it does not go with a key')
    if (pk === undefined && flags['existing-tp']) throw new SkywireError('EUSAGE', '--existing-tp needs a key (-k or positional)')
    const via = flags.via ?? []
    if (pk !== undefined && via.includes(pk)) throw new SkywireError('EUSAGE', 'the exit cannot also be a hop of its own route (--via)')
    const route = { ...(via.length > 0 ? { via } : {}), ...(flags.hops !== undefined ? { hops: flags.hops } : {}) }
    const visor = await this.visor()
    const deadline = flags.timeout === 0 ? null : Date.now() + flags.timeout * 1000
    // A spinner only for a person at a terminal: scripts get one line of result or error.
    const progress = !this.jsonEnabled() && process.stderr.isTTY === true
    const connect = (key: string, timeoutS: number) =>
      visor.vpnStart(key, { existingTp: flags['existing-tp'], timeoutS: Math.min(timeoutS, MAX_ATTEMPT_S), ...route })
    let s
    try {
      if (pk !== undefined) {
        if (progress) ux.action.start(`connecting to ${pk}`)
        s = await connect(pk, flags.timeout === 0 ? MAX_ATTEMPT_S : flags.timeout)
      } else {
        if (progress) ux.action.start(`choosing a server${flags.country ? ` in ${flags.country}` : ''}`)
        const src = await serverSource({ rpc: flags.rpc })
        // Measuring may use a quarter of -t at most: the time is for connecting.
        const budgetMs = deadline === null ? undefined : Math.max(500, Math.min(4000, (deadline - Date.now()) / 4))
        const ranked = await rankedCandidates(src, { country: flags.country, self: src.self, measure: budgetMs ? { budgetMs } : {} })
        // A hop of the route is no exit for it.
        const candidates = ranked.filter((c) => !via.includes(c.pk))
        if (candidates.length === 0) {
          throw new SkywireError('ENOTFOUND', flags.country ? `no VPN server in ${flags.country}` : 'no VPN server registered')
        }
        if (progress) ux.action.status = `trying ${candidates[0]?.pk}`
        const r = await connectFirst(candidates, connect, deadline, (f) => {
          if (!this.jsonEnabled()) this.logToStderr(`skipped ${f.pk}: ${f.error}`)
        })
        s = r.result
      }
    } catch (err) {
      if (progress) ux.action.stop('failed')
      throw err
    }
    if (progress) ux.action.stop('done')
    const hops = (s.route ?? []).filter((l) => l.role === 'hop').map((l) => l.pk)
    this.log(`connected to ${s.server} over ${s.transport}${hops.length > 0 ? ` through ${hops.join(' → ')}` : ''}; tunnel IP ${s.tunnelIp}`)
    return s
  }
}
