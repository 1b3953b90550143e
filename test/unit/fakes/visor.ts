/**
 * Wires a VPN client and/or server to a node the way the visor does
 * (ts/visor/visor.ts, init): transport-up to the server, control to the client
 * first and then the server, transport-down to both.
 */
import pino from 'pino'
import type { VpnClient } from '../../../ts/vpn/client.js'
import type { VpnServer } from '../../../ts/vpn/server.js'
import type { FakeNode } from './node.js'

export const silentLog = pino({ level: 'silent' })

export function wire(node: FakeNode, parts: { client?: VpnClient; server?: VpnServer }): void {
  node.on('transport-up', (s) => parts.server?.onTransportUp(s))
  node.on('control', ({ id, data }) => {
    if (!parts.client?.onControl(id, data)) parts.server?.onControl(id, data)
  })
  node.on('transport-down', ({ id, reason }) => {
    parts.server?.onTransportDown(id)
    parts.client?.onTransportDown(id, reason)
  })
}
