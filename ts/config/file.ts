/** Reading and writing the visor config file. */
import { statSync } from 'node:fs'
import { readFile } from 'node:fs/promises'
import type { z } from 'zod'
import { ConfigError, SkywireError } from '../contracts/errors.js'
import { generateIdentity, publicKeyOf } from '../native/keys.js'
import { checkParentDirs, readTrustedFile, trustedUid, writeFileAtomic } from '../sys/safe-file.js'
import { configSchema, type Config, type ConfigInput } from './schema.js'

/**
 * The largest config root reads. The biggest legitimate one is a 10000-key
 * whitelist (the schema's cap), about 720 KB formatted.
 */
export const MAX_CONFIG_BYTES = 4 * 1024 * 1024

/** One line per problem: `services.url: must be an http(s) URL`. */
export function describeIssues(issues: z.core.$ZodIssue[]): string[] {
  return issues.map((i) => `${i.path.length ? i.path.join('.') : '(root)'}: ${i.message}`)
}

/** Validate a parsed config object; `source` names it in errors. */
export function parseConfig(raw: unknown, source: string): Config {
  const res = configSchema.safeParse(raw)
  if (!res.success) throw new ConfigError(source, describeIssues(res.error.issues))
  const cfg = res.data
  let derived: string
  try {
    derived = publicKeyOf(cfg.sk)
  } catch {
    throw new ConfigError(source, ['sk: is not a valid secret key'])
  }
  if (derived !== cfg.pk) throw new ConfigError(source, ['pk: does not match sk'])
  return cfg
}

export async function loadConfig(file: string): Promise<Config> {
  let text: string
  try {
    text = await readFile(file, 'utf8')
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code
    const why = code === 'ENOENT' ? 'no such file' : code === 'EACCES' ? 'permission denied' : String(code)
    throw new SkywireError('ECONFIG', `cannot read config ${file}: ${why}`)
  }
  let raw: unknown
  try {
    raw = JSON.parse(text)
  } catch (err) {
    throw new SkywireError('ECONFIG', `config ${file} is not valid JSON: ${(err as Error).message}`)
  }
  return parseConfig(raw, file)
}

/**
 * The config as root may use it: the file must be ours, not writable by group
 * or others (they would choose root's data dir, sockets and firewall), and,
 * since it holds the secret key, not readable by them either: a config that
 * leaks the identity is refused rather than warned about, as ssh does with
 * keys, because a warning in a daemon's log is read after the key is gone.
 * Its directories must be safe too. Returns the real path (no symlinks), the
 * one settings are saved to.
 */
export function loadTrustedConfig(file: string): { config: Config; path: string } {
  const path = checkParentDirs(file, 'config')
  const buf = readTrustedFile(path, { what: 'config', secret: true, maxBytes: MAX_CONFIG_BYTES })
  if (buf === null) throw new SkywireError('ECONFIG', `cannot read config ${file}: no such file`)
  let raw: unknown
  try {
    raw = JSON.parse(buf.toString('utf8'))
  } catch (err) {
    throw new SkywireError('ECONFIG', `config ${path} is not valid JSON: ${(err as Error).message}`)
  }
  return { config: parseConfig(raw, path), path }
}

/** The `vpnServer` fields `vpn server start` may change at run time. */
export interface VpnServerSettings {
  netifc?: string
  secure?: boolean
  whitelist?: string[]
}

/**
 * Writes run-time VPN server settings into the config file, so a restart
 * keeps them (a whitelist that vanished at restart would reopen the server
 * to everyone). See saveConfigSection.
 */
export function saveVpnServerSettings(file: string, settings: VpnServerSettings): { path: string; changed: boolean } {
  return saveConfigSection(file, 'vpnServer', { ...settings }, 'the VPN server settings')
}

/** The `vpnClient` fields `vpn set` changes (the rest of the section is left as it is). */
export interface VpnClientSettings {
  killswitch?: boolean
  lockdown?: boolean
  allowLan?: boolean
  dns?: string[]
  autoConnect?: string
}

/** Writes `vpn set`'s settings into the config file's vpnClient section. See saveConfigSection. */
export function saveVpnClientSettings(file: string, settings: VpnClientSettings): { path: string; changed: boolean } {
  return saveConfigSection(file, 'vpnClient', { ...settings }, 'the VPN client settings')
}

