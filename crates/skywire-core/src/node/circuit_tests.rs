//! Multi-hop on loopback, no TUN (so no root): a client C, hops, an exit E,
//! each a node of its own. Circuits through a hop, nested circuits, what a
//! hop sees, hostile forward messages, the caps, the splice rate, teardown
//! and the inner session's rekey.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::mpsc::UnboundedReceiver;

use super::circuit::{MAX_CIRCUITS, TAP};
use super::crypto::{self, Kind};
use super::limits::Limits;
use super::tests::loopback_node;
use super::{Event, Node, NodeConfig, NodeError, TransportKind};
use crate::router::TransportId;
use crate::session::ResponderConfig;
use crate::wire::forward;
use crate::Keypair;

const T: Duration = Duration::from_secs(5);

struct Visor {
    node: Node,
    rx: UnboundedReceiver<Event>,
}

async fn visor() -> Visor {
    let (node, rx) = loopback_node(true, ResponderConfig::default()).await;
    Visor { node, rx }
}

async fn visor_with(limits: Limits) -> Visor {
    let (node, rx) = Node::start(NodeConfig {
        keypair: Keypair::generate(),
        stcpr_listen: Some("127.0.0.1:0".parse().unwrap()),
        sudph_listen: Some("127.0.0.1:0".parse().unwrap()),
        resolver: None,
        resolver6: None,
        local_addrs: vec![],
        responder: ResponderConfig::default(),
        limits,
        workers: 0,
    })
    .await
    .unwrap();
    Visor { node, rx }
}

impl Visor {
    /// The first event `pick` accepts (others are skipped), within 5 s.
    async fn wait<R>(&mut self, what: &str, mut pick: impl FnMut(&Event) -> Option<R>) -> R {
        let deadline = tokio::time::Instant::now() + T;
        loop {
            match tokio::time::timeout_at(deadline, self.rx.recv()).await {
                Ok(Some(e)) => {
                    if let Some(r) = pick(&e) {
                        return r;
                    }
                }
                Ok(None) => panic!("event channel closed waiting for {what}"),
                Err(_) => panic!("no {what} in time"),
            }
        }
    }

    async fn control(&mut self) -> (TransportId, Vec<u8>) {
        self.wait("control", |e| match e {
            Event::Control { id, data } => Some((*id, data.clone())),
            _ => None,
        })
        .await
    }

    /// The id of the next transport up on this visor, with its `via`.
    async fn up(&mut self) -> (TransportId, Option<TransportId>, crate::PublicKey) {
        self.wait("transport-up", |e| match e {
            Event::TransportUp { id, via, peer, .. } => Some((*id, *via, *peer)),
            _ => None,
        })
        .await
    }

    async fn down(&mut self, which: TransportId) -> String {
        self.wait("transport-down", |e| match e {
            Event::TransportDown { id, reason, .. } if *id == which => Some(reason.clone()),
            _ => None,
        })
        .await
    }
}

/// `a` dials `b` (STCPR or SUDPH); returns both ends' transport ids.
async fn link(a: &mut Visor, b: &mut Visor, kind: TransportKind) -> (TransportId, TransportId) {
    let id = match kind {
        TransportKind::Stcpr => a.node.dial_stcpr(b.node.public_key(), &[b.node.stcpr_addr().unwrap()], T).await,
        TransportKind::Sudph => {
            a.node.dial_sudph(b.node.public_key(), Some(vec![b.node.sudph_addr().unwrap()]), T).await
        }
    }
    .unwrap();
    let (bid, via, peer) = b.up().await;
    assert_eq!((via, peer), (None, a.node.public_key()));
    // The dialer hears of its own transport too.
    assert_eq!(a.up().await, (id, None, b.node.public_key()));
    (id, bid)
}

/// C → H → E, with C–H over `first` and H–E over STCPR.
struct Chain {
    c: Visor,
    h: Visor,
    e: Visor,
    /// C's transport to H, and H's end of it.
    c_h: TransportId,
    h_c: TransportId,
    /// H's transport to E, and E's end of it.
    h_e: TransportId,
    e_h: TransportId,
    /// The circuit as C numbered it, and C's and E's circuit transports.
    circuit: u32,
    c_e: TransportId,
    e_c: TransportId,
}

async fn chain(first: TransportKind, rate: u64) -> Chain {
    chain_over(first, TransportKind::Stcpr, rate).await
}

