import { VisorCommand } from '../../../../cli/base.js'
import { formatBytes } from '../../../../cli/format.js'

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
      this.log(`whitelist: ${s.whitelist.length ? s.whitelist.join(', ') : 'off (everyone may connect)'}`)
      this.log(`clients:   ${s.clients.length}`)
      for (const c of s.clients) {
        this.log(`  ${c.pk}  ${c.tunnelIp}  ${c.transport}  in ${formatBytes(c.rxBytes)} out ${formatBytes(c.txBytes)}  since ${c.connectedAt}`)
      }
    }
    return s
  }
}
