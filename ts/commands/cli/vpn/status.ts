import { VisorCommand } from '../../../cli/base.js'
import { formatBytes, formatDuration } from '../../../cli/format.js'

export default class VpnStatus extends VisorCommand {
  static override summary = "Show the VPN client's state: server, transport, tunnel IP, traffic, latency, uptime."
  static override examples = ['<%= config.bin %> cli vpn status', '<%= config.bin %> cli vpn status --json']

  async run(): Promise<unknown> {
    await this.parse(VpnStatus)
    const s = await (await this.visor()).vpnStatus()
    this.log(`state:      ${s.state}`)
    if (s.server) {
      this.log(`server:     ${s.server}`)
      this.log(`transport:  ${s.transport ?? '-'}${s.remote ? ` (${s.remote})` : ''}`)
      this.log(`tunnel IP:  ${s.tunnelIp ?? '-'}`)
      this.log(`traffic:    ${formatBytes(s.txBytes)} sent (${s.txPackets} packets), ${formatBytes(s.rxBytes)} received (${s.rxPackets} packets)`)
      this.log(`latency:    ${s.latencyMs === null ? '-' : `${s.latencyMs.toFixed(1)} ms`}`)
      this.log(`last packet: ${s.lastPacketMs === null ? '-' : `${(s.lastPacketMs / 1000).toFixed(1)} s ago`}`)
      this.log(`uptime:     ${s.uptimeS === null ? '-' : formatDuration(s.uptimeS)}`)
    }
    if (s.lastError) this.log(`last error: ${s.lastError}`)
    return s
  }
}
