// Types for load.mjs, for its unit tests (test/unit/bench).
export function loadVerdict(
  load1: number,
  settings: { maxLoad: number; allowLoaded: boolean },
): { load1: number; maxLoad: number; over: boolean; refuse: string | null }
