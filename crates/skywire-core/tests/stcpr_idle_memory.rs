//! What an idle STCPR session costs the server in heap: a counting global
//! allocator, one server node on loopback, and many clients that each make
//! one handshake over a raw TCP connection and then keep only the socket (so
//! the clients' side holds no heap, and the live bytes that grow are the
//! server's). A regression in what an idle connection holds (its tasks, its
//! writer queue, a read buffer kept while idle) fails the bound below.
//!
//! `cargo test -p skywire-core --test stcpr_idle_memory -- --nocapture` also
//! prints the live allocations by size that grew with the sessions: a heap
//! profile of one idle session.

use std::alloc::{GlobalAlloc, Layout, System};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, Instant};

use skywire_core::node::{Event, Limits, Node, NodeConfig};
use skywire_core::session::{Decapsulated, LoadConfig, ResponderConfig, Session, SessionConfig};
use skywire_core::wire::frame::encode_frame;
use skywire_core::{Keypair, PublicKey};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Handshakes under way at once.
const CONCURRENT: usize = 32;

/// Live bytes and allocations, in total and by exact size (sizes up to
/// `SIZES`; larger ones share the last slot).
struct Counting;

const SIZES: usize = 4097;
static LIVE: AtomicI64 = AtomicI64::new(0);
static BY_SIZE: [AtomicI64; SIZES] = [const { AtomicI64::new(0) }; SIZES];
/// Allocations aligned above 16 bytes (tokio's task cells, cache-padded
/// state): malloc pays up to the alignment again for each.
static OVERALIGNED: AtomicI64 = AtomicI64::new(0);

/// Sizes never exceed `isize::MAX`, so this never saturates in practice.
fn signed(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

fn count(layout: Layout, sign: i64) {
    LIVE.fetch_add(sign * signed(layout.size()), Ordering::Relaxed);
    BY_SIZE[layout.size().min(SIZES - 1)].fetch_add(sign, Ordering::Relaxed);
    if layout.align() > 16 {
        OVERALIGNED.fetch_add(sign * signed(layout.align()), Ordering::Relaxed);
    }
}

// SAFETY: every call goes to the system allocator unchanged; only counters
// are updated beside it (atomics, no allocation).
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded unchanged to the system allocator.
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            count(layout, 1);
        }
        p
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: as above.
        let p = unsafe { System.alloc_zeroed(layout) };
        if !p.is_null() {
            count(layout, 1);
        }
        p
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        count(layout, -1);
        // SAFETY: `ptr` came from System with this layout.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: as above; the new layout keeps the alignment.
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            count(layout, -1);
            count(Layout::from_size_align(new_size, layout.align()).unwrap(), 1);
        }
        p
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Heap bytes one idle STCPR session may hold on the server: measured 3.7
/// KiB (bench/README.md, "Memory per idle session"; 5.8 KiB with a reader
/// and a writer task and a channel between them). The margin is for the
/// index maps' growth and what the session layer holds, not for a channel
/// or a second task per connection.
const MAX_BYTES_PER_SESSION: i64 = 4 * 1024;

/// The process's resident set in bytes (what the bench measures; includes
/// the allocator's own overhead and fragmentation, so only printed).
fn rss() -> i64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: i64 = statm.split_whitespace().nth(1).and_then(|p| p.parse().ok()).unwrap_or(0);
    pages * 4096
}

fn snapshot() -> (i64, Vec<i64>) {
    (LIVE.load(Ordering::Relaxed), BY_SIZE.iter().map(|c| c.load(Ordering::Relaxed)).collect())
}

/// One client: a handshake over a fresh TCP connection (its own key, as
/// every client has), then only the socket is kept, deregistered from tokio.
async fn idle_client(server: PublicKey, addr: SocketAddr) -> std::net::TcpStream {
    let kp = Keypair::generate();
    let now = Instant::now();
    let mut out = [0u8; 512];
    let (mut s, init) = Session::initiate(&kp, server, 1, SessionConfig::default(), now, &mut out).unwrap();
    let init = encode_frame(init).unwrap();
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    stream.write_all(&init).await.unwrap();
    let len = stream.read_u32().await.unwrap();
    let mut answer = vec![0u8; len as usize];
    stream.read_exact(&mut answer).await.unwrap();
    let Decapsulated::WriteBack(confirm) = s.decapsulate(&answer, now, &mut out).unwrap() else {
        panic!("no confirming keepalive: was the handshake answered with a cookie?")
    };
    stream.write_all(&encode_frame(confirm).unwrap()).await.unwrap();
    stream.into_std().unwrap()
}

