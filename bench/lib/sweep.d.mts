// Types for sweep.mjs, for its unit tests (test/unit/bench).
export interface SweepMeasure {
  sentPps: number
  receivedPps: number
  lossPct: number | null
}
export type SweepStep<M extends SweepMeasure> = M & { offeredPps: number; pass: boolean; senderShort: boolean }
export function sweepRate<M extends SweepMeasure>(
  measure: (offeredPps: number) => Promise<M>,
  opts: { startPps: number; maxLossPct: number; precision?: number; maxSteps?: number; minPps?: number; maxPps?: number },
): Promise<{ best: SweepStep<M> | null; failedAt: number | null; senderLimited: boolean; steps: SweepStep<M>[] }>
