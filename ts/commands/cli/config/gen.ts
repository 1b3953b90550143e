import { resolve } from 'node:path'
import * as Flags from '@oclif/core/flags'
import { SkywireCommand } from '../../../cli/base.js'
import { DEFAULT_CONFIG } from '../../../cli/flags.js'
import { generateConfig, writeConfig } from '../../../config/file.js'

export default class ConfigGen extends SkywireCommand {
  static override summary = 'Generate a visor config with a fresh identity.'
  static override description =
    'Creates an Ed25519 keypair and writes a complete JSON config (mode 0600) with every default filled in. ' +
    'Refuses to replace an existing file unless --force is given. ' +
    "Unlike Skywire's config, it is this project's own JSON shape (no dmsg, no apps list; `vpnServer.autostart` is Skywire's --servevpn)."
  static override examples = [
    '<%= config.bin %> cli config gen',
    '<%= config.bin %> cli config gen -o /etc/skywire/skywire-config.json --services http://203.0.113.1:9090',
  ]
  static override flags = {
    output: Flags.string({ char: 'o', description: 'Where to write the config.', default: DEFAULT_CONFIG }),
    force: Flags.boolean({ description: 'Overwrite an existing file (its identity is lost).' }),
    services: Flags.string({ description: 'Base URL of the discovery services.' }),
    'services-udp': Flags.string({ description: 'UDP address (HOST:PORT) of the address resolver.' }),
    'data-dir': Flags.string({ description: "Directory for the visor's state files." }),
  }

  async run(): Promise<{ path: string; pk: string }> {
    const { flags } = await this.parse(ConfigGen)
    const services: { url?: string; udp?: string } = {}
    if (flags.services !== undefined) services.url = flags.services
    if (flags['services-udp'] !== undefined) services.udp = flags['services-udp']
    const cfg = generateConfig({
      services,
      ...(flags['data-dir'] !== undefined ? { dataDir: flags['data-dir'] } : {}),
    })
    const path = resolve(flags.output)
    await writeConfig(path, cfg, flags.force)
    this.log(`wrote ${path}`)
    this.log(`public key: ${cfg.pk}`)
    return { path, pk: cfg.pk }
  }
}
