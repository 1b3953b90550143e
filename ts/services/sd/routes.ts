/**
 * Service discovery: VPN servers (and other services) register `pk:port`
 * entries and re-register as a heartbeat; an entry without one expires.
 */
import type { FastifyInstance } from 'fastify'
import { z } from 'zod'
import type { ServicesContext } from '../context.js'
import { resolveCountry } from '../geo.js'
import { sourceKey } from '../../sys/addr-policy.js'
import { authenticate } from '../http/auth.js'
import { ApiError, forbidden, notFound } from '../http/errors.js'
import { validate } from '../http/validate.js'
import { countrySchema, pageQuery } from '../schemas.js'

export const MAX_STATS = 16

const addressSchema = z
  .string()
  .regex(/^[0-9a-f]{64}:[0-9]{1,5}$/, 'must be PK:PORT (64 lowercase hex characters, a colon, a port)')
  .refine((s) => {
    const port = Number(s.slice(65))
    return port >= 1 && port <= 65535
  }, 'port must be from 1 to 65535')

const typeSchema = z.string().regex(/^[a-z][a-z0-9-]{0,15}$/, 'must be a service type like vpn (lowercase, up to 16 characters)')
const versionSchema = z.string().regex(/^[0-9A-Za-z.+-]{1,32}$/, 'must be a version like 1.2.3 (up to 32 characters)')

const statsSchema = z
  .object({ connectedClients: z.number().int().min(0).max(1_000_000) })
  .catchall(z.number().finite())
  .refine((s) => Object.keys(s).length <= MAX_STATS, `at most ${MAX_STATS} stats`)
  .refine((s) => Object.keys(s).every((k) => /^[A-Za-z][A-Za-z0-9_]{0,31}$/.test(k)), 'stat names must be identifiers')

const registerBody = z.strictObject({
  address: addressSchema,
  type: typeSchema,
  /** Used only when the geo-IP database does not know the request's source address. */
  country: countrySchema.optional(),
  version: versionSchema,
  stats: statsSchema,
})

const listQuery = z.strictObject({
  type: typeSchema.default('vpn'),
  country: countrySchema.optional(),
  version: versionSchema.optional(),
  ...pageQuery,
})

const countQuery = z.strictObject({ type: typeSchema.default('vpn') })
const addressParams = z.object({ address: addressSchema })

export async function sdRoutes(app: FastifyInstance, ctx: ServicesContext): Promise<void> {
  app.post('/services', async (req) => {
    const auth = await authenticate(req, ctx.store, ctx.auth)
    const pk = auth.pk
    const body = validate(registerBody, req.body, 'body')
    const owner = body.address.slice(0, 64)
    if (owner !== pk) throw forbidden(`address ${body.address} belongs to another key; a visor registers only its own PK`)
    await auth.commit()
    const source = sourceKey(req.ip)
    const max = ctx.limits.maxEntriesPerSource
    // The store replaces this key's previous entry (any port or type): one entry per key.
    const entry = await ctx.store.putService(
      {
        address: body.address,
        pk,
        type: body.type,
        country: resolveCountry(ctx.geo, req.ip, body.country),
        version: body.version,
        stats: body.stats,
        updatedAt: Date.now(),
      },
      ctx.ttl.serviceMs,
      { key: source, max },
    )
    if (!entry) {
      throw new ApiError(
        403,
        'limit_reached',
        `${source} already holds ${max} service entries of other keys (the limit per source address); ` +
          'one expires when its server stops sending heartbeats',
      )
    }
    return { entry, ttlS: Math.ceil(ctx.ttl.serviceMs / 1000) }
  })

  app.get('/services', async (req) => {
    const q = validate(listQuery, req.query, 'query')
    const page = await ctx.store.listServices(q)
    return { entries: page.entries, total: page.total, offset: q.offset, limit: q.limit }
  })

  app.get('/services/count', async (req) => {
    const q = validate(countQuery, req.query, 'query')
    const c = await ctx.store.countServices(q.type)
    return { type: q.type, total: c.total, byCountry: c.byCountry }
  })

  app.get('/services/:address', async (req) => {
    const { address } = validate(addressParams, req.params, 'path')
    const entry = await ctx.store.getService(address)
    if (!entry) throw notFound(`no service registered at ${address}`)
    return entry
  })

  app.delete('/services/:address', async (req) => {
    const auth = await authenticate(req, ctx.store, ctx.auth)
    const pk = auth.pk
    const { address } = validate(addressParams, req.params, 'path')
    if (address.slice(0, 64) !== pk) throw forbidden(`address ${address} belongs to another key`)
    await auth.commit()
    if (!(await ctx.store.deleteService(address))) throw notFound(`no service registered at ${address}`)
    return { deleted: true }
  })
}
