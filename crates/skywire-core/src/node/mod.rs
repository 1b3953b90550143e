//! A visor's network node: its STCPR listener and SUDPH socket, the sessions
//! over them, the TUNs they feed, and the events the host program sees.
//!
//! Data path, both directions, all in this module tree, in batches:
//!   TUN read (offload: one 64 KiB read, split) → `tunnel::outbound_loop` →
//!     route by destination → `Peer::send_batch` (encrypt the run) → one UDP
//!     GSO send (`udp::UdpSock`) or one buffer of TCP frames.
//!   UDP `sudph::recv_loop` (recvmmsg + GRO) / TCP `stcpr::read_loop` →
//!     `Inner::on_session_message` (decrypt into a `sink::TunSink` slot) →
//!     `Tunnel::admit` (source check) → `TunSink::flush` when nothing more is
//!     ready: one coalesced TUN write per TCP flow.
//! Only control messages and lifecycle events leave for the host.

mod crypto;
mod limits;
pub mod mark;
mod peer;
mod resolver;
mod sink;
mod stats;
mod stcpr;
mod sudph;
mod tunnel;
mod udp;

#[cfg(test)]
mod tests;
#[cfg(test)]
mod preauth_tests;
#[cfg(test)]
mod roaming_tests;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use ipnet::IpNet;
use thiserror::Error;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;

pub use self::crypto::{Kind, MAX_CONTROL};
pub use self::limits::{LimitStats, Limits, Refusal};
pub use self::peer::Peer;
pub use self::stats::Snapshot;
pub use self::tunnel::Tunnel;
use self::crypto::{Acceptor, Inbound, SessionBox, Tick};
use self::limits::{Gate, Ticket};
use self::peer::Link;
use self::sink::{SinkPool, TunSink};
use self::udp::UdpSock;
use crate::router::PeerId;
use crate::tun::{Tun, TunConfig, TunError};
use crate::{Keypair, PublicKey};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TransportKind {
    Stcpr,
    Sudph,
}

impl TransportKind {
    pub fn as_str(self) -> &'static str {
        match self {
            TransportKind::Stcpr => "stcpr",
            TransportKind::Sudph => "sudph",
        }
    }
}

