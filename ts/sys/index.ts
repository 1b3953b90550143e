/**
 * Everything the VPN changes on the host, done exactly and undone exactly.
 * All functions act on the current network namespace (the visor's); tests run
 * them inside lab namespaces through a node process (test/ts/sys/helpers.ts).
 *
 * Server start (after the core created the TUN with the gateway address):
 *   netIf = opts.netifc ?? await defaultInterface(4); await requireInterface(netIf)
 *   fwd = await enableForwarding({ ipv6: pool6 !== undefined })
 *   IPv6 for clients: pool6 = config pool6 ?? (await uplinkHasGlobalIpv6(netIf) ? loadOrCreateUla64(file) : none)
 *   await applyServerFirewall({ tunIf, netIf, pool4, gateway4, pool6?, gateway6?, nat6 (false for a routed pool6), secure, dns: config dns })
 * Server stop (also after a failed start, every step tolerates "never done"):
 *   await removeServerFirewall(); await restoreForwarding(fwd); then the core drops the TUN.
 *   The visor's LinuxServerHost writes a server state file (server-state.ts) before any of this, and
 *   undoes a crashed server's changes from it at visor start: recoverServerStale(stateFile, { tunIf, table }).
 * Server status: serverFirewallStatus() -> { present, drops per rule }.
 *
 * Client start of the visor: await recoverStale(stateFile) (null when clean).
 * Client connect (TUN up with the tunnel address, endpoints resolved to IPs):
 *   handle = await applyClientRouting({ tunIf, dns, tunnelIpv6, killSwitch, stateFile })  // the visor's sockets bypass by SO_MARK (bypass.ts)
 *   Hello's "networks I already use": await localSubnets({ excludeInterfaces: [tunIf] })
 * Client status: await handle.verify() -> { intact, missingRoutes, missingRules, killSwitch, dns }; not intact: restore and apply again.
 * Client reconnect with kill switch: await handle.restore({ keepKillSwitch: true }), then applyClientRouting
 *   again (new endpoints allowed); the kill switch stays up in between and a crash there is still recovered.
 * Client disconnect: await handle.restore() (or restoreClientRouting(stateFile)), then drop the TUN.
 */
export * from './netifc.js'
export * from './sysctl.js'
export * from './server-firewall.js'
export * from './client-routing.js'
export { KILLSWITCH_TABLE, installKillSwitch, removeKillSwitch, killSwitchBody } from './killswitch.js'
export { installLockdown, removeLockdown } from './lockdown.js'
export {
  RESOLV_CONF,
  backupResolvConf,
  reassertResolvConf,
  resolvConfIsOurs,
  restoreResolvConf,
  writeResolvConf,
  type ResolvBackup,
} from './resolv-conf.js'
export { readState } from './client-state.js'
export {
  newServerState,
  readServerState,
  recoverServerStale,
  undoServerState,
  writeServerState,
  deleteServerState,
  type ServerState,
  type ServerStateExpect,
} from './server-state.js'
export { checkTrustedDir, checkTrustedFile, ensureTrustedDir, readTrustedFile, writeFileAtomic } from './safe-file.js'
export { tableExists } from './nft.js'
export { hasGlobalIpv6, loadOrCreateUla64, parsePool6, randomUla64, uplinkHasGlobalIpv6 } from './server-ula.js'
export { minimalPrefixes, networkOf, parsePrefix, formatPrefix, isPrivate } from './cidr.js'
export {
  RESOLVED_RUN_DIR,
  resolvedControl,
  resolvConfShape,
  resolvectlApplyArgv,
  resolvectlRevertArgv,
  type ResolvedControl,
  type ResolvedDetection,
  type ResolvedEnv,
} from './resolved.js'
