/**
 * Constants more than one layer needs (and the web UI may): no node: imports.
 */

/** A public or secret key as it appears in configs, URLs and JSON: 64 lowercase hex characters. */
export const PK_PATTERN = /^[0-9a-f]{64}$/

/** The transport kinds (Skywire's words): STCPR (TCP to a registered address), SUDPH (UDP hole punched via the resolver). */
export const TRANSPORT_KINDS = ['stcpr', 'sudph'] as const

/** The visor's control socket when `--rpc` is not given (root only). */
export const DEFAULT_RPC = '/run/skywire/visor.sock'

/** At most this many hops on a route (ts/vpn/hop-pick.ts MAX_HOPS says the same). */
export const MAX_ROUTE_HOPS = 4
