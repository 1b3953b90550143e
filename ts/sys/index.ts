/**
 * Everything the VPN changes on the host, done exactly and undone exactly.
 * All functions act on the current network namespace (the visor's).
 */
export * from './netifc.js'
export * from './sysctl.js'
export * from './server-firewall.js'
export * from './client-routing.js'
export { KILLSWITCH_TABLE, installKillSwitch, removeKillSwitch, killSwitchBody } from './killswitch.js'
export { RESOLV_CONF, backupResolvConf, restoreResolvConf, writeResolvConf, type ResolvBackup } from './resolv-conf.js'
export { readState } from './client-state.js'
export { tableExists } from './nft.js'
export { minimalPrefixes, networkOf, parsePrefix, formatPrefix, isPrivate } from './cidr.js'
