/**
 * Library entry point: the same API the `skywire` CLI is built on.
 *
 * ```ts
 * import { generateConfig, writeConfig } from 'skywire-vpn'
 * await writeConfig('skywire-config.json', generateConfig())
 * ```
 */
export { ConfigError, ExitCode, NotAvailableError, SkywireError } from './errors.js'
export type { ErrorCode } from './errors.js'
export { configSchema, parseHostPort } from './config/schema.js'
export type { Config, ConfigInput } from './config/schema.js'
export { generateConfig, loadConfig, parseConfig, redactConfig, writeConfig } from './config/file.js'
export { generateIdentity, isPublicKey, parsePublicKey, parsePublicKeyList, publicKeyOf } from './keys.js'
export type { Identity } from './keys.js'
