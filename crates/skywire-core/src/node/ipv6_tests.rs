//! Transports over IPv6 between two in-process nodes on `[::1]` (no root):
//! STCPR and SUDPH over IPv6, dual-stack listeners taking IPv4 peers as
//! plain IPv4, STCPR's happy eyeballs past a dead address, and SUDPH asking
//! the address resolver over both families.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use tokio::net::UdpSocket;
use tokio::sync::mpsc::UnboundedReceiver;

use super::{Event, Node, NodeConfig, NodeError, TransportKind};
use crate::wire::resolver::{ErrorCode, ErrorMsg, PeerAddress, ResolverMessage};
use crate::{Keypair, PublicKey};

fn a(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

async fn node_on(
    listen: &str,
    resolver: Option<SocketAddr>,
    resolver6: Option<SocketAddr>,
) -> (Node, UnboundedReceiver<Event>) {
    Node::start(NodeConfig {
        keypair: Keypair::generate(),
        stcpr_listen: Some(a(listen)),
        sudph_listen: Some(a(listen)),
        resolver,
        resolver6,
        local_addrs: vec![],
        responder: Default::default(),
        limits: Default::default(),
        workers: 0,
    })
    .await
    .unwrap()
}

/// The server's side of the first transport that comes up.
async fn next_up(rx: &mut UnboundedReceiver<Event>) -> (TransportKind, SocketAddr) {
    loop {
        match tokio::time::timeout(Duration::from_secs(5), rx.recv()).await.expect("no event in time") {
            Some(Event::TransportUp { transport, remote, .. }) => return (transport, remote),
            Some(_) => continue,
            None => panic!("event channel closed"),
        }
    }
}

async fn control_round_trip(client: &Node, id: u64, server_rx: &mut UnboundedReceiver<Event>) {
    client.send_control(id, b"over v6?").unwrap();
    loop {
        match tokio::time::timeout(Duration::from_secs(5), server_rx.recv()).await.expect("no control in time") {
            Some(Event::Control { data, .. }) => return assert_eq!(data, b"over v6?"),
            Some(_) => continue,
            None => panic!("event channel closed"),
        }
    }
}

#[tokio::test]
async fn stcpr_over_ipv6_loopback() {
    let (server, mut srx) = node_on("[::1]:0", None, None).await;
    let (client, _crx) = node_on("[::1]:0", None, None).await;
    let to = server.stcpr_addr().unwrap();
    assert!(to.is_ipv6());
    let id = client.dial_stcpr(server.public_key(), &[to], Duration::from_secs(5)).await.unwrap();
    let (kind, remote) = next_up(&mut srx).await;
    assert_eq!(kind, TransportKind::Stcpr);
    assert!(remote.is_ipv6(), "{remote}");
    control_round_trip(&client, id, &mut srx).await;
}

#[tokio::test]
async fn sudph_over_ipv6_loopback() {
    let (server, mut srx) = node_on("[::1]:0", None, None).await;
    let (client, _crx) = node_on("[::1]:0", None, None).await;
    let to = server.sudph_addr().unwrap();
    let id = client.dial_sudph(server.public_key(), Some(vec![to]), Duration::from_secs(5)).await.unwrap();
    let (kind, remote) = next_up(&mut srx).await;
    assert_eq!(kind, TransportKind::Sudph);
    assert_eq!(remote, client.sudph_addr().unwrap());
    assert_eq!(client.transport(id).unwrap().remote, to);
    control_round_trip(&client, id, &mut srx).await;
}

/// `[::]` takes both families; an IPv4 peer is seen as plain IPv4 (not
/// `::ffff:127.0.0.1`), which is what limits, rekeys and status compare.
#[tokio::test]
async fn dual_stack_listeners_take_ipv4_peers_as_ipv4() {
    let (server, mut srx) = node_on("[::]:0", None, None).await;
    assert_eq!(server.stcpr_addr().unwrap().ip(), a("[::]:0").ip());
    let (v4_client, _c4) = node_on("127.0.0.1:0", None, None).await;
    let (v6_client, _c6) = node_on("[::1]:0", None, None).await;
    let tcp_port = server.stcpr_addr().unwrap().port();
    let udp_port = server.sudph_addr().unwrap().port();

    let id = v4_client
        .dial_stcpr(server.public_key(), &[SocketAddr::new(a("127.0.0.1:0").ip(), tcp_port)], Duration::from_secs(5))
        .await
        .unwrap();
    let (_, remote) = next_up(&mut srx).await;
    assert_eq!(remote.ip(), a("127.0.0.1:0").ip(), "{remote}");
    control_round_trip(&v4_client, id, &mut srx).await;

    let id = v4_client
        .dial_sudph(server.public_key(), Some(vec![a(&format!("127.0.0.1:{udp_port}"))]), Duration::from_secs(5))
        .await
        .unwrap();
    let (_, remote) = next_up(&mut srx).await;
    assert_eq!(remote, v4_client.sudph_addr().unwrap());
    control_round_trip(&v4_client, id, &mut srx).await;

    let id = v6_client
        .dial_sudph(server.public_key(), Some(vec![a(&format!("[::1]:{udp_port}"))]), Duration::from_secs(5))
        .await
        .unwrap();
    let (_, remote) = next_up(&mut srx).await;
    assert_eq!(remote, v6_client.sudph_addr().unwrap());
    control_round_trip(&v6_client, id, &mut srx).await;
}

/// A dead first address costs at most the attempt delay: the next family is
/// tried 250 ms later (or at once when the first fails outright), and the
/// dial ends on the address that answered.
#[tokio::test]
async fn stcpr_happy_eyeballs_moves_past_a_dead_address() {
    let (server, mut srx) = node_on("127.0.0.1:0", None, None).await;
    let (client, _crx) = node_on("[::]:0", None, None).await;
    let live = server.stcpr_addr().unwrap();
    // Documentation addresses: nothing answers there (no route, or a SYN into the void).
    let dead = [a("[2001:db8::dead]:7777"), a("[2001:db8::beef]:7777")];
    let started = Instant::now();
    let id = client.dial_stcpr(server.public_key(), &[dead[0], dead[1], live], Duration::from_secs(5)).await.unwrap();
    assert!(started.elapsed() < Duration::from_millis(1500), "took {:?}", started.elapsed());
    assert_eq!(client.transport(id).unwrap().remote, live);
    next_up(&mut srx).await;
    // Nothing but dead addresses: the dial fails within its deadline, not later.
    let started = Instant::now();
    let r = client.dial_stcpr(server.public_key(), &dead, Duration::from_millis(800)).await;
    assert!(r.is_err());
    assert!(started.elapsed() < Duration::from_millis(1500), "took {:?}", started.elapsed());
}

/// A listener that takes the connection and never answers (not a visor)
/// costs the dial one handshake wait, then the next address is used.
#[tokio::test]
async fn stcpr_moves_on_from_an_address_that_never_answers_the_handshake() {
    let (server, mut srx) = node_on("[::1]:0", None, None).await;
    let (client, _crx) = node_on("[::]:0", None, None).await;
    let silent = tokio::net::TcpListener::bind("[::1]:0").await.unwrap();
    let silent_addr = silent.local_addr().unwrap();
    let _hold = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((s, _)) = silent.accept().await {
            held.push(s);
        }
    });
    let live = server.stcpr_addr().unwrap();
    let started = Instant::now();
    let id = client.dial_stcpr(server.public_key(), &[silent_addr, live], Duration::from_secs(15)).await.unwrap();
    assert_eq!(client.transport(id).unwrap().remote, live);
    assert!(started.elapsed() < Duration::from_secs(8), "took {:?}", started.elapsed());
    next_up(&mut srx).await;
}

