//! The per-peer session: handshake (initiator side), key rotation, transport,
//! timers.

use std::sync::Arc;
use std::time::{Duration, Instant};

use snow::HandshakeState;

use crate::identity::{Keypair, PublicKey};
use crate::wire::message::{
    write_initiation, CookieReply, Message, Response, Transport, COOKIE_LEN, INITIATION_LEN, NOISE_INIT_LEN,
};

use super::cookie::{check_mac1, mac1_key, open_cookie, seal_macs, Mac16, COOKIE_LIFETIME};
use super::keys::{FrameKind, TransportKeys};
use super::noise::{self, tai64n, StaticKeys, HANDSHAKE_PAYLOAD_LEN, TIMESTAMP_LEN};
use super::replay::ReplayWindow;
use super::{need_out, SessionConfig, SessionError, REJECT_AFTER_MESSAGES};

/// What a received message turned out to be. Slices borrow the caller's `out`.
#[derive(Debug, PartialEq, Eq)]
pub enum Decapsulated<'o> {
    /// An IP packet for the TUN.
    Data(&'o [u8]),
    /// A control message for the host program.
    Control(&'o [u8]),
    /// A forward body (circuit and inner session message) for the node.
    Forward(&'o [u8]),
    /// A keepalive; nothing to do.
    Keepalive,
    /// Answer to our ping.
    Pong { rtt: Duration },
    /// Send these bytes back to the peer: the first keepalive after our
    /// handshake completed (it confirms the keys to the responder), or a pong.
    WriteBack(&'o [u8]),
    /// Absorbed (e.g. a cookie reply); nothing to do.
    Done,
}

/// What [`Session::update_timers`] wants done.
#[derive(Debug, PartialEq, Eq)]
pub enum TimerAction<'o> {
    Idle,
    /// Send these bytes to the peer (keepalive, or a retransmitted initiation).
    Send(&'o [u8]),
    /// Our keys are due for renewal: call [`Session::rekey`] with a fresh local index.
    Rekey,
    /// The session is dead: drop it and all its [`Session::local_indices`].
    Expired,
}

struct Pending {
    /// `None` after a response failed to decrypt (snow's state is spent); we
    /// keep the timing so the retransmit timer still fires.
    hs: Option<HandshakeState>,
    local_index: u32,
    first_sent: Instant,
    last_sent: Instant,
    /// mac1 of the last initiation: the additional data of a cookie reply.
    mac1: Mac16,
}

struct Epoch {
    keys: Arc<TransportKeys>,
    replay: ReplayWindow,
}

impl Epoch {
    fn new(keys: TransportKeys) -> Self {
        Epoch { keys: Arc::new(keys), replay: ReplayWindow::new() }
    }
}

/// One peer: see the [module docs](super).
pub struct Session {
    local: Arc<StaticKeys>,
    remote_static: [u8; 32],
    remote_pk: Option<PublicKey>,
    /// mac1 key for messages we send (keyed with the peer's public key).
    mac1_key_remote: [u8; 32],
    /// mac1 key for handshake messages sent to us.
    mac1_key_local: [u8; 32],
    cfg: SessionConfig,
    /// We started the current key lineage and are the one who rekeys.
    rekeys: bool,
    /// Boxed: the handshake state is large and lives only while a handshake
    /// does; an established, idle session (a server holds thousands) then
    /// carries a pointer instead of it.
    pending: Option<Box<Pending>>,
    current: Option<Epoch>,
    previous: Option<Epoch>,
    next: Option<Epoch>,
    cookie: Option<([u8; COOKIE_LEN], Instant)>,
    /// Zero point of our ping timestamps.
    born: Instant,
    last_received: Instant,
    last_sent: Option<Instant>,
    /// Last authenticated non-keepalive message; keepalives must not trigger keepalives.
    last_payload_received: Option<Instant>,
    rtt: Option<Duration>,
    expired: bool,
    /// Completed key rotations (rekeys), not counting the first handshake:
    /// lets a long-running host (the soak test, status) see that rekeys happen.
    rotations: u64,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("remote_static", &hex::encode(self.remote_static))
            .field("local_indices", &self.local_indices().collect::<Vec<_>>())
            .field("established", &self.is_established())
            .finish_non_exhaustive()
    }
}

impl Session {
    fn new(local: Arc<StaticKeys>, remote_static: [u8; 32], cfg: SessionConfig, rekeys: bool, now: Instant) -> Self {
        Session {
            mac1_key_remote: mac1_key(&remote_static),
            mac1_key_local: mac1_key(&local.public),
            local,
            remote_static,
            remote_pk: None,
            cfg,
            rekeys,
            pending: None,
            current: None,
            previous: None,
            next: None,
            cookie: None,
            born: now,
            last_received: now,
            last_sent: None,
            last_payload_received: None,
            rtt: None,
            expired: false,
            rotations: 0,
        }
    }

    /// Start a session to `remote`: returns it (handshaking) and the
    /// initiation to send. `local_index` is a fresh index from the caller's table.
    pub fn initiate<'o>(
        local: &Keypair,
        remote: PublicKey,
        local_index: u32,
        cfg: SessionConfig,
        now: Instant,
        out: &'o mut [u8],
    ) -> Result<(Session, &'o [u8]), SessionError> {
        let mut s = Session::new(Arc::new(StaticKeys::from_keypair(local)), remote.to_x25519(), cfg, true, now);
        s.remote_pk = Some(remote);
        let n = s.send_initiation(local_index, now, out)?;
        Ok((s, &out[..n]))
    }

    /// Responder side: a session whose only keys are unconfirmed (`next`).
    pub(crate) fn accepted(
        local: Arc<StaticKeys>,
        remote_static: [u8; 32],
        keys: TransportKeys,
        cfg: SessionConfig,
        now: Instant,
    ) -> Self {
        let mut s = Session::new(local, remote_static, cfg, false, now);
        s.next = Some(Epoch::new(keys));
        s
    }

    fn send_initiation(&mut self, local_index: u32, now: Instant, out: &mut [u8]) -> Result<usize, SessionError> {
        need_out(out, INITIATION_LEN)?;
        let mut hs = noise::initiator(&self.local, &self.remote_static)?;
        let mut noise_msg = [0u8; NOISE_INIT_LEN];
        let mut payload = [0u8; HANDSHAKE_PAYLOAD_LEN];
        payload[..TIMESTAMP_LEN].copy_from_slice(&tai64n(now));
        payload[TIMESTAMP_LEN..].copy_from_slice(self.local.pk.as_bytes());
        let n = hs.write_message(&payload, &mut noise_msg)?;
        debug_assert_eq!(n, NOISE_INIT_LEN);
        let len = write_initiation(out, local_index, &noise_msg)?;
        let cookie = self.cookie.filter(|(_, at)| now.saturating_duration_since(*at) < COOKIE_LIFETIME);
        let mac1 = seal_macs(&mut out[..len], &self.mac1_key_remote, cookie.as_ref().map(|(c, _)| c));
        let first_sent = match &self.pending {
            Some(p) if p.local_index == local_index => p.first_sent,
            _ => now,
        };
        self.pending = Some(Box::new(Pending { hs: Some(hs), local_index, first_sent, last_sent: now, mac1 }));
        Ok(len)
    }

    /// Start a new handshake under a fresh local index (after
    /// [`TimerAction::Rekey`], or whenever the caller wants new keys). The old
    /// keys keep working until the new ones are confirmed.
    pub fn rekey<'o>(&mut self, local_index: u32, now: Instant, out: &'o mut [u8]) -> Result<&'o [u8], SessionError> {
        if self.expired {
            return Err(SessionError::Expired);
        }
        self.pending = None;
        let n = self.send_initiation(local_index, now, out)?;
        self.rekeys = true;
        Ok(&out[..n])
    }

    /// Take over the keys of a session the [`Responder`](super::Responder)
    /// just created for the same peer (a rekey or a reconnect by the peer).
    /// Our current keys stay usable until the peer confirms the new ones.
    pub fn absorb(&mut self, newer: Session) -> Result<(), SessionError> {
        if newer.remote_static != self.remote_static {
            return Err(SessionError::WrongPeerKey);
        }
        let next = newer.next.ok_or(SessionError::UnexpectedMessage("absorb takes a session made by the Responder"))?;
        self.next = Some(next);
        // The peer took the initiative, so it rekeys from now on, unless we are
        // mid-handshake ourselves (crossing handshakes: both complete).
        if self.pending.is_none() {
            self.rekeys = false;
        }
        self.expired = false;
        self.last_received = newer.last_received.max(self.last_received);
        Ok(())
    }

    /// The peer's authenticated X25519 static key; use it to find an existing
    /// session for a peer (see [`absorb`](Self::absorb)).
    pub fn remote_static(&self) -> &[u8; 32] {
        &self.remote_static
    }

    /// The peer's Ed25519 key: the one we dialed, or the one the initiation
    /// carried and the responder checked against the Noise static key.
    pub fn remote_pk(&self) -> Option<PublicKey> {
        self.remote_pk
    }

    /// Whether `pk` is the key this session authenticated.
    pub fn remote_is(&self, pk: &PublicKey) -> bool {
        super::cookie::ct_eq(&pk.to_x25519(), &self.remote_static)
    }

    /// Record the peer's claimed Ed25519 key, if it maps to the authenticated static key.
    pub fn confirm_remote_pk(&mut self, pk: PublicKey) -> Result<(), SessionError> {
        if !self.remote_is(&pk) {
            return Err(SessionError::WrongPeerKey);
        }
        self.remote_pk = Some(pk);
        Ok(())
    }

    /// Whether we have confirmed keys to send with.
    pub fn is_established(&self) -> bool {
        self.current.is_some()
    }

    /// Whether this side renews the keys (it started the key lineage).
    pub fn is_initiator(&self) -> bool {
        self.rekeys
    }

    /// Every local index that currently leads to this session.
    pub fn local_indices(&self) -> impl Iterator<Item = u32> + '_ {
        self.pending
            .as_ref()
            .map(|p| p.local_index)
            .into_iter()
            .chain([&self.current, &self.previous, &self.next].into_iter().flatten().map(|e| e.keys.local_index()))
    }

    /// Keys for sending from other threads; `None` until established. After a
    /// rekey this returns the new keys: fetch it again per batch. Call
    /// [`note_sent`](Self::note_sent) so the keepalive timer knows.
    pub fn sender(&self) -> Option<Arc<TransportKeys>> {
        self.current.as_ref().map(|e| e.keys.clone())
    }

    /// Tell the timers that something was sent through [`sender`](Self::sender).
    pub fn note_sent(&mut self, now: Instant) {
        self.last_sent = Some(now);
    }

    /// Change timer settings (e.g. turn on persistent keepalive behind NAT).
    pub fn set_config(&mut self, cfg: SessionConfig) {
        self.cfg = cfg;
    }

    /// Last round-trip time measured by [`ping`](Self::ping).
    /// How many times the keys were replaced by a newer handshake (rekeys
    /// completed on our side); the first handshake does not count.
    pub fn rekeys(&self) -> u64 {
        self.rotations
    }

    pub fn rtt(&self) -> Option<Duration> {
        self.rtt
    }

    /// When the last authenticated message arrived (liveness for status).
    pub fn last_received(&self) -> Instant {
        self.last_received
    }

    /// Encrypt one message of `kind` into `out`; returns the bytes to send.
    /// `out` needs `body.len() + 33` bytes.
    pub fn encapsulate<'o>(
        &mut self,
        kind: FrameKind,
        body: &[u8],
        now: Instant,
        out: &'o mut [u8],
    ) -> Result<&'o [u8], SessionError> {
        if self.expired {
            return Err(SessionError::Expired);
        }
        let e = self.current.as_ref().ok_or(SessionError::NotEstablished)?;
        if now.saturating_duration_since(e.keys.created()) >= self.cfg.reject_after_time {
            return Err(SessionError::KeysExpired);
        }
        let n = e.keys.encapsulate(kind, body, out)?;
        self.last_sent = Some(now);
        Ok(&out[..n])
    }

    /// Send a ping; the matching pong comes back from
    /// [`decapsulate`](Self::decapsulate) as [`Decapsulated::Pong`].
    pub fn ping<'o>(&mut self, now: Instant, out: &'o mut [u8]) -> Result<&'o [u8], SessionError> {
        let us = u64::try_from(now.saturating_duration_since(self.born).as_micros()).unwrap_or(u64::MAX);
        self.encapsulate(FrameKind::Ping, &us.to_be_bytes(), now, out)
    }

    /// Handle a response, cookie reply or transport message addressed to one
    /// of our local indexes. `out` receives the plaintext (or what to write
    /// back); it needs `msg.len()` bytes, and at least 64.
    pub fn decapsulate<'o>(
        &mut self,
        msg: &[u8],
        now: Instant,
        out: &'o mut [u8],
    ) -> Result<Decapsulated<'o>, SessionError> {
        if self.expired {
            return Err(SessionError::Expired);
        }
        match Message::parse(msg)? {
            Message::Initiation(_) => Err(SessionError::UnexpectedMessage("initiations go to the Responder")),
            Message::Response(r) => self.handle_response(r, now, out),
            Message::CookieReply(c) => self.handle_cookie_reply(c, now),
            Message::Transport(t) => self.handle_transport(t, now, out),
        }
    }

    fn handle_response<'o>(
        &mut self,
        r: Response<'_>,
        now: Instant,
        out: &'o mut [u8],
    ) -> Result<Decapsulated<'o>, SessionError> {
        let p = match &mut self.pending {
            Some(p) if p.local_index == r.receiver_index => p,
            _ => return Err(SessionError::UnknownIndex(r.receiver_index)),
        };
        check_mac1(r.raw, &self.mac1_key_local)?;
        let mut hs =
            p.hs.take().ok_or(SessionError::UnexpectedMessage("response to an initiation already answered"))?;
        let mut payload = [0u8; 32];
        let n = hs.read_message(r.noise, &mut payload).map_err(|_| SessionError::HandshakeDecrypt)?;
        if n != 0 {
            return Err(SessionError::BadHandshakePayload { expected: 0, got: n });
        }
        if hs.get_remote_static() != Some(&self.remote_static[..]) {
            return Err(SessionError::WrongPeerKey);
        }
        let keys = TransportKeys::from_handshake(&mut hs, p.local_index, r.sender_index, now)?;
        self.pending = None;
        if self.current.is_some() {
            self.rotations += 1;
        }
        self.previous = self.current.take();
        self.current = Some(Epoch::new(keys));
        // `next` (keys from a handshake the peer started at the same time) is
        // kept: the peer may already be sending under it.
        self.last_received = now;
        // The responder may not send under these keys until it hears from us:
        // confirm right away instead of waiting for the next data packet.
        let ka = self.encapsulate(FrameKind::Keepalive, &[], now, out)?;
        Ok(Decapsulated::WriteBack(ka))
    }

    fn handle_cookie_reply(&mut self, c: CookieReply<'_>, now: Instant) -> Result<Decapsulated<'static>, SessionError> {
        let p = match &self.pending {
            Some(p) if p.local_index == c.receiver_index => p,
            _ => return Err(SessionError::UnknownIndex(c.receiver_index)),
        };
        let cookie = open_cookie(&self.remote_static, &p.mac1, c.nonce, c.encrypted_cookie)?;
        // Used by the next (re)transmission, which the rekey timer paces: a
        // loaded responder is better served by not answering at once.
        self.cookie = Some((cookie, now));
        Ok(Decapsulated::Done)
    }

    fn handle_transport<'o>(
        &mut self,
        t: Transport<'_>,
        now: Instant,
        out: &'o mut [u8],
    ) -> Result<Decapsulated<'o>, SessionError> {
        let reject_after = self.cfg.reject_after_time;
        let (epoch, is_next) =
            if let Some(e) = self.current.as_mut().filter(|e| e.keys.local_index() == t.receiver_index) {
                (e, false)
            } else if let Some(e) = self.next.as_mut().filter(|e| e.keys.local_index() == t.receiver_index) {
                (e, true)
            } else if let Some(e) = self.previous.as_mut().filter(|e| e.keys.local_index() == t.receiver_index) {
                (e, false)
            } else {
                return Err(SessionError::UnknownIndex(t.receiver_index));
            };
        if now.saturating_duration_since(epoch.keys.created()) >= reject_after {
            return Err(SessionError::KeysExpired);
        }
        if t.counter >= REJECT_AFTER_MESSAGES {
            return Err(SessionError::CounterTooOld(t.counter));
        }
        epoch.replay.check(t.counter)?;
        need_out(out, t.ciphertext.len().max(64))?;
        let n = epoch.keys.decrypt(t.counter, t.ciphertext, out)?;
        epoch.replay.accept(t.counter)?;
        if is_next {
            // First message under the keys we answered with: the initiator has them.
            if self.current.is_some() {
                self.rotations += 1;
            }
            self.previous = self.current.take();
            self.current = self.next.take();
        }
        self.last_received = now;
        let kind = FrameKind::from_u8(out[0])?;
        let body_len = n - 1;
        if let Some(expected) = kind.exact_body() {
            if body_len != expected {
                return Err(SessionError::BadBody { kind, expected, got: body_len });
            }
        }
        if kind != FrameKind::Keepalive {
            self.last_payload_received = Some(now);
        }
        match kind {
            FrameKind::Data => Ok(Decapsulated::Data(&out[1..n])),
            FrameKind::Control => Ok(Decapsulated::Control(&out[1..n])),
            FrameKind::Forward => Ok(Decapsulated::Forward(&out[1..n])),
            FrameKind::Keepalive => Ok(Decapsulated::Keepalive),
            FrameKind::Ping => {
                let mut stamp = [0u8; 8];
                stamp.copy_from_slice(&out[1..9]);
                let pong = self.encapsulate(FrameKind::Pong, &stamp, now, out)?;
                Ok(Decapsulated::WriteBack(pong))
            }
            FrameKind::Pong => {
                let us = u64::from_be_bytes(out[1..9].try_into().expect("8 bytes"));
                // A pong from the future is not an answer to any ping of ours.
                let rtt = self
                    .born
                    .checked_add(Duration::from_micros(us))
                    .and_then(|sent| now.checked_duration_since(sent))
                    .ok_or(SessionError::BadBody { kind, expected: 8, got: 8 })?;
                self.rtt = Some(rtt);
                Ok(Decapsulated::Pong { rtt })
            }
        }
    }

    /// Run the timers; call every few hundred milliseconds. Returns at most one
    /// action; after `Send` you may call again at once.
    pub fn update_timers<'o>(&mut self, now: Instant, out: &'o mut [u8]) -> TimerAction<'o> {
        if self.expired {
            return TimerAction::Expired;
        }
        let since = |t: Instant| now.saturating_duration_since(t);
        if since(self.last_received) >= self.cfg.expiry {
            self.expired = true;
            return TimerAction::Expired;
        }
        let reject = self.cfg.reject_after_time;
        if self.previous.as_ref().is_some_and(|e| since(e.keys.created()) >= reject) {
            self.previous = None;
        }
        if self.next.as_ref().is_some_and(|e| since(e.keys.created()) >= reject) {
            self.next = None;
        }
        if let Some(p) = &self.pending {
            if since(p.first_sent) >= self.cfg.rekey_attempt_time {
                self.pending = None;
                if self.current.is_none() && self.next.is_none() {
                    self.expired = true;
                    return TimerAction::Expired;
                }
            } else if since(p.last_sent) >= self.cfg.rekey_timeout {
                let index = p.local_index;
                return match self.send_initiation(index, now, out) {
                    Ok(n) => TimerAction::Send(&out[..n]),
                    // Only a too-small `out` fails here; try again next tick.
                    Err(_) => TimerAction::Idle,
                };
            }
        }
        if self.current.is_none() && self.next.is_none() && self.pending.is_none() {
            // Not established and no handshake left to wait for.
            self.expired = true;
            return TimerAction::Expired;
        }
        let Some(cur) = &self.current else { return TimerAction::Idle };
        let keys = &cur.keys;
        if self.rekeys
            && self.pending.is_none()
            && (since(keys.created()) >= self.cfg.rekey_after_time || keys.sent() >= self.cfg.rekey_after_messages)
        {
            return TimerAction::Rekey;
        }
        let sent_since = |t: Instant| self.last_sent.is_some_and(|s| s >= t);
        let passive =
            self.last_payload_received.is_some_and(|t| !sent_since(t) && since(t) >= self.cfg.keepalive_timeout);
        let persistent =
            self.cfg.persistent_keepalive.is_some_and(|iv| since(self.last_sent.unwrap_or(keys.created())) >= iv);
        if passive || persistent {
            if let Ok(ka) = self.encapsulate(FrameKind::Keepalive, &[], now, out) {
                return TimerAction::Send(ka);
            }
        }
        TimerAction::Idle
    }
}
