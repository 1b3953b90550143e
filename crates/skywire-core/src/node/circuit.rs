//! Multi-hop (docs/wire.md section 6): circuits inside a transport.
//!
//! A circuit is a number local to one transport. Its messages travel as
//! forward messages (plaintext kind 5: `circuit u32` + one whole session
//! message of the inner layer). At each end of a transport a circuit is one of:
//! - *reserved*: we picked the number for a dial through this transport
//!   (`reserve_circuit`, then `dial_via`);
//! - *local*: the inner session ends here; it is a transport of its own
//!   (`Link::Circuit`), with its own keys, replay window, rekey and keepalives;
//! - *spliced*: we are a hop; its messages are re-sent on another
//!   transport's circuit, and back, under a token bucket. A hop never holds
//!   the inner keys: it sees only ciphertext and the next visor's key.
//!
//! Each end allocates numbers from its own half (the transport's initiator
//! those with the top bit clear, the responder those with it set), so the two
//! ends never pick the same number. Circuits are capped per transport
//! (`MAX_CIRCUITS`); inbound circuit handshakes pass the same total limits
//! as any inbound session, and per-source caps of their own counted per via
//! transport (its hop) rather than per IP (`Limits::circuit_*_per_via`).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use tokio::sync::oneshot;

use super::crypto::{self, Accepted, Established, Kind, Progress};
use super::state::Inner;
use super::transport::{Link, SendScratch, Transport};
use super::{Event, NodeError};
use crate::router::TransportId;
use crate::wire::forward::{self, Forward, CIRCUIT_LEN};
use crate::wire::message::{classify, Route};
use crate::PublicKey;

/// Circuits one transport may carry (reserved, local and spliced together).
/// Each costs a map entry (and, when local, a session): a peer cannot make us
/// hold more than this per transport it has with us.
pub const MAX_CIRCUITS: usize = 1024;

/// Bytes each layer of a route adds to a packet: the forward header (4) plus
/// a transport message's own overhead (16 header, 1 kind, 16 tag). A tunnel
/// over n circuits has an MTU n × this lower than a direct one.
pub const CIRCUIT_OVERHEAD: usize = CIRCUIT_LEN + crypto::OVERHEAD;

/// The top bit of a circuit number says which end of the transport picked it.
const RESPONDER_HALF: u32 = 0x8000_0000;

/// What one circuit number of a transport is at this end.
pub(crate) enum End {
    Reserved,
    Local(TransportId),
    Splice(SpliceEnd),
}

/// One side of a splice: where this circuit's messages go.
pub(crate) struct SpliceEnd {
    other: Weak<Transport>,
    other_circuit: u32,
    shared: Arc<Splice>,
}

/// What both sides of one splice share: its name (as `splice` was called),
/// the token bucket, counts.
pub(crate) struct Splice {
    from: (TransportId, u32),
    /// Bytes per second (0: no limit, and the bucket is never locked).
    rate: u64,
    bucket: Mutex<Bucket>,
    down: AtomicBool,
    relayed: AtomicU64,
    dropped: AtomicU64,
}

/// A token bucket of `rate` bytes per second (0: no limit), holding up to a
/// second's worth, and at least one largest message.
struct Bucket {
    rate: u64,
    tokens: f64,
    last: Instant,
}

impl Bucket {
    fn new(rate: u64) -> Self {
        Bucket { rate, tokens: Self::cap(rate), last: Instant::now() }
    }

    #[allow(clippy::cast_precision_loss)] // rates far below 2^52 bytes/s
    fn cap(rate: u64) -> f64 {
        rate.max(65_536) as f64
    }

    #[allow(clippy::cast_precision_loss)]
    fn take(&mut self, n: usize, now: Instant) -> bool {
        if self.rate == 0 {
            return true;
        }
        let dt = now.saturating_duration_since(self.last).as_secs_f64();
        self.last = now;
        self.tokens = (self.tokens + dt * self.rate as f64).min(Self::cap(self.rate));
        let n = n as f64;
        if self.tokens >= n {
            self.tokens -= n;
            true
        } else {
            false
        }
    }
}

/// A circuit's counts, as `splices()` reports them.
#[derive(Clone, Debug)]
pub struct SpliceInfo {
    pub from_id: TransportId,
    pub from_circuit: u32,
    pub to_id: TransportId,
    pub to_circuit: u32,
    /// Messages relayed (both directions) and dropped over the rate.
    pub relayed: u64,
    pub dropped: u64,
}

