//! Session tests: every time value is derived from one `t0`, so the clock is
//! entirely under the test's control.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use super::cookie::{mac1_key, seal_macs};
use super::*;
use crate::identity::{Keypair, SecretKey};
use crate::wire::message::{Initiation, INITIATION_LEN, TYPE_COOKIE_REPLY};
use crate::wire::WireError;

const BUF: usize = 2048;

fn kp(seed: u8) -> Keypair {
    Keypair::from_secret(SecretKey::from_bytes([seed; 32]))
}

fn src() -> SocketAddr {
    "198.51.100.7:40000".parse().unwrap()
}

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

fn ms(m: u64) -> Duration {
    Duration::from_millis(m)
}

struct Pair {
    a: Session,
    b: Session,
    resp: Responder,
}

/// A dials B; B answers; A confirms with its first keepalive.
fn establish(t0: Instant) -> Pair {
    let (ka, kb) = (kp(1), kp(2));
    let mut resp = Responder::new(&kb, ResponderConfig::default(), t0);
    let mut out = [0u8; BUF];
    let (mut a, init) = Session::initiate(&ka, kb.public, 100, SessionConfig::default(), t0, &mut out).unwrap();
    assert_eq!(init.len(), INITIATION_LEN);
    let init = init.to_vec();
    let mut out2 = [0u8; BUF];
    let Responded::Accepted { session: b, response } =
        resp.handle_initiation(src(), &init, 200, t0, &mut out2).unwrap()
    else {
        panic!("expected a session")
    };
    let mut b = *b;
    assert!(!b.is_established(), "responder must wait for confirmation");
    assert_eq!(b.encapsulate(FrameKind::Data, b"x", t0, &mut out), Err(SessionError::NotEstablished));
    let response = response.to_vec();
    let ka_msg = match a.decapsulate(&response, t0, &mut out).unwrap() {
        Decapsulated::WriteBack(m) => m.to_vec(),
        other => panic!("expected keepalive write-back, got {other:?}"),
    };
    assert!(a.is_established());
    assert_eq!(b.decapsulate(&ka_msg, t0, &mut out), Ok(Decapsulated::Keepalive));
    assert!(b.is_established());
    Pair { a, b, resp }
}

fn send(s: &mut Session, kind: FrameKind, body: &[u8], now: Instant) -> Vec<u8> {
    let mut out = [0u8; BUF];
    s.encapsulate(kind, body, now, &mut out).unwrap().to_vec()
}

fn recv_data(s: &mut Session, msg: &[u8], now: Instant) -> Vec<u8> {
    let mut out = [0u8; BUF];
    match s.decapsulate(msg, now, &mut out) {
        Ok(Decapsulated::Data(d)) => d.to_vec(),
        other => panic!("expected data, got {other:?}"),
    }
}

#[test]
fn handshake_and_data_both_ways() {
    let t0 = Instant::now();
    let Pair { mut a, mut b, .. } = establish(t0);
    assert_eq!(a.remote_pk(), Some(kp(2).public));
    // The responder learned A's Ed25519 key from the initiation payload.
    assert_eq!(b.remote_pk(), Some(kp(1).public));
    assert_eq!(b.remote_static(), &kp(1).public.to_x25519());
    assert_eq!(a.local_indices().collect::<Vec<_>>(), vec![100]);
    assert_eq!(b.local_indices().collect::<Vec<_>>(), vec![200]);

    let m = send(&mut a, FrameKind::Data, b"packet from a", t0);
    assert_eq!(&m[..8], &[4, 0, 0, 0, 0, 0, 0, 200], "addressed to B's index");
    assert_eq!(m.len(), 16 + 1 + 13 + 16);
    assert_eq!(recv_data(&mut b, &m, t0), b"packet from a");
    let m = send(&mut b, FrameKind::Data, b"packet from b", t0);
    assert_eq!(&m[4..8], &100u32.to_be_bytes());
    assert_eq!(recv_data(&mut a, &m, t0), b"packet from b");

    let m = send(&mut a, FrameKind::Control, b"{\"hello\":1}", t0);
    let mut out = [0u8; BUF];
    assert_eq!(b.decapsulate(&m, t0, &mut out), Ok(Decapsulated::Control(&b"{\"hello\":1}"[..])));

    // Tampering with any ciphertext byte fails authentication.
    let mut m = send(&mut a, FrameKind::Data, b"abc", t0);
    m[20] ^= 1;
    assert_eq!(b.decapsulate(&m, t0, &mut out), Err(SessionError::DecryptFailed));
    // An index B does not own.
    let mut m = send(&mut a, FrameKind::Data, b"abc", t0);
    m[7] = 99;
    assert_eq!(b.decapsulate(&m, t0, &mut out), Err(SessionError::UnknownIndex(99)));
}

#[test]
fn handshake_the_other_way() {
    let t0 = Instant::now();
    let (ka, kb) = (kp(1), kp(2));
    let mut resp_a = Responder::new(&ka, ResponderConfig::default(), t0);
    let mut out = [0u8; BUF];
    let (mut b, init) = Session::initiate(&kb, ka.public, 7, SessionConfig::default(), t0, &mut out).unwrap();
    let init = init.to_vec();
    let mut out2 = [0u8; BUF];
    let Ok(Responded::Accepted { session: mut a, response }) = resp_a.handle_initiation(src(), &init, 8, t0, &mut out2)
    else {
        panic!()
    };
    let Decapsulated::WriteBack(ka_msg) = b.decapsulate(response, t0, &mut out).unwrap() else { panic!() };
    let ka_msg = ka_msg.to_vec();
    assert_eq!(a.decapsulate(&ka_msg, t0, &mut out2), Ok(Decapsulated::Keepalive));
    let m = send(&mut a, FrameKind::Data, b"hi b", t0);
    assert_eq!(recv_data(&mut b, &m, t0), b"hi b");
    a.confirm_remote_pk(kb.public).unwrap();
    assert_eq!(a.confirm_remote_pk(kp(3).public), Err(SessionError::WrongPeerKey));
    assert_eq!(a.remote_pk(), Some(kb.public));
}

