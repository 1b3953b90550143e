// Types for png.mjs, so TypeScript (the soak's chart, ts/netlab/soak/chart.ts) can share it.
export type RGB = [number, number, number]
export class Canvas {
  constructor(width: number, height: number, bg?: RGB)
  readonly width: number
  readonly height: number
  rect(x: number, y: number, w: number, h: number, color: RGB): void
  text(x: number, y: number, str: string | number, color: RGB, scale?: number): number
  static textWidth(str: string | number, scale?: number): number
  png(): Buffer
}
export function barChart(opts: {
  title: string
  subtitle?: string
  unit: string
  series: string[]
  groups: { label: string; values: ({ value: number; min?: number; max?: number } | null)[] }[]
  scaleMax?: number
}): Buffer
