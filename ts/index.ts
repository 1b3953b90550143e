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

// The visor and its parts: what `skywire visor` runs.
export { Visor, VPN_PORT } from './visor/visor.js'
export type { VisorOptions, VisorStatus } from './visor/visor.js'
export { VisorClient, DEFAULT_RPC } from './visor/rpc-client.js'
export type { RemoteStatus } from './visor/rpc-client.js'
export { Node } from './visor/core-node.js'
export type { NodeOptions, TransportDescription, TransportDown, TransportKind, TransportUp } from './visor/core-node.js'
/** @deprecated Old names of `Node`, `NodeOptions`, `TransportUp` and `TransportKind`. */
export { CoreNode } from './visor/core-node.js'
export type { CoreNodeOptions, SessionUp, TransportType } from './visor/core-node.js'
export { VpnClient } from './vpn/client.js'
export type { VpnClientStatus, ClientState } from './vpn/client.js'
export { VpnServer } from './vpn/server.js'
export type { VpnServerStatus, ServerClientInfo } from './vpn/server.js'

// The discovery services and their client.
export { ServicesClient, ServicesRequestError } from './discovery/client.js'
export type { ResolveResult, ServiceEntry, TransportEntry, ServiceQuery } from './discovery/client.js'
export { startServices } from './services/server.js'
