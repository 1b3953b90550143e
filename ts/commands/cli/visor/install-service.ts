import { access, realpath, writeFile } from 'node:fs/promises'
import { join, resolve } from 'node:path'
import { Flags } from '@oclif/core'
import { SkywireCommand } from '../../../cli/base.js'
import { configFlag } from '../../../cli/flags.js'
import { loadConfig } from '../../../config/file.js'
import { SkywireError } from '../../../errors.js'

export const UNIT_PATH = '/etc/systemd/system/skywire-visor.service'

/** systemd splits ExecStart on spaces; quote words that need it. */
function quote(word: string): string {
  return /^[A-Za-z0-9_@%+=:,./-]+$/.test(word) ? word : `"${word.replace(/(["\\])/g, '\\$1')}"`
}

/** The unit running `skywire visor -c CONFIG` at boot with this node and this install of skywire. */
export function visorUnit(node: string, runJs: string, config: string): string {
  return `[Unit]
Description=Skywire visor (peer-to-peer VPN node)
After=network-online.target
Wants=network-online.target

[Service]
Type=simple
ExecStart=${[node, runJs, 'visor', '-c', config].map(quote).join(' ')}
Environment=NO_COLOR=1
Restart=on-failure
RestartSec=5
# The visor restores routes, nftables and sysctls on SIGTERM.
KillSignal=SIGTERM
TimeoutStopSec=30

[Install]
WantedBy=multi-user.target
`
}

export default class VisorInstallService extends SkywireCommand {
  static override summary = 'Install a systemd unit that runs the visor at boot (root).'
  static override description =
    `Writes ${UNIT_PATH}, which runs this installation's \`skywire visor -c CONFIG\` with this Node.js, ` +
    'restarting it if it fails. The VPN server starts with the visor unless the config disables it. ' +
    'Then enable it with `systemctl daemon-reload && systemctl enable --now skywire-visor`. ' +
    'With --dry-run it prints the unit and writes nothing.'
  static override examples = [
    '<%= config.bin %> cli visor install-service -c /etc/skywire/skywire-config.json',
    '<%= config.bin %> cli visor install-service -c /etc/skywire/skywire-config.json --dry-run',
  ]
  static override flags = {
    config: configFlag,
    'dry-run': Flags.boolean({ description: 'Print the unit instead of writing it.' }),
    force: Flags.boolean({ description: `Replace an existing ${UNIT_PATH}.` }),
  }

  async run(): Promise<{ path: string; config: string; unit: string; written: boolean }> {
    const { flags } = await this.parse(VisorInstallService)
    const config = resolve(flags.config)
    // The same check the visor does at start, so a bad config fails now and not at boot.
    await loadConfig(config)
    const runJs = await realpath(join(this.config.root, 'bin', 'run.js'))
    const unit = visorUnit(process.execPath, runJs, config)
    if (flags['dry-run']) {
      if (!this.jsonEnabled()) process.stdout.write(unit)
      return { path: UNIT_PATH, config, unit, written: false }
    }
    if (process.platform !== 'linux') throw new SkywireError('ENOTAVAILABLE', 'the systemd unit is for Linux only')
    if (process.getuid?.() !== 0) {
      throw new SkywireError('EPERM', `writing ${UNIT_PATH} needs root (try sudo, or --dry-run to see the unit)`)
    }
    if (!flags.force && (await access(UNIT_PATH).then(() => true, () => false))) {
      throw new SkywireError('EEXIST', `${UNIT_PATH} already exists; --force replaces it`)
    }
    await writeFile(UNIT_PATH, unit, { mode: 0o644 })
    this.log(`wrote ${UNIT_PATH}`)
    this.log('start it now and at every boot with: systemctl daemon-reload && systemctl enable --now skywire-visor')
    return { path: UNIT_PATH, config, unit, written: true }
  }
}