#[derive(Debug, Error)]
pub enum NodeError {
    #[error("cannot listen on {what} {addr}: {source}")]
    Listen {
        what: &'static str,
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("{0} is not listening on this node")]
    NotListening(&'static str),
    #[error("no address resolver is configured for SUDPH")]
    NoResolver,
    #[error("unreachable: {0}")]
    Unreachable(String),
    #[error("handshake failed: {0}")]
    Handshake(String),
    #[error("timed out")]
    Timeout,
    #[error("no session {0}")]
    NoSession(PeerId),
    #[error("no tunnel {0}")]
    NoTunnel(String),
    #[error("control message of {0} bytes is larger than {MAX_CONTROL}")]
    ControlTooLarge(usize),
    #[error("the send queue is full")]
    QueueFull,
    #[error("the node is shut down")]
    Closed,
    #[error(transparent)]
    Tun(#[from] TunError),
}

impl NodeError {
    /// Stable codes for the binding (and so for TypeScript).
    pub fn code(&self) -> &'static str {
        match self {
            NodeError::Listen { .. } => "ELISTEN",
            NodeError::NotListening(_) => "ENOTLISTENING",
            NodeError::NoResolver => "ENORESOLVER",
            NodeError::Unreachable(_) => "EUNREACHABLE",
            NodeError::Handshake(_) => "EHANDSHAKE",
            NodeError::Timeout => "ETIMEOUT",
            NodeError::NoSession(_) => "ENOSESSION",
            NodeError::NoTunnel(_) => "ENOTUNNEL",
            NodeError::ControlTooLarge(_) => "ETOOLARGE",
            NodeError::QueueFull => "EQUEUEFULL",
            NodeError::Closed => "ECLOSED",
            NodeError::Tun(TunError::Permission) => "EPERM",
            NodeError::Tun(_) => "ETUN",
        }
    }
}

/// What the host program hears from the node. Data packets never appear here.
#[derive(Clone, Debug)]
pub enum Event {
    SessionUp { id: PeerId, peer: PublicKey, transport: TransportKind, remote: SocketAddr, initiator: bool },
    Control { id: PeerId, data: Vec<u8> },
    SessionDown { id: PeerId, peer: PublicKey, reason: String },
    /// Hole-punching progress for a dial or for a peer dialing us.
    Punch { peer: PublicKey, stage: String, addr: Option<SocketAddr> },
    /// The address resolver acknowledged our SUDPH binding and saw us at `observed`.
    Bound { observed: SocketAddr },
    /// Inbound dials are being refused by a limit (at most one event per
    /// `limits::REPORT_EVERY`, however large the flood): `from` is the
    /// source of the one that triggered the report, `stats` the counts.
    Refused { why: Refusal, from: std::net::IpAddr, stats: LimitStats },
}

pub struct NodeConfig {
    pub keypair: Keypair,
    pub stcpr_listen: Option<SocketAddr>,
    pub sudph_listen: Option<SocketAddr>,
    /// UDP address of the address resolver (binding, hole punching).
    pub resolver: Option<SocketAddr>,
    /// Addresses to announce to the resolver as our LAN addresses (tried
    /// first by peers behind the same NAT). Empty: the SUDPH listen address
    /// when it is not a wildcard.
    pub local_addrs: Vec<SocketAddr>,
    /// Handshake flood protection and session timers of inbound sessions.
    pub responder: crate::session::ResponderConfig,
    /// Caps on what strangers can make us hold (pending handshakes, inbound sessions).
    pub limits: Limits,
}

#[derive(Clone, Debug)]
pub struct SessionInfo {
    pub id: PeerId,
    pub peer: PublicKey,
    pub transport: TransportKind,
    pub remote: SocketAddr,
    pub initiator: bool,
    pub tunnel: Option<String>,
    pub age: Duration,
    pub stats: Snapshot,
}

type DialReply = oneshot::Sender<(Vec<u8>, SocketAddr)>;
type Located = Result<resolver::PeerAddress, String>;

pub(crate) struct Inner {
    pub(crate) keypair: Keypair,
    pub(crate) events: mpsc::UnboundedSender<Event>,
    pub(crate) epoch: Instant,
    pub(crate) acceptor: Mutex<Acceptor>,
    pub(crate) udp: Option<Arc<UdpSock>>,
    pub(crate) sinks: SinkPool,
    pub(crate) resolver: Option<SocketAddr>,
    pub(crate) observed: Mutex<Option<SocketAddr>>,
    pub(crate) pending: Mutex<HashMap<u32, DialReply>>,
    pub(crate) punch_waiters: Mutex<HashMap<PublicKey, oneshot::Sender<Located>>>,
    /// SUDPH dials in progress: where the peer's punches came from (sudph.rs).
    pub(crate) dialing: Mutex<HashMap<PublicKey, sudph::Dialing>>,
    pub(crate) gate: Arc<Gate>,
    peers: RwLock<HashMap<PeerId, Arc<Peer>>>,
    by_index: RwLock<HashMap<u32, PeerId>>,
    tunnels: Mutex<HashMap<String, Arc<Tunnel>>>,
    next_id: AtomicU64,
    tasks: Mutex<Vec<JoinHandle<()>>>,
    /// Set by shutdown(): dials in flight end at once instead of at their deadlines.
    closed: watch::Sender<bool>,
}

pub struct Node {
    inner: Arc<Inner>,
    stcpr_addr: Option<SocketAddr>,
    sudph_addr: Option<SocketAddr>,
}

impl Node {
    /// Bind the listeners and start the node's tasks on the current tokio runtime.
    pub async fn start(cfg: NodeConfig) -> Result<(Node, mpsc::UnboundedReceiver<Event>), NodeError> {
        let (events, rx) = mpsc::unbounded_channel();
        let tcp = match cfg.stcpr_listen {
            Some(addr) => Some(
                mark::listen_marked(addr).map_err(|source| NodeError::Listen { what: "STCPR (TCP)", addr, source })?,
            ),
            None => None,
        };
        let udp = match cfg.sudph_listen {
            Some(addr) => Some(Arc::new(
                UdpSock::bind(addr).map_err(|source| NodeError::Listen { what: "SUDPH (UDP)", addr, source })?,
            )),
            None => None,
        };
        let stcpr_addr = tcp.as_ref().and_then(|l| l.local_addr().ok());
        let sudph_addr = udp.as_ref().and_then(|s| s.local_addr().ok());
        let inner = Arc::new(Inner {
            acceptor: Mutex::new(Acceptor::new(&cfg.keypair, cfg.responder)),
            keypair: cfg.keypair,
            events,
            epoch: Instant::now(),
            udp: udp.clone(),
            sinks: SinkPool::default(),
            resolver: cfg.resolver,
            observed: Mutex::new(None),
            pending: Mutex::new(HashMap::new()),
            punch_waiters: Mutex::new(HashMap::new()),
            dialing: Mutex::new(HashMap::new()),
            gate: Gate::new(cfg.limits),
            peers: RwLock::new(HashMap::new()),
            by_index: RwLock::new(HashMap::new()),
            tunnels: Mutex::new(HashMap::new()),
            next_id: AtomicU64::new(1),
            tasks: Mutex::new(Vec::new()),
            closed: watch::channel(false).0,
        });
        let mut tasks = Vec::new();
        if let Some(l) = tcp {
            tasks.push(tokio::spawn(stcpr::accept_loop(inner.clone(), l)));
        }
        if let Some(s) = udp {
            tasks.push(tokio::spawn(sudph::recv_loop(inner.clone(), s.clone())));
            let locals = if cfg.local_addrs.is_empty() {
                sudph_addr.filter(|a| !a.ip().is_unspecified()).into_iter().collect()
            } else {
                cfg.local_addrs.clone()
            };
            tasks.push(tokio::spawn(sudph::bind_loop(inner.clone(), s, locals)));
        }
        tasks.push(tokio::spawn(timer_loop(Arc::downgrade(&inner))));
        *inner.tasks.lock().unwrap() = tasks;
        Ok((Node { inner, stcpr_addr, sudph_addr }, rx))
    }

