/** Transport discovery: which transports are up between which PKs, reported by their edges. */
import type { FastifyInstance } from 'fastify'
import { z } from 'zod'
import type { ServicesContext } from '../context.js'
import { authenticate } from '../http/auth.js'
import { forbidden, notFound } from '../http/errors.js'
import { validate } from '../http/validate.js'
import { pageQuery, pkSchema } from '../schemas.js'

const idSchema = z.uuid('must be a UUID').transform((s) => s.toLowerCase())

const reportBody = z.strictObject({
  id: idSchema,
  edges: z
    .tuple([pkSchema, pkSchema])
    .refine(([a, b]) => a !== b, 'the two edges must be different PKs'),
  type: z.enum(['stcpr', 'sudph'], 'must be "stcpr" or "sudph"'),
})

const idParams = z.object({ id: idSchema })
const listQuery = z.strictObject({ pk: pkSchema, ...pageQuery })

export async function tpdRoutes(app: FastifyInstance, ctx: ServicesContext): Promise<void> {
  app.post('/transports', async (req) => {
    const pk = await authenticate(req, ctx.store)
    const body = validate(reportBody, req.body, 'body')
    if (!body.edges.includes(pk)) throw forbidden('a visor reports only transports it is an edge of')
    const old = await ctx.store.getTransport(body.id)
    if (old && !old.edges.includes(pk)) throw forbidden(`transport ${body.id} belongs to other visors`)
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
    const pk = await authenticate(req, ctx.store)
    const { id } = validate(idParams, req.params, 'path')
    const entry = await ctx.store.getTransport(id)
    if (!entry) throw notFound(`no transport ${id}`)
    if (!entry.edges.includes(pk)) throw forbidden(`transport ${id} belongs to other visors`)
    await ctx.store.deleteTransport(id)
    return { deleted: true }
  })
}