/// A fake address resolver on one family: answers connect requests with
/// `answer` (None: "not bound") and counts the binds it got.
fn fake_resolver(
    sock: UdpSocket,
    answer: Option<PeerAddress>,
    binds: tokio::sync::mpsc::UnboundedSender<SocketAddr>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut buf = [0u8; 1500];
        loop {
            let Ok((n, from)) = sock.recv_from(&mut buf).await else { return };
            match ResolverMessage::parse(&buf[..n]) {
                Ok(ResolverMessage::Bind(_)) => {
                    let _ = binds.send(from);
                }
                Ok(ResolverMessage::ConnectRequest(req)) => {
                    let msg = match &answer {
                        Some(info) => ResolverMessage::PeerAddress(info.clone()),
                        None => ResolverMessage::Error(ErrorMsg { about: req.target, code: ErrorCode::TargetNotBound }),
                    };
                    let _ = sock.send_to(&msg.to_bytes().unwrap(), from).await;
                }
                _ => {}
            }
        }
    })
}

struct TwoResolvers {
    v4: SocketAddr,
    v6: SocketAddr,
    binds: UnboundedReceiver<SocketAddr>,
    tasks: [tokio::task::JoinHandle<()>; 2],
}

async fn two_resolvers(on_v4: Option<PeerAddress>, on_v6: Option<PeerAddress>) -> TwoResolvers {
    let s4 = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let s6 = UdpSocket::bind("[::1]:0").await.unwrap();
    let (v4, v6) = (s4.local_addr().unwrap(), s6.local_addr().unwrap());
    let (tx, binds) = tokio::sync::mpsc::unbounded_channel();
    let tasks = [fake_resolver(s4, on_v4, tx.clone()), fake_resolver(s6, on_v6, tx)];
    TwoResolvers { v4, v6, binds, tasks }
}

