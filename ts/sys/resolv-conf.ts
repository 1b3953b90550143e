/**
 * Pointing the host's DNS at the tunnel and back, byte for byte.
 *
 * /etc/resolv.conf comes in three shapes and each needs its own write:
 * - a regular file, possibly a bind mount (`ip netns exec` mounts
 *   /etc/netns/<ns>/resolv.conf over it): rewritten in place, since renaming
 *   over a mount point fails with EBUSY;
 * - a symlink (systemd-resolved's stub): replaced by a file, and the link put
 *   back on restore, so the manager's own file is never edited;
 * - missing: created, and removed on restore.
 * Where systemd-resolved runs and this file is its stub, the file is left
 * alone and the tunnel's link is configured in resolved instead (resolved.ts).
 */
import { closeSync, fsyncSync, lstatSync, openSync, readFileSync, readlinkSync, renameSync, symlinkSync, unlinkSync, writeSync } from 'node:fs'
import { dirname } from 'node:path'
import { SkywireError } from '../contracts/errors.js'
import { familyOf } from './cidr.js'

export const RESOLV_CONF = '/etc/resolv.conf'

/** What was there before; JSON-safe so it goes into the client's state file. */
export type ResolvBackup =
  | { path: string; kind: 'file'; contentBase64: string; mode: number }
  | { path: string; kind: 'symlink'; target: string }
  | { path: string; kind: 'missing' }

export function backupResolvConf(path: string = RESOLV_CONF): ResolvBackup {
  let st
  try {
    st = lstatSync(path)
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return { path, kind: 'missing' }
    throw fsError('read', path, e)
  }
  try {
    if (st.isSymbolicLink()) return { path, kind: 'symlink', target: readlinkSync(path) }
    return { path, kind: 'file', contentBase64: readFileSync(path).toString('base64'), mode: st.mode & 0o7777 }
  } catch (e) {
    throw fsError('read', path, e)
  }
}

export function resolvConfText(servers: readonly string[]): string {
  if (servers.length === 0) throw new SkywireError('EUSAGE', 'no DNS servers for the tunnel')
  for (const s of servers) if (familyOf(s) === null) throw new SkywireError('EUSAGE', `DNS server is not an IP address: ${JSON.stringify(s)}`)
  // No search domains: the old network's names must not be looked up through (or around) the tunnel.
  return `# Written by the skywire VPN client; the original comes back on disconnect.\n${servers.map((s) => `nameserver ${s}\n`).join('')}`
}

/** Writes the tunnel's resolv.conf; `backup` must be what `backupResolvConf` saw. */
export function writeResolvConf(backup: ResolvBackup, servers: readonly string[]): void {
  const text = resolvConfText(servers)
  if (backup.kind === 'symlink') replaceWithFile(backup.path, Buffer.from(text), 0o644)
  else writeInPlace(backup.path, Buffer.from(text), backup.kind === 'file' ? undefined : 0o644)
}

/** True when `path` is a regular file holding exactly the tunnel's resolv.conf (not a link to one). */
export function resolvConfIsOurs(path: string, servers: readonly string[]): boolean {
  try {
    return lstatSync(path).isFile() && readFileSync(path, 'utf8') === resolvConfText(servers)
  } catch {
    return false
  }
}

/**
 * Puts the tunnel's resolv.conf back after somebody else (a DHCP client,
 * NetworkManager, resolvconf) replaced it while connected, whatever it has
 * become meanwhile: a link is replaced by a file, never written through (the
 * link's target is the manager's), and a missing file is created. The backup
 * taken at connect is left as it was: disconnecting restores the original.
 */
export function reassertResolvConf(path: string, servers: readonly string[]): void {
  const text = Buffer.from(resolvConfText(servers))
  let st
  try {
    st = lstatSync(path)
  } catch {
    st = null
  }
  if (st?.isFile()) writeInPlace(path, text)
  else if (st === null) writeInPlace(path, text, 0o644)
  else replaceWithFile(path, text, 0o644)
}

/** Puts back exactly what `backup` describes. */
export function restoreResolvConf(backup: ResolvBackup): void {
  const { path } = backup
  try {
    if (backup.kind === 'file') {
      writeInPlace(path, Buffer.from(backup.contentBase64, 'base64'), backup.mode)
    } else if (backup.kind === 'symlink') {
      let cur
      try {
        cur = lstatSync(path)
      } catch {
        cur = null
      }
      if (cur?.isSymbolicLink() && readlinkSync(path) === backup.target) return
      if (cur !== null) unlinkSync(path)
      symlinkSync(backup.target, path)
      fsyncDir(dirname(path))
    } else {
      try {
        unlinkSync(path)
        fsyncDir(dirname(path))
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e
      }
    }
  } catch (e) {
    if (e instanceof SkywireError) throw e
    throw fsError('restore', path, e)
  }
}

function writeInPlace(path: string, data: Buffer, createMode?: number): void {
  let fd: number
  try {
    fd = openSync(path, 'w', createMode ?? 0o644)
  } catch (e) {
    throw fsError('write', path, e)
  }
  try {
    writeSync(fd, data)
    fsyncSync(fd)
  } catch (e) {
    throw fsError('write', path, e)
  } finally {
    closeSync(fd)
  }
}

function replaceWithFile(path: string, data: Buffer, mode: number): void {
  const tmp = `${path}.skywire-tmp`
  try {
    writeInPlace(tmp, data, mode)
    renameSync(tmp, path)
    fsyncDir(dirname(path))
  } catch (e) {
    try {
      unlinkSync(tmp)
    } catch {
      // never created
    }
    if (e instanceof SkywireError) throw e
    throw fsError('write', path, e)
  }
}

export function fsyncDir(dir: string): void {
  const fd = openSync(dir, 'r')
  try {
    fsyncSync(fd)
  } finally {
    closeSync(fd)
  }
}

function fsError(what: string, path: string, e: unknown): SkywireError {
  const code = (e as NodeJS.ErrnoException).code
  const perm = code === 'EACCES' || code === 'EPERM' || code === 'EROFS'
  return new SkywireError(perm ? 'EPERM' : 'ESYSCMD', `cannot ${what} ${path}: ${code ?? (e as Error).message}`, { cause: e })
}
