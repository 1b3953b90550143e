/**
 * The network lab used by the end-to-end tests, the benchmark and `npm run demo`:
 * namespaces, the design's test topology, probes. Needs root on Linux.
 */
export * from './netns.js'
export { buildTopology, labScript, INTERNET, LAB_NAMES, SERVER_LAN, NAT_TABLE } from './topology.js'
export type { DnsQueryLog } from './dns.js'
export type { Host, NatRouter, ServerHost, Topology, TopologyOptions } from './topology.js'
export { canHttpGet, httpGet, ping, snapshotNet } from './probe.js'
export type { NetSnapshot, PingResult } from './probe.js'
export { REGISTRY_DIR } from './registry.js'
