import { Flags } from '@oclif/core'
import { VisorCommand } from '../../../cli/base.js'
import { countryFlag } from '../../../cli/flags.js'

export default class VpnList extends VisorCommand {
  static override summary = 'List VPN servers from service discovery.'
  static override examples = ['<%= config.bin %> cli vpn list', '<%= config.bin %> cli vpn list -c US', '<%= config.bin %> cli vpn list --stats']
  static override flags = {
    country: countryFlag({ char: 'c', description: 'Only servers in this country (two-letter code).' }),
    stats: Flags.boolean({ description: 'Print only the number of servers (per country).' }),
  }

  async run(): Promise<unknown> {
    const { flags } = await this.parse(VpnList)
    const visor = await this.visor()
    if (flags.stats) {
      const c = await visor.vpnServerCount()
      if (flags.country) {
        const n = c.byCountry[flags.country] ?? 0
        this.log(`${n} VPN server${n === 1 ? '' : 's'} in ${flags.country}`)
        return { total: n, country: flags.country }
      }
      this.log(`${c.total} VPN server${c.total === 1 ? '' : 's'}`)
      for (const [cc, n] of Object.entries(c.byCountry).sort()) this.log(`  ${cc}  ${n}`)
      return c
    }
    const page = await visor.vpnServers({ ...(flags.country ? { country: flags.country } : {}), limit: 100 })
    if (page.entries.length === 0) {
      this.log(flags.country ? `no VPN servers in ${flags.country}` : 'no VPN servers registered')
    }
    for (const e of page.entries) {
      this.log(`${e.pk}  ${e.country ?? '??'}  clients: ${e.stats.connectedClients ?? 0}  v${e.version}`)
    }
    return page
  }
}