/// C → H → E with C–H over `first` and H–E over `second`.
async fn chain_over(first: TransportKind, second: TransportKind, rate: u64) -> Chain {
    let (mut c, mut h, mut e) = (visor().await, visor().await, visor().await);
    let (c_h, h_c) = link(&mut c, &mut h, first).await;
    let (h_e, e_h) = link(&mut h, &mut e, second).await;
    // What the TypeScript does: C reserves a number and asks H (control) to
    // forward it to E; H splices; then C handshakes with E through it.
    let circuit = c.node.reserve_circuit(c_h).unwrap();
    h.node.splice(h_c, circuit, h_e, rate).unwrap();
    let c_e = c.node.dial_via(c_h, circuit, e.node.public_key(), T).await.unwrap();
    assert_eq!(c.up().await, (c_e, Some(c_h), e.node.public_key()));
    let (e_c, via, peer) = e.up().await;
    // E knows the client's key (its whitelist applies to C) and that it came through H.
    assert_eq!(peer, c.node.public_key());
    assert_eq!(via, Some(e_h));
    Chain { c, h, e, c_h, h_c, h_e, e_h, circuit, c_e, e_c }
}

async fn control_both_ways(ch: &mut Chain, marker: &[u8]) {
    ch.c.node.send_control(ch.c_e, marker).unwrap();
    assert_eq!(ch.e.control().await, (ch.e_c, marker.to_vec()));
    ch.e.node.send_control(ch.e_c, b"from the exit").unwrap();
    assert_eq!(ch.c.control().await, (ch.c_e, b"from the exit".to_vec()));
}

async fn through_one_hop(first: TransportKind) {
    TAP.with(|t| *t.borrow_mut() = Some(Vec::new()));
    let mut ch = chain(first, 0).await;
    let marker = b"MARKER-the-hop-must-never-see-this-0123456789";
    control_both_ways(&mut ch, marker).await;

    // The circuit transports describe themselves like any transport, plus via.
    let ci = ch.c.node.transport(ch.c_e).unwrap();
    assert_eq!((ci.via, ci.peer, ci.transport, ci.initiator), (Some(ch.c_h), ch.e.node.public_key(), first, true));
    assert_eq!(ci.remote, ch.c.node.transport(ch.c_h).unwrap().remote);
    let ei = ch.e.node.transport(ch.e_c).unwrap();
    // E sees the hop's address, nothing of C's.
    assert_eq!(ei.remote, ch.e.node.transport(ch.e_h).unwrap().remote);
    assert_eq!((ei.via, ei.peer, ei.initiator), (Some(ch.e_h), ch.c.node.public_key(), false));

    // What H relayed: only session messages, none of them with the plaintext.
    let seen = TAP.with(|t| t.borrow_mut().take().unwrap());
    assert!(seen.len() >= 4, "the handshake and two controls crossed H: {}", seen.len());
    for m in &seen {
        assert!((1..=4).contains(&m[0]), "H relayed a non-session message");
        assert!(!m.windows(marker.len()).any(|w| w == marker), "H saw the plaintext");
    }
    // And H's host got nothing out of it.
    while let Ok(e) = ch.h.rx.try_recv() {
        assert!(!matches!(e, Event::Control { .. }), "H's host saw a control message: {e:?}");
    }
    let s = ch.h.node.splices();
    assert_eq!(s.len(), 1);
    assert_eq!((s[0].from_id, s[0].from_circuit, s[0].to_id), (ch.h_c, ch.circuit, ch.h_e));
    assert!(s[0].relayed >= 4 && s[0].dropped == 0, "{s:?}");
}

#[tokio::test]
async fn a_client_reaches_the_exit_through_a_hop_over_sudph() {
    through_one_hop(TransportKind::Sudph).await;
}

#[tokio::test]
async fn a_client_reaches_the_exit_through_a_hop_over_stcpr() {
    through_one_hop(TransportKind::Stcpr).await;
}

