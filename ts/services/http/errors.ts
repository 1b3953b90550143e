/**
 * Every non-2xx answer of the HTTP APIs is `{"error": {"code", "message"}}`
 * with a one-line message (the envelope of ts/contracts/http-error.ts, shared
 * with the visor's control API). Client mistakes are 4xx, never 500. The codes
 * are the services' own documented snake_case set (docs/services-api.md).
 */
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify'
import type { Logger } from 'pino'
import { errorBody } from '../../contracts/http-error.js'

export type ApiErrorCode =
  | 'bad_request'
  | 'unauthorized'
  | 'forbidden'
  | 'not_found'
  | 'method_not_allowed'
  | 'payload_too_large'
  | 'unsupported_media_type'
  | 'rate_limited'
  | 'limit_reached'
  | 'unavailable'
  | 'internal'

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: ApiErrorCode,
    message: string,
  ) {
    super(message.replace(/\s*\n\s*/g, ' '))
    this.name = 'ApiError'
  }
}

export const badRequest = (msg: string) => new ApiError(400, 'bad_request', msg)
export const unauthorized = (msg: string) => new ApiError(401, 'unauthorized', msg)
export const forbidden = (msg: string) => new ApiError(403, 'forbidden', msg)
export const notFound = (msg: string) => new ApiError(404, 'not_found', msg)

function codeForStatus(status: number): ApiErrorCode {
  switch (status) {
    case 401:
      return 'unauthorized'
    case 403:
      return 'forbidden'
    case 404:
      return 'not_found'
    case 405:
      return 'method_not_allowed'
    case 413:
      return 'payload_too_large'
    case 415:
      return 'unsupported_media_type'
    case 429:
      return 'rate_limited'
    default:
      return 'bad_request'
  }
}

export function sendError(reply: FastifyReply, err: ApiError): FastifyReply {
  return reply.code(err.status).type('application/json').send(errorBody(err.code, err.message))
}

function bytesText(n: number): string {
  return n % 1024 === 0 ? `${n / 1024} KiB` : `${n} bytes`
}

const FRAMEWORK_MESSAGES: Record<string, (bodyLimit: number) => string> = {
  FST_ERR_CTP_INVALID_MEDIA_TYPE: () => 'content-type must be application/json',
  FST_ERR_CTP_BODY_TOO_LARGE: (limit) => `body is larger than the limit of ${bytesText(limit)}`,
  FST_ERR_MAX_PARAM_LENGTH: () => 'a path parameter is too long',
}

/** A framework-detected client mistake, with a short one-line message (Fastify's can echo the whole input). */
export function clientError(err: FastifyError, bodyLimit: number): ApiError {
  const status = err.statusCode && err.statusCode >= 400 && err.statusCode < 500 ? err.statusCode : 400
  const msg = FRAMEWORK_MESSAGES[err.code]?.(bodyLimit) ?? (err.message.length > 200 ? `${err.message.slice(0, 200)}...` : err.message)
  return new ApiError(status, codeForStatus(status), msg)
}

/**
 * Fastify's own 4xx errors (bad JSON, too large, wrong media type) keep their
 * status. Anything else is a 503 when the store is down (clients retry that)
 * and a 500 (our bug) when it is not.
 */
export function errorHandler(log: Logger, store: { kind: string; ping(): Promise<void> }, bodyLimit: number) {
  return async (err: FastifyError | ApiError, req: FastifyRequest, reply: FastifyReply) => {
    if (err instanceof ApiError) return sendError(reply, err)
    const status = (err as FastifyError).statusCode
    if (typeof status === 'number' && status >= 400 && status < 500) return sendError(reply, clientError(err as FastifyError, bodyLimit))
    const storeDown = await Promise.race([
      store.ping().then(
        () => false,
        () => true,
      ),
      new Promise<boolean>((r) => setTimeout(() => r(true), 1000).unref()),
    ])
    if (storeDown) {
      log.warn({ url: req.routeOptions.url, err: err.message }, 'store unavailable')
      return sendError(reply, new ApiError(503, 'unavailable', `store (${store.kind}) is not reachable; try again later`))
    }
    log.error({ err: { message: err.message, code: (err as FastifyError).code }, url: req.routeOptions.url }, 'request failed')
    return sendError(reply, new ApiError(500, 'internal', 'internal error; see the services log'))
  }
}
