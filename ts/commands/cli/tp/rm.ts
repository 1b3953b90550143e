import { Flags } from '@oclif/core'
import { VisorCommand } from '../../../cli/base.js'

export default class TpRm extends VisorCommand {
  static override summary = 'Close a transport by its id (from `tp ls`).'
  static override examples = ['<%= config.bin %> cli tp rm -i 3']
  static override flags = {
    id: Flags.integer({ char: 'i', description: 'Transport id.', required: true, min: 1 }),
  }

  async run(): Promise<unknown> {
    const { flags } = await this.parse(TpRm)
    const r = await (await this.visor()).closeTransport(flags.id)
    this.log(`transport ${flags.id} closed`)
    return r
  }
}
