/**
 * Which command lines the fast entry (cli/fast.ts) runs without oclif: only
 * the few a person or a script types most, in the plain forms below, matched
 * exactly. Anything else (an unknown or repeated flag, `--`, `-h`, `--flag=`
 * with nothing after it, a value that looks like a flag, a short flag glued to
 * its value, an env var oclif reads) returns null, and oclif parses the line:
 * its help, its errors and its exit codes stay the only ones. The matcher never
 * checks values beyond their shape; the fast entry checks them with the
 * command's own parsers and falls back to oclif when they refuse.
 *
 *   skywire --version
 *   skywire cli vpn status [--json] [--rpc ADDR]
 *   skywire cli vpn start (-k PK | --pk PK | PK) [--existing-tp] [-t N | --timeout N] [--json] [--rpc ADDR]
 *
 * (`--rpc=ADDR`, `--pk=PK` and `--timeout=N` too, flags in any order.)
 */

export type FastCommand =
  | { id: 'version' }
  | { id: 'vpn-status'; json: boolean; rpc?: string }
  | { id: 'vpn-start'; json: boolean; rpc?: string; pk: string; pkPositional: boolean; existingTp: boolean; timeout?: string }

/** Env vars oclif reads that change what it prints (its debug log, JSON output by env): with one set, oclif runs. */
const OCLIF_ENV = ['DEBUG', 'SKYWIRE_DEBUG', 'SKYWIRE_CONTENT_TYPE'] as const

interface FlagSpec {
  /** The long name; the key in the result. */
  name: string
  short?: string
  takesValue: boolean
}

const RPC: FlagSpec = { name: 'rpc', takesValue: true }
const JSON_FLAG: FlagSpec = { name: 'json', takesValue: false }
const STATUS_FLAGS = [RPC, JSON_FLAG]
const START_FLAGS = [
  RPC,
  JSON_FLAG,
  { name: 'pk', short: 'k', takesValue: true },
  { name: 'existing-tp', takesValue: false },
  { name: 'timeout', short: 't', takesValue: true },
]

/** A value the fast entry takes as given: not empty, not something oclif might read as a flag. */
const plainValue = (v: string | undefined): v is string => v !== undefined && v !== '' && !v.startsWith('-')

/**
 * Flags and positionals of `rest` against `specs`: null at the first thing
 * outside the plain forms. Booleans map to '' (present).
 */
function parsePlain(rest: readonly string[], specs: readonly FlagSpec[]): { flags: Map<string, string>; positionals: string[] } | null {
  const flags = new Map<string, string>()
  const positionals: string[] = []
  for (let i = 0; i < rest.length; i++) {
    const a = rest[i] as string
    if (!a.startsWith('-')) {
      positionals.push(a)
      continue
    }
    let spec: FlagSpec | undefined
    let value: string | undefined
    if (a.startsWith('--')) {
      const eq = a.indexOf('=')
      const name = eq === -1 ? a.slice(2) : a.slice(2, eq)
      spec = specs.find((s) => s.name === name)
      if (!spec) return null
      if (eq !== -1) {
        // `--json=x` is no boolean form; `--rpc=` has no value.
        if (!spec.takesValue) return null
        value = a.slice(eq + 1)
        if (!plainValue(value)) return null
      }
    } else {
      // Exactly `-k`; `-kVALUE`, `-k=VALUE` and bundles like `-wk` go to oclif.
      spec = a.length === 2 ? specs.find((s) => s.short === a[1]) : undefined
      if (!spec) return null
    }
    if (flags.has(spec.name)) return null
    if (spec.takesValue && value === undefined) {
      value = rest[i + 1]
      if (!plainValue(value)) return null
      i++
    }
    flags.set(spec.name, value ?? '')
  }
  return { flags, positionals }
}

/** The fast command `argv` (process.argv after the script) names, or null: oclif's. */
export function matchFast(argv: readonly string[], env: NodeJS.ProcessEnv = process.env): FastCommand | null {
  if (OCLIF_ENV.some((k) => env[k] !== undefined && env[k] !== '')) return null
  if (argv.length === 1 && argv[0] === '--version') return { id: 'version' }
  if (argv[0] !== 'cli' || argv[1] !== 'vpn') return null
  const sub = argv[2]
  const rest = argv.slice(3)
  if (sub === 'status') {
    const p = parsePlain(rest, STATUS_FLAGS)
    if (!p || p.positionals.length > 0) return null
    return { id: 'vpn-status', json: p.flags.has('json'), ...rpcOf(p.flags) }
  }
  if (sub === 'start') {
    const p = parsePlain(rest, START_FLAGS)
    if (!p || p.positionals.length > 1) return null
    const flagPk = p.flags.get('pk')
    const positionalPk = p.positionals[0]
    // One key, from one place; none (the server list) and two (an error oclif words) go to oclif.
    if ((flagPk === undefined) === (positionalPk === undefined)) return null
    const timeout = p.flags.get('timeout')
    return {
      id: 'vpn-start',
      json: p.flags.has('json'),
      ...rpcOf(p.flags),
      pk: (flagPk ?? positionalPk) as string,
      pkPositional: positionalPk !== undefined,
      existingTp: p.flags.has('existing-tp'),
      ...(timeout !== undefined ? { timeout } : {}),
    }
  }
  return null
}

function rpcOf(flags: Map<string, string>): { rpc?: string } {
  const rpc = flags.get('rpc')
  return rpc === undefined ? {} : { rpc }
}