/// The circuits of one transport.
#[derive(Default)]
pub(crate) struct Circuits(Mutex<HashMap<u32, End>>);

impl Circuits {
    pub(crate) fn len(&self) -> usize {
        self.0.lock().unwrap().len()
    }
}

/// Whether `tp`'s end picked circuit number `c` (else its peer did).
fn ours(tp: &Transport, c: u32) -> bool {
    (c & RESPONDER_HALF == 0) == tp.initiator
}

/// A fresh number from our half of `tp`, inserted as `end`; none when full.
fn allocate(tp: &Transport, end: End) -> Result<u32, NodeError> {
    let mut map = tp.circuits.0.lock().unwrap();
    if map.len() >= MAX_CIRCUITS {
        return Err(NodeError::CircuitLimit(tp.id));
    }
    let half = if tp.initiator { 0 } else { RESPONDER_HALF };
    loop {
        // Random, like session indexes: a number says nothing about how many
        // circuits there are.
        let c = (crypto::random_u32() & !RESPONDER_HALF) | half;
        if c != 0 && !map.contains_key(&c) {
            map.insert(c, end);
            return Ok(c);
        }
    }
}

thread_local! {
    // Forward bodies are built here (circuit + inner message, then encrypted
    // by the session): no allocation per relayed message. A stack, because a
    // circuit over a circuit builds its outer body while the inner one is
    // still in use.
    static BUFS: std::cell::RefCell<Vec<Vec<u8>>> = const { std::cell::RefCell::new(Vec::new()) };
}

#[cfg(test)]
thread_local! {
    /// What a hop relays (the inner messages after it removed its own layer),
    /// when a test asks: the proof that a hop sees no plaintext.
    pub(super) static TAP: std::cell::RefCell<Option<Vec<Vec<u8>>>> = const { std::cell::RefCell::new(None) };
}

fn with_buf<R>(f: impl FnOnce(&mut Vec<u8>) -> R) -> R {
    let mut b = take_buf();
    let r = f(&mut b);
    give_buf(b);
    r
}

/// A buffer from this thread's pool (empty when the pool is).
pub(crate) fn take_buf() -> Vec<u8> {
    BUFS.with(|p| p.borrow_mut().pop()).unwrap_or_default()
}

pub(crate) fn give_buf(mut b: Vec<u8>) {
    b.clear();
    BUFS.with(|p| {
        let mut p = p.borrow_mut();
        if p.len() < 8 {
            p.push(b);
        }
    });
}

impl Transport {
    /// Send one inner session message on circuit `circuit` of this transport.
    pub(crate) fn send_forward(&self, circuit: u32, msg: &[u8]) -> bool {
        with_buf(|body| {
            body.resize(CIRCUIT_LEN + msg.len(), 0);
            if forward::write(body, circuit, msg).is_err() {
                return false;
            }
            with_buf(|out| self.send(Kind::Forward, body, out))
        })
    }

    /// The transport this one runs through, when it is a circuit.
    pub(crate) fn via(&self) -> Option<TransportId> {
        match &self.link {
            Link::Circuit { via, .. } => Some(via.id),
            _ => None,
        }
    }
}

/// What a forward message asks of the caller.
pub(crate) enum Forwarded {
    Done,
    /// Hand this inner message to the session of circuit transport `.0`.
    Local(Arc<Transport>),
    /// Relay it (the bucket allowed it): as circuit `circuit` of `to`.
    Relay {
        to: Arc<Transport>,
        circuit: u32,
        splice: Arc<Splice>,
    },
}

impl Splice {
    /// Count relayed messages, and those the link could not take.
    pub(crate) fn count(&self, sent: usize, dropped: usize) {
        if sent > 0 {
            self.relayed.fetch_add(sent as u64, Ordering::Relaxed);
        }
        if dropped > 0 {
            self.dropped.fetch_add(dropped as u64, Ordering::Relaxed);
        }
    }
}

/// Relays gathered while a receive loop works through one batch of what it
/// read, and sent together when it has read all that is ready: per next
/// transport one batch (UDP: GSO runs) instead of one send per message.
/// Order is kept per splice and direction (one run each, appended in arrival
/// order), and
/// every run is sent at each flush: the receive loops flush after every read
/// (`TunSink::flush`), whether or not anything went to the TUN, so a relay
/// never waits for more traffic to come.
#[derive(Default)]
pub(crate) struct Relays {
    /// Runs `..used` hold relays; the rest are emptied buffers kept for reuse.
    runs: Vec<Run>,
    used: usize,
    queued: usize,
    scratch: SendScratch,
}

