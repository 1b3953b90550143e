//! mac1 / mac2 / cookie replies and the load detector (`docs/wire.md` section 1).
//!
//! The point of all this is that a responder verifies something cheap (a
//! keyed BLAKE2s) before the expensive X25519 work: mac1 proves the sender
//! knows our public key; under load mac2 additionally proves the sender can
//! receive at its source address (it got our cookie there).

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use blake2::digest::consts::U16;
use blake2::digest::{FixedOutput, KeyInit, Update};
use blake2::{Blake2s256, Blake2sMac, Digest};
use chacha20poly1305::aead::AeadInPlace;
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use rand_core::{OsRng, RngCore};
use subtle::ConstantTimeEq;

use crate::wire::message::{COOKIE_LEN, COOKIE_NONCE_LEN, ENCRYPTED_COOKIE_LEN, MAC_LEN};

use super::SessionError;

const LABEL_MAC1: &[u8] = b"mac1----";
const LABEL_COOKIE: &[u8] = b"cookie--";
/// How long a cookie secret (responder) or a received cookie (initiator) lives.
pub const COOKIE_LIFETIME: Duration = Duration::from_secs(120);

pub(crate) type Mac16 = [u8; MAC_LEN];

fn hash_label(label: &[u8], key: &[u8; 32]) -> [u8; 32] {
    Blake2s256::new().chain_update(label).chain_update(key).finalize().into()
}

/// Key for mac1 of messages sent to the holder of `x25519_public`.
pub(crate) fn mac1_key(x25519_public: &[u8; 32]) -> [u8; 32] {
    hash_label(LABEL_MAC1, x25519_public)
}

/// Key that encrypts cookie replies sent by the holder of `x25519_public`.
pub(crate) fn cookie_key(x25519_public: &[u8; 32]) -> [u8; 32] {
    hash_label(LABEL_COOKIE, x25519_public)
}

/// Keyed BLAKE2s with a 16-byte output (BLAKE2's own keyed mode, not HMAC).
pub(crate) fn mac(key: &[u8], data: &[u8]) -> Mac16 {
    let mut m = <Blake2sMac<U16> as KeyInit>::new_from_slice(key).expect("BLAKE2s takes keys up to 32 bytes");
    Update::update(&mut m, data);
    m.finalize_fixed().into()
}

pub(crate) fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    a.ct_eq(b).into()
}

/// Fill `mac1` and `mac2` at the end of a handshake message in `msg`.
pub(crate) fn seal_macs(msg: &mut [u8], mac1_key: &[u8; 32], cookie: Option<&[u8; COOKIE_LEN]>) -> Mac16 {
    let n = msg.len();
    let m1 = mac(mac1_key, &msg[..n - 2 * MAC_LEN]);
    msg[n - 2 * MAC_LEN..n - MAC_LEN].copy_from_slice(&m1);
    let m2 = cookie.map(|c| mac(c, &msg[..n - MAC_LEN])).unwrap_or([0; MAC_LEN]);
    msg[n - MAC_LEN..].copy_from_slice(&m2);
    m1
}

pub(crate) fn check_mac1(msg: &[u8], mac1_key: &[u8; 32]) -> Result<(), SessionError> {
    let n = msg.len();
    let want = mac(mac1_key, &msg[..n - 2 * MAC_LEN]);
    if ct_eq(&want, &msg[n - 2 * MAC_LEN..n - MAC_LEN]) {
        Ok(())
    } else {
        Err(SessionError::BadMac1)
    }
}

fn addr_bytes(src: &SocketAddr, out: &mut [u8; 18]) -> usize {
    let ip_len = match src.ip() {
        IpAddr::V4(ip) => {
            out[..4].copy_from_slice(&ip.octets());
            4
        }
        IpAddr::V6(ip) => {
            out[..16].copy_from_slice(&ip.octets());
            16
        }
    };
    out[ip_len..ip_len + 2].copy_from_slice(&src.port().to_be_bytes());
    ip_len + 2
}

/// Responder side: a rotating secret that cookies are derived from.
pub(crate) struct CookieJar {
    secret: [u8; 32],
    previous: Option<[u8; 32]>,
    born: Instant,
    cookie_key: [u8; 32],
}

impl CookieJar {
    pub(crate) fn new(local_x25519_public: &[u8; 32], now: Instant) -> Self {
        let mut secret = [0u8; 32];
        OsRng.fill_bytes(&mut secret);
        CookieJar { secret, previous: None, born: now, cookie_key: cookie_key(local_x25519_public) }
    }

