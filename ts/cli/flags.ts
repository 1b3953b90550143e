/**
 * Flags shared by several commands, each validating its input at parse time.
 * Every command that talks to a visor imports this file (for --rpc), so what
 * only one flag needs is imported inside its parse: the addon for keys, ICU's
 * region names for countries (bench/README.md, "The time a user waits").
 */
import * as Flags from '@oclif/core/flags'
import { DEFAULT_RPC } from '../contracts/constants.js'
import { SkywireError } from '../contracts/errors.js'

export { DEFAULT_RPC }
export const DEFAULT_CONFIG = 'skywire-config.json'

export const pkFlag = Flags.custom<string>({
  parse: async (input) => (await import('../native/keys.js')).parsePublicKey(input),
})

export const whitelistFlag = Flags.custom<string[]>({
  parse: async (input) => (await import('../native/keys.js')).parsePublicKeyList(input),
})

export const countryFlag = Flags.custom<string>({
  parse: async (input) => {
    const cc = input.trim().toUpperCase()
    if (!/^[A-Z]{2}$/.test(cc)) throw new SkywireError('EUSAGE', `country must be a two-letter code like US, got "${input}"`)
    const { isIsoCountryCode } = await import('../contracts/countries.js')
    if (!isIsoCountryCode(cc)) throw new SkywireError('EUSAGE', `unknown country code "${cc}" (ISO 3166, like US or DE)`)
    return cc
  },
})

export const secondsFlag = Flags.custom<number>({
  parse: async (input) => {
    const n = Number(input)
    if (!Number.isInteger(n) || n < 1 || n > 3600) {
      throw new SkywireError('EUSAGE', `timeout must be a whole number of seconds from 1 to 3600, got "${input}"`)
    }
    return n
  },
})

export const rpcFlag = Flags.string({
  description: "The visor's control API: its unix socket path, or HOST:PORT (not Skywire's RPC port 3435).",
  default: DEFAULT_RPC,
  helpGroup: 'GLOBAL',
})

export const configFlag = Flags.string({
  char: 'c',
  description: 'Path to the visor config file.',
  default: DEFAULT_CONFIG,
})
