//! Unknown-session hints (hint.rs): a node that lost a session (restarted)
//! tells the peer within a round trip; the hint is rate-limited and never
//! larger than what drew it; the peer acts only on an unanswered
//! authenticated ping, so a forged hint costs one ping and nothing else.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use tokio::net::UdpSocket;
use tokio::sync::mpsc::UnboundedReceiver;

use super::hint::{HINT_BURST_PER_SOURCE, PONG_WITHIN};
use super::tests::loopback_node;
use super::{Event, Node};
use crate::session::ResponderConfig;
use crate::wire::message::{classify, write_transport_header, Route, TRANSPORT_MIN_LEN, UNKNOWN_SESSION_LEN};

async fn pair() -> (Node, UnboundedReceiver<Event>, Node, UnboundedReceiver<Event>, u64) {
    let (server, srx) = loopback_node(false, ResponderConfig::default()).await;
    let (client, crx) = loopback_node(false, ResponderConfig::default()).await;
    let id = client
        .dial_sudph(server.public_key(), Some(vec![server.sudph_addr().unwrap()]), Duration::from_secs(5))
        .await
        .unwrap();
    (server, srx, client, crx, id)
}

/// The transport `id` went down within `within`: its reason.
async fn down(rx: &mut UnboundedReceiver<Event>, id: u64, within: Duration) -> Option<String> {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        match tokio::time::timeout_at(deadline, rx.recv()).await {
            Ok(Some(Event::TransportDown { id: got, reason, .. })) if got == id => return Some(reason),
            Ok(Some(_)) => continue,
            Ok(None) | Err(_) => return None,
        }
    }
}

#[tokio::test]
async fn a_peer_that_forgot_the_session_is_noticed_within_a_round_trip_and_a_ping() {
    let (server, mut srx, client, mut crx, id) = pair().await;
    client.send_control(id, b"hello").unwrap();
    let sid = loop {
        match tokio::time::timeout(Duration::from_secs(5), srx.recv()).await.unwrap() {
            Some(Event::Control { id, .. }) => break id,
            _ => continue,
        }
    };
    // What a restart leaves: the server no longer knows the session, and
    // tells the client nothing by itself (UDP has no close).
    server.close_transport(sid).unwrap();
    let start = Instant::now();
    client.send_control(id, b"still there?").unwrap();
    let reason = down(&mut crx, id, Duration::from_secs(2)).await.expect("the client never noticed");
    let took = start.elapsed();
    assert!(reason.contains("no longer knows the session"), "{reason}");
    assert!(took >= PONG_WITHIN, "closed before the ping had its chance: {took:?}");
    assert!(took < Duration::from_secs(1), "took {took:?}");
    assert!(server.inner().hints.sent.load(Ordering::Relaxed) >= 1);
    assert_eq!(client.inner().hints.closed.load(Ordering::Relaxed), 1);
}

#[tokio::test]
async fn hints_are_rate_limited_per_source_and_never_larger_than_what_drew_them() {
    let (server, _srx) = loopback_node(false, ResponderConfig::default()).await;
    let sock = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let to = server.sudph_addr().unwrap();
    let mut msg = [0x5au8; TRANSPORT_MIN_LEN];
    // Shorter than a transport message: never answered, and no token spent.
    for i in 0..20u32 {
        write_transport_header(&mut msg, 0x9000 + i, 7).unwrap();
        sock.send_to(&msg[..TRANSPORT_MIN_LEN - 1], to).await.unwrap();
    }
    for i in 0..50u32 {
        write_transport_header(&mut msg, 0x1000 + i, 7).unwrap();
        sock.send_to(&msg, to).await.unwrap();
    }
    // A hint sent to the server (it has no transports): nothing comes back.
    sock.send_to(&[5, 0, 0, 0, 0, 0, 0, 1], to).await.unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 64];
    while let Ok(Ok((n, _))) = tokio::time::timeout(Duration::from_millis(300), sock.recv_from(&mut buf)).await {
        assert_eq!(n, UNKNOWN_SESSION_LEN);
        let Ok(Route::UnknownSession(idx)) = classify(&buf[..n]) else { panic!("not a hint: {:?}", &buf[..n]) };
        got.push(idx);
    }
    // The burst, plus at most what the bucket refilled meanwhile (4/s).
    let burst = usize::try_from(HINT_BURST_PER_SOURCE).unwrap();
    assert!(got.len() >= burst && got.len() <= burst + 2, "{got:x?}");
    assert_eq!(got[0], 0x1000, "a hint names the index that was not known; short messages drew none");
    assert!(server.inner().hints.refused.load(Ordering::Relaxed) >= 40);
}

#[tokio::test]
async fn a_forged_hint_costs_one_ping_and_closes_nothing() {
    let (server, _srx, client, mut crx, id) = pair().await;
    let server_addr = server.sudph_addr().unwrap();
    // As if a hint arrived with the server's address as its (forged) source;
    // three at once: one check in flight per transport.
    for _ in 0..3 {
        super::hint::on_hint(client.inner(), server_addr);
    }
    assert_eq!(client.inner().hints.pinged.load(Ordering::Relaxed), 1);
    // The live server answers the ping: nothing closes.
    assert_eq!(down(&mut crx, id, PONG_WITHIN * 3).await, None);
    assert!(client.transport(id).is_some());
    assert_eq!(client.inner().hints.closed.load(Ordering::Relaxed), 0);
    // A hint from an address we have no transport with does nothing at all.
    super::hint::on_hint(client.inner(), "127.0.0.1:9".parse().unwrap());
    assert_eq!(client.inner().hints.pinged.load(Ordering::Relaxed), 1);
}
