/**
 * What `skywire cli vpn start` does, free of oclif: its flag parsers and its
 * body. The command class (ts/commands/cli/vpn/start.ts, every argv, --help)
 * and the fast entry (ts/cli/fast.ts, the plain `vpn start -k PK` forms) both
 * call `startVpn`, so there is one definition of what it checks, asks the
 * visor and prints (bench/README.md, "The time a user waits"). oclif's spinner
 * is loaded only for a person at a terminal.
 */
import { MAX_ROUTE_HOPS } from '../contracts/constants.js'
import { SkywireError } from '../contracts/errors.js'
import type { VpnClientStatus } from '../contracts/status.js'
import { parsePublicKey } from '../native/keys.js'
import type { VisorClient } from '../visor/rpc-client.js'

/** The control API takes at most an hour per attempt. */
export const MAX_ATTEMPT_S = 3600

/** -t: seconds; 0 is no deadline (Skywire's habit). */
export function parseStartTimeout(input: string): number {
  const n = Number(input)
  if (!Number.isInteger(n) || n < 0 || n > 3600) {
    throw new SkywireError('EUSAGE', `timeout must be a whole number of seconds from 0 (none) to 3600, got "${input}"`)
  }
  return n
}

/** --via HOP[,HOP2]: hop keys, first to last; each checked, none twice. */
export function parseVia(input: string): string[] {
  const items = input.split(',').map((x) => x.trim())
  if (items.some((x) => x === '')) throw new SkywireError('EUSAGE', '--via takes hop keys separated by commas, with none empty')
  if (items.length > MAX_ROUTE_HOPS) throw new SkywireError('EUSAGE', `--via takes at most ${MAX_ROUTE_HOPS} hops, got ${items.length}`)
  const keys = items.map((x, i) => parsePublicKey(x, `--via hop ${i + 1}`))
  if (new Set(keys).size !== keys.length) throw new SkywireError('EUSAGE', '--via names a hop twice')
  return keys
}

/** --hops N: how many hops to pick from service discovery. */
export function parseHopCount(input: string): number {
  const n = Number(input)
  if (!/^[0-9]+$/.test(input.trim()) || !Number.isInteger(n) || n < 1 || n > MAX_ROUTE_HOPS) {
    throw new SkywireError('EUSAGE', `--hops must be a whole number from 1 to ${MAX_ROUTE_HOPS}, got "${input}"`)
  }
  return n
}

/** The parsed input of `vpn start`, as oclif's parser returns it (flags already checked by the parsers above). */
export interface StartInput {
  /** The positional key, unchecked (the flag's is checked by its parser). */
  positionalPk?: string
  pk?: string
  country?: string
  /** Absent unless given, as oclif leaves a boolean flag (the visor is sent what was given, nothing more). */
  existingTp?: boolean
  timeout: number
  via?: string[]
  hops?: number
  rpc?: string
}

/** How the command talks to its user: oclif's `log` and friends in the class, plain writes in the fast entry. */
export interface StartIo {
  json: boolean
  log(line: string): void
  logToStderr(line: string): void
  visor(): Promise<VisorClient>
}

/** oclif's spinner on stderr, loaded only when a person watches a terminal (it costs ~90 ms to import). */
async function spinner(json: boolean) {
  if (json || process.stderr.isTTY !== true) return null
  const { ux } = await import('@oclif/core/ux')
  return ux.action
}

export async function startVpn(input: StartInput, io: StartIo): Promise<VpnClientStatus> {
  let pk = input.pk
  if (input.positionalPk !== undefined) {
    const positional = parsePublicKey(input.positionalPk)
    if (pk !== undefined && pk !== positional) throw new SkywireError('EUSAGE', 'two different keys given (a positional key and -k); give one')
    pk = positional
  }
  if (pk !== undefined && input.country !== undefined) throw new SkywireError('EUSAGE', '-c picks a server in a country; it does not go with a key')
  if (pk === undefined && input.existingTp) throw new SkywireError('EUSAGE', '--existing-tp needs a key (-k or positional)')
  const via = input.via ?? []
  if (pk !== undefined && via.includes(pk)) throw new SkywireError('EUSAGE', 'the exit cannot also be a hop of its own route (--via)')
  const route = { ...(via.length > 0 ? { via } : {}), ...(input.hops !== undefined ? { hops: input.hops } : {}) }
  const visor = await io.visor()
  const deadline = input.timeout === 0 ? null : Date.now() + input.timeout * 1000
  // A spinner only for a person at a terminal: scripts get one line of result or error.
  const progress = await spinner(io.json)
  const connect = (key: string, timeoutS: number) =>
    visor.vpnStart(key, { existingTp: input.existingTp, timeoutS: Math.min(timeoutS, MAX_ATTEMPT_S), ...route })
  let s: VpnClientStatus
  try {
    if (pk !== undefined) {
      progress?.start(`connecting to ${pk}`)
      s = await connect(pk, input.timeout === 0 ? MAX_ATTEMPT_S : input.timeout)
    } else {
      progress?.start(`choosing a server${input.country ? ` in ${input.country}` : ''}`)
      // Loaded only here: the server list and its probes (config schema, services client) take ~200 ms to load.
      const { serverSource } = await import('./server-source.js')
      const { connectFirst, rankedCandidates } = await import('../discovery/choose.js')
      const src = await serverSource({ rpc: input.rpc })
      // Measuring may use a quarter of -t at most: the time is for connecting.
      const budgetMs = deadline === null ? undefined : Math.max(500, Math.min(4000, (deadline - Date.now()) / 4))
      const ranked = await rankedCandidates(src, { country: input.country, self: src.self, measure: budgetMs ? { budgetMs } : {} })
      // A hop of the route is no exit for it.
      const candidates = ranked.filter((c) => !via.includes(c.pk))
      if (candidates.length === 0) {
        throw new SkywireError('ENOTFOUND', input.country ? `no VPN server in ${input.country}` : 'no VPN server registered')
      }
      if (progress) progress.status = `trying ${candidates[0]?.pk}`
      const r = await connectFirst(candidates, connect, deadline, (f) => {
        if (!io.json) io.logToStderr(`skipped ${f.pk}: ${f.error}`)
      })
      s = r.result
    }
  } catch (err) {
    progress?.stop('failed')
    throw err
  }
  progress?.stop('done')
  const hops = (s.route ?? []).filter((l) => l.role === 'hop').map((l) => l.pk)
  io.log(`connected to ${s.server} over ${s.transport}${hops.length > 0 ? ` through ${hops.join(' → ')}` : ''}; tunnel IP ${s.tunnelIp}`)
  return s
}
