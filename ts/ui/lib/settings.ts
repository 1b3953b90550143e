/**
 * The settings form's pure half: what the form shows for the visor's
 * settings, and the change a filled-in form asks for (only the fields that
 * differ). The visor validates again and has the last word.
 */
import type { VpnSettings, VpnSettingsPatch } from '../../contracts/settings.js'

export interface SettingsForm {
  killswitch: boolean
  lockdown: boolean
  allowLan: boolean
  /** Comma-separated addresses; empty (or "server") for the VPN server's. */
  dns: string
  autoConnect: string
}

export function formOf(s: VpnSettings): SettingsForm {
  return { killswitch: s.killswitch, lockdown: s.lockdown, allowLan: s.allowLan, dns: s.dns.join(', '), autoConnect: s.autoConnect }
}

const IPV4 = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/
const IPV6 = /^[0-9A-Fa-f:.]{2,45}$/

/** The change, or the one line that says what is wrong with the form. */
export function patchOf(f: SettingsForm, now: VpnSettings): { patch: VpnSettingsPatch } | { error: string } {
  const raw = f.dns.trim()
  const dns = raw === '' || raw === 'server' ? [] : raw.split(/[,\s]+/).filter((x) => x !== '')
  const bad = dns.find((x) => !IPV4.test(x) && !(x.includes(':') && IPV6.test(x)))
  if (bad !== undefined) return { error: `DNS: ${bad.slice(0, 60)} is not an IP address` }
  if (dns.length > 4) return { error: 'DNS: at most 4 servers' }
  const auto = f.autoConnect.trim() || 'off'
  if (!/^(off|last|best|best:[A-Z]{2}|[0-9a-f]{64})$/.test(auto))
    return { error: 'Auto-connect: off, last, best, best:CC (like best:DE) or a server key' }
  const patch: VpnSettingsPatch = {}
  if (f.killswitch !== now.killswitch) patch.killswitch = f.killswitch
  if (f.lockdown !== now.lockdown) patch.lockdown = f.lockdown
  if (f.allowLan !== now.allowLan) patch.allowLan = f.allowLan
  if (dns.join(',') !== now.dns.join(',')) patch.dns = dns
  if (auto !== now.autoConnect) patch.autoConnect = auto
  return { patch }
}
