/**
 * Base classes of every command. `--json` is on for all of them (oclif prints
 * what `run` returns); commands that talk to a running visor also get `--rpc`.
 */
import { Command } from '@oclif/core/command'
import { NotAvailableError } from '../contracts/errors.js'
import type { VisorClient } from '../visor/rpc-client.js'
import { rpcFlag } from './flags.js'

export abstract class SkywireCommand extends Command {
  static override enableJsonFlag = true
}

export abstract class VisorCommand extends SkywireCommand {
  static override baseFlags = {
    rpc: rpcFlag,
  }

  /** A client of the running visor named by --rpc (its module is loaded here, by the commands that call it). */
  protected async visor(): Promise<VisorClient> {
    const { flags } = await this.parse(this.constructor as typeof VisorCommand)
    const { VisorClient } = await import('../visor/rpc-client.js')
    return new VisorClient((flags as { rpc?: string }).rpc)
  }
}

/** The body of a command that arrives with a later release. */
export function notAvailable(id: string): never {
  throw new NotAvailableError(`\`skywire ${id}\``)
}