    pub fn public_key(&self) -> PublicKey {
        self.inner.keypair.public
    }

    pub fn stcpr_addr(&self) -> Option<SocketAddr> {
        self.stcpr_addr
    }

    pub fn sudph_addr(&self) -> Option<SocketAddr> {
        self.sudph_addr
    }

    /// Pending handshakes and inbound sessions held now, and what each limit refused.
    pub fn limit_stats(&self) -> LimitStats {
        self.inner.gate.stats()
    }

    /// The address the resolver last saw our SUDPH socket at.
    pub fn observed_addr(&self) -> Option<SocketAddr> {
        *self.inner.observed.lock().unwrap()
    }

    pub async fn dial_stcpr(&self, remote: PublicKey, addrs: &[SocketAddr], timeout: Duration) -> Result<PeerId, NodeError> {
        let deadline = Instant::now() + timeout;
        self.until_shutdown(stcpr::dial(&self.inner, remote, addrs, deadline)).await.map(|p| p.id)
    }

    /// Dial over SUDPH: through the resolver and hole punching, or straight to
    /// `direct` addresses when given.
    pub async fn dial_sudph(
        &self,
        remote: PublicKey,
        direct: Option<Vec<SocketAddr>>,
        timeout: Duration,
    ) -> Result<PeerId, NodeError> {
        let deadline = Instant::now() + timeout;
        self.until_shutdown(sudph::dial(&self.inner, remote, direct, deadline)).await.map(|p| p.id)
    }

    /// A dial, unless the node shuts down first: whoever awaits a dial (a
    /// visor stopping while it connects) must not be held until its deadline.
    async fn until_shutdown<T>(&self, dial: impl std::future::Future<Output = Result<T, NodeError>>) -> Result<T, NodeError> {
        let mut closed = self.inner.closed.subscribe();
        if *closed.borrow_and_update() {
            return Err(NodeError::Closed);
        }
        tokio::select! {
            r = dial => r,
            _ = closed.wait_for(|c| *c) => Err(NodeError::Closed),
        }
    }

