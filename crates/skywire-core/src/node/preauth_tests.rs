//! What a stranger can make a node hold before (and right after) a handshake:
//! the first STCPR frame's length allocates nothing, pending handshakes and
//! inbound sessions are capped in total and per source, and handshakes that
//! stall are dropped. All on loopback, several source addresses from 127/8.
//!
//! The allocation check counts this thread's heap allocations: a
//! `#[tokio::test]` runs the node's tasks on the test's own thread, so what
//! the node allocates while serving a connection is what we see.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream, UdpSocket};
use tokio::sync::mpsc::UnboundedReceiver;

use super::{Event, Limits, Node, NodeConfig, TransportKind};
use crate::session::ResponderConfig;
use crate::wire::frame::encode_frame;
use crate::wire::message::INITIATION_LEN;
use crate::Keypair;

struct Counting;

thread_local! {
    static TRACKING: Cell<bool> = const { Cell::new(false) };
    static LARGEST: Cell<usize> = const { Cell::new(0) };
    static TOTAL: Cell<usize> = const { Cell::new(0) };
}

fn note(size: usize) {
    // `try_with`: never panic in the allocator, even while a thread exits.
    let _ = TRACKING.try_with(|t| {
        if t.get() {
            let _ = LARGEST.try_with(|l| l.set(l.get().max(size)));
            let _ = TOTAL.try_with(|x| x.set(x.get() + size));
        }
    });
}

// SAFETY: every call is passed unchanged to the system allocator, which
// upholds GlobalAlloc's contract; `note` only counts and never allocates.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note(layout.size());
        // SAFETY: our caller's contract is System's.
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        note(layout.size());
        // SAFETY: our caller's contract is System's.
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note(new_size);
        // SAFETY: `ptr` came from this allocator, i.e. from System.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from this allocator, i.e. from System.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static COUNTING: Counting = Counting;

/// Run `f` and return the largest single allocation and the total bytes
/// allocated on this thread meanwhile.
async fn allocations<F: std::future::Future<Output = ()>>(f: F) -> (usize, usize) {
    LARGEST.with(|l| l.set(0));
    TOTAL.with(|t| t.set(0));
    TRACKING.with(|t| t.set(true));
    f.await;
    TRACKING.with(|t| t.set(false));
    (LARGEST.with(Cell::get), TOTAL.with(Cell::get))
}

fn at(ip: &str) -> SocketAddr {
    SocketAddr::new(ip.parse().unwrap(), 0)
}

async fn node_at(ip: &str, limits: Limits) -> (Node, UnboundedReceiver<Event>) {
    Node::start(NodeConfig {
        keypair: Keypair::generate(),
        stcpr_listen: Some(at(ip)),
        sudph_listen: Some(at(ip)),
        resolver: None,
        resolver6: None,
        local_addrs: vec![],
        responder: ResponderConfig::default(),
        limits,
        workers: 0,
    })
    .await
    .unwrap()
}

fn small(pending: usize, pending_per_ip: usize, sessions: usize, sessions_per_ip: usize, timeout_ms: u64) -> Limits {
    Limits {
        pending_handshakes: pending,
        pending_handshakes_per_ip: pending_per_ip,
        sessions,
        sessions_per_ip,
        handshake_timeout: Duration::from_millis(timeout_ms),
        ..Limits::default()
    }
}

/// A TCP connection to `to` from source address `from`.
async fn tcp_from(from: &str, to: SocketAddr) -> TcpStream {
    let s = TcpSocket::new_v4().unwrap();
    s.bind(at(from)).unwrap();
    s.connect(to).await.unwrap()
}

/// Whether the server closed (FIN or reset) the connection within `within`.
async fn closed_within(s: &mut TcpStream, within: Duration) -> bool {
    let mut b = [0u8; 64];
    match tokio::time::timeout(within, s.read(&mut b)).await {
        Ok(Ok(0)) | Ok(Err(_)) => true,
        Ok(Ok(_)) => panic!("the server sent bytes to a connection that sent no initiation"),
        Err(_) => false,
    }
}

