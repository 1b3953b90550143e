/**
 * Opening a transport to a visor: SUDPH (the core punches through the address
 * resolver, over IPv6 and IPv4) and STCPR (addresses of both families from the
 * address resolver), raced in the configured order (happy eyeballs: the first
 * up wins), within one deadline. Used by the VPN client and by
 * `skywire cli tp add`.
 */
import type { ServicesClient } from './client.js'
import { SkywireError } from '../contracts/errors.js'
import type { Node, TransportKind } from '../native/node.js'
import { noDirectPathReason } from './nat-diagnosis.js'

/**
 * Happy eyeballs between transports: the first of the order starts at once, the next this long after it (or at
 * once when it fails), both run on within the one deadline, the first transport up is taken and a later one
 * closed. Long enough that a hole punch that works (the core's probes go out at 0, 50, 100, 200, 400 and 800 ms)
 * usually wins and SUDPH stays the preferred transport; short enough that a punch that cannot work costs a
 * second, not most of the deadline before STCPR is even tried (the old sequential order).
 */
export const TRANSPORT_STAGGER_MS = 1000

/** What dialing uses of the node (the VPN client passes its own view of it). */
export type DialNode = Pick<Node, 'dial' | 'sudphAddr' | 'observedAddr' | 'closeTransport'>

/** One transport's attempt: the transport id, or a thrown error. */
async function dialOne(
  node: DialNode,
  services: ServicesClient | null,
  pk: string,
  t: TransportKind,
  deadline: number,
  progress: (stage: string) => void,
): Promise<number> {
  if (t === 'sudph') {
    progress('punching a UDP path (SUDPH)')
    return node.dial(pk, 'sudph', null, Math.max(1, deadline - Date.now()))
  }
  progress('looking up the TCP addresses (STCPR)')
  const r = services ? await services.resolve(pk) : null
  if (!r || r.stcpr.length === 0) throw new NoStcprAddress()
  progress('connecting over TCP (STCPR)')
  // IPv6 and IPv4 addresses alike: the core tries them interleaved, 250 ms apart (RFC 8305).
  return node.dial(pk, 'stcpr', r.stcpr, Math.max(1, deadline - Date.now()))
}

class NoStcprAddress extends Error {
  constructor() {
    super('no TCP address registered (offline?)')
  }
}

export async function dialTransport(
  node: DialNode,
  services: ServicesClient | null,
  pk: string,
  order: readonly TransportKind[],
  deadline: number,
  progress: (stage: string) => void = () => {},
  staggerMs = TRANSPORT_STAGGER_MS,
): Promise<{ id: number; transport: TransportKind }> {
  // Per attempt, in the order's order, so the message lists them as before.
  const errors: (string | undefined)[] = []
  // Offline: every way we tried says the peer is not registered (no TCP
  // address at the resolver, no SUDPH binding there): decided by code.
  let offline = true
  let won: { id: number; transport: TransportKind } | null = null
  const running = new Set<Promise<void>>()
  const start = (t: TransportKind, i: number): Promise<void> => {
    const p = dialOne(node, services, pk, t, deadline, progress).then(
      (id) => {
        if (won === null) won = { id, transport: t }
        else closeQuietly(node, id) // the loser: a transport nobody will use
      },
      (err: unknown) => {
        errors[i] = `${t}: ${(err as Error).message}`
        if (!(err instanceof NoStcprAddress) && !(err instanceof SkywireError && err.code === 'ENOTBOUND')) offline = false
      },
    )
    running.add(p)
    void p.finally(() => running.delete(p))
    return p
  }
  for (const [i, t] of order.entries()) {
    if (won !== null || Date.now() >= deadline) break
    const p = start(t, i)
    if (i === order.length - 1) break
    // The next starts after the stagger, or as soon as this one ended (failed, or won: then the loop ends).
    await raceTimeout(p, Math.min(staggerMs, Math.max(0, deadline - Date.now())))
  }
  while (won === null && running.size > 0) await Promise.race(running)
  if (won !== null) return won
  const failed = errors.filter((e): e is string => e !== undefined)
  if (failed.length === 0) throw new SkywireError('ETIMEOUT', `timed out connecting to ${pk}`)
  if (!offline && order.includes('sudph') && order.includes('stcpr')) {
    // Both failed: say why no direct path exists, when what we know explains it.
    const peer = services ? await services.resolve(pk).catch(() => null) : null
    const reason = noDirectPathReason(pk, { ourBound: node.sudphAddr, ourObserved: node.observedAddr, peer })
    if (reason) throw new SkywireError('EUNREACHABLE', reason)
  }
  throw new SkywireError(
    offline ? 'EOFFLINE' : 'EUNREACHABLE',
    offline ? `${pk} is offline (${failed.join('; ')})` : `cannot reach ${pk}: ${failed.join('; ')}`,
  )
}

/** Waits for `p` or `ms`, whichever comes first, leaving no timer behind. */
async function raceTimeout(p: Promise<unknown>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined
  await Promise.race([p, new Promise<void>((r) => (timer = setTimeout(r, ms)))])
  clearTimeout(timer)
}

function closeQuietly(node: DialNode, id: number): void {
  try {
    node.closeTransport(id)
  } catch {
    // already gone
  }
}
