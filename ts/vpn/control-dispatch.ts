/**
 * Who gets a control frame, by its type: the hop's `forward` to the hop
 * service (which answers even when forwarding is off), its `forward-status`
 * to the VPN client's route builder that asked, everything else to the VPN
 * client, then the VPN server. One function for the visor (ts/visor/visor.ts)
 * and the unit tests' wiring, so the tests run the routing the visor runs.
 *
 * A 0.3.0 visor has no such routing: its VPN server closes a transport on
 * `forward`, which is why clients send it only to visors they chose as hops.
 */
import type { TransportUp } from '../native/node.js'
import { hopMessageType, type ForwardStatus } from './hop-protocol.js'

export interface ControlParts {
  client?: { onControl(id: number, data: Buffer): boolean }
  server?: { onControl(id: number, data: Buffer): boolean; carriesCircuits(id: number): void }
  hop?: { onControl(id: number, data: Buffer): Promise<ForwardStatus | null> }
}

/** Hands the frame to its part; false when nobody took it (the visor logs that). */
export function dispatchControl(p: ControlParts, id: number, data: Buffer): boolean {
  const hopType = hopMessageType(data)
  if (hopType === 'forward') {
    void p.hop?.onControl(id, data).then((st) => {
      // A forwarding client says no hello to our VPN server: its transport is not closed for that.
      if (st?.status === 'ok') p.server?.carriesCircuits(id)
    })
    return p.hop !== undefined
  }
  // An answer nobody asked for is dropped, never taken for a VPN message.
  if (hopType === 'forward-status') return p.client?.onControl(id, data) ?? false
  return (p.client?.onControl(id, data) ?? false) || (p.server?.onControl(id, data) ?? false)
}

/** A circuit came up through a hop's transport to us: that transport carries circuits, never a hello of its own. */
export function circuitUp(p: Pick<ControlParts, 'server'>, up: Pick<TransportUp, 'via'>): void {
  if (up.via !== undefined && up.via !== null) p.server?.carriesCircuits(up.via)
}
