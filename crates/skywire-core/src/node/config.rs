//! How a node starts: keys, listen addresses, resolver, limits.

use std::net::SocketAddr;

use super::limits::Limits;
use crate::Keypair;

pub struct NodeConfig {
    pub keypair: Keypair,
    pub stcpr_listen: Option<SocketAddr>,
    pub sudph_listen: Option<SocketAddr>,
    /// UDP address of the address resolver (binding, hole punching).
    pub resolver: Option<SocketAddr>,
    /// The resolver's address in the other family (IPv6 when `resolver` is
    /// IPv4), so that a dual-stack node keeps a binding over each family
    /// (docs/wire.md section 3). Of two addresses of one family the first is used.
    pub resolver6: Option<SocketAddr>,
    /// Addresses to announce to the resolver as our LAN addresses (tried
    /// first by peers behind the same NAT). Empty: the SUDPH listen address
    /// when it is not a wildcard.
    pub local_addrs: Vec<SocketAddr>,
    /// Handshake flood protection and session timers of inbound sessions.
    pub responder: crate::session::ResponderConfig,
    /// Caps on what strangers can make us hold (pending handshakes, inbound sessions).
    pub limits: Limits,
}
