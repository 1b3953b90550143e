/** ServerHost and ClientHost on Linux, over ts/sys. */
import { existsSync, readFileSync } from 'node:fs'
import { isIP } from 'node:net'
import { dirname, join } from 'node:path'
import { SkywireError } from '../contracts/errors.js'
import { commandError, run, tryRun } from '../sys/run.js'
import {
  applyClientRouting,
  applyForwarding,
  applyServerFirewall,
  defaultUplink,
  deleteServerState,
  hostAddresses,
  newServerState,
  recoverServerStale,
  recoverStale,
  requireInterface,
  restoreClientRouting,
  SERVER_TABLE,
  snapshotForwarding,
  subnetsOf,
  undoServerState,
  wasIpv4ForwardingOff,
  wasIpv6ForwardingOff,
  writeServerState,
  type AppliedClientRouting,
  type ServerState,
} from '../sys/index.js'
import { defaultRouteFingerprint } from '../sys/default-route.js'
import { lanPrefixes } from '../sys/lan.js'
import { refreshKillSwitch } from '../sys/killswitch.js'
import { readState } from '../sys/client-state.js'
import { loadOrCreateUla64, uplinkHasGlobalIpv6 } from '../sys/server-ula.js'
import type { ClientHost, ClientHostApply, ServerHost, ServerHostUp, ServerIpv6 } from './host.js'

/** The server's ULA /64, next to its state file (the state file goes at stop; this stays). */
export const SERVER_ULA_FILE = 'vpn-server-ula6'

/**
 * Every change is written to the server state file before it is made
 * (prepare: the TUN about to be created; up: the forwarding values about to
 * be overwritten), so a visor killed at any point is undone at its next
 * start by recoverStale().
 */
export class LinuxServerHost implements ServerHost {
  private state: ServerState | null = null

  constructor(
    private readonly stateFile: string,
    private readonly tunName: string,
    private readonly table: string = SERVER_TABLE,
  ) {}

  async resolveNetifc(name: string): Promise<string> {
    if (name === '') return defaultUplink()
    await requireInterface(name)
    return name
  }

  async ipv6(netifc: string): Promise<ServerIpv6> {
    return { ula64: loadOrCreateUla64(join(dirname(this.stateFile), SERVER_ULA_FILE)), globalUplink: await uplinkHasGlobalIpv6(netifc) }
  }

  async recoverStale(): Promise<boolean> {
    return (await recoverServerStale(this.stateFile, { tunIf: this.tunName, table: this.table })) !== null
  }

  async prepare(): Promise<void> {
    // Left by this process (a stop that failed half-way) or a crashed one: undo it first, so what we record is the original.
    await this.recoverStale()
    this.state = newServerState({ tunIf: this.tunName, table: this.table })
    writeServerState(this.stateFile, this.state)
  }

  async up(p: ServerHostUp): Promise<void> {
    if (this.state === null) await this.prepare()
    const s = this.state as ServerState
    try {
      // With IPv6 for clients, the uplink keeps taking router advertisements (its IPv6 default may come from them).
      const forwarding = await snapshotForwarding({ ipv6: p.pool6 !== undefined, raKeep: p.netifc })
      this.state = { ...s, tunIf: p.tun, forwarding }
      writeServerState(this.stateFile, this.state)
      await applyForwarding(forwarding)
      await applyServerFirewall({
        tunIf: p.tun,
        netIf: p.netifc,
        pool4: p.pool,
        gateway4: p.gateway,
        ...(p.pool6 !== undefined && p.gateway6 !== undefined ? { pool6: p.pool6, gateway6: p.gateway6, nat6: p.nat6 ?? true } : {}),
        secure: p.secure,
        dns: p.dns,
        table: this.table,
        // A host that did not forward before must not become a router between its other interfaces.
        dropOtherForwarding: wasIpv4ForwardingOff(forwarding),
        dropOtherForwarding6: wasIpv6ForwardingOff(forwarding),
      })
    } catch (err) {
      await this.down()
      throw err
    }
  }