#[derive(Default)]
struct Run {
    to: Option<(Arc<Transport>, Arc<Splice>)>,
    bodies: Vec<u8>,
    lens: Vec<usize>,
}

impl Relays {
    /// Relays held before a flush is due (bounds the buffers; a receive
    /// batch brings at most 8 × 64 datagrams).
    pub(crate) const MAX_QUEUED: usize = 256;

    /// Queue `body` (a forward body already renumbered for `to`).
    pub(crate) fn push(&mut self, to: Arc<Transport>, splice: Arc<Splice>, body: &[u8]) {
        let i = self.runs[..self.used]
            .iter()
            // Both directions of a splice share its `Splice`: the run is per
            // next transport as well.
            .position(|r| r.to.as_ref().is_some_and(|(t, s)| Arc::ptr_eq(s, &splice) && Arc::ptr_eq(t, &to)))
            .unwrap_or_else(|| {
                if self.used == self.runs.len() {
                    self.runs.push(Run::default());
                }
                self.runs[self.used].to = Some((to, splice));
                self.used += 1;
                self.used - 1
            });
        let run = &mut self.runs[i];
        run.bodies.extend_from_slice(body);
        run.lens.push(body.len());
        self.queued += 1;
    }

    pub(crate) fn full(&self) -> bool {
        self.queued >= Self::MAX_QUEUED
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.used == 0
    }

    /// Send every queued relay, one batch per splice.
    pub(crate) async fn flush(&mut self) {
        let used = std::mem::take(&mut self.used);
        self.queued = 0;
        for run in &mut self.runs[..used] {
            if let Some((to, splice)) = run.to.take() {
                let sent = to.send_relays(&run.bodies, &run.lens, &mut self.scratch).await;
                splice.count(sent, run.lens.len() - sent);
            }
            run.bodies.clear();
            run.lens.clear();
        }
    }
}

impl Inner {
    /// A forward body arrived on transport `tp`: relay it (splice), answer a
    /// dial in progress, open a circuit transport (an initiation on a new
    /// circuit), or hand it to a local circuit's session (returned).
    pub(crate) fn on_forward(&self, tp: &Arc<Transport>, body: &[u8]) -> Forwarded {
        let Ok(f) = Forward::parse(body) else {
            tp.counters.drop_one();
            return Forwarded::Done;
        };
        if f.is_close() {
            self.on_close(tp, f.circuit);
            return Forwarded::Done;
        }
        enum Act {
            Relay(Arc<Transport>, u32, Arc<Splice>),
            Local(TransportId),
            Reserved,
            Unknown,
        }
        let act = match tp.circuits.0.lock().unwrap().get(&f.circuit) {
            Some(End::Splice(s)) => match s.other.upgrade() {
                Some(o) => Act::Relay(o, s.other_circuit, s.shared.clone()),
                None => Act::Unknown,
            },
            Some(End::Local(id)) => Act::Local(*id),
            Some(End::Reserved) => Act::Reserved,
            None => Act::Unknown,
        };
        match act {
            Act::Relay(to, c, s) => {
                #[cfg(test)]
                TAP.with(|t| {
                    if let Some(v) = t.borrow_mut().as_mut() {
                        v.push(f.msg.to_vec());
                    }
                });
                if s.rate == 0 || s.bucket.lock().unwrap().take(f.msg.len(), Instant::now()) {
                    return Forwarded::Relay { to, circuit: c, splice: s };
                }
                s.count(0, 1);
                tp.counters.drop_one();
            }
            Act::Local(id) => {
                if let Some(c) = self.transport(id) {
                    return Forwarded::Local(c);
                }
            }
            Act::Reserved => {
                // The answer to our dial through this circuit (dial_via).
                if let Ok(Route::Index(idx)) = classify(f.msg) {
                    if let Some(tx) = self.pending.lock().unwrap().remove(&idx) {
                        let _ = tx.send((f.msg.to_vec(), tp.link.remote_addr()));
                        return Forwarded::Done;
                    }
                }
                tp.counters.drop_one();
            }
            Act::Unknown if f.is_initiation() && !ours(tp, f.circuit) => self.accept_circuit(tp, f.circuit, f.msg),
            Act::Unknown => tp.counters.drop_one(),
        }
        Forwarded::Done
    }

