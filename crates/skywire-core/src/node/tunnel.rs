//! A TUN device shared by one or more sessions. Packets read from the TUN go
//! to the session that owns their destination (cryptokey routing); packets a
//! session decrypts are written to the TUN only if that session owns their
//! source (`admit`; the writing itself is batched by the receive loops'
//! `TunSink`). A VPN server attaches every client to one tunnel; a client attaches
//! its one session with 0.0.0.0/0.
//!
//! A multi-queue TUN gets one reader task per queue: the kernel spreads the
//! flows it routes into the TUN over the queues (by the queue the flow was
//! last written on, else by its hash), so a server's clients are read and
//! encrypted on several cores at once.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, RwLock, Weak};
use std::time::Instant;

use ipnet::IpNet;
use tokio::task::JoinHandle;

use super::stats::Counters;
use super::transport::{SendScratch, Transport};
use crate::packet;
use crate::router::{AllowedIps, TransportId};
use crate::tun::{RecvBatch, Tun, TUN_BATCH};

pub struct Tunnel {
    pub(crate) tun: Tun,
    routes: RwLock<AllowedIps>,
    transports: RwLock<HashMap<TransportId, Weak<Transport>>>,
    /// Packets read from the TUN with no session to go to, and similar.
    pub(crate) counters: Counters,
    readers: std::sync::Mutex<Vec<JoinHandle<()>>>,
}

impl Tunnel {
    pub(crate) fn start(tun: Tun) -> Arc<Tunnel> {
        let t = Arc::new(Tunnel {
            tun,
            routes: RwLock::new(AllowedIps::new()),
            transports: RwLock::new(HashMap::new()),
            counters: Counters::default(),
            readers: std::sync::Mutex::new(Vec::new()),
        });
        let readers = (0..t.tun.queue_count())
            .map(|q| {
                let weak = Arc::downgrade(&t);
                tokio::spawn(async move { outbound_loop(weak, q).await })
            })
            .collect();
        *t.readers.lock().unwrap() = readers;
        t
    }

    pub fn name(&self) -> &str {
        self.tun.name()
    }

    pub(crate) fn attach(&self, peer: &Arc<Transport>, allowed: &[IpNet]) {
        self.routes.write().unwrap().insert(peer.id, allowed);
        self.transports.write().unwrap().insert(peer.id, Arc::downgrade(peer));
    }

    pub(crate) fn detach(&self, id: TransportId) {
        self.routes.write().unwrap().remove_transport(id);
        self.transports.write().unwrap().remove(&id);
    }

    pub(crate) fn stop(&self) {
        for h in self.readers.lock().unwrap().drain(..) {
            h.abort();
        }
    }

    /// Whether `peer` may put `pkt` (which it sent, decrypted) into this
    /// TUN: only if its source is one of that peer's addresses.
    pub(crate) fn admit(&self, peer: &Transport, pkt: &[u8], epoch: Instant, now: Instant) -> bool {
        let allowed = match packet::source(pkt) {
            Some(src) => self.routes.read().unwrap().allows(peer.id, src),
            None => false,
        };
        if allowed {
            peer.counters.received(pkt.len(), epoch, now);
        } else {
            // Spoofed or garbage: authenticated, but not this peer's to send.
            peer.counters.drop_one();
        }
        allowed
    }

    fn route(&self, dst: IpAddr) -> Option<Arc<Transport>> {
        let id = self.routes.read().unwrap().lookup(dst)?;
        self.transports.read().unwrap().get(&id)?.upgrade()
    }
}

impl Drop for Tunnel {
    fn drop(&mut self) {
        self.stop();
    }
}

/// TUN → session: read a batch from queue `queue`, route each packet by
/// destination, and hand each run of packets for one peer to it to encrypt
/// and send together.
async fn outbound_loop(tunnel: Weak<Tunnel>, queue: usize) {
    // The device is held here; stop() aborts this task, which releases it.
    let Some(tun) = tunnel.upgrade().map(|t| t.tun.clone()) else { return };
    let mut batch = RecvBatch::new(tun.mtu());
    let mut scratch = SendScratch::default();
    let mut run: Vec<usize> = Vec::with_capacity(TUN_BATCH);
    loop {
        let Ok(n) = tun.recv_batch_on(queue, &mut batch).await else { return };
        let Some(t) = tunnel.upgrade() else { return };
        // Packets of one batch mostly go to one peer (one TCP flow split by
        // the kernel's offload): look the route up only when the destination
        // changes, and send per run of one peer.
        let mut last: Option<(IpAddr, Option<Arc<Transport>>)> = None;
        let mut current: Option<Arc<Transport>> = None;
        for i in 0..n {
            let pkt = batch.packet(i);
            let peer = match (packet::destination(pkt), &last) {
                (Some(dst), Some((d, p))) if *d == dst => p.clone(),
                (Some(dst), _) => {
                    let p = t.route(dst);
                    last = Some((dst, p.clone()));
                    p
                }
                (None, _) => None,
            };
            let Some(peer) = peer else {
                t.counters.drop_one();
                continue;
            };
            if current.as_ref().is_some_and(|c| !Arc::ptr_eq(c, &peer)) {
                let c = current.take().unwrap();
                c.send_batch(run.iter().map(|&j| batch.packet(j)), &mut scratch).await;
                run.clear();
            }
            current = Some(peer);
            run.push(i);
        }
        drop(t);
        if let Some(c) = current.take() {
            c.send_batch(run.iter().map(|&j| batch.packet(j)), &mut scratch).await;
        }
        run.clear();
        if batch.bad > 0 {
            if let Some(t) = tunnel.upgrade() {
                t.counters.drop_many(usize::try_from(batch.bad).unwrap_or(usize::MAX));
            }
            batch.bad = 0;
        }
    }
}
