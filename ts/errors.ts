/**
 * Errors with stable codes. Every failure a user can cause or meet (bad input,
 * a service that is down, a missing permission) is a SkywireError, so the CLI
 * can print one line and pick an exit code without parsing messages.
 */

// The codes, their meanings and exit classes live in one table shared with
// the Rust core (ts/contracts/error-codes.json, generated into both sides).
import { EXIT_CODE_OF, ExitCode, type ErrorCode } from './contracts/error-codes.js'

export { ExitCode }
export type { ErrorCode }

export class SkywireError extends Error {
  readonly code: ErrorCode
  readonly exitCode: ExitCode

  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options)
    this.name = 'SkywireError'
    this.code = code
    // A code from a newer addon than this file knows still fails cleanly.
    this.exitCode = EXIT_CODE_OF[code] ?? ExitCode.Failure
  }
}

/** A feature whose body arrives with a later release. */
export class NotAvailableError extends SkywireError {
  constructor(what: string) {
    super('ENOTAVAILABLE', `${what} is not available yet in this version of skywire`)
    this.name = 'NotAvailableError'
  }
}

export class ConfigError extends SkywireError {
  /** One human-readable line per bad field, `path: problem`. */
  readonly problems: string[]

  constructor(file: string, problems: string[]) {
    super('ECONFIG', `invalid config ${file}: ${problems.join('; ')}`)
    this.name = 'ConfigError'
    this.problems = problems
  }
}
