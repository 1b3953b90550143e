/**
 * Turns any error that reaches the top of the CLI into one line on stderr and
 * an exit code. oclif's own parse errors are multi-line ("...\nSee more help
 * with --help"); they are folded into one line and exit with the usage code.
 */
import { ExitCode, SkywireError } from '../contracts/errors.js'

interface OclifLike {
  oclif?: { exit?: number }
  code?: string
}

export function oneLine(message: string): string {
  return message
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l.length > 0 && !/^See more help with/.test(l) && !/^The following errors? occurred:?$/.test(l))
    .join(': ')
    .replace(/:\s*:/g, ':')
}

export function exitCodeOf(err: unknown): number {
  if (err instanceof SkywireError) return err.exitCode
  const o = err as OclifLike
  if (o && typeof o === 'object') {
    // oclif's ExitError (this.exit(n)) and parse errors carry their code here.
    if (typeof o.oclif?.exit === 'number') return o.oclif.exit
    if (o.code === 'EEXIT') return ExitCode.Failure
  }
  return ExitCode.Failure
}

export function reportAndExit(err: unknown): never {
  const code = exitCodeOf(err)
  const o = err as OclifLike
  // `this.exit(0)` inside a command is not an error.
  if (o?.code === 'EEXIT' && code === 0) process.exit(0)
  const debug = process.env.SKYWIRE_DEBUG === '1'
  if (debug && err instanceof Error) {
    process.stderr.write(`${err.stack ?? err.message}\n`)
  } else {
    const msg = err instanceof Error ? err.message : String(err)
    const known = err instanceof SkywireError || typeof o?.oclif?.exit === 'number'
    process.stderr.write(`skywire: ${known ? '' : 'internal error: '}${oneLine(msg)}\n`)
  }
  process.exit(code === 0 ? ExitCode.Failure : code)
}
