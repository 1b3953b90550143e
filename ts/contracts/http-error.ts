/**
 * The one error envelope of our HTTP APIs, the visor's control API and the
 * discovery services alike: every non-2xx answer is
 *
 *   {"error": {"code": "...", "message": "one line"}}
 *
 * Built here (errorBody) by every server and read here (parseErrorBody) by
 * every client: the CLI's RPC client, the web UI and the discovery client.
 *
 * The code's vocabulary is the API's own: the control API answers
 * SkywireError codes (EUSAGE, ENOTFOUND, ...: what `--json` prints), the
 * discovery services answer their documented snake_case codes (bad_request,
 * unauthorized, ...; docs/services-api.md), which other visors on the internet
 * already read. No node: imports (the web UI uses it).
 */
// No zod here: the web UI bundles this file.
export interface ErrorEnvelope {
  error: { code: string; message: string }
}

/** The body of an error answer; the message is folded to one line. */
export function errorBody(code: string, message: string): ErrorEnvelope {
  return { error: { code, message: message.replace(/\s*\n\s*/g, ' ') } }
}

/**
 * The code and message of an error answer's body (parsed JSON or raw text),
 * each null when missing or not a string: a proxy's HTML page, an older
 * server, an empty body.
 */
export function parseErrorBody(body: unknown): { code: string | null; message: string | null } {
  let json = body
  if (typeof body === 'string') {
    try {
      json = JSON.parse(body)
    } catch {
      return { code: null, message: null }
    }
  }
  const e = (json as { error?: { code?: unknown; message?: unknown } } | null)?.error
  return {
    code: typeof e?.code === 'string' ? e.code : null,
    message: typeof e?.message === 'string' ? e.message : null,
  }
}
