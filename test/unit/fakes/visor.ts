/**
 * Wires a VPN client and/or server (and a hop) to a node the way the visor
 * does (ts/visor/visor.ts, init): transport-up to the server, control by type
 * (forward to the hop, forward-status to the client's route builder, the rest
 * to the client first and then the server), transport-down to all.
 */
import pino from 'pino'
import type { VpnClient } from '../../../ts/vpn/client.js'
import type { HopService } from '../../../ts/vpn/hop.js'
import { hopMessageType } from '../../../ts/vpn/hop-protocol.js'
import type { VpnServer } from '../../../ts/vpn/server.js'
import type { FakeNode } from './node.js'

export const silentLog = pino({ level: 'silent' })

export function wire(node: FakeNode, parts: { client?: VpnClient; server?: VpnServer; hop?: HopService }): void {
  node.on('transport-up', (s) => {
    if (s.via !== undefined) parts.server?.carriesCircuits(s.via)
    parts.server?.onTransportUp(s)
  })
  node.on('control', ({ id, data }) => {
    const t = hopMessageType(data)
    if (t === 'forward') {
      void parts.hop?.onControl(id, data).then((st) => {
        if (st?.status === 'ok') parts.server?.carriesCircuits(id)
      })
      return
    }
    if (t === 'forward-status') {
      parts.client?.onControl(id, data)
      return
    }
    if (!parts.client?.onControl(id, data)) parts.server?.onControl(id, data)
  })
  node.on('splice-down', ({ fromId, fromCircuit }) => parts.hop?.onSpliceDown(fromId, fromCircuit))
  node.on('transport-down', ({ id, reason }) => {
    parts.server?.onTransportDown(id)
    parts.client?.onTransportDown(id, reason)
    parts.hop?.onTransportDown(id)
  })
}
