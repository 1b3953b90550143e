//! I/O-free session state machine: Noise IK handshake, transport encryption,
//! replay protection, rekey, keepalive and expiry (`docs/wire.md` section 1).
//!
//! Nothing here touches a socket or a clock. Every call takes the current
//! [`Instant`](std::time::Instant) and writes what must be sent into a caller buffer, so the I/O
//! layer drives it and tests can fast-forward time.
//!
//! # Pieces
//!
//! - [`Session`]: one peer. Created by [`Session::initiate`] (we dial) or by a
//!   [`Responder`] (they dialed). Owns up to three key sets, each reachable by
//!   its own *local index*: `current` (send + receive), `previous` (receive
//!   only, so packets in flight across a rekey are not lost) and `next`
//!   (responder side: keys from a handshake we answered, promoted to `current`
//!   when the first transport message arrives under them, which confirms the
//!   initiator has them).
//! - [`Responder`]: the listener. Holds our static key, the last accepted
//!   initiation timestamp per peer, the cookie secret and the load meter. It
//!   checks mac1 (and mac2 under load) before any Diffie-Hellman.
//! - [`TransportKeys`]: one direction-pair of keys with an atomic send counter;
//!   `Arc`-shared so several threads can encrypt for one session
//!   ([`Session::sender`]). Receive state (the replay window) stays in the
//!   session because it needs `&mut`.
//!
//! # Indexes
//!
//! Local (receiver) indexes are chosen by the **caller**, who owns the table
//! `index -> session`: it passes a fresh, unused index to
//! [`Session::initiate`], [`Responder::handle_initiation`] and
//! [`Session::rekey`]. A session may own several indexes at once (see
//! [`Session::local_indices`]); when a message for an index the session no
//! longer owns arrives, the session returns [`SessionError::UnknownIndex`] and
//! the caller should drop that mapping. On [`TimerAction::Expired`] drop all of
//! the session's indexes.
//!
//! # I/O layer loop (sketch)
//!
//! ```text
//! datagram in -> wire::message::classify(buf)
//!   Route::Initiation  -> responder.handle_initiation(src, buf, fresh_index, now, out)
//!        Accepted{session, response} -> send response to src; if a session with
//!            session.remote_static() exists: existing.absorb(*session) else insert it;
//!            map fresh_index -> that session
//!        CookieReply(bytes) -> send bytes to src
//!   Route::Index(i)    -> sessions[index_map[i]].decapsulate(buf, now, out)
//!        Data(ip) -> TUN; Control(c) -> host program; WriteBack(b) -> send b to the peer;
//!        Pong{rtt} / Keepalive / Done -> nothing to send
//!   Route::Resolver(_) -> wire::resolver::ResolverMessage::parse
//! TUN packet -> session.encapsulate(FrameKind::Data, ip, now, out) -> send
//! every ~250 ms -> session.update_timers(now, out):
//!   Send(b) -> send b; Rekey -> session.rekey(fresh_index, now, out) and send;
//!   Expired -> remove the session and its indexes; Idle -> nothing
//! ```
//!
//! # Transport identity
//!
//! Noise authenticates the peer's X25519 static key ([`Session::remote_static`]).
//! The Ed25519 → X25519 map forgets the sign of x, so the X25519 key alone
//! does not give the peer's Ed25519 PK. The initiator already knows it; the
//! initiation payload carries it after the timestamp, and the [`Responder`]
//! drops an initiation whose claimed PK does not map to the authenticated
//! static key ([`SessionError::WrongPeerKey`]). So [`Session::remote_pk`] is
//! always `Some` on both sides, and it is authenticated.

mod cookie;
mod keys;
mod noise;
mod replay;
mod responder;
mod state;

#[cfg(test)]
mod tests;

use std::time::Duration;

use thiserror::Error;

use crate::wire::WireError;

pub use cookie::{LoadConfig, COOKIE_LIFETIME};
pub use keys::{FrameKind, TransportKeys, MAX_BODY_LEN, MAX_CONTROL_LEN};
pub use noise::{tai64n, NOISE_PARAMS, PROLOGUE};
pub use replay::{ReplayWindow, WINDOW_SIZE};
pub use responder::{Responded, Responder, ResponderConfig};
pub use state::{Decapsulated, Session, TimerAction};