    /// The peer of `tp` closed circuit `circuit`: a splice passes the close
    /// on and ends; a local circuit's transport closes; a reservation goes.
    fn on_close(&self, tp: &Arc<Transport>, circuit: u32) {
        let end = {
            let mut map = tp.circuits.0.lock().unwrap();
            match map.get(&circuit) {
                // Our own transport goes through remove_transport, which frees the number.
                Some(End::Local(id)) => {
                    let id = *id;
                    drop(map);
                    self.remove_transport(id, "closed by the far end of its circuit");
                    return;
                }
                Some(_) => map.remove(&circuit),
                None => None,
            }
        };
        if let Some(End::Splice(s)) = end {
            self.end_splice(&s, true);
        }
    }

    /// One side of a splice is gone: free the other side, tell its peer the
    /// circuit is closed, and (when it ended by itself) tell the host.
    fn end_splice(&self, s: &SpliceEnd, report: bool) {
        if let Some(o) = s.other.upgrade() {
            let removed = o.circuits.0.lock().unwrap().remove(&s.other_circuit);
            if removed.is_some() {
                o.send_forward(s.other_circuit, &[]);
            }
        }
        if !s.shared.down.swap(true, Ordering::Relaxed) && report {
            let (from_id, from_circuit) = s.shared.from;
            let _ = self.events.send(Event::SpliceDown { from_id, from_circuit });
        }
    }

    /// An initiation on a new circuit of `via`: a visor dials us through a
    /// hop. Same limits, cookies and timestamp checks as any inbound dial.
    fn accept_circuit(&self, via: &Arc<Transport>, circuit: u32, msg: &[u8]) {
        let src_ip = via.link.remote_addr().ip();
        if via.circuits.len() >= MAX_CIRCUITS {
            via.counters.drop_one();
            return;
        }
        let mut ticket = match self.gate.begin_keyed(super::limits::via_key(via.id)) {
            Ok(t) => t,
            Err(why) => return self.refused(why, src_ip),
        };
        let index = self.alloc_index();
        let mut out = [0u8; 256];
        // The hop's address stands for the source: cookies (under load) are
        // bound to it, and E sees nothing else of the client.
        let src = SocketAddr::new(src_ip, 0);
        let accepted = self.acceptor.lock().unwrap().accept(src, msg, index, Instant::now(), &mut out);
        match accepted {
            Ok(Accepted::Session(session, len)) => {
                if let Err(why) = ticket.establish() {
                    return self.refused(why, src_ip);
                }
                {
                    let mut map = via.circuits.0.lock().unwrap();
                    if map.contains_key(&circuit) || map.len() >= MAX_CIRCUITS {
                        return;
                    }
                    // Held until the transport exists (below): a second
                    // initiation on the same number finds it taken.
                    map.insert(circuit, End::Reserved);
                }
                via.send_forward(circuit, &out[..len]);
                let link = Link::Circuit { via: via.clone(), circuit };
                let tp = self.add_transport(*session, index, via.kind, link, false, Some(ticket));
                self.set_local(via, circuit, tp.id);
            }
            Ok(Accepted::Reply(len)) => {
                via.send_forward(circuit, &out[..len]);
            }
            Err(_) => via.counters.drop_one(),
        }
    }

    /// Circuit `circuit` of `via` now ends in transport `id` (unless `via`
    /// closed meanwhile: then `id` goes too).
    fn set_local(&self, via: &Arc<Transport>, circuit: u32, id: TransportId) {
        let alive = self.transport(via.id).is_some();
        if alive {
            via.circuits.0.lock().unwrap().insert(circuit, End::Local(id));
        }
        if !alive || self.transport(via.id).is_none() {
            self.remove_transport(id, "the transport it ran through closed");
        }
    }

    /// Transport `tp` is gone: end its splices (telling the host), close the
    /// circuit transports that ran through it, and free its number on the
    /// transport it ran through.
    pub(crate) fn drop_circuits(&self, tp: &Transport) {
        // Circuit transports first, while their numbers are still here: each
        // sends its close through `tp` (when `tp` can still send, e.g. we
        // closed it), so the far ends close now rather than expire.
        let locals: Vec<TransportId> = tp
            .circuits
            .0
            .lock()
            .unwrap()
            .values()
            .filter_map(|e| match e {
                End::Local(id) => Some(*id),
                _ => None,
            })
            .collect();
        for id in locals {
            self.remove_transport(id, "the transport it ran through closed");
        }
        let all: Vec<(u32, End)> = tp.circuits.0.lock().unwrap().drain().collect();
        for (_, end) in all {
            match end {
                End::Splice(s) => self.end_splice(&s, true),
                End::Local(id) => self.remove_transport(id, "the transport it ran through closed"),
                End::Reserved => {}
            }
        }
        if let Link::Circuit { via, circuit } = &tp.link {
            let ours = {
                let mut map = via.circuits.0.lock().unwrap();
                let ours = matches!(map.get(circuit), Some(End::Local(id)) if *id == tp.id);
                if ours {
                    map.remove(circuit);
                }
                ours
            };
            // Tell the other end (through the hops, which end their splices):
            // its circuit transport closes now instead of expiring.
            if ours {
                via.send_forward(*circuit, &[]);
            }
        }
    }

