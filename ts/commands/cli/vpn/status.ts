import * as Flags from '@oclif/core/flags'
import { VisorCommand } from '../../../cli/base.js'
import { showStatus, watchStatus } from '../../../cli/vpn-status.js'
import type { VpnClientStatus } from '../../../contracts/status.js'

// The output is defined once, in cli/vpn-status.ts (shared with the fast entry, cli/fast.ts).
export { exitText, lines, oneLine, routeText, type WatchOptions, watchStatus } from '../../../cli/vpn-status.js'

export default class VpnStatus extends VisorCommand {
  static override summary = "Show the VPN client's state: server, exit IP and country, transport, tunnel IP, traffic, latency, uptime."
  static override description =
    "The exit's public IP and country are what the server says of itself (its address as the address resolver saw it, " +
    'its country as the services hold it): a claim, shown as "unknown" for servers that do not say (0.2.0 and older). ' +
    '--watch redraws the status every second until Ctrl-C (with --json: one JSON object per line); it exits non-zero ' +
    'in one line when the visor goes away. ' +
    "Unlike Skywire's vpn-client app (running/stopped), the state is disconnected, connecting, connected or reconnecting."
  static override examples = [
    '<%= config.bin %> cli vpn status',
    '<%= config.bin %> cli vpn status --json',
    '<%= config.bin %> cli vpn status -w',
    '<%= config.bin %> cli vpn status --watch --json | jq -c "{state, exitIp, latencyMs}"',
  ]
  static override flags = {
    watch: Flags.boolean({ char: 'w', description: 'Follow the status live (every second) until Ctrl-C.' }),
  }

  async run(): Promise<unknown> {
    const { flags } = await this.parse(VpnStatus)
    const visor = await this.visor()
    if (!flags.watch) return showStatus(visor, (l) => this.log(l))
    await this.watch(() => visor.vpnStatus())
    // Everything was printed as it came; nothing more for --json.
    return undefined
  }

  private async watch(get: () => Promise<VpnClientStatus>): Promise<void> {
    const json = this.jsonEnabled()
    const ac = new AbortController()
    const onSignal = () => ac.abort()
    process.once('SIGINT', onSignal)
    process.once('SIGTERM', onSignal)
    try {
      await watchStatus(get, {
        mode: json ? 'json' : process.stdout.isTTY === true ? 'redraw' : 'lines',
        write: (t) => process.stdout.write(t),
        signal: ac.signal,
      })
    } finally {
      process.removeListener('SIGINT', onSignal)
      process.removeListener('SIGTERM', onSignal)
    }
  }
}
