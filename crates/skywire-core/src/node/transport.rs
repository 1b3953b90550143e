//! One transport: a direct link to a remote visor over STCPR or SUDPH, or a
//! circuit through another transport (multi-hop, circuit.rs), carrying one
//! Noise session (whose keys a rekey renews; the transport stays).

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::task::Waker;
use std::time::Instant;

use tokio::sync::Notify;

use super::circuit::Circuits;
use super::crypto::{Kind, SessionBox};
use super::limits::Ticket;
use super::stats::Counters;
use super::tunnel::Tunnel;
use super::udp::UdpSock;
use super::TransportKind;
use crate::router::TransportId;
use crate::wire::frame;
use crate::PublicKey;

/// Where a transport's messages go.
pub(crate) enum Link {
    /// SUDPH: the shared UDP socket and the peer's current address (it can
    /// change when the peer's NAT rebinds; we follow authenticated packets).
    Udp { sock: Arc<UdpSock>, addr: Mutex<SocketAddr> },
    /// STCPR: frames for the connection's task, which also learns from the
    /// queue that the session was closed on our side.
    Tcp { queue: TcpQueue, addr: SocketAddr },
    /// A circuit of another transport (`via`): each message travels as a
    /// forward message on `via`'s session, so it is encrypted once more there.
    Circuit { via: Arc<Transport>, circuit: u32 },
}

impl Link {
    pub(crate) fn remote_addr(&self) -> SocketAddr {
        match self {
            Link::Udp { addr, .. } => *addr.lock().unwrap(),
            Link::Tcp { addr, .. } => *addr,
            // The hop's address: all this end ever sees of the other one.
            Link::Circuit { via, .. } => via.link.remote_addr(),
        }
    }

    /// Send one session message. Never waits: a full socket or queue drops
    /// the message, as a congested link would, and the caller counts it.
    pub(crate) fn try_send(&self, msg: &[u8]) -> bool {
        match self {
            Link::Udp { sock, addr } => {
                let to = *addr.lock().unwrap();
                sock.try_send_to(msg, to).is_ok()
            }
            Link::Tcp { queue, .. } => match frame::encode_frame(msg) {
                Ok(f) => queue.try_push(f).is_ok(),
                Err(_) => false,
            },
            Link::Circuit { via, circuit } => via.send_forward(*circuit, msg),
        }
    }
}

/// How long the TUN reader waits for room in one connection's queue.
const TCP_QUEUE_WAIT: std::time::Duration = std::time::Duration::from_millis(5);

/// An STCPR connection's send queue: runs of frames for its task to write,
/// bounded (a full queue drops, or makes the TUN reader wait briefly). It
/// lives inside the transport and allocates nothing while empty (an empty
/// `VecDeque` holds no buffer; the room signal is an intrusive `Notify`),
/// unlike a channel's shared state and first block: a server holds
/// thousands of idle connections.
pub(crate) struct TcpQueue {
    state: Mutex<QueueState>,
    /// Senders waiting for room (the TUN reader): woken when the task takes
    /// entries out of a full queue, or when the queue closes.
    room: Notify,
    cap: usize,
}

#[derive(Default)]
struct QueueState {
    entries: VecDeque<Vec<u8>>,
    /// The connection's task: woken by the close, and by a push when it
    /// found the queue empty (not while it waits for the socket instead).
    task: Option<Waker>,
    wants_entries: bool,
    closed: bool,
}

/// Why [`TcpQueue::try_push`] did not take an entry.
pub(crate) enum PushError {
    Full(Vec<u8>),
    Closed,
}

impl TcpQueue {
    pub(crate) fn new(cap: usize) -> Self {
        TcpQueue { state: Mutex::default(), room: Notify::new(), cap }
    }

    /// Queue one entry (a run of frames) without waiting.
    pub(crate) fn try_push(&self, entry: Vec<u8>) -> Result<(), PushError> {
        let mut st = self.state.lock().unwrap();
        if st.closed {
            return Err(PushError::Closed);
        }
        if st.entries.len() >= self.cap {
            return Err(PushError::Full(entry));
        }
        st.entries.push_back(entry);
        // Only the first entry after the task found the queue empty wakes it.
        let task = if std::mem::take(&mut st.wants_entries) { st.task.clone() } else { None };
        drop(st);
        if let Some(w) = task {
            w.wake();
        }
        Ok(())
    }

