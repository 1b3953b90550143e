//! The node's one door into the session state machine (`crate::session`):
//! it turns the machine's borrowed results into what the I/O tasks need
//! (lengths and ranges into their own buffers) and adds the node's policy on
//! top: periodic pings for RTT and liveness.

use std::net::SocketAddr;
use std::ops::Range;
use std::time::{Duration, Instant};

use rand_core::{OsRng, RngCore};

pub use crate::session::FrameKind as Kind;
use crate::session::{
    Decapsulated, Responded, Responder, ResponderConfig, Session, SessionConfig, SessionError, TimerAction,
};
use crate::{Keypair, PublicKey};

pub const MAX_CONTROL: usize = crate::session::MAX_CONTROL_LEN;
/// Bytes a transport message adds to its body: 16 header, 1 kind, 16 tag.
pub(crate) const OVERHEAD: usize = 33;
/// A ping this often gives RTT and proves liveness both ways even on an idle
/// tunnel (the client judges "connected" by what it receives).
pub(crate) const PING_EVERY: Duration = Duration::from_secs(5);

pub(crate) fn random_u32() -> u32 {
    OsRng.next_u32()
}

/// What a received message means for the I/O layer. Ranges index the
/// caller's `out` buffer.
pub(crate) enum Inbound {
    Data(Range<usize>),
    Control(Range<usize>),
    /// A forward body (multi-hop): for circuit.rs.
    Forward(Range<usize>),
    /// Send these bytes back to the peer (pong, handshake confirmation).
    Reply(Range<usize>),
    Rtt(Duration),
    Nothing,
}

pub(crate) enum Tick {
    Idle,
    Send(usize),
    /// Keys are due for renewal: the caller allocates an index and calls `rekey`.
    Rekey,
    Expired,
}

pub(crate) enum Accepted {
    Session(Box<SessionBox>, usize),
    Reply(usize),
}

pub(crate) struct SessionBox {
    s: Session,
    remote: PublicKey,
    last_ping: Option<Instant>,
}

impl SessionBox {
    pub(crate) fn remote(&self) -> PublicKey {
        self.remote
    }

    /// `now`: read once per batch by the caller (a clock read per packet
    /// was ~1.5 % of the sender's CPU); it dates the keys' age check and the
    /// keepalive timer, for which a batch's few microseconds do not matter.
    pub(crate) fn encapsulate(
        &mut self,
        kind: Kind,
        payload: &[u8],
        now: Instant,
        out: &mut [u8],
    ) -> Result<usize, SessionError> {
        self.s.encapsulate(kind, payload, now, out).map(|b| b.len())
    }

    pub(crate) fn decapsulate(&mut self, msg: &[u8], out: &mut [u8], now: Instant) -> Result<Inbound, SessionError> {
        // The results borrow `out`; turn them into ranges so the caller can
        // keep using its buffer (and await) afterwards.
        let base = out.as_ptr() as usize;
        let range = |p: &[u8]| {
            let start = p.as_ptr() as usize - base;
            start..start + p.len()
        };
        Ok(match self.s.decapsulate(msg, now, out)? {
            Decapsulated::Data(p) => Inbound::Data(range(p)),
            Decapsulated::Control(p) => Inbound::Control(range(p)),
            Decapsulated::Forward(p) => Inbound::Forward(range(p)),
            Decapsulated::WriteBack(p) => Inbound::Reply(range(p)),
            Decapsulated::Pong { rtt } => Inbound::Rtt(rtt),
            Decapsulated::Keepalive | Decapsulated::Done => Inbound::Nothing,
        })
    }

    pub(crate) fn tick(&mut self, now: Instant, out: &mut [u8]) -> Tick {
        match self.s.update_timers(now, out) {
            TimerAction::Idle => {}
            TimerAction::Send(b) => return Tick::Send(b.len()),
            TimerAction::Rekey => return Tick::Rekey,
            TimerAction::Expired => return Tick::Expired,
        }
        if self.s.is_established() && self.last_ping.is_none_or(|t| now.saturating_duration_since(t) >= PING_EVERY) {
            if let Ok(b) = self.s.ping(now, out) {
                self.last_ping = Some(now);
                return Tick::Send(b.len());
            }
        }
        Tick::Idle
    }

