import { VisorCommand } from '../../../cli/base.js'
import { formatDuration } from '../../../cli/format.js'
import { SkywireError } from '../../../contracts/errors.js'
import type { ClientState } from '../../../contracts/status.js'

/** `visor info --json`: a summary of GET /api/status (the whole of it is `vpn status --json` and `vpn server status --json`). */
export interface VisorInfo {
  pk: string
  version: string
  uptimeS: number
  /**
   * The transport listeners' bound addresses (null: that transport kind is off), and the web UI's
   * (`control.listen`; null: the UI is off). Not the UI's URL: it carries the token (`vpn url`).
   */
  listen: { stcpr: string | null; sudph: string | null; ui: string | null }
  /** This visor's public address as the address resolver sees it (null: not known yet). */
  observed: string | null
  services: string
  transports: number
  vpnClient: { state: ClientState; server: string | null; transportId: number | null }
  vpnServer: { running: boolean; clients: number }
}

export default class VisorInfoCmd extends VisorCommand {
  static override summary = 'Summarize this visor: public key, version, uptime, listen addresses, services URL, VPN client and server.'
  static override description =
    "Unlike Skywire's RPC on TCP port 3435, the CLI talks to the visor over its control socket (root's); --rpc names another. " +
    "Unlike Skywire's vpn-client app (running/stopped), the client's state is disconnected, connecting, connected or reconnecting. " +
    'The VPN server starts with the visor unless the config says `vpnServer.autostart: false` (older Skywire left it off).'
  static override examples = ['<%= config.bin %> cli visor info', '<%= config.bin %> cli visor info --json']

  async run(): Promise<VisorInfo> {
    await this.parse(VisorInfoCmd)
    const visor = await this.visor()
    const s = await visor.status()
    const ui = await visor.ui().then(
      (u) => u.listen,
      (err) => {
        if (err instanceof SkywireError && err.code === 'ENOTAVAILABLE') return null
        throw err
      },
    )
    const info: VisorInfo = {
      pk: s.visor.pk,
      version: s.visor.version,
      uptimeS: s.visor.uptimeS,
      listen: { stcpr: s.visor.stcpr, sudph: s.visor.sudph, ui },
      observed: s.visor.observed,
      services: s.visor.services,
      transports: s.visor.transports.length,
      vpnClient: { state: s.client.state, server: s.client.server, transportId: s.client.transportId },
      vpnServer: { running: s.server.running, clients: s.server.clients.length },
    }
    const c = info.vpnClient
    this.log(`pk:          ${info.pk}`)
    this.log(`version:     ${info.version}`)
    this.log(`uptime:      ${formatDuration(info.uptimeS)}`)
    this.log(`stcpr:       ${info.listen.stcpr ?? 'off'}`)
    this.log(`sudph:       ${info.listen.sudph ?? 'off'}`)
    this.log(`web UI:      ${info.listen.ui ?? 'off'}`)
    this.log(`public addr: ${info.observed ?? '-'}`)
    this.log(`services:    ${info.services}`)
    this.log(`transports:  ${info.transports}`)
    this.log(`vpn client:  ${c.state}${c.server ? ` (server ${c.server}, transport ${c.transportId ?? '-'})` : ''}`)
    this.log(`vpn server:  ${info.vpnServer.running ? `running, ${info.vpnServer.clients} client(s)` : 'stopped'}`)
    return info
  }
}
