/**
 * The network lab used by the end-to-end tests, the benchmark and `npm run demo`:
 * namespaces, the design's test topology, probes. Needs root on Linux, and the
 * compiled dist/netlab/{whoami,dns}.js (the lab runs them inside namespaces).
 *
 * ```ts
 * const t = await buildTopology({ serverBehindNat: false })
 * try {
 *   const visor = t.lab.spawn(t.server.ns, ['node', 'bin/run.js', 'visor', '-c', cfg])
 *   await visor.waitForOutput(/started/, 10_000)
 *   expect(await t.curlWhoami(t.client.ns)).toBe(t.natc.wanAddr)
 *   const before = await t.snapshotNet(t.client.ns)   // compare after disconnect
 * } finally {
 *   await t.close()   // or t.teardown() (sync); the exit/signal handlers do it too
 * }
 * ```
 */
export * from './netns.js'
export { buildTopology, labScript, INTERNET, LAB_NAMES, ROUTED6, SERVER_LAN, NAT_TABLE } from './topology.js'
export type { ForwardCounter, Host, NatRouter, PacketCount, RouterV6, ServerHost, Stack, Topology, TopologyOptions } from './topology.js'
export type { DnsQueryLog } from './dns.js'
export { canHttpGet, httpGet, ping, snapshotNet } from './probe.js'
export type { NetSnapshot, PingResult } from './probe.js'
export { REGISTRY_DIR } from './registry.js'
