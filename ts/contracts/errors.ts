/**
 * Errors with stable codes. Every failure a user can cause or meet (bad input,
 * a service that is down, a missing permission) is a SkywireError, so the CLI
 * can print one line and pick an exit code without parsing messages.
 */

export const ExitCode = {
  /** Anything that went wrong at run time. */
  Failure: 1,
  /** A bad flag, argument or input file. */
  Usage: 2,
  /** The visor or a discovery service could not be reached. */
  Unreachable: 3,
  /** The command needs root. */
  Permission: 4,
  /** The feature is not built yet (sysexits EX_UNAVAILABLE). */
  Unavailable: 69,
} as const
export type ExitCode = (typeof ExitCode)[keyof typeof ExitCode]

export type ErrorCode =
  | 'EUSAGE'
  | 'ECONFIG'
  | 'EEXIST'
  | 'EINVALIDPK'
  | 'EINVALIDSK'
  | 'EUNREACHABLE'
  | 'EPERM'
  | 'ENOTAVAILABLE'
  | 'EINTERNAL'
  | 'EADDRINUSE'
  | 'EBADREQUEST'
  | 'EAUTH'
  | 'EFORBIDDEN'
  | 'ENOTFOUND'
  /** A network interface named by the user (`--netifc`, `-i`) does not exist. */
  | 'ENOIFACE'
  /** No route to where traffic must go (no default route, an endpoint only reachable through the tunnel). */
  | 'ENOROUTE'
  /** A system command (ip, nft) or a /proc/sys write failed. */
  | 'ESYSCMD'
  /** The VPN client's host-state file is missing, corrupt, or already in use. */
  | 'ESTATE'
  /** `--existing-tp` and no transport to that visor is up. */
  | 'ENOTRANSPORT'
  | 'ETIMEOUT'
  /** The VPN server is not registered anywhere we can reach it. */
  | 'EOFFLINE'
  /** The VPN server has no address left for us. */
  | 'ENOADDRESS'
  /** The VPN server speaks another protocol version. */
  | 'EVERSION'
  /** The remote side answered with an error. */
  | 'EREMOTE'
  // Codes the Rust core reports through the addon.
  | 'EHANDSHAKE'
  | 'ELISTEN'
  | 'ENOTLISTENING'
  | 'ENORESOLVER'
  | 'ENOSESSION'
  | 'ENOTUNNEL'
  | 'ETOOLARGE'
  | 'EQUEUEFULL'
  | 'ECLOSED'
  | 'ETUN'
  | 'EINVALIDADDR'
  | 'EINVALIDTRANSPORT'

const exitFor: Record<ErrorCode, ExitCode> = {
  EUSAGE: ExitCode.Usage,
  ECONFIG: ExitCode.Usage,
  EEXIST: ExitCode.Failure,
  EINVALIDPK: ExitCode.Usage,
  EINVALIDSK: ExitCode.Usage,
  EUNREACHABLE: ExitCode.Unreachable,
  EPERM: ExitCode.Permission,
  ENOTAVAILABLE: ExitCode.Unavailable,
  EINTERNAL: ExitCode.Failure,
  EADDRINUSE: ExitCode.Failure,
  EBADREQUEST: ExitCode.Failure,
  EAUTH: ExitCode.Failure,
  EFORBIDDEN: ExitCode.Failure,
  ENOTFOUND: ExitCode.Failure,
  ENOIFACE: ExitCode.Usage,
  ENOROUTE: ExitCode.Failure,
  ESYSCMD: ExitCode.Failure,
  ESTATE: ExitCode.Failure,
  ENOTRANSPORT: ExitCode.Failure,
  ETIMEOUT: ExitCode.Failure,
  EOFFLINE: ExitCode.Failure,
  ENOADDRESS: ExitCode.Failure,
  EVERSION: ExitCode.Failure,
  EREMOTE: ExitCode.Failure,
  EHANDSHAKE: ExitCode.Failure,
  ELISTEN: ExitCode.Failure,
  ENOTLISTENING: ExitCode.Failure,
  ENORESOLVER: ExitCode.Usage,
  ENOSESSION: ExitCode.Failure,
  ENOTUNNEL: ExitCode.Failure,
  ETOOLARGE: ExitCode.Usage,
  EQUEUEFULL: ExitCode.Failure,
  ECLOSED: ExitCode.Failure,
  ETUN: ExitCode.Failure,
  EINVALIDADDR: ExitCode.Usage,
  EINVALIDTRANSPORT: ExitCode.Usage,
}

export class SkywireError extends Error {
  readonly code: ErrorCode
  readonly exitCode: ExitCode

  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options)
    this.name = 'SkywireError'
    this.code = code
    // A code from a newer addon than this file knows still fails cleanly.
    this.exitCode = exitFor[code] ?? ExitCode.Failure
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
