//! The exact Noise configuration, static keys and the handshake timestamp.

use std::sync::OnceLock;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use snow::params::NoiseParams;
use snow::{Builder, HandshakeState};
use zeroize::Zeroizing;

use crate::identity::{Keypair, PublicKey};

pub const NOISE_PARAMS: &str = "Noise_IK_25519_ChaChaPoly_BLAKE2s";
pub const PROLOGUE: &[u8] = b"skywire/1";
pub(crate) const TIMESTAMP_LEN: usize = 12;
/// Initiation payload: the timestamp, then the initiator's Ed25519 public key.
/// The key has to travel: its X25519 form (what Noise authenticates) has lost
/// the sign of x, so a responder cannot derive the visor's PK from it. The
/// responder checks that the claimed PK maps to the authenticated static key.
pub(crate) const HANDSHAKE_PAYLOAD_LEN: usize = TIMESTAMP_LEN + 32;

fn params() -> NoiseParams {
    static P: OnceLock<NoiseParams> = OnceLock::new();
    P.get_or_init(|| NOISE_PARAMS.parse().expect("valid noise pattern")).clone()
}

/// Our X25519 static keypair (the Ed25519 identity mapped to Montgomery form).
pub(crate) struct StaticKeys {
    pub(crate) secret: Zeroizing<[u8; 32]>,
    pub(crate) public: [u8; 32],
    /// The Ed25519 identity, sent in our initiations.
    pub(crate) pk: PublicKey,
}

impl StaticKeys {
    pub(crate) fn from_keypair(kp: &Keypair) -> Self {
        StaticKeys { secret: Zeroizing::new(kp.secret.to_x25519()), public: kp.public.to_x25519(), pk: kp.public }
    }
}

pub(crate) fn initiator(local: &StaticKeys, remote_public: &[u8; 32]) -> Result<HandshakeState, snow::Error> {
    Builder::new(params())
        .local_private_key(&local.secret[..])?
        .remote_public_key(remote_public)?
        .prologue(PROLOGUE)?
        .build_initiator()
}

pub(crate) fn responder(local: &StaticKeys) -> Result<HandshakeState, snow::Error> {
    Builder::new(params()).local_private_key(&local.secret[..])?.prologue(PROLOGUE)?.build_responder()
}

/// TAI64 label of the Unix epoch (2^62 + the 10 s TAI-UTC offset of 1970).
const TAI64_EPOCH: u64 = 0x4000_0000_0000_000a;

fn wall_clock_at(now: Instant) -> SystemTime {
    // One (wall, monotonic) pair per process: timestamps then follow the
    // monotonic `now` the caller passes (tests can move it), and cannot go
    // backwards when the wall clock is stepped while we run.
    static BASE: OnceLock<(SystemTime, Instant)> = OnceLock::new();
    let (wall, mono) = *BASE.get_or_init(|| (SystemTime::now(), Instant::now()));
    match now.checked_duration_since(mono) {
        Some(d) => wall + d,
        None => wall - mono.duration_since(now),
    }
}

/// The 12-byte TAI64N timestamp for `now`: big-endian seconds label, then nanoseconds.
/// Byte order makes lexicographic comparison the time order.
pub fn tai64n(now: Instant) -> [u8; TIMESTAMP_LEN] {
    let since = wall_clock_at(now).duration_since(UNIX_EPOCH).unwrap_or(Duration::ZERO);
    let mut t = [0u8; TIMESTAMP_LEN];
    t[..8].copy_from_slice(&(TAI64_EPOCH + since.as_secs()).to_be_bytes());
    t[8..].copy_from_slice(&since.subsec_nanos().to_be_bytes());
    t
}
