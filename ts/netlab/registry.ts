/**
 * Who owns which lab. Each lab writes /run/skywire-netlab/<prefix>.json with
 * its pid and that pid's start time before it creates anything, so a later run
 * can tell a crashed lab's leftovers (owner dead, or pid reused by another
 * process) from a lab that is running right now in another test process.
 */
import { mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'

export const REGISTRY_DIR = '/run/skywire-netlab'

/** `sw-` + 6 chars of [a-z0-9]: the part of a namespace name that identifies its lab. */
export const LAB_PREFIX_RE = /^sw-[a-z0-9]{6}$/
/** A lab namespace: `<prefix>-<role>`. */
export const LAB_NS_RE = /^(sw-[a-z0-9]{6})-[a-z0-9][a-z0-9-]*$/

export interface LabRecord {
  prefix: string
  pid: number
  /** Field 22 of /proc/<pid>/stat: distinguishes our pid from a later process that reuses it. */
  startTime: string | null
  createdAt: string
}

export function procStartTime(pid: number): string | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    // comm (field 2) may contain spaces and parentheses: split after the last ')'.
    const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    return rest[19] ?? null
  } catch {
    return null
  }
}

export function recordPath(prefix: string): string {
  return join(REGISTRY_DIR, `${prefix}.json`)
}

export function writeRecord(prefix: string): LabRecord {
  const rec: LabRecord = {
    prefix,
    pid: process.pid,
    startTime: procStartTime(process.pid),
    createdAt: new Date().toISOString(),
  }
  mkdirSync(REGISTRY_DIR, { recursive: true })
  writeFileSync(recordPath(prefix), JSON.stringify(rec) + '\n')
  return rec
}

export function readRecord(prefix: string): LabRecord | null {
  try {
    const rec = JSON.parse(readFileSync(recordPath(prefix), 'utf8')) as LabRecord
    return typeof rec.pid === 'number' ? rec : null
  } catch {
    return null
  }
}

export function removeRecord(prefix: string): void {
  rmSync(recordPath(prefix), { force: true })
}

export function listRecords(): string[] {
  try {
    return readdirSync(REGISTRY_DIR)
      .filter((f) => f.endsWith('.json'))
      .map((f) => f.slice(0, -'.json'.length))
      .filter((p) => LAB_PREFIX_RE.test(p))
  } catch {
    return []
  }
}

/** A lab is alive while its owner runs. No record at all means its owner crashed before or after writing one. */
export function isLabAlive(prefix: string): boolean {
  const rec = readRecord(prefix)
  if (rec === null) return false
  try {
    process.kill(rec.pid, 0)
  } catch (e) {
    // EPERM still means the process exists.
    if ((e as NodeJS.ErrnoException).code !== 'EPERM') return false
  }
  return rec.startTime === null || procStartTime(rec.pid) === rec.startTime
}