/// C → H1 → H2 → E: C's circuit transport to H2 is itself the via of its
/// circuit to E (what `--via H1,H2` builds).
#[tokio::test]
async fn circuits_nest_through_two_hops() {
    let (mut c, mut h1, mut h2, mut e) = (visor().await, visor().await, visor().await, visor().await);
    let (c_h1, h1_c) = link(&mut c, &mut h1, TransportKind::Sudph).await;
    let (h1_h2, _) = link(&mut h1, &mut h2, TransportKind::Sudph).await;
    let (h2_e, e_h2) = link(&mut h2, &mut e, TransportKind::Stcpr).await;

    let c1 = c.node.reserve_circuit(c_h1).unwrap();
    h1.node.splice(h1_c, c1, h1_h2, 0).unwrap();
    let c_h2 = c.node.dial_via(c_h1, c1, h2.node.public_key(), T).await.unwrap();
    let (h2_c, via, peer) = h2.up().await;
    assert_eq!(peer, c.node.public_key());
    assert!(via.is_some());

    let c2 = c.node.reserve_circuit(c_h2).unwrap();
    h2.node.splice(h2_c, c2, h2_e, 0).unwrap();
    let c_e = c.node.dial_via(c_h2, c2, e.node.public_key(), T).await.unwrap();
    let (e_c, via, peer) = e.up().await;
    assert_eq!((via, peer), (Some(e_h2), c.node.public_key()));
    assert_eq!(c.node.transport(c_e).unwrap().via, Some(c_h2));

    c.node.send_control(c_e, b"two hops").unwrap();
    assert_eq!(e.control().await, (e_c, b"two hops".to_vec()));
    e.node.send_control(e_c, b"and back").unwrap();
    assert_eq!(c.control().await, (c_e, b"and back".to_vec()));
    // The largest control message fits through both layers.
    let big = vec![7u8; super::MAX_CONTROL];
    c.node.send_control(c_e, &big).unwrap();
    assert_eq!(e.control().await.1.len(), big.len());

    // Closing the first transport takes both circuit transports on C down.
    c.node.close_transport(c_h1).unwrap();
    assert!(c.node.transport(c_h2).is_none() && c.node.transport(c_e).is_none());
    // E hears of it through the close that H2 passes on once H1's splice ends.
    let reason = e.down(e_c).await;
    assert!(reason.contains("far end"), "{reason}");
}

/// Forward messages no honest peer sends: dropped (and counted) without
/// state, and the transport that carried them keeps working.
#[tokio::test]
async fn hostile_forward_messages_are_dropped() {
    let (mut x, mut e) = (visor().await, visor().await);
    let (x_e, e_x) = link(&mut x, &mut e, TransportKind::Sudph).await;
    let tp = x.node.inner().transport(x_e).unwrap();
    let mut buf = Vec::new();
    let mut bodies: Vec<Vec<u8>> = vec![
        vec![],                          // no circuit
        vec![0, 0, 1],                   // a short circuit
        vec![0, 0, 0, 0, 4, 0, 0, 0],    // circuit 0
        vec![0, 0, 0, 5, 9, 9, 9, 9, 9], // an unknown inner type
        vec![0, 0, 0, 5, 4, 0, 0, 0, 0], // a short transport message
        vec![0, 0, 0, 5],                // a close of a circuit that does not exist
    ];
    // Initiation-shaped noise on many circuits (fails mac1: no DH, no state),
    // and transport messages on circuits nobody opened.
    for i in 0..300u32 {
        let mut init = vec![0u8; crate::wire::message::INITIATION_LEN];
        init[0] = 1;
        init[4..].iter_mut().enumerate().for_each(|(j, b)| *b = (j * 7 + i as usize).to_le_bytes()[0]);
        let mut body = vec![0u8; 4 + init.len()];
        forward::write(&mut body, i + 1, &init).unwrap();
        bodies.push(body);
        let mut t = vec![0u8; 60];
        t[0] = 4;
        let mut body = vec![0u8; 64];
        forward::write(&mut body, i + 1, &t).unwrap();
        bodies.push(body);
    }
    for b in &mut bodies {
        assert!(tp.send(Kind::Forward, b, &mut buf));
        tokio::task::yield_now().await;
    }
    // The transport still carries control messages, and nothing else came up.
    x.node.send_control(x_e, b"still here").unwrap();
    assert_eq!(e.control().await, (e_x, b"still here".to_vec()));
    assert_eq!(e.node.transports().len(), 1);
    let info = e.node.transport(e_x).unwrap();
    assert!(info.stats.dropped >= 300, "dropped {}", info.stats.dropped);
    assert_eq!(e.node.inner().transport(e_x).unwrap().circuits.len(), 0);
}

