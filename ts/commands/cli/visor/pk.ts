import { access } from 'node:fs/promises'
import { Flags } from '@oclif/core'
import { VisorCommand } from '../../../cli/base.js'
import { DEFAULT_CONFIG } from '../../../cli/flags.js'
import { loadConfig } from '../../../config/file.js'
import { SkywireError } from '../../../contracts/errors.js'

/** Where a visor's config usually is when none is named: the working directory's, then the one the docs install. */
export const CONFIG_CANDIDATES = [DEFAULT_CONFIG, '/etc/skywire/skywire-config.json']

export interface PkResult {
  pk: string
  /** `visor`: asked of the running visor at `rpc`; `config`: read from the config file `config`. */
  source: 'visor' | 'config'
  rpc?: string
  config?: string
}

const exists = (path: string) =>
  access(path).then(
    () => true,
    () => false,
  )

export default class VisorPk extends VisorCommand {
  static override summary = "Print this visor's public key."
  static override description =
    'Asks the running visor (--rpc). With -c it reads the key from that config file instead: no running visor and no root ' +
    `needed, only read access to the file. With neither a reachable visor nor -c, it reads ${CONFIG_CANDIDATES.join(' or ')}. ` +
    "Skywire's -i/--input also names the config."
  static override examples = [
    '<%= config.bin %> cli visor pk',
    '<%= config.bin %> cli visor pk -c /etc/skywire/skywire-config.json',
    '<%= config.bin %> cli visor pk --json',
  ]
  static override flags = {
    config: Flags.string({
      char: 'c',
      charAliases: ['i'],
      aliases: ['input'],
      description: 'Read the key from this config file instead of asking the running visor.',
    }),
  }

  async run(): Promise<PkResult> {
    const { flags } = await this.parse(VisorPk)
    const r = flags.config !== undefined ? await this.fromConfig(flags.config) : await this.fromVisorOrConfig()
    this.log(r.pk)
    return r
  }

  private async fromConfig(file: string): Promise<PkResult> {
    // loadConfig checks the file whole, and that its pk is the one its sk derives.
    return { pk: (await loadConfig(file)).pk, source: 'config', config: file }
  }

  private async fromVisorOrConfig(): Promise<PkResult> {
    const visor = await this.visor()
    try {
      return { pk: (await visor.status()).visor.pk, source: 'visor', rpc: visor.rpc }
    } catch (err) {
      // No visor there, or its socket is root's: the config says the same, when there is one.
      if (!(err instanceof SkywireError) || !['EUNREACHABLE', 'EPERM'].includes(err.code)) throw err
      for (const file of CONFIG_CANDIDATES) if (await exists(file)) return this.fromConfig(file)
      throw new SkywireError(err.code, `${err.message}; and no config at ${CONFIG_CANDIDATES.join(' or ')} (name one with -c)`)
    }
  }
}
