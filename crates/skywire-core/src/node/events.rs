//! What the node tells the host program, and what it reports about one
//! transport: the types that cross to the binding. Data packets never do.

use std::net::SocketAddr;
use std::time::Duration;

use super::limits::{LimitStats, Refusal};
use super::stats::Snapshot;
use crate::router::TransportId;
use crate::PublicKey;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TransportKind {
    Stcpr,
    Sudph,
}

impl TransportKind {
    pub fn as_str(self) -> &'static str {
        match self {
            TransportKind::Stcpr => "stcpr",
            TransportKind::Sudph => "sudph",
        }
    }
}

/// What the host program hears from the node. Data packets never appear here.
#[derive(Clone, Debug)]
pub enum Event {
    TransportUp {
        id: TransportId,
        peer: PublicKey,
        transport: TransportKind,
        remote: SocketAddr,
        initiator: bool,
        /// A circuit transport (multi-hop): the transport it runs through.
        via: Option<TransportId>,
    },
    Control {
        id: TransportId,
        data: Vec<u8>,
    },
    TransportDown {
        id: TransportId,
        peer: PublicKey,
        reason: String,
    },
    /// Hole-punching progress for a dial or for a peer dialing us.
    Punch {
        peer: PublicKey,
        stage: String,
        addr: Option<SocketAddr>,
    },
    /// The address resolver acknowledged our SUDPH binding and saw us at `observed`.
    Bound {
        observed: SocketAddr,
    },
    /// Inbound dials are being refused by a limit (at most one event per
    /// `limits::REPORT_EVERY`, however large the flood): `from` is the
    /// source of the one that triggered the report, `stats` the counts.
    Refused {
        why: Refusal,
        from: std::net::IpAddr,
        stats: LimitStats,
    },
    /// A splice (multi-hop relay on this visor) ended because one of its
    /// transports closed; named as `splice` was called.
    SpliceDown {
        from_id: TransportId,
        from_circuit: u32,
    },
}

#[derive(Clone, Debug)]
pub struct TransportInfo {
    pub id: TransportId,
    pub peer: PublicKey,
    pub transport: TransportKind,
    pub remote: SocketAddr,
    pub initiator: bool,
    /// A circuit transport (multi-hop): the transport it runs through. Its
    /// `transport` kind is then the kind at the base of the via chain.
    pub via: Option<TransportId>,
    pub tunnel: Option<String>,
    pub age: Duration,
    pub stats: Snapshot,
}
