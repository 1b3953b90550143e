/** Reading and writing the visor config file. */
import { constants as fsc } from 'node:fs'
import { open, readFile } from 'node:fs/promises'
import type { z } from 'zod'
import { ConfigError, SkywireError } from '../errors.js'
import { generateIdentity, publicKeyOf } from '../keys.js'
import { configSchema, type Config, type ConfigInput } from './schema.js'

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

/** A complete config with a fresh identity and every default filled in. */
export function generateConfig(overrides: Partial<Omit<ConfigInput, 'pk' | 'sk' | 'version'>> = {}): Config {
  const id = generateIdentity()
  return parseConfig({ ...overrides, version: 1, pk: id.publicKey, sk: id.secretKey }, 'generated config')
}

/**
 * Write the config with mode 0600, created exclusively unless `force`, so a
 * generated identity never silently replaces an existing one.
 */
export async function writeConfig(file: string, cfg: Config, force = false): Promise<void> {
  const flags = fsc.O_WRONLY | fsc.O_CREAT | (force ? fsc.O_TRUNC : fsc.O_EXCL)
  let fh
  try {
    fh = await open(file, flags, 0o600)
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code
    if (code === 'EEXIST') throw new SkywireError('EEXIST', `${file} already exists (use --force to overwrite)`)
    if (code === 'ENOENT') throw new SkywireError('ECONFIG', `cannot write ${file}: its directory does not exist`)
    if (code === 'EACCES') throw new SkywireError('EPERM', `cannot write ${file}: permission denied`)
    throw new SkywireError('ECONFIG', `cannot write ${file}: ${String(code)}`)
  }
  try {
    // O_CREAT's mode only applies to a new file; an overwritten one keeps
    // its old mode unless we set it.
    await fh.chmod(0o600)
    await fh.writeFile(JSON.stringify(cfg, null, 2) + '\n')
  } finally {
    await fh.close()
  }
}

/** The config as it may be shown: the secret key is never printed. */
export function redactConfig(cfg: Config): Omit<Config, 'sk'> {
  const { sk: _sk, ...rest } = cfg
  return rest
}