async fn until(what: &str, within: Duration, mut ok: impl FnMut() -> bool) {
    let end = Instant::now() + within;
    while !ok() {
        assert!(Instant::now() < end, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn a_huge_first_length_closes_the_connection_before_anything_is_allocated() {
    let (server, _rx) = node_at("127.0.0.1", Limits::default()).await;
    let addr = server.stcpr_addr().unwrap();
    // Warm up what the first connection allocates once (the runtime's
    // per-socket structures), so that only per-connection work is measured.
    let mut warm = TcpStream::connect(addr).await.unwrap();
    warm.write_all(&[0, 0, 0, 1, 0]).await.unwrap();
    assert!(closed_within(&mut warm, Duration::from_secs(2)).await);

    let mut closed = false;
    let (largest, total) = allocations(async {
        let mut s = TcpStream::connect(addr).await.unwrap();
        // 256 KiB: the largest frame the wire allows, never a first frame.
        s.write_all(&(256u32 * 1024).to_be_bytes()).await.unwrap();
        closed = closed_within(&mut s, Duration::from_secs(2)).await;
    })
    .await;
    assert!(closed, "a first frame announcing 256 KiB must close the connection at once");
    // The read buffer never grew towards the announced length: nothing near
    // it was allocated, and all the connection cost is a few KiB.
    assert!(largest < 8 * 1024, "largest allocation while serving the connection: {largest} bytes");
    assert!(total < 64 * 1024, "allocated {total} bytes for one refused connection");
    assert_eq!(server.limit_stats().refused_bad_first_frame, 2);
    assert_eq!(server.limit_stats().pending, 0);
}

#[tokio::test]
async fn stcpr_pending_handshakes_are_capped_per_source_and_in_total_and_time_out() {
    let (server, mut rx) = node_at("127.0.0.1", small(3, 2, 100, 100, 1500)).await;
    let addr = server.stcpr_addr().unwrap();
    let mut held = Vec::new();
    for _ in 0..2 {
        held.push(tcp_from("127.0.0.1", addr).await);
    }
    until("two pending", Duration::from_secs(2), || server.limit_stats().pending == 2).await;
    // The 3rd from the same source is closed at once, before it sends anything.
    let mut third = tcp_from("127.0.0.1", addr).await;
    assert!(closed_within(&mut third, Duration::from_millis(500)).await, "3rd from one source must be refused");
    held.push(tcp_from("127.0.0.2", addr).await);
    until("three pending", Duration::from_secs(2), || server.limit_stats().pending == 3).await;
    let mut fourth = tcp_from("127.0.0.3", addr).await;
    assert!(closed_within(&mut fourth, Duration::from_millis(500)).await, "over the total cap must be refused");
    let st = server.limit_stats();
    assert_eq!((st.refused_pending_per_ip, st.refused_pending_total), (1, 1));
    // Two refusals, one report to the host: a flood must not become a flood of events.
    let mut reports = Vec::new();
    while let Ok(e) = rx.try_recv() {
        if let Event::Refused { why, from, .. } = e {
            reports.push((why, from));
        }
    }
    assert_eq!(reports, vec![(super::Refusal::PendingPerIp, "127.0.0.1".parse::<IpAddr>().unwrap())]);
    // The admitted ones are still open: one sends half an initiation.
    // A well-formed frame cut short; the hostile first frames above stay raw bytes on purpose.
    let whole = encode_frame(&[0u8; INITIATION_LEN]).unwrap();
    held[0].write_all(&whole[..4 + INITIATION_LEN / 2]).await.unwrap();
    for s in &mut held {
        assert!(!closed_within(s, Duration::from_millis(100)).await);
    }
    // Silence and half a frame alike end at the handshake timeout.
    for s in &mut held {
        assert!(closed_within(s, Duration::from_secs(3)).await, "a stalled handshake must be closed after the timeout");
    }
    until("slots given back", Duration::from_secs(2), || server.limit_stats().pending == 0).await;
    let mut again = tcp_from("127.0.0.1", addr).await;
    assert!(!closed_within(&mut again, Duration::from_millis(200)).await);
}

/// A hand-made initiator: a new identity's initiation sent from `from`.
struct Stranger {
    sock: UdpSocket,
    pending: super::crypto::PendingHandshake,
}

impl Stranger {
    async fn send(from: &str, server: &Node) -> Stranger {
        let sock = UdpSocket::bind(at(from)).await.unwrap();
        let (pending, init) =
            super::crypto::initiate(&Keypair::generate(), server.public_key(), 7, Instant::now()).unwrap();
        sock.send_to(&init, server.sudph_addr().unwrap()).await.unwrap();
        Stranger { sock, pending }
    }

    /// The server's response, if it answered within `within`.
    async fn answer(&self, within: Duration) -> Option<Vec<u8>> {
        let mut b = [0u8; 512];
        let (n, _) = tokio::time::timeout(within, self.sock.recv_from(&mut b)).await.ok()?.ok()?;
        Some(b[..n].to_vec())
    }

    /// Finish the handshake: send the confirmation the response calls for.
    async fn confirm(&mut self, response: &[u8], server: &Node) {
        let Ok(super::crypto::Progress::Established(e)) = self.pending.handle(response, Instant::now()) else {
            panic!("the response did not complete the handshake");
        };
        self.sock.send_to(&e.confirm, server.sudph_addr().unwrap()).await.unwrap();
    }
}

#[tokio::test]
async fn sudph_pending_handshakes_are_capped_per_source_and_in_total() {
    let (server, mut rx) = node_at("127.0.0.1", small(2, 1, 100, 100, 500)).await;
    let wait = Duration::from_millis(700);
    let a = Stranger::send("127.0.0.1", &server).await;
    assert!(a.answer(wait).await.is_some());
    // A second stranger from the same source: no answer, no state.
    let a2 = Stranger::send("127.0.0.1", &server).await;
    assert!(a2.answer(wait).await.is_none(), "2nd pending handshake from one source must be dropped");
    let mut b = Stranger::send("127.0.0.2", &server).await;
    let b_resp = b.answer(wait).await.expect("another source is answered");
    let c = Stranger::send("127.0.0.3", &server).await;
    assert!(c.answer(wait).await.is_none(), "over the total pending cap must be dropped");
    let st = server.limit_stats();
    assert_eq!((st.pending, st.sessions), (2, 2));
    assert_eq!((st.refused_pending_per_ip, st.refused_pending_total), (1, 1));
    // A confirmed handshake is a session, no longer pending: room for one more.
    b.confirm(&b_resp, &server).await;
    until("b confirmed", Duration::from_secs(2), || server.limit_stats().pending == 1).await;
    let c = Stranger::send("127.0.0.3", &server).await;
    assert!(c.answer(wait).await.is_some());
    // Never confirmed: dropped after the handshake timeout (plus one ping
    // interval), which frees the slot.
    let reason = loop {
        match tokio::time::timeout(Duration::from_secs(10), rx.recv()).await.expect("no session-down in time") {
            Some(Event::TransportDown { reason, .. }) => break reason,
            Some(_) => continue,
            None => panic!("event channel closed"),
        }
    };
    assert!(reason.contains("not confirmed"), "{reason}");
    until("unconfirmed ones dropped", Duration::from_secs(3), || server.limit_stats().pending == 0).await;
    assert_eq!(server.limit_stats().sessions, 1, "the confirmed session stays");
    assert_eq!(server.transports().len(), 1);
}

async fn dial(client: &Node, server: &Node, kind: TransportKind) -> Result<u64, super::NodeError> {
    match kind {
        TransportKind::Stcpr => {
            client.dial_stcpr(server.public_key(), &[server.stcpr_addr().unwrap()], Duration::from_secs(2)).await
        }
        TransportKind::Sudph => {
            client
                .dial_sudph(server.public_key(), Some(vec![server.sudph_addr().unwrap()]), Duration::from_millis(1500))
                .await
        }
    }
}

#[tokio::test]
async fn inbound_sessions_are_capped_per_source_and_in_total() {
    let (server, _srx) = node_at("127.0.0.1", small(100, 100, 3, 2, 2000)).await;
    // Per source: STCPR connections all come from 127.0.0.1.
    let mut clients = Vec::new();
    for _ in 0..3 {
        clients.push(node_at("127.0.0.1", Limits::default()).await);
    }
    let first = dial(&clients[0].0, &server, TransportKind::Stcpr).await.unwrap();
    dial(&clients[1].0, &server, TransportKind::Stcpr).await.unwrap();
    let third = dial(&clients[2].0, &server, TransportKind::Stcpr).await;
    assert!(third.is_err(), "a 3rd session from one source must be refused");
    assert_eq!(server.limit_stats().refused_sessions_per_ip, 1);
    // In total: SUDPH from other sources.
    let (c2, _) = node_at("127.0.0.2", Limits::default()).await;
    let (c3, _) = node_at("127.0.0.3", Limits::default()).await;
    dial(&c2, &server, TransportKind::Sudph).await.unwrap();
    assert!(dial(&c3, &server, TransportKind::Sudph).await.is_err(), "a 4th session must be refused");
    assert!(server.limit_stats().refused_sessions_total >= 1);
    assert_eq!(server.transports().len(), 3);
    assert_eq!(server.limit_stats().sessions, 3);
    // A session that closes gives its slot back.
    clients[0].0.close_transport(first).unwrap();
    until("slot back", Duration::from_secs(3), || server.limit_stats().sessions == 2).await;
    dial(&c3, &server, TransportKind::Sudph).await.expect("room again after a session closed");
    // Sessions we dial are ours, not counted.
    let (other, _) = node_at("127.0.0.4", Limits::default()).await;
    dial(&server, &other, TransportKind::Stcpr).await.unwrap();
    assert_eq!(server.limit_stats().sessions, 3);
}
