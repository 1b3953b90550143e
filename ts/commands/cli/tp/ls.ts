import { VisorCommand } from '../../../cli/base.js'

export default class TpLs extends VisorCommand {
  static override summary = 'List the transports that are up, with their type, remote address and latency.'
  static override description = 'Unlike Skywire, a transport id is a small integer (not a UUID) and its type is stcpr or sudph (no dmsg or stcp).'
  static override examples = ['<%= config.bin %> cli tp ls', '<%= config.bin %> cli tp ls --json']

  async run(): Promise<unknown> {
    await this.parse(TpLs)
    const list = await (await this.visor()).transports()
    if (list.length === 0) this.log('no transports')
    for (const t of list) {
      this.log(`${t.id}  ${t.type}  ${t.peer}  ${t.remote}  rtt ${t.rttMs === null ? '-' : `${t.rttMs.toFixed(1)} ms`}`)
    }
    return list
  }
}
