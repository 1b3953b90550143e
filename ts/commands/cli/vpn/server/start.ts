import * as Flags from '@oclif/core/flags'
import { VisorCommand } from '../../../../cli/base.js'
import { whitelistFlag } from '../../../../cli/flags.js'

export default class VpnServerStart extends VisorCommand {
  static override summary = "Start this visor's VPN server (exit node)."
  static override description =
    'Clients are forwarded to the internet with NAT out of --netifc. With --secure (the default) they cannot reach ' +
    'this machine or any local network it is on. A non-empty --whitelist admits only those public keys. ' +
    "The settings given are saved to the visor's config file, so they survive a restart. " +
    'It also starts with the visor by default (as recent Skywire does; older releases left vpn-server off).'
  static override examples = [
    '<%= config.bin %> cli vpn server start',
    '<%= config.bin %> cli vpn server start -i eth0 --no-secure',
    '<%= config.bin %> cli vpn server start -w 0230f9...c1,03a1b2...d4',
  ]
  static override flags = {
    netifc: Flags.string({ char: 'i', description: "Interface to NAT out of (default: the default route's)." }),
    secure: Flags.boolean({
      description: "Forbid clients from reaching this machine's local networks.",
      default: true,
      allowNo: true,
    }),
    whitelist: whitelistFlag({ char: 'w', description: 'Comma-separated public keys allowed to connect.' }),
  }

  async run(): Promise<unknown> {
    const { flags } = await this.parse(VpnServerStart)
    const s = await (await this.visor()).serverStart({
      ...(flags.netifc !== undefined ? { netifc: flags.netifc } : {}),
      secure: flags.secure,
      ...(flags.whitelist !== undefined ? { whitelist: flags.whitelist } : {}),
    })
    this.log(
      `VPN server running: NAT out of ${s.netifc}, secure ${s.secure ? 'on' : 'off'}, whitelist ${s.whitelist.length ? s.whitelist.length + ' key(s)' : 'off (everyone)'}`,
    )
    // Older visors answer without savedTo; a visor started without a config file has nowhere to save.
    const saved = s as typeof s & { savedTo?: string | null; changed?: boolean }
    if (typeof saved.savedTo === 'string') this.log(saved.changed ? `saved to ${saved.savedTo}` : `already saved in ${saved.savedTo}`)
    else this.log('not saved: this visor has no config file, so these settings last until it stops')
    return s
  }
}