    pub fn send_control(&self, id: PeerId, data: &[u8]) -> Result<(), NodeError> {
        if data.len() > MAX_CONTROL {
            return Err(NodeError::ControlTooLarge(data.len()));
        }
        let peer = self.inner.peer(id).ok_or(NodeError::NoSession(id))?;
        let mut buf = Vec::new();
        if peer.send(Kind::Control, data, &mut buf) {
            Ok(())
        } else {
            Err(NodeError::QueueFull)
        }
    }

    /// Create a TUN (up, addressed) that sessions can be attached to.
    pub fn create_tunnel(&self, cfg: &TunConfig) -> Result<String, NodeError> {
        let tun = Tun::create(cfg)?;
        let name = tun.name().to_string();
        let t = Tunnel::start(tun);
        self.inner.tunnels.lock().unwrap().insert(name.clone(), t);
        Ok(name)
    }

    /// Route `allowed` networks of `tunnel` to session `id`, and accept from
    /// that session only packets whose source is in `allowed`.
    pub fn attach(&self, tunnel: &str, id: PeerId, allowed: &[IpNet]) -> Result<(), NodeError> {
        let t = self.inner.tunnels.lock().unwrap().get(tunnel).cloned().ok_or_else(|| NodeError::NoTunnel(tunnel.into()))?;
        let peer = self.inner.peer(id).ok_or(NodeError::NoSession(id))?;
        if let Some(old) = peer.tunnel.write().unwrap().replace(t.clone()) {
            old.detach(id);
        }
        t.attach(&peer, allowed);
        Ok(())
    }

    pub fn close_tunnel(&self, tunnel: &str) -> Result<(), NodeError> {
        let t = self.inner.tunnels.lock().unwrap().remove(tunnel).ok_or_else(|| NodeError::NoTunnel(tunnel.into()))?;
        for p in self.inner.peers.read().unwrap().values() {
            let mut slot = p.tunnel.write().unwrap();
            if slot.as_ref().is_some_and(|x| Arc::ptr_eq(x, &t)) {
                *slot = None;
            }
        }
        t.stop();
        Ok(())
    }

    pub fn close_session(&self, id: PeerId) -> Result<(), NodeError> {
        self.inner.peer(id).ok_or(NodeError::NoSession(id))?;
        self.inner.remove_peer(id, "closed locally");
        Ok(())
    }

    pub fn session(&self, id: PeerId) -> Option<SessionInfo> {
        self.inner.peer(id).map(|p| self.inner.info(&p))
    }

    pub fn sessions(&self) -> Vec<SessionInfo> {
        let peers: Vec<_> = self.inner.peers.read().unwrap().values().cloned().collect();
        peers.iter().map(|p| self.inner.info(p)).collect()
    }

    /// Stop every task, close every session and TUN.
    pub fn shutdown(&self) {
        self.inner.closed.send_replace(true);
        for t in self.inner.tasks.lock().unwrap().drain(..) {
            t.abort();
        }
        let ids: Vec<_> = self.inner.peers.read().unwrap().keys().copied().collect();
        for id in ids {
            self.inner.remove_peer(id, "node shut down");
        }
        for (_, t) in self.inner.tunnels.lock().unwrap().drain() {
            t.stop();
        }
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        self.shutdown();
    }
}

impl Inner {
    pub(crate) fn alloc_index(&self) -> u32 {
        // Random, so indexes say nothing about how many sessions we have.
        let map = self.by_index.read().unwrap();
        let pending = self.pending.lock().unwrap();
        loop {
            let i = crypto::random_u32();
            if i != 0 && !map.contains_key(&i) && !pending.contains_key(&i) {
                return i;
            }
        }
    }

    /// Count an inbound dial a limit refused; tell the host now and then
    /// (rate-limited: a flood must not become a flood of events or logs).
    pub(crate) fn refused(&self, why: Refusal, from: std::net::IpAddr) {
        if self.gate.count(why) {
            let _ = self.events.send(Event::Refused { why, from, stats: self.gate.stats() });
        }
    }

    fn peer(&self, id: PeerId) -> Option<Arc<Peer>> {
        self.peers.read().unwrap().get(&id).cloned()
    }

