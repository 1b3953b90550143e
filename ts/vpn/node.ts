/**
 * What the VPN client and server use of the node: the methods they call, picked from the node wrapper, so the VPN
 * depends on no more than it calls and the unit tests drive the VPN logic with an in-memory fake (test/unit/fakes)
 * instead of the Rust engine, needing neither root nor TUN devices. The shapes stay the wrapper's (one contract).
 */
import type { Node } from '../native/node.js'
import type { RouteNode } from './route.js'

/** What the VPN server calls on the node (the client calls these too). */
export type VpnNode = Pick<Node, 'sendControl' | 'createTun' | 'attach' | 'closeTun' | 'closeTransport' | 'transport' | 'transports'>

/** The client also opens transports (dialTransport) and builds routes through hops (ts/vpn/route.ts). */
export type VpnClientNode = VpnNode & Pick<Node, 'dial' | 'sudphAddr' | 'observedAddr' | 'publicKey'> & Pick<RouteNode, 'reserveCircuit' | 'dialVia'>
