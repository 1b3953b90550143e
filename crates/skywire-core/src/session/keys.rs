//! Transport keys of one completed handshake, shareable across threads.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use ring::aead::{Aad, LessSafeKey, Nonce, Tag, UnboundKey, CHACHA20_POLY1305};
use snow::HandshakeState;
use zeroize::Zeroize;

use crate::wire::message::{write_transport_header, TAG_LEN, TRANSPORT_HEADER_LEN};

use super::{need_out, SessionError, REJECT_AFTER_MESSAGES};

/// Noise caps a message (ciphertext) at 65535 bytes; the plaintext is the kind
/// byte plus the body.
const MAX_PLAINTEXT: usize = 65_535 - TAG_LEN;
/// Largest body of any kind (an IP packet up to 65518 bytes).
pub const MAX_BODY_LEN: usize = MAX_PLAINTEXT - 1;
/// Control messages are at most 60 KiB (`docs/wire.md`).
pub const MAX_CONTROL_LEN: usize = 60 * 1024;

/// Inner frame kind: the first plaintext byte of a transport message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum FrameKind {
    Data = 0,
    Control = 1,
    Keepalive = 2,
    Ping = 3,
    Pong = 4,
    /// Multi-hop (`docs/wire.md` section 6): a circuit number and an inner
    /// session message, for the node to relay or to hand to a circuit's session.
    Forward = 5,
}

impl FrameKind {
    pub fn from_u8(b: u8) -> Result<Self, SessionError> {
        Ok(match b {
            0 => FrameKind::Data,
            1 => FrameKind::Control,
            2 => FrameKind::Keepalive,
            3 => FrameKind::Ping,
            4 => FrameKind::Pong,
            5 => FrameKind::Forward,
            other => return Err(SessionError::UnknownKind(other)),
        })
    }

    fn max_body(self) -> usize {
        match self {
            FrameKind::Control => MAX_CONTROL_LEN,
            _ => MAX_BODY_LEN,
        }
    }

    /// Bodies of fixed size; checked on send and on receive.
    pub(crate) fn exact_body(self) -> Option<usize> {
        match self {
            FrameKind::Keepalive => Some(0),
            FrameKind::Ping | FrameKind::Pong => Some(8),
            _ => None,
        }
    }
}

/// The Noise transport nonce for ChaChaPoly: 32 zero bits, then the counter
/// little-endian (Noise spec section 12.3; what snow sends).
fn nonce(counter: u64) -> Nonce {
    let mut n = [0u8; 12];
    n[4..].copy_from_slice(&counter.to_le_bytes());
    Nonce::assume_unique_for_key(n)
}

/// Keys from one handshake: send with an atomic counter, receive statelessly
/// (the replay window lives in the session).
///
/// The two ChaCha20-Poly1305 keys of the handshake's split, used through ring
/// directly rather than snow's transport state: snow seals from one slice into
/// another, so the kind byte and the body had to be joined in a scratch buffer
/// first (two copies of every packet); here the body is copied once, into the
/// message, and sealed there. Same cipher, nonces and (empty) associated data
/// as Noise's transport messages, so the wire is unchanged (tested against
/// snow in `session::tests`).
pub struct TransportKeys {
    send: LessSafeKey,
    recv: LessSafeKey,
    local_index: u32,
    remote_index: u32,
    send_counter: AtomicU64,
    created: Instant,
}

impl std::fmt::Debug for TransportKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TransportKeys")
            .field("local_index", &self.local_index)
            .field("remote_index", &self.remote_index)
            .field("sent", &self.sent())
            .finish_non_exhaustive()
    }
}

impl TransportKeys {
    /// The transport keys of a finished handshake (Noise's Split()): the
    /// initiator sends with the first key, the responder with the second.
    pub(crate) fn from_handshake(
        hs: &mut HandshakeState,
        local_index: u32,
        remote_index: u32,
        created: Instant,
    ) -> Result<Self, SessionError> {
        if !hs.is_handshake_finished() {
            return Err(snow::Error::State(snow::error::StateProblem::HandshakeNotFinished).into());
        }
        let (mut k1, mut k2) = hs.dangerously_get_raw_split();
        let (send, recv) = if hs.is_initiator() { (&k1, &k2) } else { (&k2, &k1) };
        let keys = Self::from_raw(send, recv, local_index, remote_index, created);
        k1.zeroize();
        k2.zeroize();
        Ok(keys)
    }

