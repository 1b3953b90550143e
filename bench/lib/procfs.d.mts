// Types for the thread sampling of procfs.mjs, for its unit tests (test/unit/bench).
export function processThreads(pid: number): { name: string | null; threads: number | null } | null
export function watchThreads(
  pids: number[],
  everyMs?: number,
): { stop(): { pid: number; name: string | null; first: number | null; max: number | null }[] }
