import * as Flags from '@oclif/core/flags'
import { VisorCommand } from '../../../cli/base.js'
import { SkywireError } from '../../../contracts/errors.js'
import type { VisorClient } from '../../../visor/rpc-client.js'

/** What `tp rm -a` did: the transports it closed, and those it kept and why. (`tp rm -i` answers `{ closed: ID }`, as before.) */
export interface TpRmAllResult {
  closed: number[]
  kept: { id: number; reason: string }[]
}

/** What `tp rm -a` asks of the visor: the CLI's client, or an in-memory fake in the unit tests. */
export type TransportCloser = Pick<VisorClient, 'vpnStatus' | 'transports' | 'closeTransport'>

/**
 * Closes every transport but the one carrying the VPN, each with the visor's own `tp rm -i` route, so the visor
 * keeps the last word: it refuses the VPN's transport there too, also when the VPN moved onto one in between.
 */
export async function closeAllTransports(visor: TransportCloser): Promise<TpRmAllResult> {
  const vpnTransport = (await visor.vpnStatus()).transportId
  const result: TpRmAllResult = { closed: [], kept: [] }
  for (const t of await visor.transports()) {
    if (t.id === vpnTransport) {
      result.kept.push({ id: t.id, reason: 'it carries the VPN; run `skywire cli vpn stop` first' })
      continue
    }
    try {
      await visor.closeTransport(t.id)
      result.closed.push(t.id)
    } catch (err) {
      // Gone between the list and the close (its peer closed it): that is what was asked.
      if (err instanceof SkywireError && err.code === 'ENOTFOUND') continue
      // The VPN moved onto it in between: the visor refuses, as for `tp rm -i`.
      if (err instanceof SkywireError && err.code === 'ESTATE') {
        result.kept.push({ id: t.id, reason: err.message })
        continue
      }
      throw err
    }
  }
  return result
}

export default class TpRm extends VisorCommand {
  static override summary = 'Close a transport by its id (from `tp ls`), or every transport with -a.'
  static override description =
    'The transport carrying the VPN is never closed here: `tp rm -i` refuses it, and `tp rm -a` closes every other one and ' +
    "says which it kept (run `vpn stop` first to close that one too). Transports of clients of this visor's VPN server are " +
    'closed like any other. Unlike Skywire, transport ids are the small integers `tp ls` shows, not UUIDs.'
  static override examples = ['<%= config.bin %> cli tp rm -i 3', '<%= config.bin %> cli tp rm -a', '<%= config.bin %> cli tp rm -a --json']
  static override flags = {
    id: Flags.integer({ char: 'i', description: 'Transport id.', min: 1, max: Number.MAX_SAFE_INTEGER, exclusive: ['all'] }),
    all: Flags.boolean({ char: 'a', description: 'Close every transport but the one carrying the VPN.', exclusive: ['id'] }),
  }

  async run(): Promise<TpRmAllResult | { closed: number }> {
    const { flags } = await this.parse(TpRm)
    if (flags.id === undefined && !flags.all) throw new SkywireError('EUSAGE', 'say which transport: -i ID (from `tp ls`) or -a for all')
    const visor = await this.visor()
    if (flags.id !== undefined) {
      const r = await visor.closeTransport(flags.id)
      this.log(`transport ${flags.id} closed`)
      return r
    }
    const result = await closeAllTransports(visor)
    this.log(result.closed.length === 0 ? 'no transports closed' : `closed ${result.closed.length} transport(s): ${result.closed.join(', ')}`)
    for (const k of result.kept) this.log(`kept transport ${k.id}: ${k.reason}`)
    return result
  }
}