fn peer_at(peer: PublicKey, observed: SocketAddr) -> PeerAddress {
    PeerAddress { peer, observed, local_addrs: vec![] }
}

/// A dual-stack node keeps a binding over each family, and finds a peer over
/// whichever family the resolver knows it in.
#[tokio::test]
async fn sudph_asks_the_resolver_over_both_families() {
    let (server, mut srx) = node_on("[::]:0", None, None).await;
    let port = server.sudph_addr().unwrap().port();
    // The resolver knows the server over IPv6 only.
    let mut r = two_resolvers(None, Some(peer_at(server.public_key(), a(&format!("[::1]:{port}"))))).await;
    let (client, _crx) = node_on("[::]:0", Some(r.v4), Some(r.v6)).await;
    let mut bound_from = Vec::new();
    for _ in 0..2 {
        let from = tokio::time::timeout(Duration::from_secs(5), r.binds.recv()).await.unwrap().unwrap();
        bound_from.push(from.is_ipv6() && from.ip().to_canonical().is_ipv6());
    }
    bound_from.sort_unstable();
    assert_eq!(bound_from, [false, true], "one bind over each family");
    let id = client.dial_sudph(server.public_key(), None, Duration::from_secs(5)).await.unwrap();
    assert_eq!(client.transport(id).unwrap().remote, a(&format!("[::1]:{port}")));
    let (_, remote) = next_up(&mut srx).await;
    assert!(remote.is_ipv6(), "{remote}");
    control_round_trip(&client, id, &mut srx).await;
    client.shutdown();
    r.tasks.iter().for_each(tokio::task::JoinHandle::abort);

    // The other way round: known over IPv4 only.
    let mut r = two_resolvers(Some(peer_at(server.public_key(), a(&format!("127.0.0.1:{port}")))), None).await;
    let (client, _crx) = node_on("[::]:0", Some(r.v4), Some(r.v6)).await;
    let _ = r.binds.recv().await;
    let id = client.dial_sudph(server.public_key(), None, Duration::from_secs(5)).await.unwrap();
    assert_eq!(client.transport(id).unwrap().remote, a(&format!("127.0.0.1:{port}")));
    client.shutdown();
    r.tasks.iter().for_each(tokio::task::JoinHandle::abort);
}

/// Not bound over either family: "not bound" (the visor's offline), as soon
/// as both families said so, not at the deadline.
#[tokio::test]
async fn sudph_not_bound_over_both_families_is_not_bound() {
    let r = two_resolvers(None, None).await;
    let (client, _crx) = node_on("[::]:0", Some(r.v4), Some(r.v6)).await;
    let target = Keypair::generate().public;
    let started = Instant::now();
    let err = client.dial_sudph(target, None, Duration::from_secs(10)).await.unwrap_err();
    assert!(matches!(err, NodeError::NotBound(pk) if pk == target), "{err}");
    assert!(started.elapsed() < Duration::from_secs(3), "took {:?}", started.elapsed());
    r.tasks.iter().for_each(tokio::task::JoinHandle::abort);
}

/// An IPv4-only node does not bind or ask over IPv6 (its socket cannot send there).
#[tokio::test]
async fn an_ipv4_socket_uses_the_ipv4_resolver_only() {
    let mut r = two_resolvers(None, None).await;
    let (_client, _crx) = node_on("127.0.0.1:0", Some(r.v4), Some(r.v6)).await;
    let from = tokio::time::timeout(Duration::from_secs(5), r.binds.recv()).await.unwrap().unwrap();
    assert!(from.is_ipv4());
    assert!(tokio::time::timeout(Duration::from_millis(300), r.binds.recv()).await.is_err(), "bound over IPv6 too");
    r.tasks.iter().for_each(tokio::task::JoinHandle::abort);
}
