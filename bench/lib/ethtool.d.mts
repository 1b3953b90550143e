// Types for ethtool.mjs, for its unit tests (test/unit/bench).
export interface Offloads {
  features: Record<string, boolean>
  fixed: string[]
  requested: Record<string, boolean>
}
export function parseEthtoolFeatures(text: string): Offloads
export const KEY_OFFLOADS: Record<string, string>
export function offloadSummary(parsed: Offloads | { error: string } | null | undefined): string