    pub(crate) fn peer_by_index(&self, index: u32) -> Option<Arc<Peer>> {
        let id = *self.by_index.read().unwrap().get(&index)?;
        self.peer(id)
    }

    pub(crate) fn find_udp_peer(&self, remote: PublicKey, addr: SocketAddr) -> Option<Arc<Peer>> {
        self.peers
            .read()
            .unwrap()
            .values()
            .find(|p| p.remote == remote && p.kind == TransportKind::Sudph && p.link.remote_addr() == addr)
            .cloned()
    }

    /// `ticket`: an inbound session's admission (its session slot, and its
    /// pending slot until the initiator confirms the keys); none when we dialed.
    pub(crate) fn add_peer(
        &self,
        session: SessionBox,
        index: u32,
        kind: TransportKind,
        link: Link,
        initiator: bool,
        ticket: Option<Ticket>,
    ) -> Arc<Peer> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let remote = session.remote();
        let unconfirmed = ticket.is_some() && !session.is_established();
        let peer = Arc::new(Peer {
            id,
            remote,
            kind,
            initiator,
            unconfirmed: AtomicBool::new(unconfirmed),
            admission: Mutex::new(ticket),
            session: Mutex::new(session),
            link,
            counters: Default::default(),
            tunnel: RwLock::new(None),
            since: Instant::now(),
        });
        peer.counters.touch(self.epoch);
        self.peers.write().unwrap().insert(id, peer.clone());
        self.by_index.write().unwrap().insert(index, id);
        let _ = self.events.send(Event::SessionUp { id, peer: remote, transport: kind, remote: peer.link.remote_addr(), initiator });
        peer
    }

    /// A peer re-handshook with us: new keys, same session id and tunnel.
    pub(crate) fn absorb(&self, peer: &Arc<Peer>, session: Box<SessionBox>, index: u32) {
        if peer.session.lock().unwrap().absorb(*session).is_ok() {
            self.by_index.write().unwrap().insert(index, peer.id);
        }
    }

    pub(crate) fn remove_peer(&self, id: PeerId, reason: &str) {
        let Some(peer) = self.peers.write().unwrap().remove(&id) else { return };
        self.by_index.write().unwrap().retain(|_, p| *p != id);
        // Its slots go back now, not when the last task lets go of the peer.
        drop(peer.admission.lock().unwrap().take());
        if let Some(t) = peer.tunnel.write().unwrap().take() {
            t.detach(id);
        }
        if let Link::Tcp { close, .. } = &peer.link {
            // A stored permit: the reader sees it even if it is not waiting yet.
            close.notify_one();
        }
        let _ = self.events.send(Event::SessionDown { id, peer: peer.remote, reason: reason.into() });
    }

    fn info(&self, p: &Peer) -> SessionInfo {
        SessionInfo {
            id: p.id,
            peer: p.remote,
            transport: p.kind,
            remote: p.link.remote_addr(),
            initiator: p.initiator,
            tunnel: p.tunnel.read().unwrap().as_ref().map(|t| t.name().to_string()),
            age: p.since.elapsed(),
            stats: Snapshot { rekeys: p.session.lock().unwrap().rekeys(), ..p.counters.snapshot(self.epoch) },
        }
    }

