/**
 * The VPN client's kill switch: its own nftables table whose output chain
 * rejects everything except the TUN, loopback and the visor's own sockets
 * (those carrying BYPASS_MARK: its transports and its requests to the
 * discovery services), so while the tunnel is down or reconnecting nothing
 * leaks around it (the LAN included). Not addresses: a browser talking to a
 * website on the discovery services' host, or to the VPN server's address,
 * is rejected like any other. Installed before the client's routes change,
 * removed after they are restored.
 *
 * Its forward chain does the same for what the host routes for others:
 * containers and NAT-ed VMs (Docker, libvirt) send through the host's
 * forwarding path, which the output hook never sees. Forwarded packets may
 * leave only through the TUN (a forwarded packet never carries the visor's
 * mark). From the TUN, only replies to such connections come back in: the
 * server (or anyone on its side) cannot open connections into containers or
 * the LAN behind this host.
 * Bridged VMs whose NIC sits on the same bridge as the uplink are not routed
 * by this host at all (layer 2), so no hook of an inet table sees them.
 */
import { SkywireError } from '../contracts/errors.js'
import { BYPASS_MARK } from './bypass.js'
import { formatPrefix, parsePrefix } from './cidr.js'
import { deleteTable, nftIfname, replaceTable, tableExists } from './nft.js'
import { isLanPrefix } from './lan.js'

export const KILLSWITCH_TABLE = 'skywire_killswitch'

/** What a blocking table lets through besides the tunnel, loopback and the visor's own sockets. */
export interface BlockExtras {
  /**
   * Allow LAN: private subnets this host is directly on (ts/sys/lan.ts),
   * reachable from this host (and its replies to them) outside the tunnel.
   */
  lan?: readonly string[]
  /** The VPN server's TUN: what it forwards for its clients (lockdown only; the server is not the client's traffic). */
  serverTun?: string
  /** The counters' comments: `killswitch`, `lockdown`. */
  label?: string
}

/** nft set elements of one family, each re-formatted from its parse (never raw text into the ruleset). */
function lanSet(lan: readonly string[], family: 4 | 6): string | null {
  const ps = lan.map((c) => parsePrefix(c)).filter((p) => p.family === family)
  for (const p of ps) if (!isLanPrefix(formatPrefix(p))) throw new SkywireError('EUSAGE', `not a LAN prefix: ${formatPrefix(p)}`)
  return ps.length === 0 ? null : `{ ${ps.map(formatPrefix).join(', ')} }`
}

export function killSwitchBody(tunIf: string, extras: BlockExtras = {}): string {
  const label = extras.label ?? 'killswitch'
  const L: string[] = []
  L.push('  chain output {', '    type filter hook output priority filter; policy accept;')
  L.push('    oifname "lo" accept')
  L.push(`    oifname ${nftIfname(tunIf)} accept`)
  // The visor's own sockets: the kernel sets the mark before the output hook, from SO_MARK.
  L.push(`    meta mark 0x${BYPASS_MARK.toString(16)} accept`)
  // Without neighbour discovery the IPv6 gateway of the visor's marked sockets cannot be found at all.
  L.push('    icmpv6 type { nd-neighbor-solicit, nd-neighbor-advert, nd-router-solicit } accept')
  // DHCP renewals stay on the local link and keep the uplink's address for long sessions.
  L.push('    udp sport 68 udp dport 67 accept')
  L.push('    udp sport 546 udp dport 547 accept')
  const lan4 = lanSet(extras.lan ?? [], 4)
  const lan6 = lanSet(extras.lan ?? [], 6)
  // Counted, so a test (or a curious user) sees the LAN exemption used.
  if (lan4 !== null) L.push(`    ip daddr ${lan4} counter accept comment "${label}-lan"`)
  if (lan6 !== null) L.push(`    ip6 daddr ${lan6} counter accept comment "${label}-lan6"`)
  if (extras.serverTun !== undefined) L.push(`    oifname ${nftIfname(extras.serverTun)} accept`)
  // reject, not drop: programs fail at once instead of hanging until their timeouts.
  L.push(`    counter reject with icmpx type admin-prohibited comment "${label}"`)
  L.push('  }')
  L.push('  chain forward {', '    type filter hook forward priority filter; policy accept;')
  L.push(`    oifname ${nftIfname(tunIf)} accept`)
  L.push(`    iifname ${nftIfname(tunIf)} ct state established,related accept`)
  if (extras.serverTun !== undefined) {
    // The VPN server's clients go out (NAT) and their replies come back: their traffic, not this host's.
    L.push(`    iifname ${nftIfname(extras.serverTun)} accept`)
    L.push(`    oifname ${nftIfname(extras.serverTun)} ct state established,related accept`)
  }
  L.push(`    counter reject with icmpx type admin-prohibited comment "${label}-forward"`)
  L.push('  }')
  return L.join('\n') + '\n'
}

/** Installs or atomically replaces the kill switch (replacing is how a reconnect adopts it for a new TUN). */
export async function installKillSwitch(tunIf: string, table: string = KILLSWITCH_TABLE, extras: BlockExtras = {}): Promise<void> {
  await replaceTable(table, killSwitchBody(tunIf, extras))
}

export async function removeKillSwitch(table: string = KILLSWITCH_TABLE): Promise<void> {
  await deleteTable(table)
}

/** Replaces the kill switch's rules (allow LAN turned on or off) only if it is up; true if it was. */
export async function refreshKillSwitch(tunIf: string, extras: BlockExtras, table: string = KILLSWITCH_TABLE): Promise<boolean> {
  if (!(await tableExists(table))) return false
  await installKillSwitch(tunIf, table, extras)
  return true
}
