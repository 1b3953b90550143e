//! Workers (issue 18 item 4): a node with W workers binds W SUDPH sockets on
//! one port (`SO_REUSEPORT`), each with its own receive task, and every
//! client reaches it whichever socket the kernel hashes it to; a tunnel gets
//! W TUN queues. The sockets are counted in the kernel's own table
//! (/proc/net/udp), the queues in the process's open files.

use std::net::{SocketAddr, UdpSocket};
use std::time::Duration;

use tokio::sync::mpsc::UnboundedReceiver;

use super::{Event, Node, NodeConfig, NodeError};
use crate::Keypair;

async fn node_with(listen: SocketAddr, workers: usize) -> Result<(Node, UnboundedReceiver<Event>), NodeError> {
    Node::start(NodeConfig {
        keypair: Keypair::generate(),
        stcpr_listen: None,
        sudph_listen: Some(listen),
        resolver: None,
        resolver6: None,
        local_addrs: vec![],
        responder: Default::default(),
        limits: Default::default(),
        workers,
    })
    .await
}

fn any_port() -> SocketAddr {
    "127.0.0.1:0".parse().unwrap()
}

/// UDP sockets bound at `port` on 127.0.0.1, as the kernel lists them.
fn sockets_at(port: u16) -> usize {
    let table = std::fs::read_to_string("/proc/net/udp").unwrap();
    let local = format!("0100007F:{port:04X}");
    table.lines().skip(1).filter(|l| l.split_whitespace().nth(1) == Some(local.as_str())).count()
}

#[tokio::test]
async fn w_workers_bind_w_sockets_on_one_port_and_strangers_cannot_join() {
    let (node, _rx) = node_with(any_port(), 3).await.unwrap();
    assert_eq!(node.workers(), 3);
    let addr = node.sudph_addr().unwrap();
    assert_eq!(sockets_at(addr.port()), 3);
    // A program without SO_REUSEPORT cannot take the port (nor share it).
    let e = UdpSocket::bind(addr).unwrap_err();
    assert_eq!(e.kind(), std::io::ErrorKind::AddrInUse);
    drop(node);
    // Every socket closes with the node.
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(sockets_at(addr.port()), 0);
}

#[tokio::test]
async fn one_worker_is_one_socket_as_before() {
    let (node, _rx) = node_with(any_port(), 1).await.unwrap();
    assert_eq!(sockets_at(node.sudph_addr().unwrap().port()), 1);
}

#[tokio::test]
async fn zero_workers_is_one_per_core() {
    let (node, _rx) = node_with(any_port(), 0).await.unwrap();
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    assert_eq!(node.workers(), cores.min(super::MAX_WORKERS));
    assert_eq!(sockets_at(node.sudph_addr().unwrap().port()), node.workers());
}

#[tokio::test]
async fn a_port_another_program_holds_is_refused_as_with_one_socket() {
    let held = UdpSocket::bind(any_port()).unwrap();
    let at = held.local_addr().unwrap();
    let Err(NodeError::Listen { addr, .. }) = node_with(at, 4).await else {
        panic!("bound a port another socket holds");
    };
    assert_eq!(addr, at);
    assert_eq!(sockets_at(at.port()), 1, "no socket of ours left behind");
}

/// Many clients (each its own source port, so the kernel hashes them over
/// the sockets) all handshake and exchange control messages both ways.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_clients_all_reach_a_server_with_several_workers() {
    const CLIENTS: usize = 12;
    let (server, mut srx) = node_with(any_port(), 3).await.unwrap();
    let to = server.sudph_addr().unwrap();
    let mut clients = Vec::new();
    for _ in 0..CLIENTS {
        let (c, crx) = node_with(any_port(), 1).await.unwrap();
        let id = c.dial_sudph(server.public_key(), Some(vec![to]), Duration::from_secs(5)).await.unwrap();
        c.send_control(id, c.public_key().to_hex().as_bytes()).unwrap();
        clients.push((c, crx, id));
    }
    let mut seen = std::collections::HashSet::new();
    while seen.len() < CLIENTS {
        let ev = tokio::time::timeout(Duration::from_secs(5), srx.recv()).await.expect("a client's message").unwrap();
        if let Event::Control { id, data } = ev {
            let peer = server.transport(id).unwrap().peer;
            assert_eq!(peer.to_hex().as_bytes(), &data[..]);
            server.send_control(id, b"back").unwrap();
            seen.insert(peer);
        }
    }
    for (c, crx, id) in &mut clients {
        loop {
            let ev = tokio::time::timeout(Duration::from_secs(5), crx.recv()).await.expect("the answer").unwrap();
            if let Event::Control { id: got, data } = ev {
                assert_eq!((got, &data[..]), (*id, &b"back"[..]), "client {}", c.public_key());
                break;
            }
        }
    }
}

