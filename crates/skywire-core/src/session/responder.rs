//! The listener side of the handshake: turns initiations into sessions.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use crate::identity::Keypair;
use crate::wire::message::{write_cookie_reply, write_response, Initiation, NOISE_RESP_LEN, RESPONSE_LEN};

use super::cookie::{check_mac1, mac1_key, seal_macs, CookieJar, LoadConfig, LoadMeter};
use super::keys::TransportKeys;
use super::noise::{self, StaticKeys, HANDSHAKE_PAYLOAD_LEN, TIMESTAMP_LEN};
use super::state::Session;
use super::{need_out, SessionConfig, SessionError};
use crate::identity::PublicKey;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ResponderConfig {
    pub load: LoadConfig,
    /// Timers of the sessions this responder creates.
    pub session: SessionConfig,
    /// Above this many remembered peers (replay timestamps), long-silent ones
    /// are forgotten. Default 2^20 (about 80 MB at worst).
    pub max_tracked_peers: usize,
}

impl Default for ResponderConfig {
    fn default() -> Self {
        ResponderConfig { load: LoadConfig::default(), session: SessionConfig::default(), max_tracked_peers: 1 << 20 }
    }
}

/// Outcome of an initiation that was not dropped.
#[derive(Debug)]
pub enum Responded<'o> {
    /// Handshake done on our side: send `response` to the source address and
    /// keep `session` (or [`Session::absorb`] it into the peer's existing one).
    /// The session cannot send until the initiator's first message arrives.
    Accepted { session: Box<Session>, response: &'o [u8] },
    /// We are under load and the initiation had no valid mac2: send this
    /// cookie reply to the source address; no session was created.
    CookieReply(&'o [u8]),
}

/// Holds our static key and everything that must outlive single handshakes.
pub struct Responder {
    local: Arc<StaticKeys>,
    mac1_key: [u8; 32],
    /// Last accepted initiation timestamp per peer static key.
    /// Last accepted initiation timestamp per peer static key, and when.
    timestamps: HashMap<[u8; 32], ([u8; TIMESTAMP_LEN], Instant)>,
    jar: CookieJar,
    load: LoadMeter,
    cfg: ResponderConfig,
    dh_count: u64,
}

impl Responder {
    pub fn new(local: &Keypair, cfg: ResponderConfig, now: Instant) -> Self {
        let local = Arc::new(StaticKeys::from_keypair(local));
        Responder {
            mac1_key: mac1_key(&local.public),
            jar: CookieJar::new(&local.public, now),
            local,
            timestamps: HashMap::new(),
            load: LoadMeter::new(cfg.load, now),
            cfg,
            dh_count: 0,
        }
    }

    /// Handle a type-1 message from `src`. `local_index` is a fresh index the
    /// caller maps to the new session if one is accepted (unused otherwise).
    /// `out` needs at least 92 bytes.
    ///
    /// Order of checks, cheapest first: length and layout, mac1 (a MAC), load
    /// and mac2 (a MAC), per-source rate, and only then the Noise DH work and
    /// the timestamp replay check.
    pub fn handle_initiation<'o>(
        &mut self,
        src: SocketAddr,
        msg: &[u8],
        local_index: u32,
        now: Instant,
        out: &'o mut [u8],
    ) -> Result<Responded<'o>, SessionError> {
        need_out(out, RESPONSE_LEN)?;
        let init = Initiation::parse(msg)?;
        check_mac1(init.raw, &self.mac1_key)?;
        if self.load.record(now) {
            if !self.jar.mac2_valid(init.raw, &src, now) {
                let (nonce, sealed) = self.jar.seal(&src, init.mac1, now);
                let n = write_cookie_reply(out, init.sender_index, &nonce, &sealed)?;
                return Ok(Responded::CookieReply(&out[..n]));
            }
            if !self.load.allow_source(src.ip(), now) {
                return Err(SessionError::RateLimited);
            }
        }

        self.dh_count += 1;
        let mut hs = noise::responder(&self.local)?;
        let mut payload = [0u8; 96];
        let n = hs.read_message(init.noise, &mut payload).map_err(|_| SessionError::HandshakeDecrypt)?;
        if n != HANDSHAKE_PAYLOAD_LEN {
            return Err(SessionError::BadHandshakePayload { expected: HANDSHAKE_PAYLOAD_LEN, got: n });
        }
        let ts: [u8; TIMESTAMP_LEN] = payload[..TIMESTAMP_LEN].try_into().expect("12 bytes");
        let claimed: [u8; 32] = payload[TIMESTAMP_LEN..n].try_into().expect("32 bytes");
        let claimed = PublicKey::from_bytes(claimed).map_err(|_| SessionError::WrongPeerKey)?;
        let remote: [u8; 32] = hs
            .get_remote_static()
            .and_then(|r| r.try_into().ok())
            .ok_or(SessionError::Noise("IK initiation without a static key".into()))?;
        // The claimed PK must be the one Noise authenticated; a wrong claim
        // gets no response and changes no state.
        if claimed.to_x25519() != remote {
            return Err(SessionError::WrongPeerKey);
        }
        if self.timestamps.get(&remote).is_some_and(|(last, _)| ts <= *last) {
            return Err(SessionError::StaleTimestamp);
        }

        let mut noise_msg = [0u8; NOISE_RESP_LEN];
        let n = hs.write_message(&[], &mut noise_msg)?;
        debug_assert_eq!(n, NOISE_RESP_LEN);
        let len = write_response(out, local_index, init.sender_index, &noise_msg)?;
        seal_macs(&mut out[..len], &mac1_key(&remote), None);
        let keys = TransportKeys::from_handshake(&mut hs, local_index, init.sender_index, now)?;
        self.remember(remote, ts, now);
        let mut session = Session::accepted(self.local.clone(), remote, keys, self.cfg.session, now);
        session.confirm_remote_pk(claimed)?;
        Ok(Responded::Accepted { session: Box::new(session), response: &out[..len] })
    }

    /// Anyone may handshake with a server, so the per-peer map is bounded. A
    /// peer silent for longer than a session can live without rekeying has no
    /// session left here; replaying its old initiation could only create keys
    /// nobody can use, so forgetting it is safe.
    fn remember(&mut self, remote: [u8; 32], ts: [u8; TIMESTAMP_LEN], now: Instant) {
        if self.timestamps.len() >= self.cfg.max_tracked_peers && !self.timestamps.contains_key(&remote) {
            let horizon = self.cfg.session.reject_after_time + self.cfg.session.expiry;
            self.timestamps.retain(|_, (_, at)| now.saturating_duration_since(*at) < horizon);
        }
        self.timestamps.insert(remote, (ts, now));
    }

    /// Peers whose last initiation timestamp is remembered.
    pub fn tracked_peers(&self) -> usize {
        self.timestamps.len()
    }

    /// Initiations that got as far as the Diffie-Hellman work (a load metric,
    /// and how tests prove that bad mac1 / missing mac2 cost no DH).
    pub fn dh_count(&self) -> u64 {
        self.dh_count
    }

    /// Our X25519 static public key (what initiators must target).
    pub fn local_static(&self) -> &[u8; 32] {
        &self.local.public
    }
}
