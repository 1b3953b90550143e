import { Flags } from '@oclif/core'
import { SkywireCommand, notAvailable } from '../cli/base.js'

export default class Services extends SkywireCommand {
  static override summary = 'Run the discovery services: address resolver, service discovery and transport discovery.'
  static override description =
    'One process serves the three HTTP APIs under /ar, /sd and /tpd, plus the address resolver\'s UDP port for ' +
    'SUDPH bindings and hole punching. The store is an embedded SQLite file by default; --redis shares one store ' +
    'between several replicas.'
  static override examples = [
    '<%= config.bin %> services',
    '<%= config.bin %> services --http 0.0.0.0:9090 --udp 0.0.0.0:9091 --redis redis://127.0.0.1:6379',
  ]
  static override flags = {
    http: Flags.string({ description: 'HTTP listen address (HOST:PORT).', default: '127.0.0.1:9090' }),
    udp: Flags.string({ description: 'UDP listen address of the address resolver (HOST:PORT).', default: '127.0.0.1:9091' }),
    db: Flags.string({ description: 'SQLite database file (the default store).', exclusive: ['redis'] }),
    redis: Flags.string({ description: 'Redis URL; replicas pointing at one Redis share their state.', exclusive: ['db'] }),
    geoip: Flags.string({ description: 'Geo-IP lookup: "builtin" (the shipped database) or "off".', default: 'builtin', options: ['builtin', 'off'] }),
  }

  async run(): Promise<unknown> {
    await this.parse(Services)
    notAvailable('services')
  }
}
