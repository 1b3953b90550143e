//! A listener fed hostile initiations: raw bytes, and bytes with a correct
//! mac1 so that the Noise layer behind it is reached too.
#![no_main]

use std::net::SocketAddr;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use blake2::digest::consts::U16;
use blake2::digest::{FixedOutput, KeyInit, Update};
use blake2::{Blake2s256, Blake2sMac, Digest};
use libfuzzer_sys::fuzz_target;
use skywire_core::session::{LoadConfig, Responded, Responder, ResponderConfig};
use skywire_core::wire::message::INITIATION_LEN;
use skywire_core::{Keypair, SecretKey};

fn mac16(key: &[u8], data: &[u8]) -> [u8; 16] {
    let mut m = <Blake2sMac<U16> as KeyInit>::new_from_slice(key).unwrap();
    Update::update(&mut m, data);
    m.finalize_fixed().into()
}

fn keypair() -> &'static Keypair {
    // Deriving the public key is a scalar multiplication: do it once.
    static KP: OnceLock<Keypair> = OnceLock::new();
    KP.get_or_init(|| Keypair::from_secret(SecretKey::from_bytes([2; 32])))
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, msg)) = data.split_first() else { return };
    let kp = keypair();
    let t0 = Instant::now();
    let load = if mode & 1 == 1 {
        // Always "under load": the cookie path.
        LoadConfig { under_load_per_sec: 0, per_source_per_sec: 1, per_source_burst: 1 }
    } else {
        LoadConfig::default()
    };
    let mut resp = Responder::new(kp, ResponderConfig { load, ..Default::default() }, t0);
    let src: SocketAddr =
        if mode & 4 == 4 { "[2001:db8::1]:7".parse().unwrap() } else { "192.0.2.1:7".parse().unwrap() };
    let mut msg = msg.to_vec();
    if mode & 2 == 2 && msg.len() == INITIATION_LEN {
        let key: [u8; 32] =
            Blake2s256::new().chain_update(b"mac1----").chain_update(kp.public.to_x25519()).finalize().into();
        let n = msg.len();
        let m1 = mac16(&key, &msg[..n - 32]);
        msg[n - 32..n - 16].copy_from_slice(&m1);
    }
    let mut out = [0u8; 256];
    for i in 0..2u64 {
        // Twice: the second time exercises the replay/timestamp state.
        match resp.handle_initiation(src, &msg, 7, t0 + Duration::from_millis(i), &mut out) {
            Ok(Responded::Accepted { response, .. }) => assert_eq!(response.len(), 92),
            Ok(Responded::CookieReply(c)) => assert_eq!(c.len(), 64),
            Err(_) => {}
        }
    }
});
