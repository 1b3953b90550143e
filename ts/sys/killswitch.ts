/**
 * The VPN client's kill switch: its own nftables table whose output chain
 * rejects everything except the TUN, loopback and the exempted endpoints, so
 * while the tunnel is down or reconnecting nothing leaks around it (the LAN
 * included). Installed before the client's routes change, removed after they
 * are restored.
 *
 * Its forward chain does the same for what the host routes for others:
 * containers and NAT-ed VMs (Docker, libvirt) send through the host's
 * forwarding path, which the output hook never sees. Forwarded packets may
 * leave only through the TUN; the exemptions are for the visor's own
 * transport and do not apply to them. From the TUN, only replies to such
 * connections come back in: the server (or anyone on its side) cannot open
 * connections into containers or the LAN behind this host.
 * Bridged VMs whose NIC sits on the same bridge as the uplink are not routed
 * by this host at all (layer 2), so no hook of an inet table sees them.
 */
import { familyOf } from './cidr.js'
import { deleteTable, nftIfname, replaceTable } from './nft.js'
import { minimalPrefixes } from './cidr.js'

export const KILLSWITCH_TABLE = 'skywire_killswitch'

export function killSwitchBody(tunIf: string, exempt: readonly string[]): string {
  const v4 = minimalPrefixes(exempt.filter((a) => familyOf(a) === 4))
  const v6 = minimalPrefixes(exempt.filter((a) => familyOf(a) === 6))
  const L: string[] = []
  L.push('  chain output {', '    type filter hook output priority filter; policy accept;')
  L.push('    oifname "lo" accept')
  L.push(`    oifname ${nftIfname(tunIf)} accept`)
  if (v4.length > 0) L.push(`    ip daddr { ${v4.join(', ')} } accept`)
  if (v6.length > 0) L.push(`    ip6 daddr { ${v6.join(', ')} } accept`)
  // Without neighbour discovery the exempted IPv6 endpoints' gateway cannot be found at all.
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

/** Installs or atomically replaces the kill switch (replacing is how a reconnect changes endpoints). */
export async function installKillSwitch(tunIf: string, exempt: readonly string[], table: string = KILLSWITCH_TABLE): Promise<void> {
  await replaceTable(table, killSwitchBody(tunIf, exempt))
}

export async function removeKillSwitch(table: string = KILLSWITCH_TABLE): Promise<void> {
  await deleteTable(table)
}
