//! A visor's network node: its STCPR listener and SUDPH socket, the transports
//! over them, the TUNs they feed, and the events the host program sees.
//!
//! Data path, both directions, all in this module tree, in batches:
//!   TUN read (offload: one 64 KiB read, split) → `tunnel::outbound_loop` →
//!     route by destination → `Transport::send_batch` (encrypt the run) → one UDP
//!     GSO send (`udp::UdpSock`) or one buffer of TCP frames.
//!   UDP `sudph::recv_loop` (recvmmsg + GRO) / TCP `stcpr::Conn` (one task per connection) →
//!     `Inner::on_session_message` (dispatch.rs: decrypt into a `sink::TunSink` slot) →
//!     `Tunnel::admit` (source check) → `TunSink::flush` when nothing more is
//!     ready: one coalesced TUN write per TCP flow.
//! Only control messages and lifecycle events leave for the host.
//!
//! Files by job. Control path: `api` (what the host calls) → `state` (the
//! shared session table, lifecycle events) ← `config`, `events`, `error`
//! (what crosses to the host). Outbound: `tunnel` (TUN reader, routing) →
//! `transport` (one transport's send side) → `udp` / `stcpr`. Inbound: `sudph` /
//! `stcpr` (sockets, handshakes) → `dispatch` (decrypt, act) → `sink` (TUN
//! writes). `timers`: keepalive, rekey, expiry. Multi-hop: `circuit`
//! (circuits inside a transport: relaying on a hop, circuit transports at
//! the ends). Helpers: `crypto`, `limits`, `resolver`, `stats`, `mark`,
//! `family` (IPv4 and IPv6 side by side). Latency probes (answer and
//! prober): `probe`.

mod api;
mod circuit;
mod config;
mod crypto;
mod dispatch;
mod error;
mod events;
mod family;
mod hint;
mod idmap;
mod limits;
pub mod mark;
mod probe;
mod resolver;
mod sink;
mod state;
mod stats;
mod stcpr;
mod sudph;
mod timers;
mod transport;
mod tunnel;
mod udp;

#[cfg(test)]
mod circuit_tests;
#[cfg(test)]
mod hint_tests;
#[cfg(test)]
mod ipv6_tests;
#[cfg(test)]
mod preauth_tests;
#[cfg(test)]
mod probe_tests;
#[cfg(test)]
mod roaming_tests;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod workers_tests;

pub use self::api::Node;
pub use self::circuit::{SpliceInfo, CIRCUIT_OVERHEAD, MAX_CIRCUITS};
pub use self::config::{default_workers, NodeConfig, MAX_WORKERS};
pub use self::crypto::{Kind, MAX_CONTROL};
pub use self::error::NodeError;
pub use self::events::{Event, TransportInfo, TransportKind};
pub use self::limits::{LimitStats, Limits, Refusal};
pub use self::probe::{
    probe_latency, Probed, MAX_PROBES_IN_FLIGHT, MAX_PROBE_ADDRS, PROBES_PER_S, PROBES_PER_SOURCE_PER_S, PROBE_BURST,
    PROBE_BURST_PER_SOURCE,
};
pub(crate) use self::state::Inner;
pub use self::stats::Snapshot;
pub use self::transport::Transport;
pub use self::tunnel::Tunnel;
