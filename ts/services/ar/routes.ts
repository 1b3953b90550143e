/** Address resolver over HTTP: STCPR registration and PK lookup (SUDPH bindings arrive over UDP). */
import type { FastifyInstance } from 'fastify'
import { z } from 'zod'
import { addressVerdict, callerClass } from '../../sys/addr-policy.js'
import { parseHostPort } from '../../sys/host-port.js'
import type { ServicesContext } from '../context.js'
import { authenticate } from '../http/auth.js'
import { badRequest, notFound } from '../http/errors.js'
import { validate } from '../http/validate.js'
import { ipPortSchema, pkSchema } from '../schemas.js'
import { SUDPH6_SUFFIX } from './udp-server.js'

export const MAX_STCPR_ADDRESSES = 8

const stcprBody = z.strictObject({
  addresses: z.array(ipPortSchema).min(1, 'needs at least one address').max(MAX_STCPR_ADDRESSES, `at most ${MAX_STCPR_ADDRESSES} addresses`),
})

const pkParams = z.object({ pk: pkSchema })

export async function arRoutes(app: FastifyInstance, ctx: ServicesContext): Promise<void> {
  app.put('/stcpr', async (req) => {
    const auth = await authenticate(req, ctx.store, ctx.auth)
    const pk = auth.pk
    const body = validate(stcprBody, req.body, 'body')
    // ts/sys/addr-policy.ts: which addresses this caller may hand to other visors to dial.
    const caller = callerClass(req.ip)
    const addresses: string[] = []
    for (const a of new Set(body.addresses)) {
      const verdict = addressVerdict(parseHostPort(a)?.host ?? '', caller)
      if (verdict === 'refuse') {
        throw badRequest(
          `address ${a} is not one other visors may be sent to dial (loopback, link-local, multicast, unspecified or reserved) from a ${caller} caller`,
        )
      }
      if (verdict === 'allow') addresses.push(a)
    }
    if (addresses.length === 0) {
      throw badRequest(`no address left: from a public address (${req.ip}) only public addresses are registered, private ones are dropped`)
    }
    await auth.commit()
    await ctx.store.putStcpr({ pk, addresses, updatedAt: Date.now() }, ctx.ttl.stcprMs)
    return { pk, addresses, ttlS: Math.ceil(ctx.ttl.stcprMs / 1000) }
  })

  app.delete('/stcpr', async (req) => {
    const auth = await authenticate(req, ctx.store, ctx.auth)
    await auth.commit()
    const pk = auth.pk
    if (!(await ctx.store.deleteStcpr(pk))) throw notFound(`no STCPR registration for ${pk}`)
    return { deleted: true }
  })

  app.get('/resolve/:pk', async (req) => {
    const { pk } = validate(pkParams, req.params, 'path')
    const [stcpr, sudph4, sudph6] = await Promise.all([ctx.store.getStcpr(pk), ctx.store.getSudph(pk), ctx.store.getSudph(`${pk}${SUDPH6_SUFFIX}`)])
    if (!stcpr && !sudph4 && !sudph6) throw notFound(`${pk} has no STCPR registration and no SUDPH binding`)
    const binding = (b: typeof sudph4) => (b ? { observed: b.observed, local: b.local } : null)
    return {
      pk,
      stcpr: stcpr?.addresses ?? [],
      // The IPv4 binding when there is one (what a 0.3.0 reader expects here), else the IPv6 one.
      sudph: binding(sudph4 ?? sudph6),
      // Since 0.4.0, when there is one: the IPv6 binding, kept apart from the IPv4 one (udp-server.ts).
      ...(sudph6 ? { sudph6: binding(sudph6) } : {}),
    }
  })
}