/// A peer that opens circuit handshakes without confirming them holds
/// pending slots like any inbound dial, counted per via transport.
#[tokio::test]
async fn circuit_handshakes_count_against_the_pending_limits() {
    let limits = Limits { circuit_pending_per_via: 3, ..Limits::default() };
    let (mut x, mut e) = (visor().await, visor_with(limits).await);
    let (x_e, e_x) = link(&mut x, &mut e, TransportKind::Stcpr).await;
    let tp = x.node.inner().transport(x_e).unwrap();
    for c in 1..=10u32 {
        let (_pending, init) = crypto::initiate(&Keypair::generate(), e.node.public_key(), c, Instant::now()).unwrap();
        assert!(tp.send_forward(c, &init));
    }
    x.node.send_control(x_e, b"sync").unwrap();
    assert_eq!(e.control().await, (e_x, b"sync".to_vec()));
    let stats = e.node.limit_stats();
    assert_eq!(stats.pending, 3, "{stats:?}");
    assert_eq!(stats.refused_pending_per_ip, 7, "{stats:?}");
    assert_eq!(e.node.transports().len(), 1 + 3);
}

/// A busy hop carries many clients' handshakes on its one transport to us:
/// circuits have caps of their own per via transport, so the default per-IP
/// caps (8 pending, 32 sessions) do not bind them, and per-IP caps of 1 do
/// not either.
#[tokio::test]
async fn a_hops_many_clients_fit_the_circuit_limits() {
    let limits = Limits { pending_handshakes_per_ip: 1, sessions_per_ip: 1, ..Limits::default() };
    assert!(limits.circuit_pending_per_via >= 64 && limits.circuit_sessions_per_via == MAX_CIRCUITS);
    let (mut x, mut e) = (visor().await, visor_with(limits).await);
    let (x_e, e_x) = link(&mut x, &mut e, TransportKind::Sudph).await;
    let tp = x.node.inner().transport(x_e).unwrap();
    for c in 1..=40u32 {
        let (_pending, init) = crypto::initiate(&Keypair::generate(), e.node.public_key(), c, Instant::now()).unwrap();
        assert!(tp.send_forward(c, &init));
        // Paced: one receive batch per initiation, so none is lost to a full socket.
        tokio::task::yield_now().await;
    }
    x.node.send_control(x_e, b"sync").unwrap();
    assert_eq!(e.control().await, (e_x, b"sync".to_vec()));
    let stats = e.node.limit_stats();
    // 40 circuits, and X's own transport (inbound at E too).
    assert_eq!((stats.pending, stats.sessions), (40, 41), "{stats:?}");
    assert_eq!(stats.refused_pending_per_ip + stats.refused_sessions_per_ip, 0, "{stats:?}");
    assert_eq!(e.node.transports().len(), 1 + 40);
}

/// `send_control`, waiting while the node's control queue is full.
async fn send_paced(node: &Node, id: TransportId, msg: &[u8]) {
    loop {
        match node.send_control(id, msg) {
            Err(NodeError::QueueFull) => tokio::time::sleep(Duration::from_millis(1)).await,
            r => return r.unwrap(),
        }
    }
}

/// A hop gathers the relays of one read and sends them together: every one
/// arrives, in order, both ways, whether or not anything else was read with
/// it (a hop has no TUN, so the flush must not wait for TUN packets).
async fn relays_in_order(first: TransportKind, second: TransportKind) {
    let mut ch = chain_over(first, second, 0).await;
    let before = ch.h.node.splices()[0].relayed;
    const CHUNK: usize = 600;
    for round in 0..4usize {
        // Sizes vary (GSO runs break at each longer one) up to full-size packets.
        let msg = |i: usize| {
            let mut m = format!("{round}:{i}:").into_bytes();
            m.resize(m.len() + [0, 600, 1300, 1300][i % 4], b'x');
            m
        };
        for i in 0..CHUNK {
            send_paced(&ch.c.node, ch.c_e, &msg(i)).await;
            send_paced(&ch.e.node, ch.e_c, &msg(i)).await;
        }
        for i in 0..CHUNK {
            let n = msg(i);
            assert_eq!(ch.e.control().await, (ch.e_c, n.clone()), "{first:?}/{second:?} to the exit");
            assert_eq!(ch.c.control().await, (ch.c_e, n), "{first:?}/{second:?} to the client");
        }
    }
    let s = &ch.h.node.splices()[0];
    assert!(s.relayed - before >= 2 * 4 * CHUNK as u64 && s.dropped == 0, "{s:?}");
}