    /// Decrypt one session message from `peer` and act on it; data packets
    /// are left in `sink` (the caller flushes it when it has read all that is
    /// ready). Returns whether the message authenticated.
    pub(crate) async fn on_session_message(&self, peer: &Arc<Peer>, msg: &[u8], sink: &mut TunSink) -> bool {
        if msg.first() == Some(&1) {
            return self.on_inband_rekey(peer, msg);
        }
        let tunnel = peer.tunnel.read().unwrap().clone();
        if let Some(t) = &tunnel {
            sink.reserve(t).await;
        }
        let slot = sink.slot(msg.len());
        let out = &mut slot[TunSink::DECRYPT_AT..];
        let res = {
            let mut s = peer.session.lock().unwrap();
            let res = s.decapsulate(msg, out, Instant::now());
            // One relaxed load per message; the rest only once per inbound session.
            if res.is_ok() && peer.unconfirmed.load(Ordering::Relaxed) && s.is_established() {
                drop(s);
                peer.confirmed();
            }
            res
        };
        match res {
            Ok(Inbound::Data(range)) => {
                match &tunnel {
                    Some(t) if t.admit(peer, &out[range.clone()], self.epoch) => {
                        sink.commit(t, TunSink::DECRYPT_AT + range.start, range.len())
                    }
                    Some(_) => {}
                    None => peer.counters.drop_one(),
                }
                true
            }
            Ok(Inbound::Control(range)) => {
                peer.counters.touch(self.epoch);
                let _ = self.events.send(Event::Control { id: peer.id, data: out[range].to_vec() });
                true
            }
            Ok(Inbound::Reply(range)) => {
                peer.counters.touch(self.epoch);
                peer.link.try_send(&out[range]);
                true
            }
            Ok(Inbound::Rtt(rtt)) => {
                peer.counters.touch(self.epoch);
                peer.counters.set_rtt(rtt);
                true
            }
            Ok(Inbound::Nothing) => {
                peer.counters.touch(self.epoch);
                true
            }
            Err(_) => {
                peer.counters.drop_one();
                false
            }
        }
    }

    /// A handshake initiation inside an established STCPR connection: the
    /// peer is rekeying.
    fn on_inband_rekey(&self, peer: &Arc<Peer>, msg: &[u8]) -> bool {
        let index = self.alloc_index();
        let mut reply = vec![0u8; 512];
        let src = SocketAddr::new(peer.link.remote_addr().ip(), 0);
        let accepted = self.acceptor.lock().unwrap().accept(src, msg, index, Instant::now(), &mut reply);
        if let Ok(crypto::Accepted::Session(session, len)) = accepted {
            if session.remote() == peer.remote {
                peer.link.try_send(&reply[..len]);
                self.absorb(peer, session, index);
                return true;
            }
        }
        false
    }
}

/// Session timers (keepalive, ping, rekey, expiry) for all peers, a few times
/// a second: cheap, and no per-packet timer work.
async fn timer_loop(inner: std::sync::Weak<Inner>) {
    let mut buf = vec![0u8; 512];
    let mut tick = tokio::time::interval(Duration::from_millis(250));
    let mut rounds: u64 = 0;
    loop {
        tick.tick().await;
        let Some(inner) = inner.upgrade() else { return };
        let peers: Vec<_> = inner.peers.read().unwrap().values().cloned().collect();
        let now = Instant::now();
        // A stranger's handshake may not hold a slot for minutes: an inbound
        // session the initiator never confirms goes after the handshake
        // timeout plus one ping interval (a lost confirmation is repeated by
        // the initiator's first ping).
        let confirm_within = inner.gate.limits().handshake_timeout + crypto::PING_EVERY;
        for p in &peers {
            if p.unconfirmed.load(Ordering::Relaxed) && now.saturating_duration_since(p.since) >= confirm_within {
                inner.remove_peer(p.id, "handshake not confirmed in time");
                continue;
            }
            // Several actions can be due at once (a retransmit and a ping).
            for _ in 0..4 {
                let action = p.session.lock().unwrap().tick(now, &mut buf);
                match action {
                    Tick::Idle => break,
                    Tick::Send(n) => {
                        p.link.try_send(&buf[..n]);
                    }
                    Tick::Rekey => {
                        let index = inner.alloc_index();
                        let sent = p.session.lock().unwrap().rekey(index, now, &mut buf);
                        if let Ok(n) = sent {
                            inner.by_index.write().unwrap().insert(index, p.id);
                            p.link.try_send(&buf[..n]);
                        }
                        break;
                    }
                    Tick::Expired => {
                        inner.remove_peer(p.id, "session expired: no traffic from the peer");
                        break;
                    }
                }
            }
        }
        // Forget indexes the sessions have rotated away from.
        rounds += 1;
        if rounds.is_multiple_of(40) {
            let mut map = inner.by_index.write().unwrap();
            let peers = inner.peers.read().unwrap();
            map.retain(|idx, id| peers.get(id).is_some_and(|p| p.session.lock().unwrap().owns_index(*idx)));
        }
    }
}