    /// Hop: relay circuit `from_circuit` of transport `from` (a number its
    /// peer picked and told us in a control message) to a new circuit of
    /// transport `to`, both ways, at most `bytes_per_sec` (0: no limit).
    pub(crate) fn splice(
        &self,
        from: TransportId,
        from_circuit: u32,
        to: TransportId,
        bytes_per_sec: u64,
    ) -> Result<u32, NodeError> {
        let f = self.transport(from).ok_or(NodeError::NoTransport(from))?;
        let t = self.transport(to).ok_or(NodeError::NoTransport(to))?;
        if from == to || from_circuit == 0 || ours(&f, from_circuit) {
            return Err(NodeError::NoCircuit(from, from_circuit));
        }
        let shared = Arc::new(Splice {
            from: (from, from_circuit),
            rate: bytes_per_sec,
            bucket: Mutex::new(Bucket::new(bytes_per_sec)),
            down: AtomicBool::new(false),
            relayed: AtomicU64::new(0),
            dropped: AtomicU64::new(0),
        });
        {
            let map = f.circuits.0.lock().unwrap();
            if map.contains_key(&from_circuit) {
                return Err(NodeError::NoCircuit(from, from_circuit));
            }
            if map.len() >= MAX_CIRCUITS {
                return Err(NodeError::CircuitLimit(from));
            }
        }
        let back = SpliceEnd { other: Arc::downgrade(&f), other_circuit: from_circuit, shared: shared.clone() };
        let to_circuit = allocate(&t, End::Splice(back))?;
        let fwd = SpliceEnd { other: Arc::downgrade(&t), other_circuit: to_circuit, shared };
        let taken = {
            let mut map = f.circuits.0.lock().unwrap();
            let taken = map.contains_key(&from_circuit);
            if !taken {
                map.insert(from_circuit, End::Splice(fwd));
            }
            taken
        };
        if taken {
            t.circuits.0.lock().unwrap().remove(&to_circuit);
            return Err(NodeError::NoCircuit(from, from_circuit));
        }
        // Either transport may have closed while we were linking them: its
        // circuits were dropped before our entries went in.
        let gone = [from, to].into_iter().find(|id| self.transport(*id).is_none());
        if let Some(id) = gone {
            f.circuits.0.lock().unwrap().remove(&from_circuit);
            t.circuits.0.lock().unwrap().remove(&to_circuit);
            return Err(NodeError::NoTransport(id));
        }
        Ok(to_circuit)
    }

    /// End the splice named by `(from, from_circuit)` (both ends are told
    /// the circuit is closed), or release a number reserved for a dial. No
    /// event: the caller knows.
    pub(crate) fn unsplice(&self, from: TransportId, from_circuit: u32) -> Result<(), NodeError> {
        let f = self.transport(from).ok_or(NodeError::NoTransport(from))?;
        let mut map = f.circuits.0.lock().unwrap();
        match map.get(&from_circuit) {
            Some(End::Splice(_) | End::Reserved) => {}
            _ => return Err(NodeError::NoCircuit(from, from_circuit)),
        }
        let end = map.remove(&from_circuit);
        drop(map);
        if let Some(End::Splice(s)) = end {
            f.send_forward(from_circuit, &[]);
            self.end_splice(&s, false);
        }
        Ok(())
    }

    pub(crate) fn splices(&self) -> Vec<SpliceInfo> {
        let all: Vec<_> = self.transports.read().unwrap().values().cloned().collect();
        let mut out = Vec::new();
        for tp in all {
            for (c, end) in tp.circuits.0.lock().unwrap().iter() {
                if let End::Splice(s) = end {
                    if s.shared.from == (tp.id, *c) {
                        out.push(SpliceInfo {
                            from_id: tp.id,
                            from_circuit: *c,
                            to_id: s.other.upgrade().map_or(0, |o| o.id),
                            to_circuit: s.other_circuit,
                            relayed: s.shared.relayed.load(Ordering::Relaxed),
                            dropped: s.shared.dropped.load(Ordering::Relaxed),
                        });
                    }
                }
            }
        }
        out
    }

