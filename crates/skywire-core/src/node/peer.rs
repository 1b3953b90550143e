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
    /// STCPR: frames for the connection's writer task, and the signal that
    /// closes the connection when the session is closed on our side.
    Tcp { tx: mpsc::Sender<Vec<u8>>, addr: SocketAddr, close: Arc<tokio::sync::Notify> },
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

/// STCPR frame header: the length prefix written in front of each message.
const FRAME_HEADER: usize = 4;
/// How long the TUN reader waits for room in one connection's queue.
const TCP_QUEUE_WAIT: std::time::Duration = std::time::Duration::from_millis(5);

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
    /// The data path from the TUN: encrypt and send, waiting while the socket
    /// or the connection's queue is full. Waiting pushes back on the TUN
    /// reader, so a congested path slows the sender's TCP down instead of
    /// dropping packets we already paid to encrypt.
    pub(crate) async fn send_data(&self, payload: &[u8], buf: &mut Vec<u8>) {
        let need = FRAME_HEADER + payload.len() + super::crypto::OVERHEAD;
        match &self.link {
            Link::Udp { sock, addr } => {
                if buf.len() < need {
                    buf.resize(need, 0);
                }
                let Some(n) = self.encrypt(payload, buf) else { return };
                let to = *addr.lock().unwrap();
                match sock.send_to(&buf[..n], to).await {
                    Ok(_) => self.counters.sent(payload.len()),
                    Err(_) => self.counters.drop_one(),
                }
            }
            Link::Tcp { tx, .. } => {
                // Encrypt straight into the frame that goes to the writer:
                // one buffer per packet, no second copy.
                let mut frame = vec![0u8; need];
                let Some(n) = self.encrypt(payload, &mut frame[FRAME_HEADER..]) else { return };
                frame[..FRAME_HEADER].copy_from_slice(&(n as u32).to_be_bytes());
                frame.truncate(FRAME_HEADER + n);
                // Wait for room, but briefly: one TUN feeds every client of a
                // server, and a client that stops reading must not stall the
                // others (head-of-line blocking); past that its packets drop.
                let sent = match tx.try_send(frame) {
                    Ok(()) => true,
                    Err(mpsc::error::TrySendError::Full(frame)) => {
                        matches!(tokio::time::timeout(TCP_QUEUE_WAIT, tx.send(frame)).await, Ok(Ok(())))
                    }
                    Err(mpsc::error::TrySendError::Closed(_)) => false,
                };
                if sent {
                    self.counters.sent(payload.len())
                } else {
                    self.counters.drop_one()
                }
            }
        }
    }

    fn encrypt(&self, payload: &[u8], out: &mut [u8]) -> Option<usize> {
        match self.session.lock().unwrap().encapsulate(Kind::Data, payload, out) {
            Ok(n) => Some(n),
            Err(_) => {
                self.counters.drop_one();
                None
            }
        }
    }

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