/// A client that roams (its NAT rebinds) through 8 source ports: each new
/// 4-tuple may hash to another of the server's 3 sockets (all 8 on one
/// socket has odds of 3^-7), and the server follows it every time, answering
/// at the new address: roaming does not depend on which socket reads.
#[tokio::test]
async fn a_roaming_client_is_followed_whichever_socket_reads_it() {
    const PORTS: usize = 8;
    let (server, mut srx) = node_with(any_port(), 3).await.unwrap();
    let (client, mut crx) = node_with(any_port(), 1).await.unwrap();
    let nat = super::roaming_tests::Nat::start(server.sudph_addr().unwrap(), PORTS).await;
    let id = client
        .dial_sudph(server.public_key(), Some(vec![nat.front.local_addr().unwrap()]), Duration::from_secs(5))
        .await
        .unwrap();
    for back in 0..PORTS {
        *nat.current.lock().unwrap() = back;
        client.send_control(id, format!("from {back}").as_bytes()).unwrap();
        let sid = loop {
            let ev = tokio::time::timeout(Duration::from_secs(5), srx.recv()).await.expect("server got it").unwrap();
            if let Event::Control { id, data } = ev {
                assert_eq!(data, format!("from {back}").as_bytes());
                break id;
            }
        };
        assert_eq!(server.transport(sid).unwrap().remote, nat.backs[back].local_addr().unwrap());
        server.send_control(sid, b"back").unwrap();
        loop {
            let ev = tokio::time::timeout(Duration::from_secs(5), crx.recv()).await.expect("client got it").unwrap();
            if let Event::Control { data, .. } = ev {
                assert_eq!(data, b"back");
                break;
            }
        }
        assert!(nat.received(back) > 0, "the answer went out through back socket {back}");
    }
}

/// Real TUN (needs root, CAP_NET_ADMIN): a tunnel of a node with W workers
/// has W queues open, each an open /dev/net/tun attached to the device.
#[tokio::test]
async fn a_tunnel_gets_one_tun_queue_per_worker() {
    let (node, _rx) = node_with(any_port(), 3).await.unwrap();
    let cfg = crate::tun::TunConfig::default();
    let name = match node.create_tunnel(&cfg) {
        Ok(n) => n,
        Err(NodeError::Tun(crate::tun::TunError::Permission | crate::tun::TunError::NoDevice)) => {
            eprintln!("skipped: creating a TUN needs root and /dev/net/tun");
            return;
        }
        Err(e) => panic!("{e}"),
    };
    assert_eq!(node.tunnel_queues(&name), Some(3));
    assert_eq!(open_queues(&name), 3);
    let one = node.create_tunnel(&crate::tun::TunConfig { queues: 1, ..cfg }).unwrap();
    assert_eq!(open_queues(&one), 1);
    node.close_tunnel(&name).unwrap();
    node.close_tunnel(&one).unwrap();
}

/// This process's open files attached to TUN `name` (the kernel prints
/// `iff:\t<name>` in a TUN file's fdinfo).
fn open_queues(name: &str) -> usize {
    let want = format!("iff:\t{name}");
    std::fs::read_dir("/proc/self/fdinfo")
        .unwrap()
        .filter_map(|e| std::fs::read_to_string(e.ok()?.path()).ok())
        .filter(|info| info.lines().any(|l| l == want))
        .count()
}