    fn rotate(&mut self, now: Instant) {
        if now.saturating_duration_since(self.born) >= COOKIE_LIFETIME {
            let mut s = [0u8; 32];
            OsRng.fill_bytes(&mut s);
            self.previous = Some(std::mem::replace(&mut self.secret, s));
            self.born = now;
        }
    }

    fn cookie_with(secret: &[u8; 32], src: &SocketAddr) -> [u8; COOKIE_LEN] {
        let mut a = [0u8; 18];
        let n = addr_bytes(src, &mut a);
        mac(secret, &a[..n])
    }

    /// mac2 is valid if made with the cookie for `src` under the current (or
    /// just-rotated) secret.
    pub(crate) fn mac2_valid(&mut self, msg: &[u8], src: &SocketAddr, now: Instant) -> bool {
        self.rotate(now);
        let n = msg.len();
        let (covered, got) = (&msg[..n - MAC_LEN], &msg[n - MAC_LEN..]);
        if ct_eq(got, &[0; MAC_LEN]) {
            return false;
        }
        let cur = mac(&Self::cookie_with(&self.secret, src), covered);
        let prev = self.previous.map(|p| mac(&Self::cookie_with(&p, src), covered));
        ct_eq(&cur, got) | prev.is_some_and(|p| ct_eq(&p, got))
    }

    /// The encrypted cookie for `src`, bound to the mac1 of the message we answer.
    pub(crate) fn seal(
        &mut self,
        src: &SocketAddr,
        their_mac1: &[u8],
        now: Instant,
    ) -> ([u8; COOKIE_NONCE_LEN], [u8; ENCRYPTED_COOKIE_LEN]) {
        self.rotate(now);
        let cookie = Self::cookie_with(&self.secret, src);
        let mut nonce = [0u8; COOKIE_NONCE_LEN];
        OsRng.fill_bytes(&mut nonce);
        let mut buf = [0u8; ENCRYPTED_COOKIE_LEN];
        buf[..COOKIE_LEN].copy_from_slice(&cookie);
        let aead = XChaCha20Poly1305::new((&self.cookie_key).into());
        let tag = aead
            .encrypt_in_place_detached(XNonce::from_slice(&nonce), their_mac1, &mut buf[..COOKIE_LEN])
            .expect("16-byte plaintext always encrypts");
        buf[COOKIE_LEN..].copy_from_slice(&tag);
        (nonce, buf)
    }
}

/// Initiator side: open a cookie reply from the responder whose public key is `remote_x25519`.
pub(crate) fn open_cookie(
    remote_x25519: &[u8; 32],
    our_mac1: &[u8],
    nonce: &[u8; COOKIE_NONCE_LEN],
    sealed: &[u8; ENCRYPTED_COOKIE_LEN],
) -> Result<[u8; COOKIE_LEN], SessionError> {
    let aead = XChaCha20Poly1305::new((&cookie_key(remote_x25519)).into());
    let mut buf = [0u8; COOKIE_LEN];
    buf.copy_from_slice(&sealed[..COOKIE_LEN]);
    aead.decrypt_in_place_detached(
        XNonce::from_slice(nonce),
        our_mac1,
        &mut buf,
        chacha20poly1305::Tag::from_slice(&sealed[COOKIE_LEN..]),
    )
    .map_err(|_| SessionError::BadCookieReply)?;
    Ok(buf)
}

/// Rate settings of a [`Responder`](super::Responder).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LoadConfig {
    /// Initiations (with a valid mac1) per second above which the responder is
    /// "under load" and demands mac2 (answers with cookie replies otherwise).
    pub under_load_per_sec: u32,
    /// Per source IP, while under load: sustained initiations per second...
    pub per_source_per_sec: u32,
    /// ...and burst.
    pub per_source_burst: u32,
}

impl Default for LoadConfig {
    fn default() -> Self {
        LoadConfig { under_load_per_sec: 200, per_source_per_sec: 20, per_source_burst: 5 }
    }
}

struct Bucket {
    tokens: f64,
    last: Instant,
}

/// Counts initiations per one-second window, and per-source token buckets.
pub(crate) struct LoadMeter {
    cfg: LoadConfig,
    window_start: Instant,
    in_window: u32,
    /// The count of the last full window, so "under load" does not flap off
    /// the moment a new window starts.
    last_window: u32,
    buckets: HashMap<IpAddr, Bucket>,
}

