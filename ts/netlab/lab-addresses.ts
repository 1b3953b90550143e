/**
 * The lab's address plan (see the picture in topology.ts): pure constants, so
 * the topology's building steps and its users share them without importing
 * the builder.
 */
import { DEFAULT_LAB_DNS } from './netns.js'

export const INTERNET = {
  cidr: '203.0.113.0/24',
  gateway: '203.0.113.1',
  services: '203.0.113.10',
  serverPublic: '203.0.113.20',
  /** The second server's address (servers: 2). */
  server2Public: '203.0.113.21',
  /** The first hop's address (hops: N); the next one is .23. */
  hopFirst: '203.0.113.22',
  natcFirst: '203.0.113.30',
  nats: '203.0.113.40',
  whoami: '203.0.113.80',
  /** Every lab resolv.conf's nameserver. Assigned to the internet router so lookups fail fast (port unreachable) instead of hanging on ARP. */
  dns: DEFAULT_LAB_DNS,
  cidr6: '2001:db8:203::/64',
  gateway6: '2001:db8:203::1',
  whoami6: '2001:db8:203::80',
  services6: '2001:db8:203::10',
  serverPublic6: '2001:db8:203::20',
  server2Public6: '2001:db8:203::21',
  nats6: '2001:db8:203::40',
  /** The DNS server's IPv6 address: the nameserver of IPv6-only hosts. */
  dns6: '2001:db8:203::53',
} as const

/**
 * Global /64s of routers that route IPv6 instead of NAT66 (`clientV6`/`serverV6: 'routed'`),
 * from the documentation prefix like the internet's: client LAN i is 2001:db8:10:i::/64
 * (the routed twin of fd10:0:0:i::/64), the server's NAT LAN 2001:db8:20::/64 (twin of fd20::/64).
 */
export const ROUTED6 = {
  clientLan: (i: number) => (i === 0 ? '2001:db8:10::' : `2001:db8:10:${i}::`),
  serverLan: '2001:db8:20::',
} as const

export const SERVER_LAN = {
  cidr: '192.168.50.0/24',
  gateway: '192.168.50.1',
  lanhost: '192.168.50.10',
  cidr6: 'fd50::/64',
  gateway6: 'fd50::1',
  lanhost6: 'fd50::10',
} as const

/** The NAT table every lab router owns; its chains are `postrouting` and `prerouting`. */
export const NAT_TABLE = 'netlab_nat'

/** Names the lab DNS server answers; everything else is NXDOMAIN. */
export const LAB_NAMES = {
  whoami: 'whoami.lab',
  services: 'services.lab',
} as const
