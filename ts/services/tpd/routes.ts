/** Transport discovery: which transports are up between which PKs, reported by their edges. */
import type { FastifyInstance } from 'fastify'
import { z } from 'zod'
import type { ServicesContext } from '../context.js'
import { authenticate } from '../http/auth.js'
import { ApiError, forbidden, notFound } from '../http/errors.js'
import { validate } from '../http/validate.js'
import { pageQuery, pkSchema } from '../schemas.js'

const idSchema = z.uuid('must be a UUID').transform((s) => s.toLowerCase())

const reportBody = z.strictObject({
  id: idSchema,
  edges: z.tuple([pkSchema, pkSchema]).refine(([a, b]) => a !== b, 'the two edges must be different PKs'),
  type: z.enum(['stcpr', 'sudph'], 'must be "stcpr" or "sudph"'),
})

const idParams = z.object({ id: idSchema })
const listQuery = z.strictObject({ pk: pkSchema, ...pageQuery })

export async function tpdRoutes(app: FastifyInstance, ctx: ServicesContext): Promise<void> {
  app.post('/transports', async (req) => {
    const auth = await authenticate(req, ctx.store, ctx.auth)
    const pk = auth.pk
    const body = validate(reportBody, req.body, 'body')
    if (!body.edges.includes(pk)) throw forbidden('a visor reports only transports it is an edge of')
    const old = await ctx.store.getTransport(body.id)
    if (old && !old.edges.includes(pk)) throw forbidden(`transport ${body.id} belongs to other visors`)
    if (!old) {
      // Any UUID and any other edge are accepted, so without a cap one key could fill the store.
      // Checked before the write, not atomically: concurrent reports can overshoot by their number.
      const max = ctx.limits.maxTransportsPerKey
      const { total } = await ctx.store.listTransports(pk, 0, 1)
      if (total >= max) {
        throw new ApiError(403, 'limit_reached', `${pk} already has ${max} live transports (the limit per key); let old ones expire or delete them`)
      }
    }
    await auth.commit()
    const edges = [...body.edges].sort() as [string, string]
    const entry = await ctx.store.putTransport({ id: body.id, edges, type: body.type, updatedAt: Date.now() }, ctx.ttl.transportMs)
    return { entry, ttlS: Math.ceil(ctx.ttl.transportMs / 1000) }
  })

  app.get('/transports', async (req) => {
    const q = validate(listQuery, req.query, 'query')
    const page = await ctx.store.listTransports(q.pk, q.offset, q.limit)
    return { entries: page.entries, total: page.total, offset: q.offset, limit: q.limit }
  })

  app.get('/transports/:id', async (req) => {
    const { id } = validate(idParams, req.params, 'path')
    const entry = await ctx.store.getTransport(id)
    if (!entry) throw notFound(`no transport ${id}`)
    return entry
  })

  app.delete('/transports/:id', async (req) => {
    const auth = await authenticate(req, ctx.store, ctx.auth)
    const pk = auth.pk
    const { id } = validate(idParams, req.params, 'path')
    const entry = await ctx.store.getTransport(id)
    if (!entry) throw notFound(`no transport ${id}`)
    if (!entry.edges.includes(pk)) throw forbidden(`transport ${id} belongs to other visors`)
    await auth.commit()
    await ctx.store.deleteTransport(id)
    return { deleted: true }
  })
}
