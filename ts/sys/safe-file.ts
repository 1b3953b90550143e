/**
 * Files root writes and later acts on: the data dir (VPN state files, the UI
 * token) and the config (which holds the secret key). The visor runs as root,
 * so a file another local user could write or swap is a way to make root
 * write what that user chose where that user chose (a state file names a
 * path, a mode and content to restore). Everything here therefore checks who
 * could have written a file before trusting it, and writes without ever
 * following a link someone planted.
 *
 * Trusted means: owned by this process's effective uid (root, for the visor),
 * not writable by group or others, and every directory above it owned by
 * root or us and not writable by others (a sticky directory such as /tmp is
 * fine: others cannot rename or delete what we own in it).
 */
import {
  closeSync,
  constants as C,
  fchmodSync,
  fchownSync,
  fstatSync,
  fsyncSync,
  linkSync,
  lstatSync,
  mkdirSync,
  openSync,
  readSync,
  realpathSync,
  renameSync,
  statSync,
  unlinkSync,
  writeSync,
  type Stats,
} from 'node:fs'
import { dirname, resolve } from 'node:path'
import { SkywireError } from '../contracts/errors.js'

/** The uid whose files we trust: root for the visor; the caller itself in tests and library use as a user. */
export function trustedUid(): number {
  return process.geteuid?.() ?? 0
}

/** The sticky bit (S_ISVTX): in such a directory only an entry's owner may rename or delete it. */
const STICKY = 0o1000

function insecure(message: string): SkywireError {
  return new SkywireError('ECONFIG', message)
}

function modeText(mode: number): string {
  return `mode ${(mode & 0o7777).toString(8).padStart(4, '0')}`
}

function errnoOf(e: unknown): string {
  return (e as NodeJS.ErrnoException).code ?? (e as Error).message
}

/** A directory above the one we use: others must not be able to swap anything on the way down. */
function checkAncestor(path: string, st: Stats, target: string, what: string): void {
  const uid = trustedUid()
  if (!st.isDirectory()) throw insecure(`${what} ${target}: ${path} is not a directory`)
  if (st.uid !== 0 && st.uid !== uid) {
    throw insecure(`${what} ${target}: its parent ${path} is owned by uid ${st.uid}, who could replace what is below it`)
  }
  if ((st.mode & 0o022) !== 0 && (st.mode & STICKY) === 0) {
    throw insecure(
      `${what} ${target}: its parent ${path} is writable by group or others (${modeText(st.mode)}) without the sticky bit, so they could replace what is below it`,
    )
  }
}

function checkOwnDir(path: string, st: Stats, what: string): void {
  const uid = trustedUid()
  if (!st.isDirectory()) throw insecure(`${what} ${path} is not a directory`)
  if (st.uid !== uid) {
    throw insecure(
      `${what} ${path} is owned by uid ${st.uid}, not uid ${uid} (this process): another user could plant files root acts on; chown ${uid} ${path}`,
    )
  }
  if ((st.mode & 0o022) !== 0) {
    throw insecure(
      `${what} ${path} is writable by group or others (${modeText(st.mode)}): another user could plant files root acts on; chmod go-w ${path}`,
    )
  }
}

/** Every directory from / down to `real` (which must have no symlinks left), the last excluded. */
function ancestorsOf(real: string): string[] {
  const out: string[] = []
  let p = dirname(real)
  for (;;) {
    out.unshift(p)
    const up = dirname(p)
    if (up === p) break
    p = up
  }
  return real === '/' ? [] : out
}

/**
 * Checks that `dir` is ours and nobody else can change what is in it or swap
 * it, and returns its real path (no symlinks), the one to use from then on.
 */
export function checkTrustedDir(dir: string, what: string): string {
  let real: string
  try {
    real = realpathSync(dir)
  } catch (e) {
    throw insecure(`cannot check ${what} ${dir}: ${errnoOf(e)}`)
  }
  for (const a of ancestorsOf(real)) checkAncestor(a, lstatSync(a), real, what)
  checkOwnDir(real, lstatSync(real), what)
  return real
}

/**
 * Checks every directory above `path` (the file itself is checked when it is
 * opened) and returns the real path: the config may live in /etc, but not in
 * a directory a user could swap it in.
 */
export function checkParentDirs(path: string, what: string): string {
  let real: string
  try {
    real = realpathSync(path)
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code
    throw new SkywireError('ECONFIG', `cannot read ${what} ${path}: ${code === 'ENOENT' ? 'no such file' : errnoOf(e)}`)
  }
  for (const a of ancestorsOf(real)) checkAncestor(a, lstatSync(a), real, what)
  return real
}

/**
 * Creates `dir` (mode 0700) when missing, after checking that whatever exists
 * above it is safe, so nothing is created under a directory another user
 * controls; then checks it as `checkTrustedDir` does. Returns the real path.
 */
export function ensureTrustedDir(dir: string, what: string): string {
  const abs = resolve(dir)
  let existing = abs
  for (;;) {
    try {
      statSync(existing)
      break
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw insecure(`cannot check ${what} ${dir}: ${errnoOf(e)}`)
      existing = dirname(existing)
    }
  }
  if (existing !== abs) {
    const real = realpathSync(existing)
    for (const a of [...ancestorsOf(real), real]) checkAncestor(a, lstatSync(a), abs, what)
    try {
      mkdirSync(abs, { recursive: true, mode: 0o700 })
    } catch (e) {
      throw insecure(`cannot create ${what} ${dir}: ${errnoOf(e)}`)
    }
  }
  return checkTrustedDir(abs, what)
}

export interface TrustOptions {
  /** Names the file in errors: "UI token", "VPN state file", "config". */
  what: string
  /** Holds a secret (a key, a token): group and others must not read it either. */
  secret?: boolean
}

