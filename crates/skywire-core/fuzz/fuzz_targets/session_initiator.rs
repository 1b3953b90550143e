//! A session waiting for its handshake response, fed hostile responses and
//! cookie replies: raw, with our pending index patched in, and with a correct
//! mac1 so the Noise layer behind it is reached too.
#![no_main]

use std::cell::RefCell;
use std::sync::OnceLock;
use std::time::Instant;

use blake2::digest::consts::U16;
use blake2::digest::{FixedOutput, KeyInit, Update};
use blake2::{Blake2s256, Blake2sMac, Digest};
use libfuzzer_sys::fuzz_target;
use skywire_core::session::{Session, SessionConfig};
use skywire_core::wire::message::RESPONSE_LEN;
use skywire_core::{Keypair, SecretKey};

const INDEX: u32 = 0x0102_0304;

fn keys() -> &'static (Keypair, Keypair) {
    static KEYS: OnceLock<(Keypair, Keypair)> = OnceLock::new();
    KEYS.get_or_init(|| {
        (Keypair::from_secret(SecretKey::from_bytes([1; 32])), Keypair::from_secret(SecretKey::from_bytes([2; 32])))
    })
}

fn pending(t0: Instant) -> Session {
    let (ka, kb) = keys();
    let mut out = [0u8; 256];
    Session::initiate(ka, kb.public, INDEX, SessionConfig::default(), t0, &mut out).unwrap().0
}

thread_local! {
    // Starting a handshake costs X25519 work; without a valid mac1 nothing can
    // change the pending state, so those runs share one session.
    static CACHED: RefCell<Option<(Instant, Session)>> = const { RefCell::new(None) };
}

fn mac16(key: &[u8], data: &[u8]) -> [u8; 16] {
    let mut m = <Blake2sMac<U16> as KeyInit>::new_from_slice(key).unwrap();
    Update::update(&mut m, data);
    m.finalize_fixed().into()
}

fn feed(a: &mut Session, msg: &[u8], t0: Instant) {
    let mut out = [0u8; 2048];
    let _ = a.decapsulate(msg, t0, &mut out);
    assert!(!a.is_established(), "a forged response established a session");
    let _ = a.update_timers(t0, &mut out);
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else { return };
    let mut msg = rest.to_vec();
    if mode & 1 == 1 {
        // Point it at our pending index so parsing gets to the MAC / cookie checks.
        match msg.first() {
            Some(2) if msg.len() >= 12 => msg[8..12].copy_from_slice(&INDEX.to_be_bytes()),
            Some(3) if msg.len() >= 8 => msg[4..8].copy_from_slice(&INDEX.to_be_bytes()),
            _ => {}
        }
    }
    if mode & 2 == 2 && msg.len() == RESPONSE_LEN {
        let key: [u8; 32] =
            Blake2s256::new().chain_update(b"mac1----").chain_update(keys().0.public.to_x25519()).finalize().into();
        let m1 = mac16(&key, &msg[..RESPONSE_LEN - 32]);
        msg[RESPONSE_LEN - 32..RESPONSE_LEN - 16].copy_from_slice(&m1);
        let t0 = Instant::now();
        feed(&mut pending(t0), &msg, t0);
        return;
    }
    CACHED.with(|c| {
        let mut c = c.borrow_mut();
        let (t0, a) = c.get_or_insert_with(|| {
            let t0 = Instant::now();
            (t0, pending(t0))
        });
        feed(a, &msg, *t0);
    });
});
