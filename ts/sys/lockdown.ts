/**
 * Lockdown: a kill switch that does not wait for a connect. Its own nftables
 * table, with the kill switch's rules (ts/sys/killswitch.ts) for the TUN the
 * client will create (its name is fixed, so the rule can exist before the
 * device does): only loopback, the visor's own marked sockets (transports,
 * discovery), the tunnel, and with allow-LAN the LAN, get out. The visor
 * installs it at start before it opens any socket, and nothing but turning
 * lockdown off removes it: not `vpn stop`, not a give-up after a lost server,
 * not the visor stopping or crashing. A host in lockdown whose visor is down
 * is offline, which is the point.
 *
 * Independent of the kill switch's table: nftables runs every base chain on
 * a hook, and a packet passes only if none rejects it, so each table carries
 * its own allow-LAN exemption.
 */
import { installKillSwitch, type BlockExtras } from './killswitch.js'
import { deleteTable, ruleCounters, tableExists } from './nft.js'

export const LOCKDOWN_TABLE = 'skywire_lockdown'

export interface LockdownOptions {
  /** The client's TUN name (config: swvpn0), allowed before it exists. */
  tunIf: string
  /** Allow-LAN prefixes (ts/sys/lan.ts); empty: the LAN is blocked too. */
  lan?: readonly string[]
  /** The VPN server's TUN, so a visor that is also an exit keeps forwarding for its clients. */
  serverTun?: string
}

/** Installs or atomically replaces the lockdown table: there is never a moment without it once it was up. */
export async function installLockdown(o: LockdownOptions, table: string = LOCKDOWN_TABLE): Promise<void> {
  const extras: BlockExtras = { label: 'lockdown', lan: o.lan ?? [] }
  if (o.serverTun !== undefined) extras.serverTun = o.serverTun
  await installKillSwitch(o.tunIf, table, extras)
}

export async function removeLockdown(table: string = LOCKDOWN_TABLE): Promise<void> {
  await deleteTable(table)
}

export function lockdownActive(table: string = LOCKDOWN_TABLE): Promise<boolean> {
  return tableExists(table)
}

/** Packets lockdown rejected so far (output and forward) and let through to the LAN: for tests and status. */
export async function lockdownCounters(table: string = LOCKDOWN_TABLE): Promise<Record<string, number>> {
  return ruleCounters(table)
}