/// Rekey after this many messages under one key set (`docs/wire.md`: 2^60).
pub const REKEY_AFTER_MESSAGES: u64 = 1 << 60;
/// Never use a counter at or above this: leaves room below `u64::MAX`, which
/// snow refuses as a nonce.
pub const REJECT_AFTER_MESSAGES: u64 = u64::MAX - (1 << 13);

/// Timer settings of a session. `Default` is the protocol's values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionConfig {
    /// The initiator starts a new handshake when its keys are this old (120 s).
    pub rekey_after_time: Duration,
    /// Keys this old are not used to send or receive any more (180 s).
    pub reject_after_time: Duration,
    /// Rekey after this many messages sent under one key set.
    pub rekey_after_messages: u64,
    /// Send a keepalive when we received something but sent nothing for this long (10 s).
    pub keepalive_timeout: Duration,
    /// Optionally also send a keepalive whenever nothing was sent for this long
    /// (holds NAT mappings open on an idle tunnel).
    pub persistent_keepalive: Option<Duration>,
    /// Expire the session when nothing authenticated arrived for this long (180 s).
    pub expiry: Duration,
    /// Retransmit an unanswered initiation after this long (5 s).
    pub rekey_timeout: Duration,
    /// Give up a handshake after trying for this long (90 s).
    pub rekey_attempt_time: Duration,
}

impl Default for SessionConfig {
    fn default() -> Self {
        SessionConfig {
            rekey_after_time: Duration::from_secs(120),
            reject_after_time: Duration::from_secs(180),
            rekey_after_messages: REKEY_AFTER_MESSAGES,
            keepalive_timeout: Duration::from_secs(10),
            persistent_keepalive: None,
            expiry: Duration::from_secs(180),
            rekey_timeout: Duration::from_secs(5),
            rekey_attempt_time: Duration::from_secs(90),
        }
    }
}

/// Why a message was dropped or a call refused. Dropping is always safe: none
/// of these leaves a session in a broken state.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum SessionError {
    #[error("malformed message: {0}")]
    Wire(#[from] WireError),
    #[error("mac1 does not match: the sender does not know our public key, or the message was altered")]
    BadMac1,
    #[error("rate limited: too many handshakes from this source while under load")]
    RateLimited,
    #[error("cookie reply does not decrypt (not an answer to our last initiation)")]
    BadCookieReply,
    #[error("handshake does not decrypt: addressed to another static key, or corrupted")]
    HandshakeDecrypt,
    #[error("handshake payload is {got} bytes, expected {expected}")]
    BadHandshakePayload { expected: usize, got: usize },
    #[error("initiation timestamp is not newer than the last one accepted from this peer (replayed handshake)")]
    StaleTimestamp,
    #[error("noise: {0}")]
    Noise(String),
    #[error("no keys with local index {0:#010x} in this session")]
    UnknownIndex(u32),
    #[error("transport counter {0} was already received (replay)")]
    Replayed(u64),
    #[error("transport counter {0} is older than the replay window")]
    CounterTooOld(u64),
    #[error("transport message failed authentication")]
    DecryptFailed,
    #[error("keys are older than the reject-after time")]
    KeysExpired,
    #[error("send counter exhausted; a new handshake is required")]
    CounterExhausted,
    #[error("session has no confirmed keys to send with yet")]
    NotEstablished,
    #[error("session expired")]
    Expired,
    #[error("{kind:?} body of {len} bytes exceeds the limit of {max}")]
    BodyTooLarge { kind: FrameKind, len: usize, max: usize },
    #[error("output buffer too small: need {need} bytes, have {have}")]
    BufferTooSmall { need: usize, have: usize },
    #[error("unknown inner frame kind {0}")]
    UnknownKind(u8),
    #[error("{kind:?} body must be {expected} bytes, got {got}")]
    BadBody { kind: FrameKind, expected: usize, got: usize },
    #[error("unexpected message: {0}")]
    UnexpectedMessage(&'static str),
    #[error("public key does not match the peer's authenticated static key")]
    WrongPeerKey,
}

impl From<snow::Error> for SessionError {
    fn from(e: snow::Error) -> Self {
        SessionError::Noise(e.to_string())
    }
}

pub(crate) fn need_out(out: &[u8], need: usize) -> Result<(), SessionError> {
    if out.len() < need {
        Err(SessionError::BufferTooSmall { need, have: out.len() })
    } else {
        Ok(())
    }
}
