import { existsSync } from 'node:fs'
import { Flags } from '@oclif/core'
import { VisorCommand } from '../../../cli/base.js'
import { countryFlag, DEFAULT_CONFIG } from '../../../cli/flags.js'
import { formatDuration } from '../../../cli/format.js'
import { loadConfig } from '../../../config/file.js'
import { httpUrl } from '../../../config/schema.js'
import { SkywireError } from '../../../contracts/errors.js'
import { rankServers, type RankedServer } from '../../../contracts/server-score.js'
import { ServicesClient } from '../../../discovery/client.js'
import { listHops } from '../../../vpn/hop-pick.js'

export default class HopList extends VisorCommand {
  static override summary = 'List the visors that forward for others (hops for `vpn start --via/--hops`), best first.'
  static override description =
    'A visor forwards when its config says hop.enabled; it is then listed in service discovery as type=hop (or, when ' +
    'it also runs a VPN server, in its VPN entry). Asks the discovery services directly with --services URL or ' +
    "--config FILE (no visor needed), else the visor at --rpc. The score is `vpn list`'s without latency " +
    "(load and uptime). This visor's own key is never listed."
  static override examples = [
    '<%= config.bin %> cli hop list',
    '<%= config.bin %> cli hop list -c DE',
    '<%= config.bin %> cli hop list --keys | head -2 | paste -sd, -',
    '<%= config.bin %> cli hop list --services http://sd.example.net:9090 --json',
  ]
  static override flags = {
    country: countryFlag({ char: 'c', description: 'Only hops in this country (two-letter code).' }),
    keys: Flags.boolean({ description: 'Print only the keys, one per line (for --via).' }),
    services: Flags.string({ description: 'Base URL of the discovery services to ask (instead of the visor).' }),
    config: Flags.string({ description: "A visor config to read services.url and this visor's key from." }),
  }

  async run(): Promise<unknown> {
    const { flags } = await this.parse(HopList)
    const cc = flags.country
    const ranked = (await this.hops(flags)).filter((r) => cc === undefined || r.country === cc)
    if (flags.keys) for (const r of ranked) this.log(r.pk)
    else if (ranked.length === 0) this.log(cc ? `no hops in ${cc}` : 'no hops registered')
    else this.log(table(ranked))
    return { entries: ranked.map((r) => ({ ...r.entry, score: r.score, uptimeS: r.uptimeS })), total: ranked.length }
  }

  private async hops(f: { services?: string; config?: string; rpc?: string }): Promise<RankedServer[]> {
    let url = f.services ?? null
    let self: string | null = null
    const file = f.config ?? (url === null && existsSync(DEFAULT_CONFIG) ? DEFAULT_CONFIG : null)
    if (file !== null) {
      try {
        const c = await loadConfig(file)
        url ??= c.services.url
        self = c.pk
      } catch (err) {
        if (f.config !== undefined) throw err
      }
    }
    if (url !== null) {
      if (!httpUrl.safeParse(url).success) throw new SkywireError('EUSAGE', `--services must be an http(s) URL, got "${url}"`)
      return listHops(new ServicesClient({ url, timeoutMs: 5000, retries: 1 }), { exclude: self ? [self] : [] })
    }
    // The visor pages the services for us (and leaves itself out).
    const r = await (await this.visor()).vpnHops()
    return rankServers(r.entries)
  }
}

function table(rows: RankedServer[]): string {
  const head = ['KEY', 'CC', 'LOAD', 'UPTIME', 'SCORE', 'VERSION']
  const body = rows.map((r) => [
    r.pk,
    r.country ?? '??',
    String(r.load),
    r.uptimeS === null ? '-' : formatDuration(r.uptimeS),
    r.score.toFixed(1),
    // What the services say is shown, never interpreted, and kept short.
    `v${String(r.version)
      .replace(/[^\w.+-]/g, '?')
      .slice(0, 20)}`,
  ])
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((b) => (b[i] as string).length)))
  return [head, ...body]
    .map((cols) =>
      cols
        .map((c, i) => c.padEnd(widths[i] as number))
        .join('  ')
        .trimEnd(),
    )
    .join('\n')
}
