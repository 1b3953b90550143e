/**
 * The mechanism behind the VPN client's and server's state files: what the
 * visor is about to change on the host, written and fsync'd BEFORE the first
 * change, so whatever happens next (an error half-way, SIGKILL, a power cut)
 * the next visor start can undo exactly that and nothing else.
 *
 * Root acts on what these files say, so they are written with the safe-file
 * helper (no symlink followed, mode 0600, atomic), read back only when root
 * owns them and nobody else could have written them, bounded in size, and
 * validated by a schema (callers add checks against what they would manage).
 */
import { mkdirSync, readFileSync, unlinkSync } from 'node:fs'
import { dirname } from 'node:path'
import { z } from 'zod'
import { SkywireError } from '../contracts/errors.js'
import { fsyncDir, readTrustedFile, writeFileAtomic } from './safe-file.js'

/**
 * A state file is a few dozen routes and at most one resolv.conf backup
 * (itself capped, see client-state.ts) or a few hundred sysctl values: far
 * below this. Anything bigger was not written by a visor.
 */
/** What every state file starts with: the visor that made the changes, and the boot it made them in (a live owner's state is not stale). */
export const stateHeader = z.object({
  version: z.literal(1),
  pid: z.number().int(),
  bootId: z.string().nullable(),
  createdAt: z.string(),
})

export const MAX_STATE_FILE_BYTES = 1024 * 1024

export function bootId(): string | null {
  try {
    return readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim()
  } catch {
    return null
  }
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM'
  }
}

/** True when the state's writer is another process still running in this boot: a live visor, not a crashed one. */
export function ownedByLiveProcess(s: { pid: number; bootId: string | null }): boolean {
  return s.bootId !== null && s.bootId === bootId() && s.pid !== process.pid && processAlive(s.pid)
}

/** Atomic and durable, mode 0600, never through a planted link. `what` names the file in errors. */
export function writeStateFile(path: string, value: unknown, what: string): void {
  try {
    mkdirSync(dirname(path), { recursive: true, mode: 0o700 })
    const text = JSON.stringify(value, null, 2) + '\n'
    if (Buffer.byteLength(text) > MAX_STATE_FILE_BYTES) throw new Error(`more than ${MAX_STATE_FILE_BYTES} bytes`)
    writeFileAtomic(path, text, { mode: 0o600 })
  } catch (e) {
    throw new SkywireError('ESTATE', `cannot write ${what} ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, { cause: e })
  }
}

/** null when there is no state file; ESTATE/ECONFIG, with the path, when it is untrusted, not JSON or invalid. */
export function readStateFile<T>(path: string, schema: z.ZodType<T>, what: string): T | null {
  let buf: Buffer | null
  try {
    buf = readTrustedFile(path, { what, maxBytes: MAX_STATE_FILE_BYTES })
  } catch (e) {
    if (e instanceof SkywireError) throw e
    throw new SkywireError('ESTATE', `cannot read ${what} ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, { cause: e })
  }
  if (buf === null) return null
  let json: unknown
  try {
    json = JSON.parse(buf.toString('utf8'))
  } catch (e) {
    throw new SkywireError('ESTATE', `${what} ${path} is not JSON; inspect it and delete it by hand`, { cause: e })
  }
  const r = schema.safeParse(json)
  if (!r.success) {
    const first = r.error.issues[0]
    throw invalidState(path, what, `${first?.path.join('.') || 'root'}: ${first?.message}`)
  }
  return r.data
}

export function invalidState(path: string, what: string, why: string): SkywireError {
  return new SkywireError('ESTATE', `${what} ${path} is invalid (${why}); inspect it and delete it by hand`)
}

export function deleteStateFile(path: string, what: string): void {
  try {
    unlinkSync(path)
    fsyncDir(dirname(path))
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') {
      throw new SkywireError('ESTATE', `cannot delete ${what} ${path}: ${(e as NodeJS.ErrnoException).code}`, { cause: e })
    }
  }
}
