//! Why a node call failed, with the stable code the binding hands to TypeScript.

use std::net::SocketAddr;

use thiserror::Error;

use super::crypto::MAX_CONTROL;
use crate::router::TransportId;
use crate::tun::TunError;
use crate::{Code, PublicKey};

#[derive(Debug, Error)]
pub enum NodeError {
    #[error("cannot listen on {what} {addr}: {source}")]
    Listen {
        what: &'static str,
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("{0} is not listening on this node")]
    NotListening(&'static str),
    #[error("no address resolver is configured for SUDPH")]
    NoResolver,
    #[error("unreachable: {0}")]
    Unreachable(String),
    /// The resolver has no SUDPH binding of the peer: it is offline, or has
    /// no SUDPH. Its own code, so callers can tell "offline" from "failed".
    #[error("unreachable: {0}: the peer is not bound at the address resolver (offline, or no SUDPH)")]
    NotBound(PublicKey),
    #[error("handshake failed: {0}")]
    Handshake(String),
    #[error("timed out")]
    Timeout,
    #[error("no transport {0}")]
    NoTransport(TransportId),
    #[error("no tunnel {0}")]
    NoTunnel(String),
    #[error("control message of {0} bytes is larger than {MAX_CONTROL}")]
    ControlTooLarge(usize),
    #[error("the send queue is full")]
    QueueFull,
    #[error("the node is shut down")]
    Closed,
    #[error("no circuit {1} for this use on transport {0} (unknown, taken, or not ours to use)")]
    NoCircuit(TransportId, u32),
    #[error("transport {0} carries the most circuits it may ({max})", max = super::circuit::MAX_CIRCUITS)]
    CircuitLimit(TransportId),
    #[error(transparent)]
    Tun(#[from] TunError),
}

impl NodeError {
    /// Stable codes for the binding (and so for TypeScript).
    pub fn code(&self) -> Code {
        match self {
            NodeError::Listen { .. } => Code::Listen,
            NodeError::NotListening(_) => Code::NotListening,
            NodeError::NoResolver => Code::NoResolver,
            NodeError::Unreachable(_) => Code::Unreachable,
            NodeError::NotBound(_) => Code::NotBound,
            NodeError::Handshake(_) => Code::Handshake,
            NodeError::Timeout => Code::Timeout,
            NodeError::NoTransport(_) => Code::NoTransport,
            NodeError::NoTunnel(_) => Code::NoTunnel,
            NodeError::ControlTooLarge(_) => Code::TooLarge,
            NodeError::QueueFull => Code::QueueFull,
            NodeError::Closed => Code::Closed,
            NodeError::NoCircuit(..) => Code::NoCircuit,
            NodeError::CircuitLimit(_) => Code::CircuitLimit,
            NodeError::Tun(TunError::Permission) => Code::Permission,
            NodeError::Tun(_) => Code::Tun,
        }
    }
}
