//! Two nodes on loopback, no TUN (so no root): dial over each transport,
//! exchange control messages, and handshake through a responder that is
//! under load (cookie reply, then mac2).

use std::net::SocketAddr;
use std::time::Duration;

use tokio::sync::mpsc::UnboundedReceiver;

use super::{Event, Node, NodeConfig, TransportKind};
use crate::session::{LoadConfig, ResponderConfig};
use crate::Keypair;

fn loopback() -> Option<SocketAddr> {
    Some("127.0.0.1:0".parse().unwrap())
}

/// A node with a fresh key listening on loopback: SUDPH always, STCPR when `stcpr`; no resolver, default limits.
/// The node tests of every module start theirs here.
pub(super) async fn loopback_node(stcpr: bool, responder: ResponderConfig) -> (Node, UnboundedReceiver<Event>) {
    Node::start(NodeConfig {
        keypair: Keypair::generate(),
        stcpr_listen: if stcpr { loopback() } else { None },
        sudph_listen: loopback(),
        resolver: None,
        resolver6: None,
        local_addrs: vec![],
        responder,
        limits: Default::default(),
        workers: 0,
    })
    .await
    .unwrap()
}

async fn node(responder: ResponderConfig) -> (Node, UnboundedReceiver<Event>) {
    loopback_node(true, responder).await
}

async fn next_control(rx: &mut UnboundedReceiver<Event>) -> (u64, Vec<u8>) {
    loop {
        match tokio::time::timeout(Duration::from_secs(5), rx.recv()).await.expect("no event in time") {
            Some(Event::Control { id, data }) => return (id, data),
            Some(_) => continue,
            None => panic!("event channel closed"),
        }
    }
}

async fn round_trip(kind: TransportKind, responder: ResponderConfig) {
    let (server, mut srx) = node(responder).await;
    let (client, mut crx) = node(ResponderConfig::default()).await;
    let id = match kind {
        TransportKind::Stcpr => client
            .dial_stcpr(server.public_key(), &[server.stcpr_addr().unwrap()], Duration::from_secs(5))
            .await
            .unwrap(),
        TransportKind::Sudph => client
            .dial_sudph(server.public_key(), Some(vec![server.sudph_addr().unwrap()]), Duration::from_secs(5))
            .await
            .unwrap(),
    };
    client.send_control(id, b"hello?").unwrap();
    let (sid, data) = next_control(&mut srx).await;
    assert_eq!(data, b"hello?");
    // The server knows who dialed: the PK travels in the handshake.
    let info = server.transport(sid).unwrap();
    assert_eq!(info.peer, client.public_key());
    assert_eq!(info.transport, kind);
    server.send_control(sid, b"hi!").unwrap();
    assert_eq!(next_control(&mut crx).await, (id, b"hi!".to_vec()));
}

fn always_under_load() -> ResponderConfig {
    ResponderConfig {
        load: LoadConfig { under_load_per_sec: 0, ..LoadConfig::default() },
        ..ResponderConfig::default()
    }
}

#[tokio::test]
async fn stcpr_round_trip() {
    round_trip(TransportKind::Stcpr, ResponderConfig::default()).await;
}

#[tokio::test]
async fn sudph_round_trip() {
    round_trip(TransportKind::Sudph, ResponderConfig::default()).await;
}

#[tokio::test]
async fn stcpr_through_a_cookie_reply() {
    round_trip(TransportKind::Stcpr, always_under_load()).await;
}

#[tokio::test]
async fn sudph_through_a_cookie_reply() {
    round_trip(TransportKind::Sudph, always_under_load()).await;
}

/// Messages of every size, from one byte to the largest control message,
/// back to back: they cross STCPR reads that end mid-frame and grow the
/// read buffer, and SUDPH's batched receive; all must arrive whole, in order.
async fn every_size_arrives(kind: TransportKind) {
    let (server, mut srx) = node(ResponderConfig::default()).await;
    let (client, _crx) = node(ResponderConfig::default()).await;
    let id = match kind {
        TransportKind::Stcpr => {
            client.dial_stcpr(server.public_key(), &[server.stcpr_addr().unwrap()], Duration::from_secs(5)).await
        }
        TransportKind::Sudph => {
            client
                .dial_sudph(server.public_key(), Some(vec![server.sudph_addr().unwrap()]), Duration::from_secs(5))
                .await
        }
    }
    .unwrap();
    let sizes = [1, 2047, 2048, 2049, 1400, 9000, super::MAX_CONTROL, 3, 65_000.min(super::MAX_CONTROL), 17];
    let msgs: Vec<Vec<u8>> =
        sizes.iter().enumerate().map(|(i, &n)| (0..n).map(|j| (i * 31 + j).to_le_bytes()[0]).collect()).collect();
    for m in &msgs {
        client.send_control(id, m).unwrap();
    }
    for m in &msgs {
        let (_, got) = next_control(&mut srx).await;
        assert_eq!(got.len(), m.len());
        assert!(got == *m, "a {}-byte message arrived changed", m.len());
    }
}