    /// Client: pick a circuit number on transport `via` for a dial through it.
    pub(crate) fn reserve_circuit(&self, via: TransportId) -> Result<u32, NodeError> {
        let tp = self.transport(via).ok_or(NodeError::NoTransport(via))?;
        allocate(&tp, End::Reserved)
    }

    /// Client: the Noise IK handshake with `remote` through circuit `circuit`
    /// of `via` (reserved before, and spliced onwards by the hop). The result
    /// is a transport like any other.
    pub(crate) async fn dial_via(
        &self,
        via: TransportId,
        circuit: u32,
        remote: PublicKey,
        deadline: Instant,
    ) -> Result<Arc<Transport>, NodeError> {
        let v = self.transport(via).ok_or(NodeError::NoTransport(via))?;
        if !matches!(v.circuits.0.lock().unwrap().get(&circuit), Some(End::Reserved)) {
            return Err(NodeError::NoCircuit(via, circuit));
        }
        let result = self.handshake_via(&v, circuit, remote, deadline).await;
        match result {
            Ok(tp) => {
                self.set_local(&v, circuit, tp.id);
                Ok(tp)
            }
            Err(e) => {
                // Failed: the number is free again.
                let mut map = v.circuits.0.lock().unwrap();
                if matches!(map.get(&circuit), Some(End::Reserved)) {
                    map.remove(&circuit);
                }
                Err(e)
            }
        }
    }

    async fn handshake_via(
        &self,
        v: &Arc<Transport>,
        circuit: u32,
        remote: PublicKey,
        deadline: Instant,
    ) -> Result<Arc<Transport>, NodeError> {
        let index = self.alloc_index();
        let initiate = || {
            crypto::initiate(&self.keypair, remote, index, Instant::now())
                .map_err(|e| NodeError::Handshake(e.to_string()))
        };
        let (mut current, mut init) = initiate()?;
        let mut closed = self.closed.subscribe();
        loop {
            if Instant::now() >= deadline {
                return Err(NodeError::Timeout);
            }
            if self.transport(v.id).is_none() {
                return Err(NodeError::NoTransport(v.id));
            }
            let (tx, rx) = oneshot::channel();
            self.pending.lock().unwrap().insert(index, tx);
            v.send_forward(circuit, &init);
            // A lost answer: a fresh initiation (the responder accepts each
            // timestamp once) after a second, as SUDPH does.
            let wait = Duration::from_secs(1).min(deadline.saturating_duration_since(Instant::now()));
            let reply = tokio::select! {
                r = tokio::time::timeout(wait, rx) => r,
                _ = closed.wait_for(|c| *c) => {
                    self.pending.lock().unwrap().remove(&index);
                    return Err(NodeError::Closed);
                }
            };
            self.pending.lock().unwrap().remove(&index);
            let Ok(Ok((answer, _))) = reply else {
                let (fresh, msg) = initiate()?;
                current = fresh;
                init = msg;
                continue;
            };
            match current.handle(&answer, Instant::now()) {
                Ok(Progress::Established(e)) => {
                    let Established { session, confirm } = *e;
                    v.send_forward(circuit, &confirm);
                    let link = Link::Circuit { via: v.clone(), circuit };
                    return Ok(self.add_transport(session, index, v.kind, link, true, None));
                }
                Ok(Progress::Retry(again)) => init = again,
                Err(e) => return Err(NodeError::Handshake(e.to_string())),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Bucket;
    use std::time::{Duration, Instant};

    #[test]
    fn bucket_passes_the_rate_and_drops_over_it() {
        let t0 = Instant::now();
        let mut b = Bucket::new(100_000);
        b.last = t0;
        // A second's worth at once, then nothing until it refills.
        assert!(b.take(100_000, t0));
        assert!(!b.take(1, t0));
        assert!(b.take(50_000, t0 + Duration::from_millis(500)));
        assert!(!b.take(10_000, t0 + Duration::from_millis(500)));
        // Unlimited.
        let mut u = Bucket::new(0);
        assert!((0..1000).all(|_| u.take(65_535, t0)));
        // A low rate still lets one largest message through.
        let mut low = Bucket::new(10);
        low.last = t0;
        assert!(low.take(65_535, t0));
    }
}
