/**
 * The few nftables operations the VPN needs, all confined to one named table:
 * replace it atomically, delete it, look at it. Nothing here flushes the
 * ruleset or touches another table, so the host's own firewall, Docker's,
 * and any other VPN's stay exactly as they were.
 */
import { SkywireError } from '../contracts/errors.js'
import { run, tryRun, oneLine } from './run.js'

const NAME_RE = /^[A-Za-z][A-Za-z0-9_]{0,31}$/
// Stricter than the kernel (which allows quotes): the name goes inside a quoted nft string.
const IFNAME_RE = /^[A-Za-z0-9_.@+-]{1,15}$/

export function checkTableName(name: string): string {
  if (!NAME_RE.test(name)) throw new SkywireError('EUSAGE', `bad nftables table name ${JSON.stringify(name)}`)
  return name
}

/** An interface name as an nft string literal. */
export function nftIfname(name: string): string {
  if (!IFNAME_RE.test(name)) throw new SkywireError('EUSAGE', `bad interface name ${JSON.stringify(name)}`)
  return `"${name}"`
}

/**
 * One transaction: create-if-missing, delete, create with `body`. Either the
 * new table is in place or nothing changed; there is never a moment without
 * it when it existed before.
 */
export async function replaceTable(table: string, body: string): Promise<void> {
  checkTableName(table)
  await nftScript(`table inet ${table} {}\ndelete table inet ${table}\ntable inet ${table} {\n${body}}\n`)
}

/** Deletes the table if it exists; a no-op otherwise (the add-then-delete idiom, one transaction). */
export async function deleteTable(table: string): Promise<void> {
  checkTableName(table)
  await nftScript(`table inet ${table} {}\ndelete table inet ${table}\n`)
}

export async function tableExists(table: string): Promise<boolean> {
  checkTableName(table)
  const r = await tryRun(['nft', 'list', 'table', 'inet', table])
  if (r.code === 0) return true
  if (/No such file or directory/.test(r.stderr)) return false
  throw new SkywireError(/Operation not permitted/.test(r.stderr) ? 'EPERM' : 'ESYSCMD', `nft list table inet ${table}: ${oneLine(r.stderr)}`)
}

export async function nftScript(script: string): Promise<void> {
  const r = await tryRun(['nft', '-f', '-'], { input: script })
  if (r.code === 0) return
  const perm = /Operation not permitted/.test(r.stderr)
  throw new SkywireError(perm ? 'EPERM' : 'ESYSCMD', `nft -f -: ${oneLine(r.stderr)}${perm ? ' (needs root)' : ''}`)
}

/** Packet counts of the table's rules that carry a comment, by comment (for status). */
export async function ruleCounters(table: string): Promise<Record<string, number>> {
  checkTableName(table)
  const out = await run(['nft', '-j', 'list', 'table', 'inet', table])
  const parsed = JSON.parse(out) as { nftables?: { rule?: { comment?: string; expr?: unknown[] } }[] }
  const counts: Record<string, number> = {}
  for (const item of parsed.nftables ?? []) {
    const rule = item.rule
    if (rule?.comment === undefined) continue
    for (const e of rule.expr ?? []) {
      const c = (e as { counter?: { packets?: number } }).counter
      if (c?.packets !== undefined) counts[rule.comment] = (counts[rule.comment] ?? 0) + c.packets
    }
  }
  return counts
}