/**
 * Sets fields of one section of the config file. Edits the JSON as it is:
 * every other field, unknown ones included, keeps its value and place; the
 * file keeps its mode, owner, indentation and final newline. The file must
 * pass the same checks as at visor start (ours, not group/world-writable or
 * readable, safe directories; a symlink is followed to its real path, which
 * must pass them too). Validated before writing, written atomically (a temp
 * file renamed over it): a reader or a crash never sees half a config.
 * Returns the real path and whether anything changed.
 */
export function saveConfigSection(
  file: string,
  section: 'vpnServer' | 'vpnClient',
  settings: Record<string, unknown>,
  what: string,
): { path: string; changed: boolean } {
  const path = checkParentDirs(file, 'config')
  const fail = (e: unknown) => {
    if (e instanceof SkywireError) return e
    const code = (e as NodeJS.ErrnoException).code
    const perm = code === 'EACCES' || code === 'EPERM' || code === 'EROFS'
    return new SkywireError(perm ? 'EPERM' : 'ECONFIG', `cannot save ${what} to ${path}: ${code ?? (e as Error).message}`, {
      cause: e,
    })
  }
  try {
    const buf = readTrustedFile(path, { what: 'config', secret: true, maxBytes: MAX_CONFIG_BYTES })
    if (buf === null) throw new SkywireError('ECONFIG', `cannot save ${what}: config ${path} is gone`)
    const text = buf.toString('utf8')
    const raw = JSON.parse(text) as unknown
    if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) throw new SkywireError('ECONFIG', `config ${path} is not a JSON object`)
    const obj = raw as Record<string, unknown>
    const old = obj[section]
    const oldSec = old !== null && typeof old === 'object' && !Array.isArray(old) ? (old as Record<string, unknown>) : {}
    const sec: Record<string, unknown> = { ...oldSec }
    for (const [k, v] of Object.entries(settings)) if (v !== undefined) sec[k] = v
    if (JSON.stringify(sec) === JSON.stringify(old)) return { path, changed: false }
    // Spreading keeps every key where it was; a config without the section gets it at the end.
    const next = { ...obj, [section]: sec }
    parseConfig(next, path)
    const indent = /^\{\r?\n([ \t]+)"/.exec(text)?.[1] ?? (text.includes('\n') ? '  ' : '')
    const out = JSON.stringify(next, null, indent) + (text.endsWith('\n') ? '\n' : '')
    const st = statSync(path)
    writeFileAtomic(path, out, { mode: st.mode & 0o7777, ...(trustedUid() === 0 ? { uid: st.uid, gid: st.gid } : {}) })
    return { path, changed: true }
  } catch (e) {
    throw fail(e)
  }
}

/** A complete config with a fresh identity and every default filled in. */
export function generateConfig(overrides: Partial<Omit<ConfigInput, 'pk' | 'sk' | 'version'>> = {}): Config {
  const id = generateIdentity()
  return parseConfig({ ...overrides, version: 1, pk: id.publicKey, sk: id.secretKey }, 'generated config')
}

/**
 * Write the config with mode 0600, created exclusively unless `force`, so a
 * generated identity never silently replaces an existing one. Atomic, through
 * a temp file that never follows a planted symlink: a reader (or a crash)
 * never sees half a config, and `--force` over a symlink replaces the link,
 * never the file it points to.
 */
export async function writeConfig(file: string, cfg: Config, force = false): Promise<void> {
  try {
    writeFileAtomic(file, JSON.stringify(cfg, null, 2) + '\n', { mode: 0o600, noClobber: !force })
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code
    if (code === 'EEXIST') throw new SkywireError('EEXIST', `${file} already exists (use --force to overwrite)`)
    if (code === 'ENOENT') throw new SkywireError('ECONFIG', `cannot write ${file}: its directory does not exist`)
    if (code === 'EACCES') throw new SkywireError('EPERM', `cannot write ${file}: permission denied`)
    throw new SkywireError('ECONFIG', `cannot write ${file}: ${String(code)}`)
  }
}

/** The config as it may be shown: the secret key is never printed. */
export function redactConfig(cfg: Config): Omit<Config, 'sk'> {
  const { sk: _sk, ...rest } = cfg
  return rest
}
