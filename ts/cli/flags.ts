/** Flags shared by several commands, each validating its input at parse time. */
import { Flags } from '@oclif/core'
import { isIsoCountryCode } from '../contracts/countries.js'
import { SkywireError } from '../contracts/errors.js'
import { parsePublicKey, parsePublicKeyList } from '../native/keys.js'
import { DEFAULT_RPC } from '../visor/rpc-client.js'

export { DEFAULT_RPC }
export const DEFAULT_CONFIG = 'skywire-config.json'

export const pkFlag = Flags.custom<string>({
  parse: async (input) => parsePublicKey(input),
})

export const whitelistFlag = Flags.custom<string[]>({
  parse: async (input) => parsePublicKeyList(input),
})

export const countryFlag = Flags.custom<string>({
  parse: async (input) => {
    const cc = input.trim().toUpperCase()
    if (!/^[A-Z]{2}$/.test(cc)) throw new SkywireError('EUSAGE', `country must be a two-letter code like US, got "${input}"`)
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
