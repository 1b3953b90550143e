// Types for order.mjs, for its unit tests (test/unit/bench).
export function interleavedOrder<T>(names: T[], rounds: number): T[][]
