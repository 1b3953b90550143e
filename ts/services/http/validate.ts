/** Zod at the edge of every handler: one line naming the first bad field, and a 400. */
import type { z } from 'zod'
import { badRequest } from './errors.js'

export function validate<S extends z.ZodType>(schema: S, data: unknown, what: string): z.output<S> {
  const r = schema.safeParse(data)
  if (r.success) return r.data
  const issue = r.error.issues[0]
  const path = issue && issue.path.length > 0 ? `${issue.path.join('.')}: ` : ''
  const more = r.error.issues.length > 1 ? ` (and ${r.error.issues.length - 1} more)` : ''
  throw badRequest(`${what}: ${path}${issue?.message ?? 'invalid'}${more}`)
}
