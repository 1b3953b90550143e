/**
 * Opening a transport to a visor: SUDPH (the core punches through the address
 * resolver) and STCPR (addresses from the address resolver), in the
 * configured order, within one deadline. Used by the VPN client and by
 * `skywire cli tp add`.
 */
import type { ServicesClient } from './client.js'
import { SkywireError } from '../contracts/errors.js'
import type { Node, TransportKind } from '../native/node.js'
import { noDirectPathReason } from './nat-diagnosis.js'

/**
 * When STCPR comes after SUDPH, SUDPH may use the time left minus this share
 * of it (at most STCPR_RESERVE_MAX_MS): a punch that fails must not use up the
 * whole deadline before STCPR is even tried.
 */
const STCPR_RESERVE = 0.3
const STCPR_RESERVE_MAX_MS = 5000

/** What dialing uses of the node (the VPN client passes its own view of it). */
export type DialNode = Pick<Node, 'dial' | 'sudphAddr' | 'observedAddr'>

export async function dialTransport(
  node: DialNode,
  services: ServicesClient | null,
  pk: string,
  order: readonly TransportKind[],
  deadline: number,
  progress: (stage: string) => void = () => {},
): Promise<{ id: number; transport: TransportKind }> {
  const errors: string[] = []
  // Offline: every way we tried says the peer is not registered (no TCP
  // address at the resolver, no SUDPH binding there): decided by code.
  let offline = true
  for (const t of order) {
    const left = deadline - Date.now()
    if (left <= 0) break
    try {
      if (t === 'sudph') {
        progress('punching a UDP path (SUDPH)')
        const later = order.slice(order.indexOf(t) + 1).includes('stcpr')
        const budget = later ? left - Math.min(STCPR_RESERVE_MAX_MS, left * STCPR_RESERVE) : left
        const id = await node.dial(pk, 'sudph', null, budget)
        return { id, transport: 'sudph' }
      }
      progress('looking up the TCP addresses (STCPR)')
      const r = services ? await services.resolve(pk) : null
      if (!r || r.stcpr.length === 0) {
        errors.push('stcpr: no TCP address registered (offline?)')
        continue
      }
      progress('connecting over TCP (STCPR)')
      const id = await node.dial(pk, 'stcpr', r.stcpr, deadline - Date.now())
      return { id, transport: 'stcpr' }
    } catch (err) {
      errors.push(`${t}: ${(err as Error).message}`)
      if (!(err instanceof SkywireError && err.code === 'ENOTBOUND')) offline = false
    }
  }
  if (errors.length === 0) throw new SkywireError('ETIMEOUT', `timed out connecting to ${pk}`)
  if (!offline && order.includes('sudph') && order.includes('stcpr')) {
    // Both failed: say why no direct path exists, when what we know explains it.
    const peer = services ? await services.resolve(pk).catch(() => null) : null
    const reason = noDirectPathReason(pk, { ourBound: node.sudphAddr, ourObserved: node.observedAddr, peer })
    if (reason) throw new SkywireError('EUNREACHABLE', reason)
  }
  throw new SkywireError(
    offline ? 'EOFFLINE' : 'EUNREACHABLE',
    offline ? `${pk} is offline (${errors.join('; ')})` : `cannot reach ${pk}: ${errors.join('; ')}`,
  )
}
