import { VisorCommand } from '../../../../cli/base.js'
import { formatBytes } from '../../../../cli/format.js'

/** How clients' IPv6 leaves, in words (the README's IPv6 section says more). */
const IPV6_MODE = {
  nat66: 'NAT66 out of the interface (clients get ULA addresses)',
  routed: 'routed (vpnServer.pool6, no NAT)',
  none: 'off (no global IPv6 on the interface and no vpnServer.pool6: clients keep IPv6 blocked)',
} as const

export default class VpnServerStatus extends VisorCommand {
  static override summary = 'Show the VPN server: running or not, interface, secure, whitelist and clients.'
  static override examples = ['<%= config.bin %> cli vpn server status', '<%= config.bin %> cli vpn server status --json']

  async run(): Promise<unknown> {
    await this.parse(VpnServerStatus)
    const s = await (await this.visor()).serverStatus()
    this.log(`running:   ${s.running ? 'yes' : 'no'}`)
    if (s.running) {
      this.log(`netifc:    ${s.netifc}`)
      this.log(`secure:    ${s.secure ? 'on' : 'off'}`)
      if (s.ipv6 !== undefined) this.log(`ipv6:      ${IPV6_MODE[s.ipv6]}${s.gateway6 ? ` (gateway ${s.gateway6})` : ''}`)
      this.log(`whitelist: ${s.whitelist.length ? s.whitelist.join(', ') : 'off (everyone may connect)'}`)
      this.log(`clients:   ${s.clients.length}`)
      for (const c of s.clients) {
        this.log(
          `  ${c.pk}  ${c.tunnelIp}${c.tunnelIp6 ? ` ${c.tunnelIp6}` : ''}  ${c.transport}  in ${formatBytes(c.rxBytes)} out ${formatBytes(c.txBytes)}  since ${c.connectedAt}`,
        )
      }
    }
    return s
  }
}
