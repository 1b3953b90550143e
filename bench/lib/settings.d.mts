// Types for settings.mjs, for its unit tests (test/unit/bench).
export const SUBJECTS: string[]
export const EXTRAS: string[]
export class BenchInputError extends Error {}
export interface Settings {
  seconds: number
  repeat: number
  warmup: number
  pings: number
  udpPacket: number
  udpSeconds: number
  udpLossPct: number
  connects: number
  sessions: number
  sessionRate: number
  maxLoad: number
  allowLoaded: boolean
  only: string[]
}
export const USAGE: string
export function parseSettings(
  argv: string[],
  env: Record<string, string | undefined>,
  cores: number,
): { mode: 'run'; settings: Settings } | { mode: 'help' } | { mode: 'report' | 'chart'; file: string }
export function wanted(settings: Settings, name: string): boolean
