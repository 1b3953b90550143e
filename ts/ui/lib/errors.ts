/** Errors from the control API, and what the page tells the user about them. */
import { parseErrorBody } from '../../contracts/http-error.js'

export class ApiError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly status: number,
  ) {
    super(message)
    this.name = 'ApiError'
  }
}

export type BannerKind = 'forbidden' | 'offline' | 'timeout' | 'auth' | 'visor' | 'error'

export interface Banner {
  kind: BannerKind
  title: string
  message: string
}

/** One banner per failure, titled by what the user can do about it. */
export function bannerFor(err: unknown, doing: string): Banner {
  if (err instanceof ApiError) {
    switch (err.code) {
      case 'EFORBIDDEN':
        return { kind: 'forbidden', title: `Forbidden: ${doing} was refused`, message: err.message }
      case 'EAUTH':
        return {
          kind: 'auth',
          title: 'Not authorised',
          message: 'This page has no valid UI token. Open the URL that `skywire cli vpn url` prints.',
        }
      case 'EOFFLINE':
      case 'EUNREACHABLE':
      case 'ENOTRANSPORT':
      case 'EHANDSHAKE':
        return { kind: 'offline', title: `Offline: ${doing} failed`, message: err.message }
      case 'ETIMEOUT':
        return { kind: 'timeout', title: `Timed out: ${doing} took too long`, message: err.message }
      default:
        return { kind: 'error', title: `${capitalise(doing)} failed`, message: err.message }
    }
  }
  // fetch rejects (TypeError) only when no answer came at all.
  return { kind: 'visor', title: 'The visor is not answering', message: `${capitalise(doing)} failed: ${(err as Error)?.message ?? String(err)}` }
}

function capitalise(s: string): string {
  return s.charAt(0).toUpperCase() + s.slice(1)
}

/** The API's error envelope (contracts/http-error.ts) as an ApiError. */
export function apiErrorOf(status: number, body: unknown): ApiError {
  const e = parseErrorBody(body)
  const code = e.code ?? (status === 401 ? 'EAUTH' : 'EINTERNAL')
  const message = e.message ?? `the visor answered HTTP ${status}`
  return new ApiError(code, message, status)
}
