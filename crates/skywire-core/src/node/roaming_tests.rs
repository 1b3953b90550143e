//! SUDPH endpoint roaming (issue 13, chaos A): the responder follows its
//! peer to a new source address on the first message from there that
//! authenticates (a NAT that rebinds, a client that roams), as WireGuard
//! does, and on nothing else: a replayed or forged datagram from a new
//! address moves nothing, so nobody can redirect a session to themselves.
//!
//! Two nodes on loopback with a test "NAT" between them: the client talks to
//! its front socket; the NAT forwards to the server from whichever back socket
//! is current, and forwards the server's answers back to the client.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::net::UdpSocket;
use tokio::sync::mpsc::UnboundedReceiver;

use super::tests::loopback_node;
use super::{Event, Node};
use crate::session::ResponderConfig;
use crate::wire::message::TYPE_TRANSPORT;

async fn node() -> (Node, UnboundedReceiver<Event>) {
    loopback_node(false, ResponderConfig::default()).await
}

/// The next control message, or None when none comes within `within`.
async fn control(rx: &mut UnboundedReceiver<Event>, within: Duration) -> Option<(u64, Vec<u8>)> {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        match tokio::time::timeout_at(deadline, rx.recv()).await {
            Ok(Some(Event::Control { id, data })) => return Some((id, data)),
            Ok(Some(_)) => continue,
            Ok(None) | Err(_) => return None,
        }
    }
}

pub(super) struct Nat {
    pub(super) front: Arc<UdpSocket>,
    pub(super) backs: Vec<Arc<UdpSocket>>,
    /// Index into `backs` of the socket that forwards to the server now.
    pub(super) current: Arc<Mutex<usize>>,
    /// Per back socket: datagrams the server sent to it.
    from_server: Arc<Mutex<Vec<usize>>>,
    /// The last transport datagram forwarded to the server (authentic, already delivered).
    last_to_server: Arc<Mutex<Option<Vec<u8>>>>,
}

impl Nat {
    pub(super) async fn start(server: SocketAddr, backs: usize) -> Nat {
        let front = Arc::new(UdpSocket::bind("127.0.0.1:0").await.unwrap());
        let mut socks = Vec::new();
        for _ in 0..backs {
            socks.push(Arc::new(UdpSocket::bind("127.0.0.1:0").await.unwrap()));
        }
        let nat = Nat {
            front,
            backs: socks,
            current: Arc::new(Mutex::new(0)),
            from_server: Arc::new(Mutex::new(vec![0; backs])),
            last_to_server: Arc::new(Mutex::new(None)),
        };
        let client: Arc<Mutex<Option<SocketAddr>>> = Arc::new(Mutex::new(None));
        // Client -> server, out of the current back socket.
        {
            let (front, backs, current, last, client) =
                (nat.front.clone(), nat.backs.clone(), nat.current.clone(), nat.last_to_server.clone(), client.clone());
            tokio::spawn(async move {
                let mut buf = vec![0u8; 2048];
                while let Ok((n, from)) = front.recv_from(&mut buf).await {
                    *client.lock().unwrap() = Some(from);
                    if buf[0] == TYPE_TRANSPORT {
                        *last.lock().unwrap() = Some(buf[..n].to_vec());
                    }
                    let back = backs[*current.lock().unwrap()].clone();
                    let _ = back.send_to(&buf[..n], server).await;
                }
            });
        }
        // Server -> client, from any back socket (counted per socket).
        for (i, back) in nat.backs.iter().enumerate() {
            let (back, front, counts, client) =
                (back.clone(), nat.front.clone(), nat.from_server.clone(), client.clone());
            tokio::spawn(async move {
                let mut buf = vec![0u8; 2048];
                while let Ok((n, _)) = back.recv_from(&mut buf).await {
                    counts.lock().unwrap()[i] += 1;
                    let to = *client.lock().unwrap();
                    if let Some(to) = to {
                        let _ = front.send_to(&buf[..n], to).await;
                    }
                }
            });
        }
        nat
    }

    pub(super) fn received(&self, back: usize) -> usize {
        self.from_server.lock().unwrap()[back]
    }
}

#[tokio::test]
async fn sudph_follows_an_authenticated_new_source_and_nothing_else() {
    let (server, mut srx) = node().await;
    let (client, mut crx) = node().await;
    let nat = Nat::start(server.sudph_addr().unwrap(), 3).await;
    let id = client
        .dial_sudph(server.public_key(), Some(vec![nat.front.local_addr().unwrap()]), Duration::from_secs(5))
        .await
        .unwrap();
    let wait = Duration::from_secs(5);

    // Through back socket 0.
    client.send_control(id, b"one").unwrap();
    let (sid, data) = control(&mut srx, wait).await.expect("server got nothing");
    assert_eq!(data, b"one");
    assert_eq!(server.transport(sid).unwrap().remote, nat.backs[0].local_addr().unwrap());

    // The NAT rebinds: the client's next message comes from back socket 1, and the server answers there.
    *nat.current.lock().unwrap() = 1;
    client.send_control(id, b"two").unwrap();
    assert_eq!(control(&mut srx, wait).await.expect("server got nothing after the rebind").1, b"two");
    server.send_control(sid, b"to the new mapping").unwrap();
    assert_eq!(
        control(&mut crx, wait).await.expect("client got nothing after the rebind"),
        (id, b"to the new mapping".to_vec())
    );
    assert!(nat.received(1) > 0);
    assert_eq!(server.transport(sid).unwrap().remote, nat.backs[1].local_addr().unwrap());

    // An attacker at back socket 2 replays that authentic datagram, then sends a forged one: neither moves the session.
    let authentic = nat.last_to_server.lock().unwrap().clone().expect("a transport datagram went to the server");
    let attacker = nat.backs[2].clone();
    attacker.send_to(&authentic, server.sudph_addr().unwrap()).await.unwrap();
    let mut forged = authentic.clone();
    let last = forged.len() - 1;
    forged[last] ^= 1;
    attacker.send_to(&forged, server.sudph_addr().unwrap()).await.unwrap();
    // Nothing new was delivered to the server from them.
    assert_eq!(control(&mut srx, Duration::from_millis(500)).await, None);
    server.send_control(sid, b"still to the client").unwrap();
    assert_eq!(
        control(&mut crx, wait).await.expect("client got nothing after the replay"),
        (id, b"still to the client".to_vec())
    );
    assert_eq!(nat.received(2), 0, "the server followed a replayed or forged datagram to the attacker");
    assert_eq!(server.transport(sid).unwrap().remote, nat.backs[1].local_addr().unwrap());
}