    /// Queue one entry, waiting up to `wait` for room. Returns whether it
    /// was queued.
    pub(crate) async fn push(&self, mut entry: Vec<u8>, wait: std::time::Duration) -> bool {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            // Registered before looking, so that room made in between wakes us.
            let notified = self.room.notified();
            let mut notified = std::pin::pin!(notified);
            notified.as_mut().enable();
            match self.try_push(entry) {
                Ok(()) => return true,
                Err(PushError::Closed) => return false,
                Err(PushError::Full(e)) => entry = e,
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                return false;
            }
        }
    }

    /// Called by the connection's task whenever it is polled: the close
    /// will wake it. Returns false once the queue is closed.
    pub(crate) fn watch(&self, task: &Waker) -> bool {
        let mut st = self.state.lock().unwrap();
        if !st.task.as_ref().is_some_and(|w| w.will_wake(task)) {
            st.task = Some(task.clone());
        }
        !st.closed
    }

    /// The connection's task takes up to `max` entries into `batch` (in
    /// order); with none queued, the next push wakes it. Once the queue is
    /// closed it takes everything left and returns false.
    pub(crate) fn take(&self, batch: &mut Vec<Vec<u8>>, max: usize) -> bool {
        let mut st = self.state.lock().unwrap();
        let was_full = st.entries.len() >= self.cap;
        let n = if st.closed { st.entries.len() } else { st.entries.len().min(max) };
        batch.extend(st.entries.drain(..n));
        if st.entries.is_empty() {
            // Nothing kept from a burst: an idle connection holds no buffer.
            st.entries = VecDeque::new();
        }
        st.wants_entries = n == 0;
        let open = !st.closed;
        drop(st);
        if was_full && n > 0 {
            self.room.notify_waiters();
        }
        open
    }

    /// The session closed on our side: nothing more is queued, no sender
    /// waits any more, and the task writes what is queued if the socket
    /// takes it at once, then ends.
    pub(crate) fn close(&self) {
        let mut st = self.state.lock().unwrap();
        st.closed = true;
        let task = st.task.take();
        drop(st);
        if let Some(w) = task {
            w.wake();
        }
        self.room.notify_waiters();
    }
}

pub struct Transport {
    pub(crate) id: TransportId,
    pub(crate) remote: PublicKey,
    pub(crate) kind: TransportKind,
    pub(crate) initiator: bool,
    /// An inbound session whose keys the initiator has not confirmed yet: it
    /// still holds a pending-handshake slot and expires soon.
    pub(crate) unconfirmed: AtomicBool,
    /// An inbound session's share of the limits (`None` for sessions we dialed).
    pub(crate) admission: Mutex<Option<Ticket>>,
    pub(crate) session: Mutex<SessionBox>,
    pub(crate) link: Link,
    pub(crate) counters: Counters,
    pub(crate) tunnel: RwLock<Option<Arc<Tunnel>>>,
    pub(crate) since: Instant,
    /// Circuits this transport carries (multi-hop).
    pub(crate) circuits: Circuits,
}

/// The TUN reader's encryption buffer, reused for every batch: ciphertexts
/// back to back, and their lengths.
#[derive(Default)]
pub(crate) struct SendScratch {
    buf: Vec<u8>,
    lens: Vec<usize>,
    /// The next layer's scratch, for a circuit transport (its messages are
    /// encrypted again by the transport they run through).
    outer: Option<Box<SendScratch>>,
}

/// A boxed send future: a circuit's batch is sent by the transport it runs
/// through, which may itself be a circuit (one box per batch, not per packet).
type Sending<'a> = std::pin::Pin<Box<dyn std::future::Future<Output = usize> + Send + 'a>>;

impl Transport {
    /// The initiator confirmed the keys: the handshake no longer counts as pending.
    pub(crate) fn confirmed(&self) {
        if self.unconfirmed.swap(false, Ordering::Relaxed) {
            if let Some(t) = self.admission.lock().unwrap().as_mut() {
                t.confirm();
            }
        }
    }