    /// A ping now, out of schedule (hint.rs: is the peer still there?).
    pub(crate) fn ping(&mut self, now: Instant, out: &mut [u8]) -> Result<usize, SessionError> {
        self.s.ping(now, out).map(|b| b.len())
    }

    pub(crate) fn rekey(&mut self, index: u32, now: Instant, out: &mut [u8]) -> Result<usize, SessionError> {
        self.s.rekey(index, now, out).map(|b| b.len())
    }

    /// A new handshake from the same peer (rekey or reconnect): take its keys.
    pub(crate) fn absorb(&mut self, newer: SessionBox) -> Result<(), SessionError> {
        self.s.absorb(newer.s)
    }

    /// Whether the session has confirmed keys (on the responder side: the
    /// initiator's first transport message arrived under the new keys).
    pub(crate) fn is_established(&self) -> bool {
        self.s.is_established()
    }

    pub(crate) fn rekeys(&self) -> u64 {
        self.s.rekeys()
    }

    pub(crate) fn owns_index(&self, index: u32) -> bool {
        self.s.local_indices().any(|i| i == index)
    }
}

pub(crate) struct Acceptor {
    r: Responder,
}

impl Acceptor {
    pub(crate) fn new(kp: &Keypair, cfg: ResponderConfig) -> Self {
        Acceptor { r: Responder::new(kp, cfg, Instant::now()) }
    }

    pub(crate) fn accept(
        &mut self,
        src: SocketAddr,
        msg: &[u8],
        index: u32,
        now: Instant,
        out: &mut [u8],
    ) -> Result<Accepted, SessionError> {
        match self.r.handle_initiation(src, msg, index, now, out)? {
            Responded::Accepted { session, response } => {
                let len = response.len();
                let remote = session.remote_pk().ok_or(SessionError::WrongPeerKey)?;
                Ok(Accepted::Session(Box::new(SessionBox { s: *session, remote, last_ping: None }), len))
            }
            Responded::CookieReply(b) => Ok(Accepted::Reply(b.len())),
        }
    }
}

/// Our side of a handshake we started, until the response arrives.
pub(crate) struct PendingHandshake {
    s: Option<Session>,
    remote: PublicKey,
    index: u32,
}

/// A completed handshake: the session, and the message that confirms the new
/// keys to the responder (it must be sent before anything else).
pub(crate) struct Established {
    pub(crate) session: SessionBox,
    pub(crate) confirm: Vec<u8>,
}

/// What an answer to our initiation led to.
pub(crate) enum Progress {
    Established(Box<Established>),
    /// The responder is under load and sent a cookie: send this initiation
    /// (now carrying mac2) instead.
    Retry(Vec<u8>),
}

pub(crate) fn initiate(
    kp: &Keypair,
    remote: PublicKey,
    index: u32,
    now: Instant,
) -> Result<(PendingHandshake, Vec<u8>), SessionError> {
    let mut out = [0u8; 256];
    let (s, msg) = Session::initiate(kp, remote, index, SessionConfig::default(), now, &mut out)?;
    let msg = msg.to_vec();
    Ok((PendingHandshake { s: Some(s), remote, index }, msg))
}

impl PendingHandshake {
    pub(crate) fn handle(&mut self, answer: &[u8], now: Instant) -> Result<Progress, SessionError> {
        let s = self.s.as_mut().ok_or(SessionError::NotEstablished)?;
        let mut out = [0u8; 256];
        let confirm = match s.decapsulate(answer, now, &mut out)? {
            Decapsulated::WriteBack(b) => b.to_vec(),
            Decapsulated::Done if !s.is_established() => {
                // A cookie reply: the same handshake again, now with mac2.
                let init = s.rekey(self.index, now, &mut out)?;
                return Ok(Progress::Retry(init.to_vec()));
            }
            _ => Vec::new(),
        };
        if !s.is_established() {
            return Err(SessionError::NotEstablished);
        }
        let s = self.s.take().ok_or(SessionError::NotEstablished)?;
        Ok(Progress::Established(Box::new(Established {
            session: SessionBox { s, remote: self.remote, last_ping: None },
            confirm,
        })))
    }
}
