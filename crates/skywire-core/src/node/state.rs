//! The state every task of a node shares: the table of live sessions and
//! the index map inbound messages are looked up in, the TUNs, the pending
//! dials; adding and removing a session (and its lifecycle events) here.

use std::collections::HashMap;

use super::idmap::IdMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Instant;

use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;

use super::crypto::{self, Acceptor, SessionBox};
use super::limits::{Gate, Refusal, Ticket};
use super::sink::SinkPool;
use super::stats::Snapshot;
use super::transport::{Link, Transport};
use super::tunnel::Tunnel;
use super::udp::UdpSock;
use super::{resolver, sudph, Event, TransportInfo, TransportKind};
use crate::router::TransportId;
use crate::{Keypair, PublicKey};

type DialReply = oneshot::Sender<(Vec<u8>, SocketAddr)>;

pub(crate) struct Inner {
    pub(crate) keypair: Keypair,
    pub(crate) events: mpsc::UnboundedSender<Event>,
    pub(crate) epoch: Instant,
    pub(crate) acceptor: Mutex<Acceptor>,
    pub(crate) udp: Option<Arc<UdpSock>>,
    pub(crate) sinks: SinkPool,
    /// The address resolver over each family (resolver.rs).
    pub(crate) resolvers: resolver::Resolvers,
    pub(crate) observed: Mutex<resolver::Observed>,
    pub(crate) pending: Mutex<IdMap<u32, DialReply>>,
    pub(crate) punch_waiters: Mutex<HashMap<PublicKey, resolver::LocateTx>>,
    /// SUDPH dials in progress: where the peer's punches came from (sudph.rs).
    pub(crate) dialing: Mutex<HashMap<PublicKey, sudph::Dialing>>,
    pub(crate) gate: Arc<Gate>,
    /// Unknown-session hints sent and received (hint.rs).
    pub(crate) hints: super::hint::Hints,
    pub(super) transports: RwLock<IdMap<TransportId, Arc<Transport>>>,
    pub(super) by_index: RwLock<IdMap<u32, TransportId>>,
    pub(super) tunnels: Mutex<HashMap<String, Arc<Tunnel>>>,
    pub(super) next_id: AtomicU64,
    pub(super) tasks: Mutex<Vec<JoinHandle<()>>>,
    /// Set by shutdown(): dials in flight end at once instead of at their deadlines.
    pub(super) closed: watch::Sender<bool>,
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

    pub(super) fn transport(&self, id: TransportId) -> Option<Arc<Transport>> {
        self.transports.read().unwrap().get(&id).cloned()
    }

    /// A direct transport by one of its session's indexes. Circuit transports
    /// are reached only through their circuit, never by a datagram naming
    /// their index (a hop could otherwise bypass the circuit it is on).
    pub(crate) fn transport_by_index(&self, index: u32) -> Option<Arc<Transport>> {
        let id = *self.by_index.read().unwrap().get(&index)?;
        self.transport(id).filter(|t| !matches!(t.link, Link::Circuit { .. }))
    }

    pub(crate) fn find_udp_transport(&self, remote: PublicKey, addr: SocketAddr) -> Option<Arc<Transport>> {
        self.transports
            .read()
            .unwrap()
            .values()
            .find(|p| {
                p.remote == remote
                    && p.kind == TransportKind::Sudph
                    && matches!(p.link, Link::Udp { .. })
                    && p.link.remote_addr() == addr
            })
            .cloned()
    }

    /// `ticket`: an inbound session's admission (its session slot, and its
    /// pending slot until the initiator confirms the keys); none when we dialed.
    pub(crate) fn add_transport(
        &self,
        session: SessionBox,
        index: u32,
        kind: TransportKind,
        link: Link,
        initiator: bool,
        ticket: Option<Ticket>,
    ) -> Arc<Transport> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let remote = session.remote();
        let unconfirmed = ticket.is_some() && !session.is_established();
        let via = match &link {
            Link::Circuit { via, .. } => Some(via.id),
            _ => None,
        };
        let tp = Arc::new(Transport {
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
            circuits: Default::default(),
        });
        tp.counters.touch(self.epoch);
        self.transports.write().unwrap().insert(id, tp.clone());
        self.by_index.write().unwrap().insert(index, id);
        let _ = self.events.send(Event::TransportUp {
            id,
            peer: remote,
            transport: kind,
            remote: tp.link.remote_addr(),
            initiator,
            via,
        });
        tp
    }

    /// A peer re-handshook with us: new session keys, same transport id and tunnel.
    pub(crate) fn absorb(&self, tp: &Arc<Transport>, session: Box<SessionBox>, index: u32) {
        if tp.session.lock().unwrap().absorb(*session).is_ok() {
            self.by_index.write().unwrap().insert(index, tp.id);
        }
    }

    pub(crate) fn remove_transport(&self, id: TransportId, reason: &str) {
        let Some(tp) = self.transports.write().unwrap().remove(&id) else { return };
        self.by_index.write().unwrap().retain(|_, p| *p != id);
        // Its slots go back now, not when the last task lets go of the transport.
        drop(tp.admission.lock().unwrap().take());
        if let Some(t) = tp.tunnel.write().unwrap().take() {
            t.detach(id);
        }
        // Before the connection closes: circuit closes can still go out on it.
        self.drop_circuits(&tp);
        if let Link::Tcp { queue, .. } = &tp.link {
            // The connection's task sees it even if it is not waiting yet.
            queue.close();
        }
        let _ = self.events.send(Event::TransportDown { id, peer: tp.remote, reason: reason.into() });
    }

    pub(super) fn info(&self, p: &Transport) -> TransportInfo {
        TransportInfo {
            id: p.id,
            peer: p.remote,
            transport: p.kind,
            remote: p.link.remote_addr(),
            initiator: p.initiator,
            via: p.via(),
            tunnel: p.tunnel.read().unwrap().as_ref().map(|t| t.name().to_string()),
            age: p.since.elapsed(),
            stats: Snapshot { rekeys: p.session.lock().unwrap().rekeys(), ..p.counters.snapshot(self.epoch) },
        }
    }
}