#[tokio::test]
async fn stcpr_carries_every_size_in_order() {
    every_size_arrives(TransportKind::Stcpr).await;
}

#[tokio::test]
async fn sudph_carries_every_size_in_order() {
    every_size_arrives(TransportKind::Sudph).await;
}

#[tokio::test]
async fn closing_an_stcpr_session_closes_its_connection() {
    let (server, mut srx) = node(ResponderConfig::default()).await;
    let (client, _crx) = node(ResponderConfig::default()).await;
    let id =
        client.dial_stcpr(server.public_key(), &[server.stcpr_addr().unwrap()], Duration::from_secs(5)).await.unwrap();
    client.close_transport(id).unwrap();
    // The server learns it from the TCP connection closing, not from an expiry minutes later.
    let reason = loop {
        match tokio::time::timeout(Duration::from_secs(5), srx.recv()).await.expect("no session-down in time") {
            Some(Event::TransportDown { reason, .. }) => break reason,
            Some(_) => continue,
            None => panic!("event channel closed"),
        }
    };
    assert!(reason.contains("closed by peer"), "{reason}");
    assert!(server.transports().is_empty());
}

#[tokio::test]
async fn dial_to_the_wrong_key_fails_cleanly() {
    let (server, _srx) = node(ResponderConfig::default()).await;
    let (client, _crx) = node(ResponderConfig::default()).await;
    let stranger = Keypair::generate().public;
    let r = client.dial_stcpr(stranger, &[server.stcpr_addr().unwrap()], Duration::from_secs(2)).await;
    assert!(r.is_err(), "a server with another key must not complete the handshake");
    let r = client.dial_sudph(stranger, Some(vec![server.sudph_addr().unwrap()]), Duration::from_millis(1500)).await;
    assert!(r.is_err());
}

#[tokio::test]
async fn shutdown_ends_a_dial_in_flight() {
    // A UDP socket that never answers: the dial would punch for its whole minute.
    let silent = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let (client, _crx) = node(ResponderConfig::default()).await;
    let peer = Keypair::generate().public;
    let started = std::time::Instant::now();
    let (r, ()) = tokio::join!(
        client.dial_sudph(peer, Some(vec![silent.local_addr().unwrap()]), Duration::from_secs(60)),
        async {
            tokio::time::sleep(Duration::from_millis(300)).await;
            client.shutdown();
        }
    );
    assert!(matches!(r, Err(super::NodeError::Closed)), "{r:?}");
    assert!(started.elapsed() < Duration::from_secs(5), "the dial ended {:?} after start", started.elapsed());
    // And a dial after shutdown does not start.
    let r = client.dial_stcpr(peer, &[silent.local_addr().unwrap()], Duration::from_secs(60)).await;
    assert!(matches!(r, Err(super::NodeError::Closed)), "{r:?}");
}

/// A peer the address resolver has no binding for fails the dial with its own
/// error (code ENOTBOUND), not a generic "unreachable": the visor calls such a
/// peer offline by that code, never by the message.
#[tokio::test]
async fn sudph_dial_to_a_peer_the_resolver_does_not_know_is_not_bound() {
    use crate::wire::resolver::{ErrorCode, ErrorMsg, ResolverMessage};
    let resolver = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let (client, _events) = Node::start(NodeConfig {
        keypair: Keypair::generate(),
        stcpr_listen: None,
        sudph_listen: loopback(),
        resolver: Some(resolver.local_addr().unwrap()),
        resolver6: None,
        local_addrs: vec![],
        responder: ResponderConfig::default(),
        limits: Default::default(),
        workers: 0,
    })
    .await
    .unwrap();
    let answer = tokio::spawn(async move {
        let mut buf = [0u8; 1500];
        loop {
            let (n, from) = resolver.recv_from(&mut buf).await.unwrap();
            // Binds and anything else go unanswered; connect requests get "not bound".
            if let Ok(ResolverMessage::ConnectRequest(req)) = ResolverMessage::parse(&buf[..n]) {
                let err = ResolverMessage::Error(ErrorMsg { about: req.target, code: ErrorCode::TargetNotBound });
                resolver.send_to(&err.to_bytes().unwrap(), from).await.unwrap();
            }
        }
    });
    let target = Keypair::generate().public;
    let err = client.dial_sudph(target, None, Duration::from_secs(5)).await.unwrap_err();
    answer.abort();
    assert!(matches!(err, super::NodeError::NotBound(pk) if pk == target), "{err}");
    assert_eq!(err.code(), crate::Code::NotBound);
    client.shutdown();
}
