// The pure parts of the N-parallel-clients row (measures/clients.mjs): the address plan of the server's
// namespace and the clients', and the row's figures from its measured runs.
import { summary } from './stats.mjs'

/** The clients' and the server's side: one bridge in the server's namespace, one veth per client. */
export const CLIENTS_NET = {
  /** RFC 2544's benchmarking range (198.18.0.0/15); the two-hop row uses 198.18.0.0/24, this 198.19.0.0/24. */
  bridge: { ifname: 'mcbr0', addr: '198.19.0.1', prefix: 24 },
  sudphPort: 7779,
  /** The tunnel's own network: the server's TUN .1, client i's .(10 + i). */
  tunNet: '10.95.0',
  tunName: 'swc0',
  /** iperf3 server i listens on the server's TUN address, port iperfBase + i. */
  iperfBase: 5300,
}

/** Most clients the plan has addresses for (.11 to .250 of one /24). */
export const MAX_CLIENTS = 240

/**
 * Client i (1-based) of n: its namespace role, the veth ends (server side enslaved to the bridge), its
 * link address, TUN address and iperf3 port. Throws for n outside 1..MAX_CLIENTS.
 */
export function clientPlan(n) {
  if (!Number.isInteger(n) || n < 1 || n > MAX_CLIENTS) throw new RangeError(`clients must be an integer from 1 to ${MAX_CLIENTS}`)
  const { bridge, tunNet, iperfBase } = CLIENTS_NET
  const net = bridge.addr.split('.').slice(0, 3).join('.')
  return Array.from({ length: n }, (_, k) => {
    const i = k + 1
    return {
      i,
      role: `bench-mc${i}`,
      serverIfname: `mcs${i}`,
      clientIfname: 'mc0',
      linkAddr: `${net}.${10 + i}`,
      linkCidr: `${net}.${10 + i}/${bridge.prefix}`,
      tunAddr: `${tunNet}.${10 + i}`,
      port: iperfBase + i,
    }
  })
}

/**
 * One measured run of all clients at once: `perClient` [{ bps, bytes }] in client order, the server's and
 * the clients' CPU seconds (utime + stime) over it, the server's most threads seen.
 */
export function clientsRun(perClient, serverCpuS, clientsCpuS, serverThreads) {
  const bps = perClient.map((c) => c.bps)
  const gbit = perClient.reduce((s, c) => s + (c.bytes * 8) / 1e9, 0)
  return {
    aggregateGbps: bps.reduce((s, x) => s + x, 0) / 1e9,
    perClientGbps: bps.map((x) => x / 1e9),
    gbitTransferred: gbit,
    serverCpuS,
    clientsCpuS,
    serverThreads,
  }
}

/**
 * A variant's row from its runs: the aggregate (median and spread over the runs), the slowest and the
 * fastest single client over all runs, CPU seconds per Gbit of the server and of the clients together
 * (summed over the runs, divided by all Gbit received), and the server's most threads.
 */
export function clientsSummary(runs) {
  const gbit = runs.reduce((s, r) => s + r.gbitTransferred, 0)
  const per = runs.flatMap((r) => r.perClientGbps)
  const cpu = (k) => (gbit > 0 ? runs.reduce((s, r) => s + r[k], 0) / gbit : null)
  const threads = runs.map((r) => r.serverThreads).filter((t) => typeof t === 'number')
  return {
    aggregateGbps: summary(runs.map((r) => r.aggregateGbps)),
    perClientMinGbps: per.length ? Math.min(...per) : null,
    perClientMaxGbps: per.length ? Math.max(...per) : null,
    serverCpuSecondsPerGbit: cpu('serverCpuS'),
    clientsCpuSecondsPerGbit: cpu('clientsCpuS'),
    serverThreadsMax: threads.length ? Math.max(...threads) : null,
    gbitTransferred: gbit,
  }
}
