/**
 * In-memory hosts for the VPN (the interfaces of ts/vpn/host.ts): they keep
 * the state a real host would be in (host routes into the TUN, DNS, kill
 * switch; forwarding and NAT on the server side) and record every call in
 * order, so a test checks what the logic left on the host, not only what it
 * called.
 */
import { SkywireError } from '../../../ts/contracts/errors.js'
import type { ClientHost, ClientHostApply, ServerHost, ServerHostUp, ServerIpv6 } from '../../../ts/vpn/host.js'

export class FakeClientHost implements ClientHost {
  /** What is applied now: routes and DNS through this TUN; null when the host is as it was. */
  applied: ClientHostApply | null = null
  killswitch = false
  readonly calls: string[] = []
  /** The kill switch's state after each apply and restore: a gap in it is a moment packets could leave beside the tunnel. */
  readonly killswitchLog: boolean[] = []
  usedNets = ['192.168.1.0/24', '172.17.0.0/16', 'fd00::/64']
  private pathListener: (() => void) | null = null

  async usedNetworks(): Promise<string[]> {
    return [...this.usedNets]
  }

  /** false: a host with IPv6 off (the client then takes IPv4 only). */
  ipv6 = true
  async canTunnelIpv6(): Promise<boolean> {
    return this.ipv6
  }

  async apply(p: ClientHostApply): Promise<void> {
    this.calls.push(`apply ${p.tun} ${p.tunnelIp}${p.killswitch ? ' killswitch' : ''}`)
    this.applied = { ...p, dns: [...p.dns] }
    this.killswitch = p.killswitch
    this.killswitchLog.push(this.killswitch)
  }

  async restore(opts?: { keepKillSwitch?: boolean }): Promise<void> {
    this.calls.push(opts?.keepKillSwitch ? 'restore keeping the kill switch' : 'restore')
    this.applied = null
    if (!opts?.keepKillSwitch) this.killswitch = false
    this.killswitchLog.push(this.killswitch)
  }

  async recoverStale(): Promise<boolean> {
    return false
  }

  async tunGone(name: string): Promise<void> {
    this.calls.push(`tunGone ${name}`)
  }

  /** Absent (set to undefined) to make the client rebuild its TUN on a new address. */
  readdress?: (tun: string, from: string | null, to: string) => Promise<void> = async (tun, from, to) => {
    this.calls.push(`readdress ${tun} ${from} -> ${to}`)
    if (this.applied) this.applied = { ...this.applied, tunnelIp: to }
  }

  /** Absent (set to undefined) to make the client rebuild its TUN on a new IPv6 address. */
  readdress6?: (tun: string, from: string | null, to: string | null) => Promise<void> = async (tun, from, to) => {
    this.calls.push(`readdress6 ${tun} ${from} -> ${to}`)
    if (this.applied) this.applied = { ...this.applied, tunnelIp6: to }
  }

  onPathChange(listener: () => void): void {
    this.pathListener = listener
  }

  /** The default route changed (a roam). */
  changePath(): void {
    this.pathListener?.()
  }
}

export class FakeServerHost implements ServerHost {
  up_: ServerHostUp | null = null
  prepared = false
  readonly calls: string[] = []
  /** What ipv6() says: the server's stable ULA /64 and whether the uplink has global IPv6 (default: none, like most hosts in these tests). */
  v6: ServerIpv6 = { ula64: 'fd12:3456:789a::/64', globalUplink: false }

  async ipv6(_netifc: string): Promise<ServerIpv6> {
    return { ...this.v6 }
  }

  async resolveNetifc(name: string): Promise<string> {
    if (name === '') return 'eth0'
    if (name !== 'eth0' && name !== 'wlan0') throw new SkywireError('EUSAGE', `no network interface ${name}`)
    return name
  }

  async prepare(): Promise<void> {
    this.calls.push('prepare')
    this.prepared = true
  }

  async up(p: ServerHostUp): Promise<void> {
    this.calls.push(`up ${p.tun} ${p.netifc} ${p.pool}${p.secure ? ' secure' : ''}`)
    this.up_ = { ...p }
  }

  async down(): Promise<void> {
    this.calls.push('down')
    this.up_ = null
    this.prepared = false
  }

  async recoverStale(): Promise<boolean> {
    return false
  }
}
