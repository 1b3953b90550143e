/**
 * What each pairing should do, from how the NAT kinds map and filter
 * (ts/netlab/nat-kinds.ts). The matrix marks cells that differ; the test
 * asserts the deterministic ones.
 *
 * SUDPH: the dialer (client) probes the server's observed mapping while the
 * server punches towards the client's; a punch arriving from another port than
 * the resolver saw becomes a target (sudph.rs), so a symmetric or ICMP-answering
 * NAT on one side is fine when the other side lets in whatever comes from the
 * peer's address (full cone, address-restricted, public). Two NATs that each
 * accept only the exact port they sent to cannot meet when one of them changes
 * the port: symmetric always does; the icmp kind does when the peer's first
 * packet beats its own host's first punch. With no latency in the lab that is
 * decided by who sends first: the server ('race' is kept for kinds where
 * neither side can know).
 * STCPR: only to a reachable server (public, or on the same LAN).
 */
import type { SiteKind } from '../nat-kinds.js'
import type { Pairing } from './run.js'

export type Expect = 'ok' | 'fail' | 'race'

const OPEN: SiteKind[] = ['public', 'full-cone', 'address-restricted']

export function expectSudph(p: Pairing): Expect {
  if (p.sameNat) return 'ok' // LAN addresses, or hairpinning
  const { client: c, server: s } = p
  if (OPEN.includes(c) || OPEN.includes(s)) return 'ok'
  if (c === 'symmetric' || s === 'symmetric') return 'fail'
  // The dialer gives a server behind a NAT a head start (sudph.rs HEAD_START), so the
  // server's punch leaves before the client's first packet can provoke its NAT; the
  // price: an ICMP-answering NAT on the client's side is provoked by that punch.
  if (c === 'icmp') return 'fail'
  return 'ok'
}

export function expectStcpr(p: Pairing): Expect {
  return p.sameNat || p.server === 'public' ? 'ok' : 'fail'
}
