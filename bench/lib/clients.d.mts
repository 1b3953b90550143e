// Types for clients.mjs, for its unit tests (test/unit/bench).
export const CLIENTS_NET: {
  bridge: { ifname: string; addr: string; prefix: number }
  sudphPort: number
  tunNet: string
  tunName: string
  iperfBase: number
}
export const MAX_CLIENTS: number
export interface ClientSlot {
  i: number
  role: string
  serverIfname: string
  clientIfname: string
  linkAddr: string
  linkCidr: string
  tunAddr: string
  port: number
}
export function clientPlan(n: number): ClientSlot[]
export interface ClientsRun {
  aggregateGbps: number
  perClientGbps: number[]
  gbitTransferred: number
  serverCpuS: number
  clientsCpuS: number
  serverThreads: number | null
}
export function clientsRun(
  perClient: { bps: number; bytes: number }[],
  serverCpuS: number,
  clientsCpuS: number,
  serverThreads: number | null,
): ClientsRun
export function clientsSummary(runs: ClientsRun[]): {
  aggregateGbps: { median: number; min: number; max: number; spreadPct: number; n: number; values: number[] } | null
  perClientMinGbps: number | null
  perClientMaxGbps: number | null
  serverCpuSecondsPerGbit: number | null
  clientsCpuSecondsPerGbit: number | null
  serverThreadsMax: number | null
  gbitTransferred: number
}