#[test]
fn initiation_for_another_key_is_rejected() {
    let t0 = Instant::now();
    let (ka, kx, ky) = (kp(1), kp(2), kp(3));
    let mut resp_y = Responder::new(&ky, ResponderConfig::default(), t0);
    let mut out = [0u8; BUF];
    let (_, init) = Session::initiate(&ka, kx.public, 1, SessionConfig::default(), t0, &mut out).unwrap();
    let mut init = init.to_vec();
    let mut out2 = [0u8; BUF];
    // Y never does DH for a message keyed to X's public key.
    assert_eq!(resp_y.handle_initiation(src(), &init, 2, t0, &mut out2).unwrap_err(), SessionError::BadMac1);
    assert_eq!(resp_y.dh_count(), 0);
    // Someone who knows Y's key can pass mac1, but the Noise layer still
    // fails: the static key was encrypted to X.
    seal_macs(&mut init, &mac1_key(&ky.public.to_x25519()), None);
    assert_eq!(resp_y.handle_initiation(src(), &init, 2, t0, &mut out2).unwrap_err(), SessionError::HandshakeDecrypt);
    assert_eq!(resp_y.dh_count(), 1);
}

#[test]
fn response_from_wrong_responder_is_rejected() {
    let t0 = Instant::now();
    let (ka, kb) = (kp(1), kp(2));
    let mut out = [0u8; BUF];
    let (mut a, _) = Session::initiate(&ka, kb.public, 1, SessionConfig::default(), t0, &mut out).unwrap();
    // A response to a different initiation (from C to B) with A's index.
    let (_, init_c) = Session::initiate(&kp(3), kb.public, 1, SessionConfig::default(), t0, &mut out).unwrap();
    let init_c = init_c.to_vec();
    let mut resp = Responder::new(&kb, ResponderConfig::default(), t0);
    let mut out2 = [0u8; BUF];
    let Responded::Accepted { response, .. } = resp.handle_initiation(src(), &init_c, 5, t0, &mut out2).unwrap() else {
        panic!()
    };
    let mut response = response.to_vec();
    // mac1 is keyed to C's public key, not A's.
    assert_eq!(a.decapsulate(&response, t0, &mut out), Err(SessionError::BadMac1));
    seal_macs(&mut response, &mac1_key(&ka.public.to_x25519()), None);
    assert_eq!(a.decapsulate(&response, t0, &mut out), Err(SessionError::HandshakeDecrypt));
    assert!(!a.is_established());
}

#[test]
fn replayed_initiation_is_dropped() {
    let t0 = Instant::now();
    let (ka, kb) = (kp(1), kp(2));
    let mut resp = Responder::new(&kb, ResponderConfig::default(), t0);
    let mut out = [0u8; BUF];
    let (_, old) = Session::initiate(&ka, kb.public, 1, SessionConfig::default(), t0, &mut out).unwrap();
    let old = old.to_vec();
    let (_, newer) = Session::initiate(&ka, kb.public, 2, SessionConfig::default(), t0 + ms(1), &mut out).unwrap();
    let newer = newer.to_vec();
    let mut o = [0u8; BUF];
    assert!(matches!(resp.handle_initiation(src(), &newer, 10, t0 + ms(2), &mut o), Ok(Responded::Accepted { .. })));
    // The exact same message again: no session, no response.
    assert_eq!(
        resp.handle_initiation(src(), &newer, 11, t0 + ms(3), &mut o).unwrap_err(),
        SessionError::StaleTimestamp
    );
    // An older, never-seen initiation is just as stale.
    assert_eq!(resp.handle_initiation(src(), &old, 12, t0 + ms(3), &mut o).unwrap_err(), SessionError::StaleTimestamp);
    // Another peer is unaffected; a newer one from A is accepted.
    let (_, c) = Session::initiate(&kp(3), kb.public, 3, SessionConfig::default(), t0, &mut out).unwrap();
    let c = c.to_vec();
    assert!(matches!(resp.handle_initiation(src(), &c, 13, t0 + ms(4), &mut o), Ok(Responded::Accepted { .. })));
    let (_, newest) = Session::initiate(&ka, kb.public, 4, SessionConfig::default(), t0 + secs(1), &mut out).unwrap();
    let newest = newest.to_vec();
    assert!(matches!(resp.handle_initiation(src(), &newest, 14, t0 + secs(1), &mut o), Ok(Responded::Accepted { .. })));
}

#[test]
fn tai64n_orders_with_time() {
    let t0 = Instant::now();
    let a = tai64n(t0);
    let b = tai64n(t0 + Duration::from_nanos(1));
    let c = tai64n(t0 + secs(1));
    assert!(a < b && b < c);
    assert_eq!(u64::from_be_bytes(c[..8].try_into().unwrap()) - u64::from_be_bytes(a[..8].try_into().unwrap()), 1);
    // The label is 2^62 + 10 + Unix seconds: after 2020 and before 2100.
    let s = u64::from_be_bytes(a[..8].try_into().unwrap()) - 0x4000_0000_0000_000a;
    assert!((1_577_836_800..4_102_444_800).contains(&s), "{s}");
    assert!(u32::from_be_bytes(a[8..].try_into().unwrap()) < 1_000_000_000);
}

#[test]
fn replayed_transport_counter_is_dropped() {
    let t0 = Instant::now();
    let Pair { mut a, mut b, .. } = establish(t0);
    let m = send(&mut a, FrameKind::Data, b"once", t0);
    assert_eq!(recv_data(&mut b, &m, t0), b"once");
    let mut out = [0u8; BUF];
    let counter = u64::from_be_bytes(m[8..16].try_into().unwrap());
    assert_eq!(b.decapsulate(&m, t0, &mut out), Err(SessionError::Replayed(counter)));
    // A forged message with a fresh counter must not move the window.
    let mut forged = send(&mut a, FrameKind::Data, b"x", t0);
    let real = forged.clone();
    forged[30] ^= 0xff;
    assert_eq!(b.decapsulate(&forged, t0, &mut out), Err(SessionError::DecryptFailed));
    assert_eq!(recv_data(&mut b, &real, t0), b"x");
}