function checkFileStat(path: string, st: Stats, o: TrustOptions): void {
  const uid = trustedUid()
  if (st.isSymbolicLink()) throw insecure(`${o.what} ${path} is a symlink; root follows none in its own files`)
  if (!st.isFile()) throw insecure(`${o.what} ${path} is not a regular file`)
  if (st.uid !== uid)
    throw insecure(
      `${o.what} ${path} is owned by uid ${st.uid}, not uid ${uid} (this process): another user may have written it; check it and chown ${uid} it`,
    )
  if ((st.mode & 0o022) !== 0) throw insecure(`${o.what} ${path} is writable by group or others (${modeText(st.mode)}); chmod go-w ${path}`)
  if ((o.secret ?? false) && (st.mode & 0o044) !== 0) {
    throw insecure(`${o.what} ${path} is readable by group or others (${modeText(st.mode)}) and holds a secret key or token; chmod 600 ${path}`)
  }
}

/** Checks a file by name without opening it (at visor start); false when it does not exist. */
export function checkTrustedFile(path: string, o: TrustOptions): boolean {
  let st: Stats
  try {
    st = lstatSync(path)
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return false
    throw insecure(`cannot check ${o.what} ${path}: ${errnoOf(e)}`)
  }
  checkFileStat(path, st, o)
  return true
}

export interface ReadTrustedOptions extends TrustOptions {
  /** Larger files are refused before they are read. */
  maxBytes: number
  /** Follow a symlink at the path itself (the config may be one); the file it leads to is still checked. Default false. */
  followSymlink?: boolean
}

/**
 * Reads a file root will act on, checking the file it actually opened (not
 * the name, which could change in between). null when it does not exist.
 */
export function readTrustedFile(path: string, o: ReadTrustedOptions): Buffer | null {
  let fd: number
  try {
    // O_NONBLOCK: a FIFO planted at the path must not hang the visor; it is refused below as not a regular file.
    fd = openSync(path, C.O_RDONLY | C.O_NOCTTY | C.O_NONBLOCK | ((o.followSymlink ?? false) ? 0 : C.O_NOFOLLOW))
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code
    if (code === 'ENOENT') return null
    if (code === 'ELOOP') throw insecure(`${o.what} ${path} is a symlink; root follows none in its own files`)
    throw new SkywireError(code === 'EACCES' ? 'EPERM' : 'ECONFIG', `cannot read ${o.what} ${path}: ${code ?? (e as Error).message}`, { cause: e })
  }
  try {
    const st = fstatSync(fd)
    checkFileStat(path, st, o)
    if (st.size > o.maxBytes) throw insecure(`${o.what} ${path} is ${st.size} bytes, more than the ${o.maxBytes} it can be`)
    const buf = Buffer.alloc(st.size)
    let off = 0
    while (off < buf.length) {
      const n = readSync(fd, buf, off, buf.length - off, off)
      if (n === 0) break
      off += n
    }
    return buf.subarray(0, off)
  } finally {
    closeSync(fd)
  }
}

export function fsyncDir(dir: string): void {
  const fd = openSync(dir, C.O_RDONLY | C.O_DIRECTORY)
  try {
    fsyncSync(fd)
  } finally {
    closeSync(fd)
  }
}

export interface AtomicWriteOptions {
  /** Permission bits of the new file; default 0600. */
  mode?: number
  /** Owner and group of the new file (only root can give files away); default: ours. */
  uid?: number
  gid?: number
  /**
   * Fail with EEXIST instead of replacing an existing `path` (the new file is
   * hard-linked into place, which, unlike rename, refuses to clobber; atomic).
   */
  noClobber?: boolean
}

// libuv adds O_CLOEXEC to every open, so the temp file never leaks into a child process.
const TMP_FLAGS = C.O_WRONLY | C.O_CREAT | C.O_EXCL | C.O_NOFOLLOW

/**
 * Replaces `path` with `data`, atomically and durably: a temp file next to it
 * (`<path>.tmp`), created exclusively and never through a symlink, with mode
 * 0600 until the final mode is set on the descriptor; written, fsync'd,
 * renamed over `path`, and the directory fsync'd. A reader sees the old file
 * or the new one, never a mix; a crash leaves at most the temp file, which
 * the next write removes (unlinking a name never follows it).
 * Throws the system error (with its errno code) for the caller to word.
 */
export function writeFileAtomic(path: string, data: string | Buffer, opts: AtomicWriteOptions = {}): void {
  const tmp = `${path}.tmp`
  let fd: number
  try {
    fd = openSync(tmp, TMP_FLAGS, 0o600)
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e
    // Left by a crash, or planted: either way it goes, and a fresh file is made in its place.
    unlinkSync(tmp)
    fd = openSync(tmp, TMP_FLAGS, 0o600)
  }
  try {
    try {
      // chown first: it clears set-id bits, and the mode must be the last word.
      if (opts.uid !== undefined || opts.gid !== undefined) fchownSync(fd, opts.uid ?? -1, opts.gid ?? -1)
      fchmodSync(fd, (opts.mode ?? 0o600) & 0o7777)
      const buf = typeof data === 'string' ? Buffer.from(data) : data
      let off = 0
      while (off < buf.length) off += writeSync(fd, buf, off, buf.length - off)
      fsyncSync(fd)
    } finally {
      closeSync(fd)
    }
    if (opts.noClobber ?? false) {
      linkSync(tmp, path)
      unlinkSync(tmp)
    } else {
      renameSync(tmp, path)
    }
  } catch (e) {
    try {
      unlinkSync(tmp)
    } catch {
      // already renamed or never there
    }
    throw e
  }
  fsyncDir(dirname(path))
}
