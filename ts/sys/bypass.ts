/**
 * The VPN client's policy routing, wg-quick's `fwmark` way: only the visor's
 * own sockets (transports, requests to the discovery services), which carry
 * BYPASS_MARK (set in the core, crates/skywire-core/src/node/mark.rs), leave
 * outside the tunnel; every other packet, to whatever address, goes into it.
 *
 *   pref 29000: from all lookup main suppress_prefixlength 0
 *     main's routes more specific than a default still win (the LAN, the
 *     host's own subnets); main's default does not, for anyone.
 *   pref 29001: from all not fwmark 0x736b lookup 29547
 *     unmarked packets take table 29547: a default into the TUN (IPv6 there:
 *     into the TUN when tunnelled, otherwise unreachable, so it fails fast
 *     and never leaks). Marked ones fall through to main's default.
 *
 * Both families get both rules. The preferences, table and protocol are
 * fixed, so that deleting can only ever hit what we added.
 */
import { SkywireError } from '../contracts/errors.js'
import { ipJson } from './run.js'
import type { Family } from './cidr.js'

/** "sk": the SO_MARK of the visor's bypassing sockets. Must equal BYPASS_MARK in the core's node/mark.rs. */
export const BYPASS_MARK = 0x736b
/** The routing table holding the tunnel's defaults (same number as the mark, as wg-quick does). */
export const BYPASS_TABLE = 29547
export const PREF_SUPPRESS = 29000
export const PREF_TUNNEL = 29001

export interface PlannedRule {
  family: Family
  pref: number
  /** Table number or "main". */
  table: string
  /** Only packets WITHOUT this mark match (ip rule's `not fwmark`). */
  notFwmark?: number
  /** ip rule's `suppress_prefixlength`. */
  suppressPrefixlength?: number
  why: string
}

/** The two rules per family, in the order they are added. */
export function bypassRules(families: readonly Family[]): PlannedRule[] {
  const out: PlannedRule[] = []
  for (const family of families) {
    out.push({
      family,
      pref: PREF_SUPPRESS,
      table: 'main',
      suppressPrefixlength: 0,
      why: "main's specific routes (LAN) still win; its default does not",
    })
    out.push({
      family,
      pref: PREF_TUNNEL,
      table: String(BYPASS_TABLE),
      notFwmark: BYPASS_MARK,
      why: "everything but the visor's marked sockets into the tunnel",
    })
  }
  return out
}

/** One `ip -batch` line (family set on the command line). */
export function ruleLine(verb: 'add' | 'del', r: PlannedRule): string {
  const words = ['rule', verb, 'pref', String(r.pref)]
  if (r.notFwmark !== undefined) words.push('not', 'fwmark', `0x${r.notFwmark.toString(16)}`)
  words.push('table', r.table)
  if (r.suppressPrefixlength !== undefined) words.push('suppress_prefixlength', String(r.suppressPrefixlength))
  for (const w of words) if (!/^[A-Za-z0-9_.]+$/.test(w)) throw new SkywireError('EUSAGE', `bad word in rule: ${JSON.stringify(w)}`)
  return words.join(' ')
}

interface IpRule {
  priority?: number
  table?: string
  fwmark?: string
  not?: null | boolean
  suppress_prefixlen?: number
}

/** The rules present at our preferences, one `ip` call per family. */
export async function rulesAtOurPrefs(family: Family): Promise<IpRule[]> {
  const rules = await ipJson<IpRule>([`-${family}`, 'rule', 'show'])
  return rules.filter((r) => r.priority === PREF_SUPPRESS || r.priority === PREF_TUNNEL)
}

/** Whether `r` is present among `have` (as `ip -j rule show` prints it). */
export function ruleMatches(r: PlannedRule, have: readonly IpRule[]): boolean {
  return have.some((h) => {
    if (h.priority !== r.pref) return false
    const table = h.table === undefined ? undefined : String(h.table)
    if (table !== r.table) return false
    if (r.notFwmark !== undefined) return 'not' in h && h.fwmark !== undefined && Number(h.fwmark) === r.notFwmark
    if (r.suppressPrefixlength !== undefined) return h.suppress_prefixlen === r.suppressPrefixlength
    return true
  })
}