#[test]
fn reordering_within_window_and_too_old() {
    let t0 = Instant::now();
    let Pair { mut a, mut b, .. } = establish(t0);
    // Counter 0 went to the confirming keepalive; these are 1..=2100.
    let msgs: Vec<Vec<u8>> = (1..=2100u32).map(|i| send(&mut a, FrameKind::Data, &i.to_be_bytes(), t0)).collect();
    // Newest first, then the rest backwards: everything within 2048 of the newest arrives.
    let newest = msgs.len() - 1;
    assert_eq!(recv_data(&mut b, &msgs[newest], t0), 2100u32.to_be_bytes());
    for i in (newest - 2047..newest).rev() {
        assert_eq!(recv_data(&mut b, &msgs[i], t0), (u32::try_from(i).unwrap() + 1).to_be_bytes());
    }
    let mut out = [0u8; BUF];
    let too_old = &msgs[newest - 2048];
    let c = u64::from_be_bytes(too_old[8..16].try_into().unwrap());
    assert_eq!(c, 2100 - 2048);
    assert_eq!(b.decapsulate(too_old, t0, &mut out), Err(SessionError::CounterTooOld(c)));
    assert_eq!(b.decapsulate(&msgs[0], t0, &mut out), Err(SessionError::CounterTooOld(1)));
}

