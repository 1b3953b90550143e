/** Address resolver over HTTP: STCPR registration and PK lookup (SUDPH bindings arrive over UDP). */
import type { FastifyInstance } from 'fastify'
import { z } from 'zod'
import type { ServicesContext } from '../context.js'
import { authenticate } from '../http/auth.js'
import { notFound } from '../http/errors.js'
import { validate } from '../http/validate.js'
import { ipPortSchema, pkSchema } from '../schemas.js'

export const MAX_STCPR_ADDRESSES = 8

const stcprBody = z.strictObject({
  addresses: z
    .array(ipPortSchema)
    .min(1, 'needs at least one address')
    .max(MAX_STCPR_ADDRESSES, `at most ${MAX_STCPR_ADDRESSES} addresses`),
})

const pkParams = z.object({ pk: pkSchema })

export async function arRoutes(app: FastifyInstance, ctx: ServicesContext): Promise<void> {
  app.put('/stcpr', async (req) => {
    const pk = await authenticate(req, ctx.store)
    const body = validate(stcprBody, req.body, 'body')
    const addresses = [...new Set(body.addresses)]
    await ctx.store.putStcpr({ pk, addresses, updatedAt: Date.now() }, ctx.ttl.stcprMs)
    return { pk, addresses, ttlS: Math.ceil(ctx.ttl.stcprMs / 1000) }
  })

  app.delete('/stcpr', async (req) => {
    const pk = await authenticate(req, ctx.store)
    if (!(await ctx.store.deleteStcpr(pk))) throw notFound(`no STCPR registration for ${pk}`)
    return { deleted: true }
  })

  app.get('/resolve/:pk', async (req) => {
    const { pk } = validate(pkParams, req.params, 'path')
    const [stcpr, sudph] = await Promise.all([ctx.store.getStcpr(pk), ctx.store.getSudph(pk)])
    if (!stcpr && !sudph) throw notFound(`${pk} has no STCPR registration and no SUDPH binding`)
    return {
      pk,
      stcpr: stcpr?.addresses ?? [],
      sudph: sudph ? { observed: sudph.observed, local: sudph.local } : null,
    }
  })
}
