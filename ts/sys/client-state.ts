/**
 * The VPN client's state file: everything the client is about to change on
 * the host, written and fsync'd BEFORE the first change, so whatever happens
 * next (an error half-way, SIGKILL, a power cut) the next visor start can undo
 * exactly that and nothing else.
 */
import { z } from 'zod'
import { BYPASS_TABLE, bypassRules, ruleLine } from './bypass.js'
import { KILLSWITCH_TABLE } from './killswitch.js'
import { RESOLV_CONF } from './resolv-conf.js'
import { deleteStateFile, invalidState, readStateFile, stateHeader, writeStateFile } from './state-file.js'

export { bootId } from './state-file.js'

const WHAT = 'VPN state file'

/**
 * The largest resolv.conf we back up (and so restore). glibc reads 3
 * nameservers and 6 search domains; real files are well under 4 KiB. A
 * bigger "backup" is not one: refusing it bounds what a state file can make
 * root write.
 */
export const MAX_RESOLV_CONF_BYTES = 64 * 1024

/**
 * Permission bits a restored resolv.conf may have: read and write only. A
 * state file asking for setuid, setgid, sticky or execute is not describing
 * a resolv.conf, whoever wrote it.
 */
const RESOLV_MODE_BITS = 0o666

const route = z.object({
  family: z.union([z.literal(4), z.literal(6)]),
  dst: z.string(),
  type: z.enum(['unicast', 'unreachable']),
  dev: z.string().optional(),
  via: z.string().optional(),
  /** Routing table: ours (BYPASS_TABLE) or, in state files from before policy routing, absent for main. */
  table: z.literal(String(BYPASS_TABLE)).optional(),
  /** Why this route exists, for humans reading the file. */
  why: z.string(),
})
export type PlannedRoute = z.infer<typeof route>

// Exactly the rules bypassRules() makes: a state file cannot make root add or delete any other.
const rule = z
  .object({
    family: z.union([z.literal(4), z.literal(6)]),
    pref: z.number().int(),
    table: z.string(),
    notFwmark: z.number().int().optional(),
    suppressPrefixlength: z.number().int().optional(),
    why: z.string(),
  })
  .refine((r) => bypassRules([r.family]).some((b) => ruleLine('add', b) === ruleLine('add', r)), 'must be one of the bypass rules (ts/sys/bypass.ts)')

const resolvBackup = z.discriminatedUnion('kind', [
  z.object({
    path: z.string(),
    kind: z.literal('file'),
    contentBase64: z.base64().max(Math.ceil(MAX_RESOLV_CONF_BYTES / 3) * 4, `must decode to at most ${MAX_RESOLV_CONF_BYTES} bytes`),
    mode: z
      .number()
      .int()
      .refine((m) => m >= 0 && (m & ~RESOLV_MODE_BITS) === 0, 'must be read/write permission bits only (no setuid, setgid, sticky or execute)'),
  }),
  z.object({
    path: z.string(),
    kind: z.literal('symlink'),
    target: z
      .string()
      .min(1)
      .max(4095)
      .refine((t) => !t.includes('\0'), 'must not contain NUL'),
  }),
  z.object({ path: z.string(), kind: z.literal('missing') }),
])

const state = stateHeader.extend({
  tunIf: z.string(),
  /** In the order they are added; removed in reverse. */
  routes: z.array(route),
  /** Policy rules (ts/sys/bypass.ts), added after the routes, removed before them. Absent in older state files. */
  rules: z.array(rule).optional(),
  /** The original resolv.conf, or null when DNS is left alone. */
  resolvConf: resolvBackup.nullable(),
  dns: z.array(z.string()),
  /** `exempt`: addresses the kill switch let through, in state files from before the bypass mark (only `table` is needed to undo). */
  killSwitch: z.object({ table: z.string(), exempt: z.array(z.string()).optional() }).nullable(),
  /**
   * The link whose DNS was set in systemd-resolved (undone with `resolvectl revert`), or null.
   * Optional: state files written before this field existed have none.
   */
  resolved: z
    .object({ tunIf: z.string().regex(/^[A-Za-z0-9_.@+-]{1,15}$/, 'must be an interface name') })
    .nullable()
    .optional(),
})
export type ClientState = z.infer<typeof state>

/** Atomic and durable: temp file (never through a planted link), fsync, rename, fsync of the directory. Mode 0600. */
export function writeState(path: string, s: ClientState): void {
  // What cannot be read back must not be written: a connect fails here, before any change, with the reason.
  const r = state.safeParse(s)
  if (!r.success) {
    const first = r.error.issues[0]
    throw invalidState(path, WHAT, `${first?.path.join('.') || 'root'}: ${first?.message}`)
  }
  writeStateFile(path, s, WHAT)
}

export interface ReadStateOptions {
  /** The resolv.conf this visor manages; a state naming any other path is refused. Default /etc/resolv.conf. */
  resolvConfPath?: string
}

/**
 * null when there is no state file. Refused (ESTATE/ECONFIG) when it is not
 * root's alone, not valid, or asks for more than the client ever changes: a
 * resolv.conf other than ours, a kill-switch table other than ours.
 */
export function readState(path: string, opts: ReadStateOptions = {}): ClientState | null {
  const s = readStateFile(path, state, WHAT)
  if (s === null) return null
  const resolvPath = opts.resolvConfPath ?? RESOLV_CONF
  if (s.resolvConf !== null && s.resolvConf.path !== resolvPath) {
    throw invalidState(path, WHAT, `resolvConf.path: is ${JSON.stringify(s.resolvConf.path)}, but this visor only manages ${resolvPath}`)
  }
  if (s.killSwitch !== null && s.killSwitch.table !== KILLSWITCH_TABLE) {
    throw invalidState(path, WHAT, `killSwitch.table: is ${JSON.stringify(s.killSwitch.table)}, but this visor only manages ${KILLSWITCH_TABLE}`)
  }
  return s
}

export function deleteState(path: string): void {
  deleteStateFile(path, WHAT)
}
