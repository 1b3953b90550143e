// Types for folded.mjs, for its unit tests (test/unit/bench).
export const KINDS: { key: string; label: string; test: (frame: string, kernel: boolean) => boolean }[]
export function parseFoldedLine(line: string): { frames: string[]; count: number } | null
export interface FoldedSummary {
  samples: number
  top: { symbol: string; kernel: boolean; samples: number; share: number | null }[]
  kinds: Record<string, number | null>
  inSyscall: number | null
}
export function summarizeFolded(text: string, top?: number): FoldedSummary
export function formatSummary(title: string, s: FoldedSummary, unit?: string, width?: number): string[]