/// Open `n` idle sessions and wait until the server has them all up.
async fn open(
    server: &Node,
    addr: SocketAddr,
    events: &mut tokio::sync::mpsc::UnboundedReceiver<Event>,
    keep: &mut Vec<std::net::TcpStream>,
    n: usize,
) {
    // Several handshakes at a time, as many clients make them.
    let mut dials = tokio::task::JoinSet::new();
    for i in 0..n {
        if i >= CONCURRENT {
            keep.push(dials.join_next().await.unwrap().unwrap());
        }
        dials.spawn(idle_client(server.public_key(), addr));
    }
    while let Some(c) = dials.join_next().await {
        keep.push(c.unwrap());
    }
    let mut up = 0;
    while up < n {
        match tokio::time::timeout(Duration::from_secs(10), events.recv()).await.expect("sessions did not come up") {
            Some(Event::TransportUp { .. }) => up += 1,
            Some(Event::TransportDown { reason, .. }) => panic!("a session went down: {reason}"),
            Some(_) => {}
            None => panic!("events closed"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_stcpr_session_holds_little_heap_on_the_server() {
    const WARM: usize = 16;
    // More with STCPR_IDLE_SESSIONS, for a steadier RSS figure.
    let n: usize = std::env::var("STCPR_IDLE_SESSIONS").ok().and_then(|v| v.parse().ok()).unwrap_or(200);
    let (server, mut events) = Node::start(NodeConfig {
        keypair: Keypair::generate(),
        stcpr_listen: Some("127.0.0.1:0".parse().unwrap()),
        sudph_listen: Some("127.0.0.1:0".parse().unwrap()),
        resolver: None,
        resolver6: None,
        local_addrs: vec![],
        // Every client comes from 127.0.0.1, faster than a server's default
        // load threshold: no cookie round, no per-source cap.
        responder: ResponderConfig {
            load: LoadConfig { under_load_per_sec: u32::MAX, ..LoadConfig::default() },
            ..ResponderConfig::default()
        },
        limits: Limits {
            sessions: WARM + n + 8,
            sessions_per_ip: WARM + n + 8,
            pending_handshakes_per_ip: 256,
            ..Limits::default()
        },
        // The heap counted here is per session; the workers' sockets are not.
        workers: 1,
    })
    .await
    .unwrap();
    let addr = server.stcpr_addr().unwrap();
    let mut keep = Vec::with_capacity(WARM + n);
    // The first sessions pay what does not grow with them (the runtime's
    // buffers, the maps' first allocations).
    open(&server, addr, &mut events, &mut keep, WARM).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (before, sizes0) = snapshot();
    let rss0 = rss();
    let over0 = OVERALIGNED.load(Ordering::Relaxed);
    open(&server, addr, &mut events, &mut keep, n).await;
    // Let every connection go idle (its read buffer released, its handshake
    // state dropped).
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (after, sizes1) = snapshot();
    let rss1 = rss();
    let over1 = OVERALIGNED.load(Ordering::Relaxed);
    assert_eq!(server.transports().len(), WARM + n, "every session still up");
    let per = (after - before) / signed(n);
    println!(
        "an idle STCPR session: {per} heap bytes on the server ({:.2} KiB), plus up to {} bytes of alignment padding",
        per as f64 / 1024.0,
        (over1 - over0) / signed(n)
    );
    println!("the process's RSS grew {:.2} KiB per session", (rss1 - rss0) as f64 / 1024.0 / n as f64);
    println!("live allocations that grew with the sessions (size: per session):");
    for (size, (a, b)) in sizes0.iter().zip(&sizes1).enumerate() {
        let per = (b - a) as f64 / n as f64;
        if per >= 0.5 {
            println!("  {size:>5} B: {per:.2}");
        }
    }
    assert!(per <= MAX_BYTES_PER_SESSION, "an idle STCPR session holds {per} bytes of heap on the server");
    drop(keep);
    server.shutdown();
}