#[tokio::test]
async fn relays_arrive_in_order_over_sudph() {
    relays_in_order(TransportKind::Sudph, TransportKind::Sudph).await;
}

#[tokio::test]
async fn relays_arrive_in_order_over_stcpr() {
    relays_in_order(TransportKind::Stcpr, TransportKind::Stcpr).await;
}

/// At most MAX_CIRCUITS per transport, whoever asks: reservations, splices,
/// and circuits a peer opens.
#[tokio::test]
async fn circuits_are_capped_per_transport() {
    let (mut c, mut h) = (visor().await, visor().await);
    let (c_h, _) = link(&mut c, &mut h, TransportKind::Sudph).await;
    let mut seen = std::collections::HashSet::new();
    for _ in 0..MAX_CIRCUITS {
        let n = c.node.reserve_circuit(c_h).unwrap();
        // Numbers from C's half (C dialed: top bit clear), never 0, never twice.
        assert!(n != 0 && n & 0x8000_0000 == 0 && seen.insert(n));
    }
    assert!(matches!(c.node.reserve_circuit(c_h), Err(NodeError::CircuitLimit(id)) if id == c_h));
    // Releasing one makes room for one.
    let one = *seen.iter().next().unwrap();
    c.node.unsplice(c_h, one).unwrap();
    c.node.reserve_circuit(c_h).unwrap();

    // On the receiving side: E full of splices refuses more, and an
    // initiation on a new circuit opens nothing.
    let (mut x, mut e, mut y) = (visor().await, visor().await, visor().await);
    let (x_e, e_x) = link(&mut x, &mut e, TransportKind::Stcpr).await;
    let (_, e_y) = link(&mut y, &mut e, TransportKind::Stcpr).await;
    for n in 1..=u32::try_from(MAX_CIRCUITS).unwrap() {
        e.node.splice(e_x, n, e_y, 0).unwrap();
    }
    assert!(matches!(e.node.splice(e_x, 5000, e_y, 0), Err(NodeError::CircuitLimit(_))));
    let tp = x.node.inner().transport(x_e).unwrap();
    let (_p, init) = crypto::initiate(&x.node.inner().keypair, e.node.public_key(), 1, Instant::now()).unwrap();
    assert!(tp.send_forward(5000, &init));
    x.node.send_control(x_e, b"sync").unwrap();
    assert_eq!(e.control().await.1, b"sync");
    assert_eq!(e.node.transports().len(), 2);
}

/// Calls with numbers that are not the caller's to use fail with a code.
#[tokio::test]
async fn bad_circuit_calls_fail_cleanly() {
    let (mut c, mut h, mut e) = (visor().await, visor().await, visor().await);
    let (c_h, h_c) = link(&mut c, &mut h, TransportKind::Sudph).await;
    let (h_e, _) = link(&mut h, &mut e, TransportKind::Sudph).await;
    let no_circuit = |r: Result<u32, NodeError>| matches!(r, Err(NodeError::NoCircuit(..)));
    // Circuit 0; a number from H's own half of h_c; the same transport twice.
    assert!(no_circuit(h.node.splice(h_c, 0, h_e, 0)));
    assert!(no_circuit(h.node.splice(h_c, 0x8000_0001, h_e, 0)));
    assert!(no_circuit(h.node.splice(h_c, 1, h_c, 0)));
    assert!(matches!(h.node.splice(99, 1, h_e, 0), Err(NodeError::NoTransport(99))));
    assert!(matches!(h.node.splice(h_c, 1, 99, 0), Err(NodeError::NoTransport(99))));
    // A number already spliced.
    h.node.splice(h_c, 1, h_e, 0).unwrap();
    assert!(no_circuit(h.node.splice(h_c, 1, h_e, 0)));
    assert_eq!(h.node.splices().len(), 1);
    h.node.unsplice(h_c, 1).unwrap();
    assert!(h.node.splices().is_empty());
    assert!(matches!(h.node.unsplice(h_c, 1), Err(NodeError::NoCircuit(..))));
    // dial_via on a number not reserved.
    let r = c.node.dial_via(c_h, 12345, e.node.public_key(), T).await;
    assert!(matches!(r, Err(NodeError::NoCircuit(..))), "{r:?}");
    assert_eq!(NodeError::NoCircuit(1, 2).code(), crate::Code::NoCircuit);
    // A dial through a circuit nobody splices times out and frees the number.
    let n = c.node.reserve_circuit(c_h).unwrap();
    let r = c.node.dial_via(c_h, n, e.node.public_key(), Duration::from_millis(300)).await;
    assert!(matches!(r, Err(NodeError::Timeout)), "{r:?}");
    assert!(matches!(c.node.unsplice(c_h, n), Err(NodeError::NoCircuit(..))));
}