    pub(crate) fn from_raw(
        send: &[u8; 32],
        recv: &[u8; 32],
        local_index: u32,
        remote_index: u32,
        created: Instant,
    ) -> Self {
        let key = |k: &[u8; 32]| LessSafeKey::new(UnboundKey::new(&CHACHA20_POLY1305, k).expect("32-byte key"));
        TransportKeys {
            send: key(send),
            recv: key(recv),
            local_index,
            remote_index,
            send_counter: AtomicU64::new(0),
            created,
        }
    }

    /// The index the peer puts in messages to us under these keys.
    pub fn local_index(&self) -> u32 {
        self.local_index
    }

    /// The index we put in messages to the peer.
    pub fn remote_index(&self) -> u32 {
        self.remote_index
    }

    pub fn created(&self) -> Instant {
        self.created
    }

    /// Messages sent so far (the next counter).
    pub fn sent(&self) -> u64 {
        self.send_counter.load(Ordering::Relaxed)
    }

    /// Encrypt one transport message into `out` and return its length:
    /// header (16) + 1 + `body.len()` + tag (16). Thread-safe: counters are
    /// unique per message, so concurrent callers never reuse a nonce (their
    /// messages may leave out of order; the peer's replay window allows it).
    ///
    /// Does not check key age or update session timers: use
    /// [`Session::encapsulate`](super::Session::encapsulate) unless you are a
    /// worker thread holding [`Session::sender`](super::Session::sender).
    pub fn encapsulate(&self, kind: FrameKind, body: &[u8], out: &mut [u8]) -> Result<usize, SessionError> {
        if let Some(expected) = kind.exact_body() {
            if body.len() != expected {
                return Err(SessionError::BadBody { kind, expected, got: body.len() });
            }
        } else if body.len() > kind.max_body() {
            return Err(SessionError::BodyTooLarge { kind, len: body.len(), max: kind.max_body() });
        }
        let total = TRANSPORT_HEADER_LEN + 1 + body.len() + TAG_LEN;
        need_out(out, total)?;
        let counter = self.send_counter.fetch_add(1, Ordering::Relaxed);
        if counter >= REJECT_AFTER_MESSAGES {
            // Keep it pinned so it cannot wrap back to usable values.
            self.send_counter.store(REJECT_AFTER_MESSAGES, Ordering::Relaxed);
            return Err(SessionError::CounterExhausted);
        }
        write_transport_header(out, self.remote_index, counter)?;
        let (plain, tag) = out[TRANSPORT_HEADER_LEN..total].split_at_mut(1 + body.len());
        plain[0] = kind as u8;
        plain[1..].copy_from_slice(body);
        let t = self
            .send
            .seal_in_place_separate_tag(nonce(counter), Aad::empty(), plain)
            .map_err(|_| snow::Error::Input)?;
        tag.copy_from_slice(t.as_ref());
        Ok(total)
    }

    /// Decrypt a ciphertext (already length-checked by the parser) into `out`;
    /// returns the plaintext length.
    pub(crate) fn decrypt(&self, counter: u64, ciphertext: &[u8], out: &mut [u8]) -> Result<usize, SessionError> {
        let n = ciphertext.len().checked_sub(TAG_LEN).ok_or(SessionError::DecryptFailed)?;
        need_out(out, n)?;
        let (sealed, tag) = ciphertext.split_at(n);
        let tag = Tag::try_from(tag).map_err(|_| SessionError::DecryptFailed)?;
        out[..n].copy_from_slice(sealed);
        self.recv
            .open_in_place_separate_tag(nonce(counter), Aad::empty(), tag, &mut out[..n], 0..)
            .map_err(|_| SessionError::DecryptFailed)?;
        Ok(n)
    }
}
