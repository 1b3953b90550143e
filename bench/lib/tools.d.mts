// Types for the pure parts of tools.mjs, for its unit tests (test/unit/bench).
export const WIREGUARD_GO: { module: string; version: string }
export const BORINGTUN: { crate: string; version: string }
export function parseGoBuildInfo(text: string): { go: string | null; module: string | null; version: string | null }
export function parseCargoInstallList(text: string, crate: string): string | null
export const INFERNO: { crate: string; version: string }
