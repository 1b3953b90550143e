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
import { BYPASS_MARK } from './bypass.js'
import { deleteTable, nftIfname, replaceTable } from './nft.js'

export const KILLSWITCH_TABLE = 'skywire_killswitch'

export function killSwitchBody(tunIf: string): string {
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
  // reject, not drop: programs fail at once instead of hanging until their timeouts.
  L.push('    counter reject with icmpx type admin-prohibited comment "killswitch"')
  L.push('  }')
  L.push('  chain forward {', '    type filter hook forward priority filter; policy accept;')
  L.push(`    oifname ${nftIfname(tunIf)} accept`)
  L.push(`    iifname ${nftIfname(tunIf)} ct state established,related accept`)
  L.push('    counter reject with icmpx type admin-prohibited comment "killswitch-forward"')
  L.push('  }')
  return L.join('\n') + '\n'
}

/** Installs or atomically replaces the kill switch (replacing is how a reconnect adopts it for a new TUN). */
export async function installKillSwitch(tunIf: string, table: string = KILLSWITCH_TABLE): Promise<void> {
  await replaceTable(table, killSwitchBody(tunIf))
}

export async function removeKillSwitch(table: string = KILLSWITCH_TABLE): Promise<void> {
  await deleteTable(table)
}