#[test]
fn rekey_without_loss() {
    let t0 = Instant::now();
    let Pair { mut a, mut b, mut resp } = establish(t0);
    assert_eq!((a.rekeys(), b.rekeys()), (0, 0), "the first handshake is not a rekey");
    let mut out = [0u8; BUF];
    let t1 = t0 + secs(121);
    // Keep both sides alive before the rekey.
    let warm = send(&mut a, FrameKind::Data, b"warm", t0 + secs(100));
    recv_data(&mut b, &warm, t0 + secs(100));
    let warm = send(&mut b, FrameKind::Data, b"warm", t0 + secs(100));
    recv_data(&mut a, &warm, t0 + secs(100));

    assert_eq!(b.update_timers(t1, &mut out), TimerAction::Idle, "only the initiator rekeys");
    assert_eq!(a.update_timers(t1, &mut out), TimerAction::Rekey);

    // In flight under the old keys when the rekey starts.
    let a_old: Vec<_> = (0..5u8).map(|i| send(&mut a, FrameKind::Data, &[b'A', i], t1)).collect();
    let b_old: Vec<_> = (0..5u8).map(|i| send(&mut b, FrameKind::Data, &[b'B', i], t1)).collect();

    let init = a.rekey(101, t1, &mut out).unwrap().to_vec();
    assert_eq!(&init[4..8], &101u32.to_be_bytes());
    let mut o2 = [0u8; BUF];
    let Responded::Accepted { session, response } = resp.handle_initiation(src(), &init, 201, t1, &mut o2).unwrap()
    else {
        panic!()
    };
    let response = response.to_vec();
    b.absorb(*session).unwrap();
    let mut bi: Vec<u32> = b.local_indices().collect();
    bi.sort();
    assert_eq!(bi, vec![200, 201]);
    // B still sends under the old keys until A confirms the new ones.
    let b_mid: Vec<_> = (5..8u8).map(|i| send(&mut b, FrameKind::Data, &[b'B', i], t1)).collect();
    assert!(b_mid.iter().all(|m| m[4..8] == 100u32.to_be_bytes()));

    let Decapsulated::WriteBack(confirm) = a.decapsulate(&response, t1, &mut out).unwrap() else { panic!() };
    let confirm = confirm.to_vec();
    assert_eq!(&confirm[4..8], &201u32.to_be_bytes());
    assert_eq!(a.rekeys(), 1, "the initiator counts the rekey when the response arrives");
    assert_eq!(b.rekeys(), 0, "the responder counts it only once the initiator confirms");
    let a_new: Vec<_> = (5..10u8).map(|i| send(&mut a, FrameKind::Data, &[b'A', i], t1)).collect();

    // B: new-key data arrives before the keepalive and before the old packets.
    let mut got_b = Vec::new();
    for m in a_new.iter().chain(std::iter::once(&confirm)).chain(a_old.iter()) {
        match b.decapsulate(m, t1 + ms(10), &mut out).unwrap() {
            Decapsulated::Data(d) => got_b.push(d.to_vec()),
            Decapsulated::Keepalive => {}
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(b.rekeys(), 1);
    let b_new: Vec<_> = (8..10u8).map(|i| send(&mut b, FrameKind::Data, &[b'B', i], t1 + ms(10))).collect();
    assert!(b_new.iter().all(|m| m[4..8] == 101u32.to_be_bytes()), "B switched to the new keys");

    let mut got_a = Vec::new();
    for m in b_new.iter().chain(b_old.iter()).chain(b_mid.iter()) {
        got_a.push(recv_data(&mut a, m, t1 + ms(20)));
    }
    got_b.sort();
    got_a.sort();
    assert_eq!(got_b, (0..10u8).map(|i| vec![b'A', i]).collect::<Vec<_>>());
    assert_eq!(got_a, (0..10u8).map(|i| vec![b'B', i]).collect::<Vec<_>>());

    // The next rekey is due 120 s after the new keys, not before; A owes B a
    // keepalive (it received data and sent nothing since).
    let TimerAction::Send(ka) = a.update_timers(t1 + secs(119), &mut out) else { panic!("keepalive") };
    assert_eq!(&ka[4..8], &201u32.to_be_bytes());
    assert_eq!(a.update_timers(t1 + secs(119), &mut out), TimerAction::Idle);
    assert_eq!(a.update_timers(t1 + secs(120), &mut out), TimerAction::Rekey);
    // Old keys are forgotten once they are older than reject-after.
    let _ = b.update_timers(t0 + secs(181), &mut out);
    assert_eq!(b.local_indices().collect::<Vec<_>>(), vec![201]);
}

#[test]
fn rekey_after_message_count() {
    let t0 = Instant::now();
    let Pair { mut a, mut b, .. } = establish(t0);
    a.set_config(SessionConfig { rekey_after_messages: 4, ..SessionConfig::default() });
    let mut out = [0u8; BUF];
    // The confirming keepalive was message 0; three more reach the limit.
    for i in 0..2u8 {
        let m = send(&mut a, FrameKind::Data, &[i], t0);
        recv_data(&mut b, &m, t0);
        assert_eq!(a.update_timers(t0, &mut out), TimerAction::Idle);
    }
    let m = send(&mut a, FrameKind::Data, &[9], t0);
    recv_data(&mut b, &m, t0);
    assert_eq!(a.update_timers(t0, &mut out), TimerAction::Rekey);
    // The responder never rekeys on its own.
    b.set_config(SessionConfig { rekey_after_messages: 1, ..SessionConfig::default() });
    let _ = send(&mut b, FrameKind::Data, &[1], t0);
    assert_eq!(b.update_timers(t0, &mut out), TimerAction::Idle);
}

#[test]
fn handshake_retransmit_and_give_up() {
    let t0 = Instant::now();
    let mut out = [0u8; BUF];
    let (mut a, first) = Session::initiate(&kp(1), kp(2).public, 9, SessionConfig::default(), t0, &mut out).unwrap();
    let first = first.to_vec();
    assert_eq!(a.update_timers(t0 + secs(4), &mut out), TimerAction::Idle);
    let TimerAction::Send(again) = a.update_timers(t0 + secs(5), &mut out) else { panic!() };
    assert_eq!(again.len(), INITIATION_LEN);
    assert_eq!(&again[4..8], &9u32.to_be_bytes(), "retries keep the index");
    assert_ne!(again, &first[..], "fresh ephemeral and timestamp");
    assert_eq!(a.update_timers(t0 + secs(90), &mut out), TimerAction::Expired);
    assert_eq!(a.encapsulate(FrameKind::Data, b"x", t0 + secs(90), &mut out), Err(SessionError::Expired));
}

#[test]
fn keepalive_and_expiry_timers() {
    let t0 = Instant::now();
    let Pair { mut a, mut b, .. } = establish(t0);
    let mut out = [0u8; BUF];
    let t = t0 + secs(1);
    let m = send(&mut a, FrameKind::Data, b"ping?", t);
    recv_data(&mut b, &m, t);
    assert_eq!(b.update_timers(t + ms(9_999), &mut out), TimerAction::Idle);
    let TimerAction::Send(ka) = b.update_timers(t + secs(10), &mut out) else { panic!("keepalive due") };
    let ka = ka.to_vec();
    assert_eq!(b.update_timers(t + secs(11), &mut out), TimerAction::Idle, "one keepalive only");
    assert_eq!(a.decapsulate(&ka, t + secs(10), &mut out), Ok(Decapsulated::Keepalive));
    // A keepalive does not call for a keepalive back.
    assert_eq!(a.update_timers(t + secs(30), &mut out), TimerAction::Idle);

    // If B answered with data instead, no keepalive is needed.
    let m = send(&mut a, FrameKind::Data, b"more", t + secs(40));
    recv_data(&mut b, &m, t + secs(40));
    let _ = send(&mut b, FrameKind::Data, b"reply", t + secs(41));
    assert_eq!(b.update_timers(t + secs(55), &mut out), TimerAction::Idle);

    // Nothing from A for 180 s: B expires; 1 ms earlier it does not.
    assert_eq!(b.update_timers(t + secs(40) + secs(180) - ms(1), &mut out), TimerAction::Idle);
    assert_eq!(b.update_timers(t + secs(220), &mut out), TimerAction::Expired);
    assert_eq!(b.decapsulate(&m, t + secs(220), &mut out), Err(SessionError::Expired));
}

#[test]
fn persistent_keepalive() {
    let t0 = Instant::now();
    let Pair { mut a, .. } = establish(t0);
    a.set_config(SessionConfig { persistent_keepalive: Some(secs(25)), ..SessionConfig::default() });
    let mut out = [0u8; BUF];
    assert_eq!(a.update_timers(t0 + secs(24), &mut out), TimerAction::Idle);
    assert!(matches!(a.update_timers(t0 + secs(25), &mut out), TimerAction::Send(_)));
    assert_eq!(a.update_timers(t0 + secs(26), &mut out), TimerAction::Idle);
}

#[test]
fn ping_pong_rtt() {
    let t0 = Instant::now();
    let Pair { mut a, mut b, .. } = establish(t0);
    let mut out = [0u8; BUF];
    let t = t0 + secs(3);
    let ping = a.ping(t, &mut out).unwrap().to_vec();
    let Decapsulated::WriteBack(pong) = b.decapsulate(&ping, t + ms(12), &mut out).unwrap() else { panic!() };
    let pong = pong.to_vec();
    assert_eq!(a.decapsulate(&pong, t + ms(30), &mut out), Ok(Decapsulated::Pong { rtt: ms(30) }));
    assert_eq!(a.rtt(), Some(ms(30)));
    // A pong claiming a send time in the future is refused.
    let bogus = send(&mut b, FrameKind::Pong, &u64::MAX.to_be_bytes(), t);
    assert!(matches!(a.decapsulate(&bogus, t, &mut out), Err(SessionError::BadBody { .. })));
    // Wrong body sizes are refused.
    assert_eq!(
        b.encapsulate(FrameKind::Ping, &[1, 2], t, &mut out),
        Err(SessionError::BadBody { kind: FrameKind::Ping, expected: 8, got: 2 })
    );
    assert_eq!(
        b.encapsulate(FrameKind::Keepalive, &[0], t, &mut out),
        Err(SessionError::BadBody { kind: FrameKind::Keepalive, expected: 0, got: 1 })
    );
}

#[test]
fn bad_mac1_costs_no_dh() {
    let t0 = Instant::now();
    let kb = kp(2);
    let mut resp = Responder::new(&kb, ResponderConfig::default(), t0);
    let mut out = [0u8; BUF];
    let (_, init) = Session::initiate(&kp(1), kb.public, 1, SessionConfig::default(), t0, &mut out).unwrap();
    let good = init.to_vec();
    let mut o = [0u8; BUF];
    for i in 0..good.len() - 16 {
        let mut bad = good.clone();
        bad[i] ^= 0x40;
        let e = resp.handle_initiation(src(), &bad, 2, t0, &mut o).unwrap_err();
        assert!(
            matches!(e, SessionError::BadMac1 | SessionError::Wire(WireError::ReservedNotZero(_))),
            "byte {i}: {e:?}"
        );
    }
    assert_eq!(resp.dh_count(), 0);
    // Garbage and truncations are typed errors, not panics.
    assert!(matches!(resp.handle_initiation(src(), &good[..100], 2, t0, &mut o), Err(SessionError::Wire(_))));
    assert!(matches!(resp.handle_initiation(src(), &[1; 148], 2, t0, &mut o), Err(SessionError::Wire(_))));
    assert!(matches!(
        resp.handle_initiation(src(), &good, 2, t0, &mut [0u8; 10]),
        Err(SessionError::BufferTooSmall { .. })
    ));
    assert_eq!(resp.dh_count(), 0);
    assert!(matches!(resp.handle_initiation(src(), &good, 2, t0, &mut o), Ok(Responded::Accepted { .. })));
    assert_eq!(resp.dh_count(), 1);
}

#[test]
fn cookie_reply_under_load_then_mac2_accepted() {
    let t0 = Instant::now();
    let (ka, kb) = (kp(1), kp(2));
    // Threshold 0: every initiation counts as "under load" (the threshold
    // itself is tested on LoadMeter).
    let cfg = ResponderConfig {
        load: LoadConfig { under_load_per_sec: 0, per_source_per_sec: 10, per_source_burst: 10 },
        ..ResponderConfig::default()
    };
    let mut resp = Responder::new(&kb, cfg, t0);
    let mut o = [0u8; BUF];
    let mut out = [0u8; BUF];
    let (mut a, init) = Session::initiate(&ka, kb.public, 50, SessionConfig::default(), t0, &mut out).unwrap();
    let init = init.to_vec();
    assert_eq!(Initiation::parse(&init).unwrap().mac2, &[0; 16], "no cookie yet");
    let Responded::CookieReply(cr) = resp.handle_initiation(src(), &init, 51, t0, &mut o).unwrap() else {
        panic!("expected a cookie reply under load")
    };
    assert_eq!(cr.len(), 64);
    assert_eq!(cr[0], TYPE_COOKIE_REPLY);
    assert_eq!(&cr[4..8], &50u32.to_be_bytes());
    let cr = cr.to_vec();
    assert_eq!(resp.dh_count(), 0, "the cookie reply cost no DH");
    // A cookie reply for another index, or tampered, is refused.
    let mut wrong = cr.clone();
    wrong[7] = 49;
    assert_eq!(a.decapsulate(&wrong, t0, &mut out), Err(SessionError::UnknownIndex(49)));
    let mut wrong = cr.clone();
    wrong[40] ^= 1;
    assert_eq!(a.decapsulate(&wrong, t0, &mut out), Err(SessionError::BadCookieReply));
    assert_eq!(a.decapsulate(&cr, t0 + ms(5), &mut out), Ok(Decapsulated::Done));

    // The retransmission carries mac2 and gets through while still loaded.
    let TimerAction::Send(retry) = a.update_timers(t0 + secs(5), &mut out) else { panic!() };
    let retry = retry.to_vec();
    assert_ne!(Initiation::parse(&retry).unwrap().mac2, &[0; 16]);
    // From another address the cookie is worthless: another cookie reply.
    let other: SocketAddr = "203.0.113.5:1".parse().unwrap();
    assert!(matches!(resp.handle_initiation(other, &retry, 52, t0 + secs(5), &mut o), Ok(Responded::CookieReply(_))));
    assert_eq!(resp.dh_count(), 0);
    let Responded::Accepted { session: mut b, response } =
        resp.handle_initiation(src(), &retry, 52, t0 + secs(5), &mut o).unwrap()
    else {
        panic!("mac2 should be accepted")
    };
    assert_eq!(resp.dh_count(), 1);
    let response = response.to_vec();
    let Decapsulated::WriteBack(ka_msg) = a.decapsulate(&response, t0 + secs(5), &mut out).unwrap() else { panic!() };
    let ka_msg = ka_msg.to_vec();
    assert_eq!(b.decapsulate(&ka_msg, t0 + secs(5), &mut o), Ok(Decapsulated::Keepalive));

    // Cookies age out: 121 s later the rekey initiation has no mac2 again.
    let keep = send(&mut b, FrameKind::Data, b"alive", t0 + secs(100));
    recv_data(&mut a, &keep, t0 + secs(100));
    assert_eq!(a.update_timers(t0 + secs(126), &mut out), TimerAction::Rekey);
    let again = a.rekey(53, t0 + secs(126), &mut out).unwrap().to_vec();
    assert_eq!(Initiation::parse(&again).unwrap().mac2, &[0; 16]);
    assert!(matches!(resp.handle_initiation(src(), &again, 54, t0 + secs(126), &mut o), Ok(Responded::CookieReply(_))));
}

#[test]
fn per_source_rate_limit_under_load() {
    let t0 = Instant::now();
    let kb = kp(2);
    let cfg = ResponderConfig {
        load: LoadConfig { under_load_per_sec: 0, per_source_per_sec: 1, per_source_burst: 1 },
        ..ResponderConfig::default()
    };
    let mut resp = Responder::new(&kb, cfg, t0);
    let mut out = [0u8; BUF];
    let mut o = [0u8; BUF];
    let (mut a, init) = Session::initiate(&kp(1), kb.public, 1, SessionConfig::default(), t0, &mut out).unwrap();
    let init = init.to_vec();
    let Responded::CookieReply(cr) = resp.handle_initiation(src(), &init, 2, t0, &mut o).unwrap() else { panic!() };
    let cr = cr.to_vec();
    a.decapsulate(&cr, t0, &mut out).unwrap();
    let TimerAction::Send(r1) = a.update_timers(t0 + secs(5), &mut out) else { panic!() };
    let r1 = r1.to_vec();
    assert!(matches!(resp.handle_initiation(src(), &r1, 2, t0 + secs(5), &mut o), Ok(Responded::Accepted { .. })));
    let TimerAction::Send(r2) = a.update_timers(t0 + secs(10), &mut out) else { panic!() };
    let r2 = r2.to_vec();
    // Same source, valid mac2, but its bucket refilled only 1 token in 5 s... it has one.
    assert!(matches!(resp.handle_initiation(src(), &r2, 3, t0 + secs(10), &mut o), Ok(Responded::Accepted { .. })));
    let dh = resp.dh_count();
    let TimerAction::Send(r3) = a.update_timers(t0 + secs(15), &mut out) else { panic!() };
    let r3 = r3.to_vec();
    // Replay r3 twice within the same instant: second is rate limited before DH.
    let _ = resp.handle_initiation(src(), &r3, 4, t0 + secs(15), &mut o);
    assert_eq!(resp.handle_initiation(src(), &r3, 5, t0 + secs(15), &mut o).unwrap_err(), SessionError::RateLimited);
    assert_eq!(resp.dh_count(), dh + 1);
}

#[test]
fn senders_on_several_threads() {
    let t0 = Instant::now();
    let Pair { mut a, mut b, .. } = establish(t0);
    let keys = a.sender().unwrap();
    let handles: Vec<_> = (0..4u8)
        .map(|t| {
            let keys = keys.clone();
            std::thread::spawn(move || {
                (0..250u8)
                    .map(|i| {
                        let mut out = [0u8; 64];
                        let n = keys.encapsulate(FrameKind::Data, &[t, i], &mut out).unwrap();
                        out[..n].to_vec()
                    })
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    let msgs: Vec<Vec<u8>> = handles.into_iter().flat_map(|h| h.join().unwrap()).collect();
    a.note_sent(t0);
    let mut counters: Vec<u64> = msgs.iter().map(|m| u64::from_be_bytes(m[8..16].try_into().unwrap())).collect();
    counters.sort();
    counters.dedup();
    assert_eq!(counters.len(), 1000, "no nonce reused");
    let mut got: Vec<Vec<u8>> = msgs.iter().map(|m| recv_data(&mut b, m, t0)).collect();
    got.sort();
    got.dedup();
    assert_eq!(got.len(), 1000);
}

#[test]
fn size_limits() {
    let t0 = Instant::now();
    let Pair { mut a, .. } = establish(t0);
    let mut big = vec![0u8; 70_000];
    assert_eq!(
        a.encapsulate(FrameKind::Control, &big[..MAX_CONTROL_LEN + 1], t0, &mut big.clone()),
        Err(SessionError::BodyTooLarge { kind: FrameKind::Control, len: MAX_CONTROL_LEN + 1, max: MAX_CONTROL_LEN })
    );
    let mut out = vec![0u8; 70_000];
    let n = a.encapsulate(FrameKind::Data, &big[..MAX_BODY_LEN], t0, &mut out).unwrap().len();
    assert_eq!(n, 65_535 + 16);
    assert!(a.encapsulate(FrameKind::Data, &big[..MAX_BODY_LEN + 1], t0, &mut out).is_err());
    assert_eq!(
        a.encapsulate(FrameKind::Data, &big[..100], t0, &mut [0u8; 132]),
        Err(SessionError::BufferTooSmall { need: 133, have: 132 })
    );
    big.truncate(1);
}

/// The cacophony vector for exactly our pattern, from the public test vectors
/// shipped with snow (github.com/mcginty/snow, tests/vectors/cacophony.txt,
/// protocol_name "Noise_IK_25519_ChaChaPoly_BLAKE2s"). It pins the pattern,
/// DH, cipher, hash and snow's feature selection in Cargo.toml.
#[test]
fn noise_ik_cacophony_vector() {
    use snow::Builder;
    let h = |s: &str| hex::decode(s).unwrap();
    let prologue = h("4a6f686e2047616c74");
    let init_static = h("e61ef9919cde45dd5f82166404bd08e38bceb5dfdfded0a34c8df7ed542214d1");
    let init_ephemeral = h("893e28b9dc6ca8d611ab664754b8ceb7bac5117349a4439a6b0569da977c464a");
    let init_remote_static = h("31e0303fd6418d2f8c0e78b91f22e8caed0fbe48656dcf4767e4834f701b8f62");
    let resp_static = h("4a3acbfdb163dec651dfa3194dece676d437029c62a408b4c5ea9114246e4893");
    let resp_ephemeral = h("bbdb4cdbd309f1a1f2e1456967fe288cadd6f712d65dc7b7793d5e63da6b375b");
    let handshake_hash = h("48f3cb8bc9319da4ba1e9933991b1c4ed4034f1f126a76d3a1fbcfd7f94248d4");
    let messages = [
        ("4c756477696720766f6e204d69736573", "ca35def5ae56cec33dc2036731ab14896bc4c75dbb07a61f879f8e3afa4c79440b03ddc7aac5123d06a1b23b71670e32e76c28239a7ca4ac8f784de7e44c1adbfc6e83fef7352a58d9d56157400c0a737b1d171ce368229c7b752ac25b8faf4eca690f6d896f543be02c996ab2b86b76"),
        ("4d757272617920526f746862617264", "95ebc60d2b1fa672c1f46a8aa265ef51bfe38e7ccb39ec5be34069f144808843d9b5a8927f0ac9655ef76833bc7e5561f42e691ac8404efd6fbd6308b6a27c"),
        ("462e20412e20486179656b", "2c256ed08fcd08c2980f954ee4beaccb61c9581340f5dd2fd1cf3b"),
        ("4361726c204d656e676572", "d6033f70eee20945c7c9dba304e397ee3b284ff5e00fd9efb095d3"),
        ("4a65616e2d426170746973746520536179", "a9c068ca5d8babf72560652d8e851adbfac35c8a66e810d560863173e96adf4cfe"),
        ("457567656e2042f6686d20766f6e2042617765726b", "2a09d8f459e5927e40fdd2eddc99bdafb04e13a26f145cb5cfe9e6ba34c94331ebc17d5156"),
    ];
    let params: snow::params::NoiseParams = NOISE_PARAMS.parse().unwrap();
    let mut i = Builder::new(params.clone())
        .local_private_key(&init_static)
        .unwrap()
        .remote_public_key(&init_remote_static)
        .unwrap()
        .prologue(&prologue)
        .unwrap()
        .fixed_ephemeral_key_for_testing_only(&init_ephemeral)
        .build_initiator()
        .unwrap();
    let mut r = Builder::new(params)
        .local_private_key(&resp_static)
        .unwrap()
        .prologue(&prologue)
        .unwrap()
        .fixed_ephemeral_key_for_testing_only(&resp_ephemeral)
        .build_responder()
        .unwrap();
    let mut buf = [0u8; 256];
    let mut pt = [0u8; 256];
    let n = i.write_message(&h(messages[0].0), &mut buf).unwrap();
    assert_eq!(hex::encode(&buf[..n]), messages[0].1);
    let m = r.read_message(&buf[..n], &mut pt).unwrap();
    assert_eq!(&pt[..m], &h(messages[0].0)[..]);
    let n = r.write_message(&h(messages[1].0), &mut buf).unwrap();
    assert_eq!(hex::encode(&buf[..n]), messages[1].1);
    i.read_message(&buf[..n], &mut pt).unwrap();
    assert_eq!(i.get_handshake_hash(), &handshake_hash[..]);
    assert_eq!(r.get_handshake_hash(), &handshake_hash[..]);
    // Our transport keys (ring, sealing in place) from the same split.
    let ours_i = TransportKeys::from_handshake(&mut i, 1, 2, Instant::now()).unwrap();
    let ours_r = TransportKeys::from_handshake(&mut r, 2, 1, Instant::now()).unwrap();
    // Transport messages through the stateless API the sessions use, with the
    // explicit nonces the vector implies (each direction counts from 0).
    let it = i.into_stateless_transport_mode().unwrap();
    let rt = r.into_stateless_transport_mode().unwrap();
    for (k, (payload, ct)) in messages[2..].iter().enumerate() {
        let nonce = (k / 2) as u64;
        let (tx, rx) = if k % 2 == 0 { (&it, &rt) } else { (&rt, &it) };
        let n = tx.write_message(nonce, &h(payload), &mut buf).unwrap();
        assert_eq!(hex::encode(&buf[..n]), *ct, "transport message {k}");
        let m = rx.read_message(nonce, &buf[..n], &mut pt).unwrap();
        assert_eq!(&pt[..m], &h(payload)[..]);
        // Our receiving side opens the vector's ciphertext...
        let ours_rx = if k % 2 == 0 { &ours_r } else { &ours_i };
        let m = ours_rx.decrypt(nonce, &h(ct), &mut pt).unwrap();
        assert_eq!(&pt[..m], &h(payload)[..], "ours opens transport message {k}");
        // ...and a flipped bit anywhere fails it.
        let mut bad = h(ct);
        let at = k % bad.len();
        bad[at] ^= 1;
        assert_eq!(ours_rx.decrypt(nonce, &bad, &mut pt), Err(SessionError::DecryptFailed));
    }
    // Our sending side, message by message (counters 0, 1, 2 in each
    // direction), opens with snow's transport state: the same wire.
    for c in 0..3u64 {
        for (ours_tx, snow_rx) in [(&ours_i, &rt), (&ours_r, &it)] {
            let body = h(messages[2 + usize::try_from(c).unwrap()].0);
            let n = ours_tx.encapsulate(FrameKind::Data, &body, &mut buf).unwrap();
            let (header, sealed) = buf[..n].split_at(crate::wire::message::TRANSPORT_HEADER_LEN);
            assert_eq!(header[8..16], c.to_be_bytes(), "counter {c} in the header");
            let m = snow_rx.read_message(c, sealed, &mut pt).unwrap();
            assert_eq!(pt[0], FrameKind::Data as u8);
            assert_eq!(&pt[1..m], &body[..]);
        }
    }
}

#[test]
fn our_x25519_keys_work_in_noise() {
    // The identity's X25519 forms are what the handshake uses: an initiation
    // built by a Session opens with snow given only B's converted secret.
    let t0 = Instant::now();
    let (ka, kb) = (kp(1), kp(2));
    let mut out = [0u8; BUF];
    let (_, init) = Session::initiate(&ka, kb.public, 1, SessionConfig::default(), t0, &mut out).unwrap();
    let parsed = Initiation::parse(init).unwrap();
    let mut r = snow::Builder::new(NOISE_PARAMS.parse().unwrap())
        .local_private_key(&kb.secret.to_x25519())
        .unwrap()
        .prologue(PROLOGUE)
        .unwrap()
        .build_responder()
        .unwrap();
    let mut pt = [0u8; 64];
    let n = r.read_message(parsed.noise, &mut pt).unwrap();
    assert_eq!(n, 12 + 32);
    assert_eq!(&pt[..12], &tai64n(t0));
    assert_eq!(&pt[12..n], ka.public.as_bytes());
    assert_eq!(r.get_remote_static().unwrap(), &ka.public.to_x25519());
}

#[test]
fn initiation_claiming_another_pk_is_dropped() {
    // A holds key 1 but claims key 3 in the payload: Noise authenticates key 1,
    // so the claim must be refused before any state changes.
    use crate::wire::message::{write_initiation, NOISE_INIT_LEN};
    let t0 = Instant::now();
    let (ka, kb, kc) = (kp(1), kp(2), kp(3));
    let mut resp = Responder::new(&kb, ResponderConfig::default(), t0);
    let lie = |claim: &Keypair, at: Instant| {
        let mut hs = snow::Builder::new(NOISE_PARAMS.parse().unwrap())
            .local_private_key(&ka.secret.to_x25519())
            .unwrap()
            .remote_public_key(&kb.public.to_x25519())
            .unwrap()
            .prologue(PROLOGUE)
            .unwrap()
            .build_initiator()
            .unwrap();
        let mut payload = tai64n(at).to_vec();
        payload.extend_from_slice(claim.public.as_bytes());
        let mut noise = [0u8; NOISE_INIT_LEN];
        hs.write_message(&payload, &mut noise).unwrap();
        let mut msg = [0u8; INITIATION_LEN];
        write_initiation(&mut msg, 1, &noise).unwrap();
        seal_macs(&mut msg, &mac1_key(&kb.public.to_x25519()), None);
        msg
    };
    let mut o = [0u8; BUF];
    assert_eq!(resp.handle_initiation(src(), &lie(&kc, t0), 2, t0, &mut o).unwrap_err(), SessionError::WrongPeerKey);
    // The refused claim did not record a timestamp: the honest one at the same time passes.
    let Responded::Accepted { session, .. } = resp.handle_initiation(src(), &lie(&ka, t0), 2, t0, &mut o).unwrap()
    else {
        panic!()
    };
    assert_eq!(session.remote_pk(), Some(ka.public));
}

#[test]
fn crossing_handshakes_converge() {
    // Both sides dial each other at the same moment; each also answers the
    // other's initiation. Whatever order things land in, data must flow.
    let t0 = Instant::now();
    let (ka, kb) = (kp(1), kp(2));
    let mut resp_a = Responder::new(&ka, ResponderConfig::default(), t0);
    let mut resp_b = Responder::new(&kb, ResponderConfig::default(), t0);
    let (mut o1, mut o2) = ([0u8; BUF], [0u8; BUF]);
    let (mut a, init_a) = Session::initiate(&ka, kb.public, 10, SessionConfig::default(), t0, &mut o1).unwrap();
    let init_a = init_a.to_vec();
    let (mut b, init_b) = Session::initiate(&kb, ka.public, 20, SessionConfig::default(), t0, &mut o2).unwrap();
    let init_b = init_b.to_vec();
    let Responded::Accepted { session, response: resp_to_b } =
        resp_a.handle_initiation(src(), &init_b, 11, t0, &mut o1).unwrap()
    else {
        panic!()
    };
    let resp_to_b = resp_to_b.to_vec();
    a.absorb(*session).unwrap();
    let Responded::Accepted { session, response: resp_to_a } =
        resp_b.handle_initiation(src(), &init_a, 21, t0, &mut o2).unwrap()
    else {
        panic!()
    };
    let resp_to_a = resp_to_a.to_vec();
    b.absorb(*session).unwrap();
    let Decapsulated::WriteBack(ka_a) = a.decapsulate(&resp_to_a, t0, &mut o1).unwrap() else { panic!() };
    let ka_a = ka_a.to_vec();
    let Decapsulated::WriteBack(ka_b) = b.decapsulate(&resp_to_b, t0, &mut o2).unwrap() else { panic!() };
    let ka_b = ka_b.to_vec();
    let d_a = send(&mut a, FrameKind::Data, b"from a", t0);
    let d_b = send(&mut b, FrameKind::Data, b"from b", t0);
    assert_eq!(b.decapsulate(&ka_a, t0, &mut o2), Ok(Decapsulated::Keepalive));
    assert_eq!(a.decapsulate(&ka_b, t0, &mut o1), Ok(Decapsulated::Keepalive));
    assert_eq!(recv_data(&mut b, &d_a, t0), b"from a");
    assert_eq!(recv_data(&mut a, &d_b, t0), b"from b");
    for i in 0..3u8 {
        let m = send(&mut a, FrameKind::Data, &[i], t0);
        assert_eq!(recv_data(&mut b, &m, t0), [i]);
        let m = send(&mut b, FrameKind::Data, &[i], t0);
        assert_eq!(recv_data(&mut a, &m, t0), [i]);
    }
}

#[test]
fn replay_memory_is_bounded() {
    let t0 = Instant::now();
    let kb = kp(2);
    let cfg = ResponderConfig { max_tracked_peers: 2, ..ResponderConfig::default() };
    let mut resp = Responder::new(&kb, cfg, t0);
    let mut o = [0u8; BUF];
    let mut accept = |seed: u8, at: Instant, resp: &mut Responder| {
        let mut out = [0u8; BUF];
        let (_, m) = Session::initiate(&kp(seed), kb.public, 1, SessionConfig::default(), at, &mut out).unwrap();
        let m = m.to_vec();
        resp.handle_initiation(src(), &m, 2, at, &mut o).map(|_| ())
    };
    accept(10, t0, &mut resp).unwrap();
    accept(11, t0 + secs(1), &mut resp).unwrap();
    // Full, but both are recent: nothing is forgotten (their replay protection stays).
    accept(12, t0 + secs(2), &mut resp).unwrap();
    assert_eq!(resp.tracked_peers(), 3);
    // Much later (past reject-after + expiry), the silent ones are dropped.
    accept(13, t0 + secs(400), &mut resp).unwrap();
    assert_eq!(resp.tracked_peers(), 1);
}

/// A server holds thousands of established, idle sessions: the handshake
/// state (snow's, about 900 bytes) lives in a box only while a handshake
/// runs, not inline in every session (2112 bytes before it was boxed).
#[test]
fn an_idle_session_carries_no_handshake_state_inline() {
    let size = size_of::<Session>();
    assert!(size <= 1280, "Session is {size} bytes");
}