    /// The data path from the TUN: encrypt a run of packets under one lock,
    /// then send them together (UDP: runs of equal size in one GSO send;
    /// TCP: one buffer of frames for the writer), waiting while the socket
    /// or the connection's queue is full. Waiting pushes back on the TUN
    /// reader, so a congested path slows the sender's TCP down instead of
    /// dropping packets we already paid to encrypt.
    pub(crate) async fn send_batch<'a>(&self, pkts: impl Iterator<Item = &'a [u8]>, scratch: &mut SendScratch) {
        self.send_batch_kind(Kind::Data, pkts, scratch, true).await;
    }

    /// A hop's relays: the forward bodies laid back to back in `bodies`
    /// (lengths `lens`), sent as one batch (UDP: GSO runs). Never waits for
    /// room in an STCPR connection's queue: the hop's receive loop serves
    /// every peer, so one slow next visor must not stall the others
    /// (head-of-line blocking); its relays drop instead, counted. Returns how
    /// many were sent.
    pub(crate) async fn send_relays(&self, bodies: &[u8], lens: &[usize], scratch: &mut SendScratch) -> usize {
        self.send_laid(Kind::Forward, bodies, lens, scratch, false).await
    }

    /// `send_batch` for messages of any kind; returns how many were sent.
    /// `wait`: whether a full STCPR queue is waited on (briefly) or drops.
    pub(crate) async fn send_batch_kind<'a>(
        &self,
        kind: Kind,
        pkts: impl Iterator<Item = &'a [u8]>,
        scratch: &mut SendScratch,
        wait: bool,
    ) -> usize {
        let framed = matches!(self.link, Link::Tcp { .. });
        // A circuit's ciphertexts go out as forward bodies: room for the
        // circuit number in front of each, written by encrypt_all.
        let prefix = match &self.link {
            Link::Circuit { circuit, .. } => Some(*circuit),
            _ => None,
        };
        let (packets, bytes) = self.encrypt_all(kind, pkts, scratch, framed, prefix);
        if packets == 0 {
            return 0;
        }
        let sent = match &self.link {
            // Each ciphertext (behind its circuit number) becomes one forward
            // message of `via`'s next batch.
            Link::Circuit { via, .. } => {
                let SendScratch { buf, lens, outer } = scratch;
                let outer = outer.get_or_insert_with(Default::default);
                via.send_laid(Kind::Forward, buf, lens, outer, wait).await
            }
            Link::Udp { sock, addr } => {
                let to = *addr.lock().unwrap();
                send_runs(sock, &scratch.buf, &scratch.lens, to).await
            }
            Link::Tcp { queue, .. } => {
                // Wait for room, but briefly: one TUN feeds every client of a
                // server, and a client that stops reading must not stall the
                // others (head-of-line blocking); past that its packets drop.
                // Hand the buffer over (no copy); the next batch gets a new one.
                let cap = scratch.buf.capacity();
                let frames = std::mem::replace(&mut scratch.buf, Vec::with_capacity(cap));
                let ok = match queue.try_push(frames) {
                    Ok(()) => true,
                    Err(PushError::Full(frames)) if wait => queue.push(frames, TCP_QUEUE_WAIT).await,
                    Err(_) => false,
                };
                if ok {
                    packets
                } else {
                    0
                }
            }
        };
        if sent > 0 {
            self.counters.sent(sent, if sent == packets { bytes } else { bytes * sent / packets });
        }
        self.counters.drop_many(packets - sent);
        sent
    }

    /// Send the messages laid back to back in `bodies` (lengths `lens`).
    fn send_laid<'s>(
        &'s self,
        kind: Kind,
        bodies: &'s [u8],
        lens: &'s [usize],
        scratch: &'s mut SendScratch,
        wait: bool,
    ) -> Sending<'s> {
        Box::pin(async move {
            let mut off = 0;
            let items = lens.iter().map(|&l| {
                let item = &bodies[off..off + l];
                off += l;
                item
            });
            self.send_batch_kind(kind, items, scratch, wait).await
        })
    }

    /// Encrypt every packet into `scratch` (as STCPR frames when `framed`,
    /// else datagrams back to back); returns the packets and payload bytes
    /// that made it.
    fn encrypt_all<'a>(
        &self,
        kind: Kind,
        pkts: impl Iterator<Item = &'a [u8]>,
        scratch: &mut SendScratch,
        framed: bool,
        prefix: Option<u32>,
    ) -> (usize, usize) {
        let SendScratch { buf, lens, .. } = scratch;
        let pre = if prefix.is_some() { crate::wire::forward::CIRCUIT_LEN } else { 0 };
        buf.clear();
        lens.clear();
        let (mut packets, mut bytes, mut failed) = (0, 0, 0);
        let now = Instant::now();
        let mut session = self.session.lock().unwrap();
        for pkt in pkts {
            let room = pkt.len() + super::crypto::OVERHEAD;
            let mut seal = |out: &mut [u8]| session.encapsulate(kind, pkt, now, out);
            let appended = if framed {
                frame::append_frame_with(buf, room, seal).ok()
            } else {
                let at = buf.len();
                buf.resize(at + pre + room, 0);
                if let Some(c) = prefix {
                    buf[at..at + pre].copy_from_slice(&c.to_be_bytes());
                }
                match seal(&mut buf[at + pre..]) {
                    Ok(n) => {
                        buf.truncate(at + pre + n);
                        Some(pre + n)
                    }
                    Err(_) => {
                        buf.truncate(at);
                        None
                    }
                }
            };
            match appended {
                Some(n) => {
                    lens.push(n);
                    packets += 1;
                    bytes += pkt.len();
                }
                None => failed += 1,
            }
        }
        drop(session);
        self.counters.drop_many(failed);
        (packets, bytes)
    }

    /// Encrypt and send one control-plane message (control, keepalive,
    /// ping) without waiting. `buf` is the caller's scratch space.
    pub(crate) fn send(&self, kind: Kind, payload: &[u8], buf: &mut Vec<u8>) -> bool {
        let need = payload.len() + super::crypto::OVERHEAD;
        if buf.len() < need {
            buf.resize(need, 0);
        }
        let Ok(n) = self.session.lock().unwrap().encapsulate(kind, payload, Instant::now(), buf) else {
            self.counters.drop_one();
            return false;
        };
        if self.link.try_send(&buf[..n]) {
            true
        } else {
            self.counters.drop_one();
            false
        }
    }
}

