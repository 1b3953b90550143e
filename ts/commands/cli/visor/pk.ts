import { constants } from 'node:fs'
import { access, open } from 'node:fs/promises'
import * as Flags from '@oclif/core/flags'
import { VisorCommand } from '../../../cli/base.js'
import { DEFAULT_CONFIG } from '../../../cli/flags.js'
import { MAX_CONFIG_BYTES, parseConfig } from '../../../config/file.js'
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

/**
 * The config as any user may read it (not root's trusted read: nothing here acts on it): a regular file of at
 * most MAX_CONFIG_BYTES, so `-c /dev/zero` or a FIFO is one line and not a hang or an out-of-memory crash.
 */
export async function readConfigPk(file: string): Promise<string> {
  const fail = (why: string) => new SkywireError('ECONFIG', `cannot read config ${file}: ${why}`)
  let fh: Awaited<ReturnType<typeof open>>
  try {
    // O_NONBLOCK: opening a FIFO with no writer returns at once instead of waiting for one.
    fh = await open(file, constants.O_RDONLY | constants.O_NONBLOCK)
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code
    throw fail(code === 'ENOENT' ? 'no such file' : code === 'EACCES' ? 'permission denied' : String(code))
  }
  let text: string
  try {
    const st = await fh.stat()
    if (!st.isFile()) throw fail('not a regular file')
    if (st.size > MAX_CONFIG_BYTES) throw fail(`larger than ${MAX_CONFIG_BYTES} bytes`)
    const buf = Buffer.alloc(st.size)
    const { bytesRead } = await fh.read(buf, 0, st.size, 0)
    text = buf.subarray(0, bytesRead).toString('utf8')
  } finally {
    await fh.close()
  }
  let raw: unknown
  try {
    raw = JSON.parse(text)
  } catch (err) {
    throw new SkywireError('ECONFIG', `config ${file} is not valid JSON: ${(err as Error).message}`)
  }
  // The whole config is checked, and that its pk is the one its sk derives.
  return parseConfig(raw, file).pk
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
    `needed, only read access to the file. Without -c and --rpc, when no visor answers, it reads ${CONFIG_CANDIDATES.join(' or ')}. ` +
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
    const { flags, metadata } = await this.parse(VisorPk)
    // A visor named with --rpc is the one asked about: another visor's config must not answer for it.
    const fallback = metadata.flags.rpc?.setFromDefault === true
    const r = flags.config !== undefined ? await this.fromConfig(flags.config) : await this.fromVisorOrConfig(fallback)
    this.log(r.pk)
    return r
  }

  private async fromConfig(file: string): Promise<PkResult> {
    return { pk: await readConfigPk(file), source: 'config', config: file }
  }

  private async fromVisorOrConfig(fallback: boolean): Promise<PkResult> {
    const visor = await this.visor()
    try {
      return { pk: (await visor.status()).visor.pk, source: 'visor', rpc: visor.rpc }
    } catch (err) {
      // No visor there, or its socket is root's: the config says the same, when there is one.
      if (!fallback || !(err instanceof SkywireError) || !['EUNREACHABLE', 'EPERM'].includes(err.code)) throw err
      for (const file of CONFIG_CANDIDATES) if (await exists(file)) return this.fromConfig(file)
      throw new SkywireError(err.code, `${err.message}; and no config at ${CONFIG_CANDIDATES.join(' or ')} (name one with -c)`)
    }
  }
}
