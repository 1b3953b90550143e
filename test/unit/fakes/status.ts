/** A VPN client status as a disconnected client reports it, with `o` on top (the shape is the contract's). */
import type { VpnClientStatus } from '../../../ts/contracts/status.js'

export function clientStatus(o: Partial<VpnClientStatus> = {}): VpnClientStatus {
  return {
    state: 'disconnected',
    transportId: null,
    server: null,
    transport: null,
    remote: null,
    tunnelIp: null,
    tun: null,
    dns: [],
    rxBytes: 0,
    txBytes: 0,
    rxPackets: 0,
    txPackets: 0,
    latencyMs: null,
    lastPacketMs: null,
    rekeys: 0,
    connectedAt: null,
    uptimeS: null,
    lastError: null,
    killswitch: false,
    ...o,
  }
}
