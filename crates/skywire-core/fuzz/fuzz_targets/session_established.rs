//! An established session (both roles) fed hostile datagrams: raw bytes, and
//! bytes dressed as a transport message for a valid index, plus encrypt /
//! decrypt round trips of fuzzer-chosen bodies.
#![no_main]

use std::cell::RefCell;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use libfuzzer_sys::fuzz_target;
use skywire_core::session::{Decapsulated, FrameKind, Responded, Responder, Session, SessionConfig};
use skywire_core::{Keypair, SecretKey};

fn establish(t0: Instant) -> (Session, Session) {
    let ka = Keypair::from_secret(SecretKey::from_bytes([1; 32]));
    let kb = Keypair::from_secret(SecretKey::from_bytes([2; 32]));
    let mut resp = Responder::new(&kb, Default::default(), t0);
    let mut o1 = [0u8; 512];
    let mut o2 = [0u8; 512];
    let (mut a, init) = Session::initiate(&ka, kb.public, 100, SessionConfig::default(), t0, &mut o1).unwrap();
    let src: SocketAddr = "192.0.2.1:7".parse().unwrap();
    let Ok(Responded::Accepted { session, response }) = resp.handle_initiation(src, init, 200, t0, &mut o2) else {
        panic!("handshake")
    };
    let mut b = *session;
    let Ok(Decapsulated::WriteBack(ka)) = a.decapsulate(response, t0, &mut o1) else { panic!("response") };
    assert_eq!(b.decapsulate(ka, t0, &mut o2), Ok(Decapsulated::Keepalive));
    (a, b)
}

thread_local! {
    // A handshake costs several X25519 operations, which under the fuzzer's
    // instrumentation would dominate every run; most modes only need *an*
    // established pair, so one is kept and rebuilt now and then. Counters and
    // replay windows carry over between runs, which only widens coverage.
    static PAIR: RefCell<Option<(Instant, Session, Session, u32)>> = const { RefCell::new(None) };
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else { return };
    PAIR.with(|p| {
        let mut p = p.borrow_mut();
        if p.as_ref().is_none_or(|(_, _, _, uses)| *uses >= 5000) {
            let t0 = Instant::now();
            let (a, b) = establish(t0);
            *p = Some((t0, a, b, 0));
        }
        let (t0, a, b, uses) = p.as_mut().unwrap();
        *uses += 1;
        run_ref(mode, rest, *t0, a, b);
    });
});

fn run_ref(mode: u8, rest: &[u8], t0: Instant, a: &mut Session, b: &mut Session) {
    // Up to 170 s: timers fire (keepalive, rekey due) but the cached pair never
    // reaches the 180 s expiry.
    let now = t0 + Duration::from_secs(u64::from(mode >> 3) % 18 * 10);
    let mut out = vec![0u8; 70_000];
    match mode & 7 {
        // Raw datagram to either side.
        0 => {
            let _ = b.decapsulate(rest, now, &mut out);
        }
        1 => {
            let _ = a.decapsulate(rest, now, &mut out);
        }
        // Forged transport message for B's valid index: header + fuzz bytes.
        2 => {
            let mut m = vec![4, 0, 0, 0, 0, 0, 0, 200];
            m.extend_from_slice(rest);
            let _ = b.decapsulate(&m, now, &mut out);
        }
        // Round trip: kind and body from the fuzzer must come back intact.
        3 | 4 => {
            let Some((&k, body)) = rest.split_first() else { return };
            let kind = match k % 6 {
                0 => FrameKind::Data,
                1 => FrameKind::Control,
                2 => FrameKind::Keepalive,
                3 => FrameKind::Ping,
                4 => FrameKind::Pong,
                _ => FrameKind::Forward,
            };
            let (tx, rx) = if mode & 7 == 3 { (&mut *a, &mut *b) } else { (&mut *b, &mut *a) };
            let Ok(msg) = tx.encapsulate(kind, body, t0, &mut out) else { return };
            let msg = msg.to_vec();
            match rx.decapsulate(&msg, t0, &mut out) {
                Ok(Decapsulated::Data(d)) => assert_eq!((kind, d), (FrameKind::Data, body)),
                Ok(Decapsulated::Control(c)) => assert_eq!((kind, c), (FrameKind::Control, body)),
                Ok(Decapsulated::Forward(f)) => assert_eq!((kind, f), (FrameKind::Forward, body)),
                Ok(Decapsulated::Keepalive) => assert_eq!(kind, FrameKind::Keepalive),
                Ok(Decapsulated::WriteBack(_)) => assert_eq!(kind, FrameKind::Ping),
                Ok(Decapsulated::Pong { .. }) | Err(_) => assert_eq!(kind, FrameKind::Pong),
                Ok(Decapsulated::Done) => panic!("transport message absorbed silently"),
            }
            // Replaying it is always refused.
            assert!(rx.decapsulate(&msg, t0, &mut out).is_err());
        }
        // Forged transport message for A's index (the initiator side).
        5 | 6 => {
            let mut m = vec![4, 0, 0, 0, 0, 0, 0, 100];
            m.extend_from_slice(rest);
            let _ = a.decapsulate(&m, now, &mut out);
        }
        // Timers interleaved with garbage.
        _ => {
            for chunk in rest.chunks(64) {
                let _ = b.decapsulate(chunk, now, &mut out);
                let _ = b.update_timers(now, &mut out);
                let _ = a.update_timers(now, &mut out);
            }
        }
    }
}
