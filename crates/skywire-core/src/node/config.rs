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
    /// Workers on the data path (0: one per core, [`default_workers`]): the
    /// SUDPH socket becomes this many sockets on one address (`SO_REUSEPORT`,
    /// one receive task each) and a tunnel this many TUN queues (one reader
    /// task each), so a server's clients spread over the cores. 1 is one
    /// socket and one queue. At most [`MAX_WORKERS`].
    pub workers: usize,
}

/// Most workers a node runs; more than the cores buys nothing.
pub const MAX_WORKERS: usize = 64;

/// One worker per core the process may use (1 when that cannot be read).
pub fn default_workers() -> usize {
    std::thread::available_parallelism().map_or(1, usize::from).min(MAX_WORKERS)
}

/// The worker count a node runs with for `workers` as configured.
pub(crate) fn effective_workers(workers: usize) -> usize {
    if workers == 0 {
        default_workers()
    } else {
        workers.min(MAX_WORKERS)
    }
}
