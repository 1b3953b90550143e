/**
 * Errors of the network lab. They extend SkywireError so callers that already
 * print SkywireErrors need nothing new; `reason` tells lab failures apart
 * because the project's ErrorCode union is shared and kept small.
 */
import { SkywireError } from '../contracts/errors.js'

export type NetlabReason =
  /** A command (ip, nft, sysctl, a probe) exited non-zero or was killed. */
  | 'ECOMMAND'
  /** Something we waited for did not happen in time. */
  | 'ETIMEOUT'
  /** The lab needs root, /dev/net/tun or iproute2. */
  | 'EPREREQ'
  /** A caller used the lab wrongly: bad role name, foreign namespace, torn-down lab. */
  | 'EMISUSE'

export class NetlabError extends SkywireError {
  readonly reason: NetlabReason

  constructor(reason: NetlabReason, message: string, options?: { cause?: unknown }) {
    super(reason === 'EPREREQ' ? 'EPERM' : 'EINTERNAL', message, options)
    this.name = 'NetlabError'
    this.reason = reason
  }
}

/** A command that failed; carries everything needed to debug it from a test log. */
export class CommandError extends NetlabError {
  readonly ns: string | null
  readonly argv: readonly string[]
  /** The command's exit status (null when killed by a signal). */
  readonly status: number | null
  readonly signal: NodeJS.Signals | null
  readonly stdout: string
  readonly stderr: string

  constructor(r: {
    ns: string | null
    argv: readonly string[]
    code: number | null
    signal: NodeJS.Signals | null
    stdout: string
    stderr: string
  }) {
    const where = r.ns === null ? '' : `[${r.ns}] `
    const how = r.signal !== null ? `killed by ${r.signal}` : `exit ${r.code}`
    const err = r.stderr.trim().split('\n').slice(-3).join(' | ')
    super('ECOMMAND', `${where}${r.argv.join(' ')}: ${how}${err ? `: ${err}` : ''}`)
    this.name = 'CommandError'
    this.ns = r.ns
    this.argv = r.argv
    // Not `exitCode`: SkywireError uses that name for the CLI's exit code.
    this.status = r.code
    this.signal = r.signal
    this.stdout = r.stdout
    this.stderr = r.stderr
  }
}

export class TimeoutError extends NetlabError {
  constructor(what: string, timeoutMs: number, options?: { cause?: unknown }) {
    super('ETIMEOUT', `timed out after ${timeoutMs} ms waiting for ${what}`, options)
    this.name = 'TimeoutError'
  }
}
