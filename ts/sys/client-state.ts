/**
 * The VPN client's state file: everything the client is about to change on
 * the host, written and fsync'd BEFORE the first change, so whatever happens
 * next (an error half-way, SIGKILL, a power cut) the next visor start can undo
 * exactly that and nothing else.
 */
import { closeSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, unlinkSync, writeSync } from 'node:fs'
import { dirname } from 'node:path'
import { z } from 'zod'
import { SkywireError } from '../errors.js'
import { fsyncDir } from './resolv-conf.js'

const route = z.object({
  family: z.union([z.literal(4), z.literal(6)]),
  dst: z.string(),
  type: z.enum(['unicast', 'unreachable']),
  dev: z.string().optional(),
  via: z.string().optional(),
  /** Why this route exists, for humans reading the file. */
  why: z.string(),
})
export type PlannedRoute = z.infer<typeof route>

const resolvBackup = z.discriminatedUnion('kind', [
  z.object({ path: z.string(), kind: z.literal('file'), contentBase64: z.string(), mode: z.number().int() }),
  z.object({ path: z.string(), kind: z.literal('symlink'), target: z.string() }),
  z.object({ path: z.string(), kind: z.literal('missing') }),
])

const state = z.object({
  version: z.literal(1),
  /** The visor that made the changes, and the boot it made them in: a live owner's state is not stale. */
  pid: z.number().int(),
  bootId: z.string().nullable(),
  createdAt: z.string(),
  tunIf: z.string(),
  /** In the order they are added; removed in reverse. */
  routes: z.array(route),
  /** The original resolv.conf, or null when DNS is left alone. */
  resolvConf: resolvBackup.nullable(),
  dns: z.array(z.string()),
  killSwitch: z.object({ table: z.string(), exempt: z.array(z.string()) }).nullable(),
})
export type ClientState = z.infer<typeof state>

export function bootId(): string | null {
  try {
    return readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim()
  } catch {
    return null
  }
}

/** Atomic and durable: temp file, fsync, rename, fsync of the directory. Mode 0600. */
export function writeState(path: string, s: ClientState): void {
  const tmp = `${path}.tmp`
  try {
    mkdirSync(dirname(path), { recursive: true, mode: 0o700 })
    const fd = openSync(tmp, 'w', 0o600)
    try {
      writeSync(fd, JSON.stringify(s, null, 2) + '\n')
      fsyncSync(fd)
    } finally {
      closeSync(fd)
    }
    renameSync(tmp, path)
    fsyncDir(dirname(path))
  } catch (e) {
    throw new SkywireError('ESTATE', `cannot write VPN state file ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, { cause: e })
  }
}

/** null when there is no state file. */
export function readState(path: string): ClientState | null {
  let text: string
  try {
    text = readFileSync(path, 'utf8')
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null
    throw new SkywireError('ESTATE', `cannot read VPN state file ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, { cause: e })
  }
  let json: unknown
  try {
    json = JSON.parse(text)
  } catch (e) {
    throw new SkywireError('ESTATE', `VPN state file ${path} is not JSON; inspect it and delete it by hand`, { cause: e })
  }
  const r = state.safeParse(json)
  if (!r.success) {
    const first = r.error.issues[0]
    throw new SkywireError('ESTATE', `VPN state file ${path} is invalid (${first?.path.join('.') || 'root'}: ${first?.message}); inspect it and delete it by hand`)
  }
  return r.data
}

export function deleteState(path: string): void {
  try {
    unlinkSync(path)
    fsyncDir(dirname(path))
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') {
      throw new SkywireError('ESTATE', `cannot delete VPN state file ${path}: ${(e as NodeJS.ErrnoException).code}`, { cause: e })
    }
  }
}