/// Over its rate a splice drops (and counts) instead of queueing.
#[tokio::test]
async fn a_splice_drops_over_its_rate() {
    let mut ch = chain(TransportKind::Sudph, 20_000).await;
    let before = ch.h.node.splices()[0].relayed;
    let msg = vec![1u8; 2000];
    for _ in 0..100 {
        ch.c.node.send_control(ch.c_e, &msg).unwrap();
        // Let the sockets drain: only the splice's rate may drop here.
        tokio::task::yield_now().await;
    }
    let mut got = 0;
    while tokio::time::timeout(Duration::from_millis(500), ch.e.control()).await.is_ok() {
        got += 1;
    }
    let s = &ch.h.node.splices()[0];
    // The bucket holds 64 KiB: about 32 of these pass at once, the rest drop
    // (pings and keepalives cross the splice too, so the counts are bounds).
    assert!(got > 10 && got < 60, "{got} arrived");
    assert!(s.relayed - before >= got, "{s:?}");
    assert!(s.dropped >= 100 - got, "{s:?}");
}

/// The hop closing its transport to the exit ends the splice (the host hears
/// splice-down) and both circuit transports: E's because its via closed,
/// C's because H passes the close down the circuit.
#[tokio::test]
async fn a_hop_closing_its_transport_tears_the_circuit_down() {
    let mut ch = chain(TransportKind::Sudph, 0).await;
    control_both_ways(&mut ch, b"up").await;
    ch.h.node.close_transport(ch.h_e).unwrap();
    let (h_c, circuit) = (ch.h_c, ch.circuit);
    let down =
        ch.h.wait("splice-down", |e| match e {
            Event::SpliceDown { from_id, from_circuit } => Some((*from_id, *from_circuit)),
            _ => None,
        })
        .await;
    assert_eq!(down, (h_c, circuit));
    assert!(ch.h.node.splices().is_empty());
    let reason = ch.e.down(ch.e_c).await;
    assert!(reason.contains("ran through closed"), "{reason}");
    let reason = ch.c.down(ch.c_e).await;
    assert!(reason.contains("far end"), "{reason}");
    // The transport under the circuit stays, its number is free.
    assert!(ch.c.node.transport(ch.c_h).is_some());
    assert_eq!(ch.c.node.inner().transport(ch.c_h).unwrap().circuits.len(), 0);
}

/// The client closing its circuit transport: the hop ends its splice and the
/// exit's circuit transport closes at once (no 3-minute expiry).
#[tokio::test]
async fn a_client_closing_its_circuit_transport_closes_the_exits() {
    let mut ch = chain(TransportKind::Stcpr, 0).await;
    ch.c.node.close_transport(ch.c_e).unwrap();
    let reason = ch.e.down(ch.e_c).await;
    assert!(reason.contains("far end"), "{reason}");
    ch.h.wait("splice-down", |e| matches!(e, Event::SpliceDown { .. }).then_some(())).await;
    assert!(ch.h.node.splices().is_empty());
    assert!(ch.e.node.transport(ch.e_h).is_some());
}

/// The inner session rekeys like a direct one: new keys through the circuit,
/// same transport, traffic continues.
#[tokio::test]
async fn the_inner_session_rekeys() {
    let mut ch = chain(TransportKind::Sudph, 0).await;
    control_both_ways(&mut ch, b"before").await;
    let tp = ch.c.node.inner().transport(ch.c_e).unwrap();
    let mut buf = vec![0u8; 512];
    ch.c.node.inner().rekey(&tp, Instant::now(), &mut buf);
    let deadline = Instant::now() + T;
    while ch.c.node.transport(ch.c_e).unwrap().stats.rekeys == 0 {
        assert!(Instant::now() < deadline, "the rekey did not complete");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    control_both_ways(&mut ch, b"after").await;
    // The responder rotated too, on the first message under the new keys.
    assert_eq!(ch.e.node.transport(ch.e_c).unwrap().stats.rekeys, 1);
    // The outer session was not touched.
    assert_eq!(ch.c.node.transport(ch.c_h).unwrap().stats.rekeys, 0);
    let _ = Arc::clone(&tp);
}
