/**
 * What the VPN needs from the host's network stack, as two small interfaces.
 * The implementations (ts/sys) change routes, DNS, sysctls and nftables; the
 * VPN logic only says what it wants.
 */

export interface ServerHostUp {
  tun: string
  netifc: string
  pool: string
  gateway: string
  secure: boolean
  /** DNS servers handed to clients: reachable through the tunnel even in secure mode. */
  dns: string[]
  /** The clients' IPv6 network and the server's address in it; absent: clients' IPv6 is dropped. */
  pool6?: string
  gateway6?: string
  /** Masquerade pool6 out of netifc (NAT66, a ULA pool); false for a routed pool6. */
  nat6?: boolean
}

/** What the host offers for the clients' IPv6 (ServerHost.ipv6). */
export interface ServerIpv6 {
  /** This server's ULA /64, stable across restarts. */
  ula64: string
  /** netifc has a global IPv6 address, so NAT66 out of it reaches the IPv6 internet. */
  globalUplink: boolean
}

export interface ServerHost {
  /** '' means the default route's interface; a name that does not exist is a one-line error. */
  resolveNetifc(name: string): Promise<string>
  /**
   * The IPv6 the server can give clients through `netifc`. Optional: a host
   * without it gives clients no IPv6 (unless the operator routes a pool6).
   */
  ipv6?(netifc: string): Promise<ServerIpv6>
  /** Before the TUN is created: record (durably) that host changes are coming, so a crash from here on is undone. */
  prepare(): Promise<void>
  /** Forwarding on, NAT out of netifc, secure-mode drops. */
  up(p: ServerHostUp): Promise<void>
  /** Undo exactly what prepare() and up() did. */
  down(): Promise<void>
  /** Undo what a crashed visor's server left (its state file), at visor start; true when there was something. */
  recoverStale(): Promise<boolean>
}

export interface ClientHostApply {
  tun: string
  tunnelIp: string
  /** The tunnel's IPv6 address when the server carries IPv6: IPv6 then goes into the tunnel, otherwise it is blocked. */
  tunnelIp6?: string | null
  dns: string[]
  killswitch: boolean
}

export interface ClientHost {
  /** Networks this host is on, told to the server so our tunnel address never clashes with them. */
  usedNetworks(): Promise<string[]>
  /**
   * Whether a new TUN can hold an IPv6 address (IPv6 present and not
   * disabled for new interfaces). Optional: absent means yes. A host that
   * cannot takes the server's IPv4 only and keeps IPv6 blocked.
   */
  canTunnelIpv6?(): Promise<boolean>
  /** Route everything through the tunnel; state is saved before any change. Re-applying replaces the previous changes. */
  apply(p: ClientHostApply): Promise<void>
  /**
   * Undo exactly what apply() did; no-op when nothing is applied. With
   * keepKillSwitch (a reconnect that must rebuild the TUN), routes and DNS
   * are undone but the kill switch stays up for the next apply to adopt, so
   * nothing leaves outside the tunnel in between; a later restore() without
   * it removes that kill switch too.
   */
  restore(opts?: { keepKillSwitch?: boolean }): Promise<void>
  /** Undo what a crashed visor left (its state file), at visor start. */
  recoverStale(): Promise<boolean>
  /**
   * Resolves once the kernel has removed the TUN `name` (closing it only
   * starts that), or after timeoutMs: a stop that returns has restored the
   * host, the TUN's routes included.
   */
  tunGone?(name: string, timeoutMs?: number): Promise<void>
  /**
   * A reconnect got another tunnel address: give the TUN the new one (added
   * before the old is removed) and keep everything else, so the routes into
   * the TUN never leave and nothing goes around the tunnel meanwhile, kill
   * switch or not. Optional: without it the client rebuilds the TUN.
   */
  readdress?(tun: string, from: string | null, to: string): Promise<void>
  /**
   * The same for the TUN's IPv6 address (a switch or reconnect to a server
   * whose IPv6 differs): null `to` removes it (the new server carries no
   * IPv6), null `from` only adds. Optional: without it the client rebuilds
   * the TUN.
   */
  readdress6?(tun: string, from: string | null, to: string | null): Promise<void>
  /**
   * Tells `listener` when the main table's default route changed (a roam, a
   * replaced default route, an uplink back up): the visor's marked sockets
   * now take another path, which a TCP transport cannot follow. Optional.
   */
  onPathChange?(listener: () => void): void
  /**
   * `vpn set`: turn the kill switch (and its allow-LAN exemption) on or off
   * now, whatever the state. Optional: without it, changes apply at the next connect.
   */
  setFirewall?(p: { killswitch: boolean; allowLan?: boolean }): Promise<void>
}
