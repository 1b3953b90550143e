/** Field schemas shared by the three APIs. */
import { isIP } from 'node:net'
import { z } from 'zod'
import { PK_PATTERN } from '../native/keys.js'
import { parseHostPort } from '../sys/host-port.js'
import { isIsoCountryCode } from '../contracts/countries.js'

export const MAX_PAGE = 100
export const DEFAULT_PAGE = 50
export const MAX_OFFSET = 100_000

export const pkSchema = z.string().regex(PK_PATTERN, 'must be a public key (64 lowercase hex characters)')

/** An IP literal and port; discovery hands these to other visors to dial, so no host names. */
export const ipPortSchema = z
  .string()
  .max(64)
  .refine(
    (s) => {
      const hp = parseHostPort(s)
      return hp !== null && isIP(hp.host) !== 0 && hp.port > 0
    },
    { message: 'must be IP:PORT (IPv6 as [ADDR]:PORT) with a port from 1 to 65535' },
  )

export const countrySchema = z
  .string()
  .regex(/^[A-Z]{2}$/, 'must be a two-letter country code like US')
  .refine(isIsoCountryCode, 'must be an ISO 3166-1 alpha-2 country code like US or DE')

export const pageQuery = {
  offset: z.coerce.number().int('offset must be a whole number').min(0).max(MAX_OFFSET).default(0),
  limit: z.coerce.number().int('limit must be a whole number').min(1).max(MAX_PAGE).default(DEFAULT_PAGE),
}