  async down(): Promise<void> {
    const s = this.state
    if (s === null) return
    // The TUN is the core's to close (the server does that before calling down); we only undo our own changes.
    await undoServerState(s, { removeTun: false })
    deleteServerState(this.stateFile)
    this.state = null
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

/**
 * How often, while connected, the client checks that the DNS setup is still
 * the tunnel's and puts it back (config `vpnClient.dnsRecheckS`). A DHCP
 * renewal or NetworkManager can rewrite resolv.conf at any time; until the
 * next check lookups may leave beside the tunnel (or be refused by the kill
 * switch). 10 s costs a stat and a read (plus three resolvectl calls under
 * systemd-resolved) and bounds that window.
 */
export const DNS_RECHECK_MS = 10_000

/**
 * How often, while the routes are applied, the client looks whether the
 * host's default route changed (a roam, a replaced default route): see
 * ts/sys/default-route.ts. The look reads two /proc files and spawns nothing.
 */
export const PATH_WATCH_MS = 1000

export interface LinuxClientHostOptions {
  /** See DNS_RECHECK_MS; 0 turns the re-check off. */
  dnsRecheckMs?: number
  /** See PATH_WATCH_MS; 0 turns the watch off. */
  pathWatchMs?: number
  /** Where a repaired DNS setup is reported. */
  log?: { warn(obj: object, msg: string): void; debug(obj: object, msg: string): void }
  /** Allow LAN under the kill switch (config vpnClient.allowLan); setFirewall changes it. */
  allowLan?: boolean
}

export class LinuxClientHost implements ClientHost {
  private applied: AppliedClientRouting | null = null
  private appliedKey = ''
  private recheckTimer: NodeJS.Timeout | null = null
  private rechecking: Promise<void> | null = null
  private pathTimer: NodeJS.Timeout | null = null
  /** defaultRouteFingerprint() at the last look. */
  private pathSeen = ''
  private pathListener: (() => void) | null = null
  /** Warned about a repair during this connection already: a manager that keeps fighting is logged once, not every period. */
  private warned = false
  private allowLan: boolean

  constructor(
    private readonly stateFile: string,
    private readonly tunPrefix = 'swvpn',
    private readonly opts: LinuxClientHostOptions = {},
  ) {
    this.allowLan = opts.allowLan ?? false
  }

  private async lan(): Promise<string[]> {
    return this.allowLan ? lanPrefixes() : []
  }

  /**
   * `vpn set --killswitch/--allow-lan`: the kill switch changes on the host
   * now, connected or reconnecting, not at the next connect.
   */
  async setFirewall(p: { killswitch: boolean; allowLan?: boolean }): Promise<void> {
    if (p.allowLan !== undefined) this.allowLan = p.allowLan
    const lan = await this.lan()
    if (this.applied !== null) {
      await this.applied.setKillSwitch(p.killswitch, lan)
      // The next apply on the same TUN and DNS must see the kill switch as it is now.
      const [tun, dns, , v6] = JSON.parse(this.appliedKey || '[null,null,null,false]') as [unknown, unknown, unknown, unknown]
      this.appliedKey = JSON.stringify([tun, dns, p.killswitch, v6 ?? false])
      return
    }
    // Between connections only a kill switch kept for a reconnect (or after giving up) can be left.
    const left = readState(this.stateFile)
    if (left === null || left.killSwitch === null) return
    if (p.killswitch) await refreshKillSwitch(left.tunIf, { lan }, left.killSwitch.table)
    else await restoreClientRouting(this.stateFile)
  }

  private startRecheck(): void {
    const ms = this.opts.dnsRecheckMs ?? DNS_RECHECK_MS
    if (ms <= 0 || this.recheckTimer !== null) return
    this.recheckTimer = setInterval(() => void this.recheckDns(), ms)
    this.recheckTimer.unref()
  }

  /** Stops the loops and waits for checks in flight, so none can rewrite DNS or routes after a restore. */
  private async stopRecheck(): Promise<void> {
    if (this.recheckTimer !== null) clearInterval(this.recheckTimer)
    this.recheckTimer = null
    if (this.pathTimer !== null) clearInterval(this.pathTimer)
    this.pathTimer = null
    await this.rechecking
  }

  private startPathWatch(): void {
    const ms = this.opts.pathWatchMs ?? PATH_WATCH_MS
    this.pathSeen = this.defaultRoutes()
    if (ms <= 0 || this.pathTimer !== null) return
    this.pathTimer = setInterval(() => this.watchPath(), ms)
    this.pathTimer.unref()
  }

  private defaultRoutes(): string {
    return defaultRouteFingerprint((dev) => dev.startsWith(this.tunPrefix))
  }

  /** One look (see PATH_WATCH_MS). Mid-roam (old default gone, new one not there yet) waits for the new one. */
  private watchPath(): void {
    const now = this.defaultRoutes()
    if (now === this.pathSeen || now === '') return
    const was = this.pathSeen
    this.pathSeen = now
    // The first default after a start with none is not a move.
    if (was === '') return
    this.opts.log?.debug({ was, now }, 'the default route changed under the tunnel')
    this.pathListener?.()
  }

  /** One check; never throws (a failure is logged like a repair, once per connection). */
  recheckDns(): Promise<void> {
    const a = this.applied
    if (a === null || this.rechecking !== null) return this.rechecking ?? Promise.resolve()
    this.rechecking = (async () => {
      try {
        const { repaired } = await a.reassertDns()
        if (repaired.length > 0) this.report({ repaired }, `DNS setup was changed by something else (${repaired.join(', ')}); put the tunnel's back`)
      } catch (e) {
        this.report({ err: (e as Error).message }, 'cannot check or put back the tunnel DNS setup')
      } finally {
        this.rechecking = null
      }
    })()
    return this.rechecking
  }

  private report(obj: object, msg: string): void {
    if (this.warned) this.opts.log?.debug(obj, msg)
    else this.opts.log?.warn(obj, `${msg} (further repairs during this connection are logged at debug level)`)
    this.warned = true
  }

  async canTunnelIpv6(): Promise<boolean> {
    return ipv6OnForNewInterfaces()
  }

  async usedNetworks(): Promise<string[]> {
    // Our own TUN (left from a previous connection) is not a network we use.
    // One `ip -j addr` read for both (it runs before every dial).
    const addrs = await hostAddresses()
    const tuns = addrs.filter((a) => a.ifname.startsWith(this.tunPrefix)).map((a) => a.ifname)
    // Both families: the hello carries the IPv4 ones; the offer check looks at all (an IPv6 tunnel address too).
    return subnetsOf(addrs, { excludeInterfaces: tuns })
  }

  async apply(p: ClientHostApply): Promise<void> {
    // The endpoints are not part of the key: they bypass the tunnel by the
    // mark on the visor's sockets, not by routes. A reconnect on the same TUN
    // (to the same server or another) keeps everything in place: no window in
    // which traffic could leave outside the tunnel.
    const v6 = (p.tunnelIp6 ?? null) !== null
    const key = JSON.stringify([p.tun, p.dns, p.killswitch, v6])
    if (this.applied && key === this.appliedKey) {
      // The TUN may be new, and resolved's settings for it gone with the old one.
      await this.recheckDns()
      return
    }
    // Only IPv6 gained or lost (a switch between a server that carries it and one that does not): its
    // route changes in place, everything else stays, so nothing leaves beside the tunnel meanwhile.
    if (this.applied && this.appliedKey === JSON.stringify([p.tun, this.applied.state.dns, p.killswitch, !v6])) {
      await this.applied.setTunnelIpv6(v6)
      this.appliedKey = JSON.stringify([p.tun, this.applied.state.dns, p.killswitch, v6])
      if (this.appliedKey === key) return
    }
    // Only the DNS servers changed (a switch to a server with other DNS): rewrite them in place, routes untouched.
    if (this.applied && this.appliedKey === JSON.stringify([p.tun, this.applied.state.dns, p.killswitch, v6]) && (await this.applied.setDns(p.dns))) {
      this.appliedKey = key
      return
    }
    await this.stopRecheck()
    // A new TUN or DNS: replace the routes, but keep the kill switch up across
    // the swap so nothing leaves outside the tunnel meanwhile.
    const old = this.applied
    this.applied = null
    this.appliedKey = ''
    if (old) await old.restore({ keepKillSwitch: p.killswitch })
    this.applied = await applyClientRouting({
      tunIf: p.tun,
      dns: p.dns,
      tunnelIpv6: v6,
      killSwitch: p.killswitch,
      lan: await this.lan(),
      stateFile: this.stateFile,
    })
    this.appliedKey = key
    this.warned = false
    this.startRecheck()
    this.startPathWatch()
  }

  async restore(opts: { keepKillSwitch?: boolean } = {}): Promise<void> {
    await this.stopRecheck()
    const a = this.applied
    this.applied = null
    this.appliedKey = ''
    if (a) await a.restore(opts)
    // Nothing in hand, but a kill switch may still be up from a reconnect
    // (restore with keepKillSwitch, or an apply that failed after adopting it
    // and kept it): the state file says what is left, and a full restore
    // (vpn stop) must take that down too.
    else if (!(opts.keepKillSwitch ?? false)) await restoreClientRouting(this.stateFile)
  }

  async recoverStale(): Promise<boolean> {
    return (await recoverStale(this.stateFile)) !== null
  }

  async tunGone(name: string, timeoutMs = 2000): Promise<void> {
    // The kernel drops a device's routes before its name: once the name is gone, so are they.
    const deadline = Date.now() + timeoutMs
    while (existsSync(`/sys/class/net/${name}`) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20))
  }

  onPathChange(listener: () => void): void {
    this.pathListener = listener
  }

  async readdress(tun: string, from: string | null, to: string): Promise<void> {
    requireHost4(to)
    await run(['ip', '-4', 'addr', 'replace', `${to}/32`, 'dev', tun])
    if (from !== null && from !== to) {
      requireHost4(from)
      const r = await tryRun(['ip', '-4', 'addr', 'del', `${from}/32`, 'dev', tun])
      // Gone already is what we wanted.
      if (r.code !== 0 && !/Cannot assign requested address|not found/i.test(r.stderr))
        throw commandError(['ip', '-4', 'addr', 'del', `${from}/32`, 'dev', tun], r)
    }
  }

  async readdress6(tun: string, from: string | null, to: string | null): Promise<void> {
    // nodad: a TUN has no neighbours to clash with, and a tentative address could not be used at once.
    if (to !== null) {
      requireHost(to, 6)
      await run(['ip', '-6', 'addr', 'replace', `${to}/128`, 'dev', tun, 'nodad'])
    }
    if (from !== null && from !== to) {
      requireHost(from, 6)
      const argv = ['ip', '-6', 'addr', 'del', `${from}/128`, 'dev', tun]
      const r = await tryRun(argv)
      if (r.code !== 0 && !/Cannot assign requested address|not found/i.test(r.stderr)) throw commandError(argv, r)
    }
  }
}

/** IPv6 in this kernel and not disabled for interfaces created from now on (what a new TUN inherits). */
function ipv6OnForNewInterfaces(): boolean {
  try {
    for (const k of ['all', 'default']) if (readFileSync(`/proc/sys/net/ipv6/conf/${k}/disable_ipv6`, 'utf8').trim() !== '0') return false
    return true
  } catch {
    return false // no /proc/sys/net/ipv6: IPv6 is not in this kernel
  }
}

function requireHost(a: string, family: 4 | 6): void {
  if (isIP(a) !== family) throw new SkywireError('EUSAGE', `not an IPv${family} address: ${JSON.stringify(a)}`)
}

function requireHost4(a: string): void {
  requireHost(a, 4)
}
