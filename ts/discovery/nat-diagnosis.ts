/**
 * Why no direct transport to a visor can exist, in one line, from what this
 * visor already knows when both transports failed: its own SUDPH mapping (the
 * address resolver's bind ack) and the peer's entry at the address resolver
 * (its STCPR addresses, its SUDPH observed and LAN addresses).
 *
 * Mapping behaviour is read from the port: NATs with endpoint-independent
 * mapping (full cone, address- and port-restricted; Linux masquerade, most
 * home routers) keep the socket's port when it is free, so an observed port
 * that differs from the bound one means the NAT picks ports itself, as a
 * symmetric NAT (a new port per destination) does. That is a strong hint, not
 * a proof (some cone NATs renumber too), so the line says what it saw.
 */
import { parseHostPort } from '../sys/host-port.js'
import type { ResolveResult } from './client.js'
import { classifyIp } from '../sys/addr-policy.js'

export interface NatFacts {
  /** Our SUDPH socket's bound address (host may be a wildcard). */
  ourBound: string | null
  /** Where the address resolver sees it. */
  ourObserved: string | null
  /** The peer's entry at the address resolver, when it has one. */
  peer: ResolveResult | null
}

type Side = 'public' | 'cone' | 'symmetric' | 'unknown'

function port(a: string | null | undefined): number | null {
  const hp = a ? parseHostPort(a) : null
  return hp ? hp.port : null
}
function host(a: string | null | undefined): string | null {
  const hp = a ? parseHostPort(a) : null
  return hp ? hp.host : null
}

function ourSide(f: NatFacts): Side {
  const bound = port(f.ourBound)
  const seen = port(f.ourObserved)
  if (bound === null || seen === null) return 'unknown'
  const boundHost = host(f.ourBound)
  if (boundHost === host(f.ourObserved)) return 'public'
  return seen === bound ? 'cone' : 'symmetric'
}

function peerSide(p: ResolveResult | null): Side {
  const seen = p?.sudph?.observed ?? null
  if (!p || !seen) return 'unknown'
  const locals = p.sudph?.local ?? []
  const seenHost = host(seen)
  if (locals.some((l) => host(l) === seenHost) || p.stcpr.some((a) => host(a) === seenHost)) return 'public'
  if (locals.length === 0) return 'unknown'
  return locals.some((l) => port(l) === port(seen)) ? 'cone' : 'symmetric'
}

/** True when none of the peer's STCPR addresses could be reached from the internet (all private, or none). */
function stcprUnreachable(p: ResolveResult | null): boolean {
  if (!p) return true
  return p.stcpr.every((a) => {
    const h = host(a)
    return h === null || classifyIp(h) !== 'global'
  })
}

/**
 * The reason, or null when the facts do not explain the failure (then the
 * caller reports the transports' own errors). `behindNat` is about the peer:
 * its SUDPH address differs from every TCP address it registered.
 */
export function noDirectPathReason(pk: string, f: NatFacts): string | null {
  const us = ourSide(f)
  const them = peerSide(f.peer)
  const tcpPrivate = stcprUnreachable(f.peer) && them !== 'public'
  let udp: string | null = null
  if (us === 'symmetric' && them === 'symmetric') {
    udp = 'both sides are behind symmetric NATs (each maps the UDP port anew per destination); SUDPH hole punching cannot work'
  } else if (us === 'symmetric' && them === 'cone') {
    udp =
      "this side is behind a symmetric NAT (it maps the UDP port anew per destination) and the server's NAT lets in only the ports it sent to; SUDPH hole punching cannot work"
  } else if (us === 'cone' && them === 'symmetric') {
    udp =
      "the server is behind a symmetric NAT (it maps the UDP port anew per destination) and this side's NAT lets in only the ports it sent to; SUDPH hole punching cannot work"
  } else if (us !== 'public' && them !== 'public' && them !== 'unknown') {
    udp = 'SUDPH hole punching got no answer through the two NATs (one of them may answer probes itself, or filter more strictly)'
  }
  if (udp === null) return null
  const tcp = tcpPrivate
    ? 'STCPR needs a reachable server and this one is behind a NAT with no TCP port forwarded'
    : 'STCPR to its registered addresses failed too'
  return `no direct path to ${pk}: ${udp}; ${tcp}`
}
