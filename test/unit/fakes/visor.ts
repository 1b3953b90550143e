/**
 * Wires a VPN client and/or server (and a hop) to a node the way the visor
 * does (ts/visor/visor.ts, init): transport-up to the server (a circuit's
 * via marked as carrying circuits), control frames through the visor's own
 * dispatchControl, splice-down to the hop, transport-down to all.
 */
import pino from 'pino'
import type { VpnClient } from '../../../ts/vpn/client.js'
import { circuitUp, dispatchControl } from '../../../ts/vpn/control-dispatch.js'
import type { HopService } from '../../../ts/vpn/hop.js'
import type { VpnServer } from '../../../ts/vpn/server.js'
import type { FakeNode } from './node.js'

export const silentLog = pino({ level: 'silent' })

export function wire(node: FakeNode, parts: { client?: VpnClient; server?: VpnServer; hop?: HopService }): void {
  node.on('transport-up', (s) => {
    circuitUp(parts, s)
    parts.server?.onTransportUp(s)
  })
  node.on('control', ({ id, data }) => dispatchControl(parts, id, data))
  node.on('splice-down', ({ fromId, fromCircuit }) => parts.hop?.onSpliceDown(fromId, fromCircuit))
  node.on('transport-down', ({ id, reason }) => {
    parts.server?.onTransportDown(id)
    parts.client?.onTransportDown(id, reason)
    parts.hop?.onTransportDown(id)
  })
}
