// Types for provenance.mjs, for its unit tests (test/unit/bench).
export function changedPaths(porcelainZ: string): string[]
export function gitState(
  root: string,
): { commit: string; date: string; subject: string; dirty: boolean; dirtyFiles: string[]; dirtyCount: number } | { error: string }
