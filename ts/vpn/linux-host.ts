/** ServerHost and ClientHost on Linux, over ts/sys. */
import { lookup } from 'node:dns/promises'
import { isIP } from 'node:net'
import {
  applyClientRouting,
  applyServerFirewall,
  defaultInterface,
  enableForwarding,
  hostAddresses,
  localSubnets,
  recoverStale,
  removeServerFirewall,
  requireInterface,
  restoreForwarding,
  type AppliedClientRouting,
  type ForwardingSnapshot,
} from '../sys/index.js'
import type { ClientHost, ClientHostApply, ServerHost, ServerHostUp } from './host.js'

export class LinuxServerHost implements ServerHost {
  private forwarding: ForwardingSnapshot | null = null

  async resolveNetifc(name: string): Promise<string> {
    if (name === '') return defaultInterface(4)
    await requireInterface(name)
    return name
  }

  async up(p: ServerHostUp): Promise<void> {
    this.forwarding = await enableForwarding()
    try {
      await applyServerFirewall({ tunIf: p.tun, netIf: p.netifc, pool4: p.pool, gateway4: p.gateway, secure: p.secure, dns: p.dns })
    } catch (err) {
      await this.down()
      throw err
    }
  }

  async down(): Promise<void> {
    await removeServerFirewall()
    if (this.forwarding) await restoreForwarding(this.forwarding)
    this.forwarding = null
  }
}

/** "host", "host:port", "[v6]:port" or a URL → the host part. */
export function hostOf(endpoint: string): string {
  if (/^[a-z]+:\/\//i.test(endpoint)) return new URL(endpoint).hostname.replace(/^\[|\]$/g, '')
  const v6 = /^\[([^\]]+)\](?::\d+)?$/.exec(endpoint)
  if (v6) return v6[1] as string
  if (isIP(endpoint) === 6) return endpoint
  return endpoint.replace(/:\d+$/, '')
}

async function toIps(endpoints: readonly string[]): Promise<string[]> {
  const out = new Set<string>()
  for (const e of endpoints) {
    const h = hostOf(e)
    if (isIP(h)) out.add(h)
    else {
      for (const a of await lookup(h, { all: true }).catch(() => [])) out.add(a.address)
    }
  }
  return [...out]
}

export class LinuxClientHost implements ClientHost {
  private applied: AppliedClientRouting | null = null
  private appliedKey = ''

  constructor(
    private readonly stateFile: string,
    private readonly tunPrefix = 'swvpn',
  ) {}

  async usedNetworks(): Promise<string[]> {
    // Our own TUN (left from a previous connection) is not a network we use.
    const tuns = (await hostAddresses()).filter((a) => a.ifname.startsWith(this.tunPrefix)).map((a) => a.ifname)
    return localSubnets({ family: 4, excludeInterfaces: tuns })
  }

  async apply(p: ClientHostApply): Promise<void> {
    const exempt = (await toIps(p.exempt)).sort()
    const key = JSON.stringify([p.tun, exempt, p.dns, p.killswitch])
    // A reconnect to the same endpoint keeps the routes in place: no window
    // in which traffic could leave outside the tunnel.
    if (this.applied && key === this.appliedKey) return
    // New endpoints: replace the routes, but keep the kill switch up across
    // the swap so nothing leaves outside the tunnel meanwhile.
    const old = this.applied
    this.applied = null
    this.appliedKey = ''
    if (old) await old.restore({ keepKillSwitch: p.killswitch })
    this.applied = await applyClientRouting({ tunIf: p.tun, exempt, dns: p.dns, killSwitch: p.killswitch, stateFile: this.stateFile })
    this.appliedKey = key
  }

  async restore(): Promise<void> {
    const a = this.applied
    this.applied = null
    this.appliedKey = ''
    if (a) await a.restore()
  }

  async recoverStale(): Promise<boolean> {
    return (await recoverStale(this.stateFile)) !== null
  }
}
