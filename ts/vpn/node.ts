/**
 * What the VPN client and server use of the node, as interfaces: the visor's
 * node wrapper satisfies them as it is, and the unit tests drive the VPN
 * logic with an in-memory fake (test/unit/fakes) instead of the Rust engine,
 * so they need neither root nor TUN devices. Declared here rather than taken
 * from the wrapper class so the VPN depends on no more than it calls.
 */

/** A transport as the node describes it (the fields the VPN reads). */
export interface VpnTransportInfo {
  id: number
  peer: string
  transport: 'stcpr' | 'sudph'
  remote: string
  initiator: boolean
  stats: {
    txBytes: number
    txPackets: number
    rxBytes: number
    rxPackets: number
    /** Milliseconds since the last authenticated packet from the peer. */
    lastRxMs?: number
    rttMs?: number
    rekeys: number
  }
}

/** What the VPN server calls on the node (the client calls these too). */
export interface VpnNode {
  sendControl(id: number, data: Buffer): void
  createTun(opts: { name?: string; ipv4: string; mtu?: number }): string
  attach(tun: string, id: number, allowed: string[]): void
  closeTun(tun: string): void
  /** Idempotent: closing a transport that is gone does nothing. */
  closeTransport(id: number): void
  transport(id: number): VpnTransportInfo | null
  transports(): VpnTransportInfo[]
}

/** The client also opens transports (dialTransport). */
export interface VpnClientNode extends VpnNode {
  dial(pk: string, transport: 'stcpr' | 'sudph', addrs: string[] | null, timeoutMs: number): Promise<number>
  readonly sudphAddr: string | null
  readonly observedAddr: string | null
}