/// Bounded so that a spoofed-source flood cannot grow the map without limit.
const MAX_BUCKETS: usize = 65_536;

impl LoadMeter {
    pub(crate) fn new(cfg: LoadConfig, now: Instant) -> Self {
        LoadMeter { cfg, window_start: now, in_window: 0, last_window: 0, buckets: HashMap::new() }
    }

    /// Count one initiation and say whether we are under load.
    pub(crate) fn record(&mut self, now: Instant) -> bool {
        let elapsed = now.saturating_duration_since(self.window_start);
        if elapsed >= Duration::from_secs(1) {
            self.last_window = if elapsed >= Duration::from_secs(2) { 0 } else { self.in_window };
            self.in_window = 0;
            self.window_start = now;
        }
        self.in_window = self.in_window.saturating_add(1);
        self.in_window.max(self.last_window) > self.cfg.under_load_per_sec
    }

    /// Take a token for `ip`; false = rate limited.
    pub(crate) fn allow_source(&mut self, ip: IpAddr, now: Instant) -> bool {
        let (rate, burst) = (f64::from(self.cfg.per_source_per_sec), f64::from(self.cfg.per_source_burst.max(1)));
        if self.buckets.len() >= MAX_BUCKETS && !self.buckets.contains_key(&ip) {
            // Full buckets (older than a burst refill) carry no information.
            let refill = Duration::from_secs_f64(burst / rate.max(1.0));
            self.buckets.retain(|_, b| now.saturating_duration_since(b.last) < refill);
            if self.buckets.len() >= MAX_BUCKETS {
                return false;
            }
        }
        let b = self.buckets.entry(ip).or_insert(Bucket { tokens: burst, last: now });
        let dt = now.saturating_duration_since(b.last).as_secs_f64();
        b.tokens = (b.tokens + dt * rate).min(burst);
        b.last = now;
        if b.tokens >= 1.0 {
            b.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mac_is_keyed_blake2s_128() {
        // RFC 7693 style check that we use BLAKE2s's keyed mode with a 16-byte
        // digest: different keys and data change it, same inputs repeat it.
        let a = mac(&[1; 32], b"abc");
        assert_eq!(a, mac(&[1; 32], b"abc"));
        assert_ne!(a, mac(&[2; 32], b"abc"));
        assert_ne!(a, mac(&[1; 32], b"abd"));
        assert_ne!(a, mac(&[1; 16], b"abc"));
        // Keyed mode is not HASH(key || data).
        let h: [u8; 32] = Blake2s256::new().chain_update([1u8; 32]).chain_update(b"abc").finalize().into();
        assert_ne!(&a[..], &h[..16]);
    }

    #[test]
    fn cookie_seal_open_is_bound_to_mac1_and_key() {
        let now = Instant::now();
        let pk = [9u8; 32];
        let mut jar = CookieJar::new(&pk, now);
        let src: SocketAddr = "198.51.100.1:4000".parse().unwrap();
        let (nonce, sealed) = jar.seal(&src, &[5; 16], now);
        let cookie = open_cookie(&pk, &[5; 16], &nonce, &sealed).unwrap();
        assert_eq!(cookie, CookieJar::cookie_with(&jar.secret, &src));
        assert_eq!(open_cookie(&pk, &[6; 16], &nonce, &sealed), Err(SessionError::BadCookieReply));
        assert_eq!(open_cookie(&[8; 32], &[5; 16], &nonce, &sealed), Err(SessionError::BadCookieReply));
    }

    #[test]
    fn load_meter_threshold_and_buckets() {
        let t0 = Instant::now();
        let mut m =
            LoadMeter::new(LoadConfig { under_load_per_sec: 3, per_source_per_sec: 1, per_source_burst: 2 }, t0);
        assert!(!m.record(t0));
        assert!(!m.record(t0));
        assert!(!m.record(t0));
        assert!(m.record(t0), "4th in one second is over 3/s");
        assert!(m.record(t0 + Duration::from_millis(1500)), "last window was loaded");
        assert!(!m.record(t0 + Duration::from_secs(5)), "load decays");
        let ip: IpAddr = "10.0.0.1".parse().unwrap();
        assert!(m.allow_source(ip, t0));
        assert!(m.allow_source(ip, t0));
        assert!(!m.allow_source(ip, t0));
        assert!(m.allow_source("10.0.0.2".parse().unwrap(), t0));
        assert!(m.allow_source(ip, t0 + Duration::from_secs(1)));
    }
}
