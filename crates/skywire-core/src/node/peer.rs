//! One established session with a remote visor, over one transport link.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Instant;

use tokio::net::UdpSocket;
use tokio::sync::mpsc;

use super::crypto::{Kind, SessionBox};
use super::stats::Counters;
use super::tunnel::Tunnel;
use super::TransportKind;
use crate::router::PeerId;
use crate::PublicKey;

/// Where a session's messages go.
pub(crate) enum Link {
    /// SUDPH: the shared UDP socket and the peer's current address (it can
    /// change when the peer's NAT rebinds; we follow authenticated packets).
    Udp { sock: Arc<UdpSocket>, addr: Mutex<SocketAddr> },
    /// STCPR: frames for the connection's writer task.
    Tcp { tx: mpsc::Sender<Vec<u8>>, addr: SocketAddr },
}

impl Link {
    pub(crate) fn remote_addr(&self) -> SocketAddr {
        match self {
            Link::Udp { addr, .. } => *addr.lock().unwrap(),
            Link::Tcp { addr, .. } => *addr,
        }
    }

    /// Send one session message. Never waits: a full socket or queue drops
    /// the message, as a congested link would, and the caller counts it.
    pub(crate) fn try_send(&self, msg: &[u8]) -> bool {
        match self {
            Link::Udp { sock, addr } => {
                let to = *addr.lock().unwrap();
                sock.try_send_to(msg, to).is_ok()
            }
            Link::Tcp { tx, .. } => tx.try_send(super::stcpr::frame(msg)).is_ok(),
        }
    }
}

pub struct Peer {
    pub(crate) id: PeerId,
    pub(crate) remote: PublicKey,
    pub(crate) kind: TransportKind,
    pub(crate) initiator: bool,
    pub(crate) session: Mutex<SessionBox>,
    pub(crate) link: Link,
    pub(crate) counters: Counters,
    pub(crate) tunnel: RwLock<Option<Arc<Tunnel>>>,
    pub(crate) since: Instant,
}

impl Peer {
    /// Encrypt and send. `buf` is the caller's scratch space, reused across
    /// packets so the data path does not allocate.
    pub(crate) fn send(&self, kind: Kind, payload: &[u8], buf: &mut Vec<u8>) -> bool {
        let need = payload.len() + super::crypto::OVERHEAD;
        if buf.len() < need {
            buf.resize(need, 0);
        }
        let n = match self.session.lock().unwrap().encapsulate(kind, payload, buf) {
            Ok(n) => n,
            Err(_) => {
                self.counters.drop_one();
                return false;
            }
        };
        if self.link.try_send(&buf[..n]) {
            if kind == Kind::Data {
                self.counters.sent(payload.len());
            }
            true
        } else {
            self.counters.drop_one();
            false
        }
    }
}