/// Send datagrams laid back to back in `buf` (lengths `lens`): each run of
/// equal lengths (its last may be shorter) goes out in one GSO send. Returns
/// how many datagrams were sent.
async fn send_runs(sock: &UdpSock, buf: &[u8], lens: &[usize], to: SocketAddr) -> usize {
    let (mut i, mut off, mut sent) = (0, 0, 0);
    while i < lens.len() {
        let seg = lens[i];
        let (count, len) = gso_run(&lens[i..], sock.max_segments(seg));
        if sock.send_run(&buf[off..off + len], seg, to).await.is_ok() {
            sent += count;
        }
        off += len;
        i += count;
    }
    sent
}

/// The longest GSO run at the start of `lens` (not empty): datagrams of the
/// first one's length, then at most one shorter, at most `max` in all. The
/// kernel requires exactly this shape. Returns the count and total bytes.
fn gso_run(lens: &[usize], max: usize) -> (usize, usize) {
    let seg = lens[0];
    let (mut count, mut bytes) = (1, seg);
    for &l in &lens[1..] {
        if count == max || l > seg {
            break;
        }
        count += 1;
        bytes += l;
        if l < seg {
            break;
        }
    }
    (count, bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::session::ResponderConfig;
    use crate::Keypair;

    /// A dialed transport over a stand-in STCPR link whose queue (capacity
    /// `cap`) nobody drains but the test.
    fn tcp_transport(cap: usize) -> Transport {
        let (us, them) = (Keypair::generate(), Keypair::generate());
        let now = Instant::now();
        let (mut pending, init) = super::super::crypto::initiate(&us, them.public, 1, now).unwrap();
        let mut acceptor = super::super::crypto::Acceptor::new(&them, ResponderConfig::default());
        let mut out = [0u8; 256];
        let addr: SocketAddr = "192.0.2.1:7777".parse().unwrap();
        let Ok(super::super::crypto::Accepted::Session(_, len)) = acceptor.accept(addr, &init, 2, now, &mut out) else {
            panic!("handshake refused")
        };
        let Ok(super::super::crypto::Progress::Established(e)) = pending.handle(&out[..len], now) else {
            panic!("no session")
        };
        Transport {
            id: 1,
            remote: them.public,
            kind: TransportKind::Stcpr,
            initiator: true,
            unconfirmed: AtomicBool::new(false),
            admission: Mutex::new(None),
            session: Mutex::new(e.session),
            link: Link::Tcp { queue: TcpQueue::new(cap), addr },
            counters: Default::default(),
            tunnel: RwLock::new(None),
            since: now,
            circuits: Default::default(),
        }
    }

    fn queue(tp: &Transport) -> &TcpQueue {
        let Link::Tcp { queue, .. } = &tp.link else { unreachable!() };
        queue
    }

    /// Polls `f` once: its result if it finished without waiting.
    fn at_once<F: std::future::Future>(f: F) -> Option<F::Output> {
        let mut cx = std::task::Context::from_waker(Waker::noop());
        match std::pin::pin!(f).poll(&mut cx) {
            std::task::Poll::Ready(v) => Some(v),
            std::task::Poll::Pending => None,
        }
    }

    /// A hop's relays never wait for room in a full STCPR queue (that would
    /// stall its receive loop for every other peer): they drop, counted,
    /// on the first poll. The TUN's data path still waits briefly.
    #[tokio::test]
    async fn relays_to_a_full_stcpr_queue_drop_at_once() {
        let tp = tcp_transport(1);
        let mut scratch = SendScratch::default();
        let body = [0u8, 0, 0, 9, 1, 2, 3];
        assert_eq!(at_once(tp.send_relays(&body, &[body.len()], &mut scratch)), Some(1), "room for one batch");
        assert_eq!(at_once(tp.send_relays(&body, &[body.len()], &mut scratch)), Some(0), "full: dropped, no wait");
        assert_eq!(tp.counters.dropped.load(Ordering::Relaxed), 1);
        // The data path waits (up to TCP_QUEUE_WAIT) for room instead.
        assert!(at_once(tp.send_batch(std::iter::once(&body[..]), &mut scratch)).is_none());
        // Once the writer took the first batch, relays go again.
        let mut batch = Vec::new();
        assert!(queue(&tp).take(&mut batch, 16));
        assert_eq!(batch.len(), 1);
        assert_eq!(at_once(tp.send_relays(&body, &[body.len()], &mut scratch)), Some(1));
    }

    /// A sender waiting for room in a full queue goes on as soon as the
    /// connection's task takes an entry, and gives up (dropped, counted)
    /// after TCP_QUEUE_WAIT when nothing is taken; a closed queue takes
    /// nothing and wakes the waiting sender at once.
    #[tokio::test]
    async fn the_data_path_waits_briefly_for_room_then_drops() {
        let tp = tcp_transport(1);
        let mut scratch = SendScratch::default();
        let pkt = [0x45u8; 20];
        assert_eq!(tp.send_batch_kind(Kind::Data, std::iter::once(&pkt[..]), &mut scratch, true).await, 1);
        // Full, nobody takes: dropped after the wait.
        let t0 = tokio::time::Instant::now();
        assert_eq!(tp.send_batch_kind(Kind::Data, std::iter::once(&pkt[..]), &mut scratch, true).await, 0);
        assert!(t0.elapsed() >= TCP_QUEUE_WAIT);
        assert_eq!(tp.counters.dropped.load(Ordering::Relaxed), 1);
        // Full, and the task takes an entry while the sender waits: sent.
        let q = queue(&tp);
        let sending = tp.send_batch_kind(Kind::Data, std::iter::once(&pkt[..]), &mut scratch, true);
        let taking = async {
            tokio::task::yield_now().await;
            let mut batch = Vec::new();
            assert!(q.take(&mut batch, 16));
            batch.len()
        };
        let (sent, taken) = tokio::join!(sending, taking);
        assert_eq!((sent, taken), (1, 1));
        // Closed: the waiting sender is released, and nothing is queued any more.
        let sending = tp.send_batch_kind(Kind::Data, std::iter::once(&pkt[..]), &mut scratch, true);
        let (sent, ()) = tokio::join!(sending, async { q.close() });
        assert_eq!(sent, 0);
        let mut left = Vec::new();
        assert!(!q.take(&mut left, 16));
        assert_eq!(left.len(), 1, "what was queued before the close is still handed out");
        assert!(!tp.link.try_send(b"late"));
    }

    /// An empty queue holds no buffer, also after a burst went through it.
    #[test]
    fn an_empty_queue_holds_no_buffer() {
        let q = TcpQueue::new(32);
        for _ in 0..20 {
            assert!(q.try_push(vec![0; 100]).is_ok());
        }
        let mut batch = Vec::new();
        while batch.len() < 20 {
            assert!(q.take(&mut batch, 16));
        }
        assert_eq!(q.state.lock().unwrap().entries.capacity(), 0);
    }

    #[test]
    fn gso_runs_are_equal_sizes_then_one_shorter() {
        assert_eq!(gso_run(&[1453, 1453, 1453, 900, 1453], 64), (4, 1453 * 3 + 900));
        // A longer datagram cannot follow: it starts the next run.
        assert_eq!(gso_run(&[900, 1453], 64), (1, 900));
        assert_eq!(gso_run(&[1453], 64), (1, 1453));
        assert_eq!(gso_run(&[100, 100, 100, 100], 3), (3, 300));
        // Two shorter ones in a row: only the first joins.
        assert_eq!(gso_run(&[500, 400, 400], 64), (2, 900));
    }
}
