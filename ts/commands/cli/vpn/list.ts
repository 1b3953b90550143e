import * as Flags from '@oclif/core/flags'
import { VisorCommand } from '../../../cli/base.js'
import { countryFlag } from '../../../cli/flags.js'
import { formatDuration, formatTable, shownVersion } from '../../../cli/format.js'
import { serverSource } from '../../../cli/server-source.js'
import { SkywireError } from '../../../contracts/errors.js'
import { parseSortKey, rankServers, SORT_KEYS, type RankedServer } from '../../../contracts/server-score.js'
import { probeAll } from '../../../discovery/choose.js'
import { listAllServers } from '../../../discovery/servers.js'

const limitFlag = Flags.custom<number>({
  parse: async (input) => {
    const n = Number(input)
    if (!Number.isInteger(n) || n < 1 || n > 100_000)
      throw new SkywireError('EUSAGE', `limit must be a whole number from 1 to 100000, got "${input}"`)
    return n
  },
})

const sortFlag = Flags.custom<ReturnType<typeof parseSortKey>>({
  parse: async (input) => {
    try {
      return parseSortKey(input)
    } catch (err) {
      throw new SkywireError('EUSAGE', (err as Error).message)
    }
  },
})

export default class VpnList extends VisorCommand {
  static override summary = 'List VPN servers from service discovery, best first.'
  static override description =
    'Asks the discovery services directly (no visor or root needed): --services URL, or services.url of the config ' +
    '(--config, or ./skywire-config.json when readable); with neither, the visor at --rpc. Every page is read (not ' +
    "only the first 100). This visor's own server is never listed. Latency is a TCP connect to each server's STCPR " +
    'address from this machine (8 at a time, 1.5 s each, 4 s in all; unanswered: "-").\n\n' +
    'The score (0-100, higher is better) adds latency (50 at 0 ms down to 0 at 500 ms or none), load ' +
    '(30 / (1 + clients/10)) and uptime in service discovery (20 × hours/24, at most 20). ' +
    'Unlike Skywire, the default order is by this score, not by key.'
  static override examples = [
    '<%= config.bin %> cli vpn list',
    '<%= config.bin %> cli vpn list -c DE --limit 5',
    '<%= config.bin %> cli vpn list --sort latency',
    '<%= config.bin %> cli vpn list --keys | head -1',
    '<%= config.bin %> cli vpn list --services http://sd.example.net:9090',
    '<%= config.bin %> cli vpn list --stats',
  ]
  static override flags = {
    country: countryFlag({ char: 'c', description: 'Only servers in this country (two-letter code).' }),
    sort: sortFlag({ description: `Order: ${SORT_KEYS.join(', ')}.`, default: 'score' }),
    limit: limitFlag({ description: 'Print at most this many servers (after sorting).' }),
    keys: Flags.boolean({ description: 'Print only the keys, one per line (for pipes).' }),
    latency: Flags.boolean({ description: 'Measure latency (--no-latency: rank by load and uptime only, at once).', default: true, allowNo: true }),
    services: Flags.string({ description: 'Base URL of the discovery services to ask (instead of the config).' }),
    config: Flags.string({ description: "A visor config to read services.url and this visor's key from." }),
    stats: Flags.boolean({ description: 'Print only the number of servers (per country).' }),
  }

  async run(): Promise<unknown> {
    const { flags } = await this.parse(VpnList)
    const src = await serverSource({ services: flags.services, config: flags.config, rpc: flags.rpc })
    if (flags.stats) {
      const c = await src.counts()
      if (flags.country) {
        const n = c.byCountry[flags.country] ?? 0
        this.log(`${n} VPN server${n === 1 ? '' : 's'} in ${flags.country}`)
        return { total: n, country: flags.country }
      }
      this.log(`${c.total} VPN server${c.total === 1 ? '' : 's'}`)
      for (const [cc, n] of Object.entries(c.byCountry).sort()) this.log(`  ${cc}  ${n}`)
      return c
    }
    const all = await listAllServers(src.fetchPage(flags.country))
    const exclude = src.self ? [src.self] : []
    let ranked = rankServers(all.entries, { country: flags.country, exclude, sort: flags.sort })
    if (flags.latency && ranked.length > 0) {
      const latencies = await probeAll(
        ranked.map((r) => r.entry),
        src,
      )
      ranked = rankServers(all.entries, { country: flags.country, exclude, sort: flags.sort, latencies })
    }
    const shown = flags.limit !== undefined ? ranked.slice(0, flags.limit) : ranked
    if (all.truncated) this.warn(`stopped after ${all.entries.length} entries (the list did not end)`)
    if (flags.keys) {
      for (const r of shown) this.log(r.pk)
    } else if (shown.length === 0) {
      this.log(flags.country ? `no VPN servers in ${flags.country}` : 'no VPN servers registered')
    } else {
      this.log(table(shown))
    }
    return {
      entries: shown.map((r) => ({ ...r.entry, latencyMs: r.latencyMs, score: r.score, uptimeS: r.uptimeS })),
      total: ranked.length,
      offset: 0,
      limit: flags.limit ?? ranked.length,
      sort: flags.sort,
      truncated: all.truncated,
    }
  }
}

function table(rows: RankedServer[]): string {
  const body = rows.map((r) => [
    r.pk,
    r.country ?? '??',
    String(r.load),
    r.uptimeS === null ? '-' : formatDuration(r.uptimeS),
    r.latencyMs === null ? '-' : `${r.latencyMs.toFixed(1)} ms`,
    r.score.toFixed(1),
    shownVersion(r.version),
  ])
  return formatTable(['KEY', 'CC', 'LOAD', 'UPTIME', 'LATENCY', 'SCORE', 'VERSION'], body)
}
