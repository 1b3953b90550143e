//! A TUN device shared by one or more sessions. Packets read from the TUN go
//! to the session that owns their destination (cryptokey routing); packets a
//! session decrypts are written to the TUN only if that session owns their
//! source. A VPN server attaches every client to one tunnel; a client attaches
//! its one session with 0.0.0.0/0.

use std::collections::HashMap;
use std::sync::{Arc, RwLock, Weak};
use std::time::Instant;

use ipnet::IpNet;
use tokio::task::JoinHandle;

use super::peer::Peer;
use super::stats::Counters;
use crate::packet;
use crate::router::{AllowedIps, PeerId};
use crate::tun::Tun;

pub struct Tunnel {
    pub(crate) tun: Tun,
    routes: RwLock<AllowedIps>,
    peers: RwLock<HashMap<PeerId, Weak<Peer>>>,
    /// Packets read from the TUN with no session to go to, and similar.
    pub(crate) counters: Counters,
    reader: std::sync::Mutex<Option<JoinHandle<()>>>,
}

impl Tunnel {
    pub(crate) fn start(tun: Tun) -> Arc<Tunnel> {
        let t = Arc::new(Tunnel {
            tun,
            routes: RwLock::new(AllowedIps::new()),
            peers: RwLock::new(HashMap::new()),
            counters: Counters::default(),
            reader: std::sync::Mutex::new(None),
        });
        let weak = Arc::downgrade(&t);
        let handle = tokio::spawn(async move { outbound_loop(weak).await });
        *t.reader.lock().unwrap() = Some(handle);
        t
    }

    pub fn name(&self) -> &str {
        self.tun.name()
    }

    pub(crate) fn attach(&self, peer: &Arc<Peer>, allowed: &[IpNet]) {
        self.routes.write().unwrap().insert(peer.id, allowed);
        self.peers.write().unwrap().insert(peer.id, Arc::downgrade(peer));
    }

    pub(crate) fn detach(&self, id: PeerId) {
        self.routes.write().unwrap().remove_peer(id);
        self.peers.write().unwrap().remove(&id);
    }

    pub(crate) fn stop(&self) {
        if let Some(h) = self.reader.lock().unwrap().take() {
            h.abort();
        }
    }

    /// A packet `peer` decrypted: into the TUN if its source belongs to that peer.
    pub(crate) async fn inbound(&self, peer: &Peer, pkt: &[u8], epoch: Instant) {
        let allowed = match packet::source(pkt) {
            Some(src) => self.routes.read().unwrap().allows(peer.id, src),
            None => false,
        };
        if !allowed {
            // Spoofed or garbage: authenticated, but not this peer's to send.
            peer.counters.drop_one();
            return;
        }
        peer.counters.received(pkt.len(), epoch);
        if self.tun.send(pkt).await.is_err() {
            self.counters.drop_one();
        }
    }

    fn route(&self, pkt: &[u8]) -> Option<Arc<Peer>> {
        let dst = packet::destination(pkt)?;
        let id = self.routes.read().unwrap().lookup(dst)?;
        self.peers.read().unwrap().get(&id)?.upgrade()
    }
}

impl Drop for Tunnel {
    fn drop(&mut self) {
        self.stop();
    }
}

/// TUN → session: read, route by destination, encrypt, send.
async fn outbound_loop(tunnel: Weak<Tunnel>) {
    // The device is held here; stop() aborts this task, which releases it.
    let Some(tun) = tunnel.upgrade().map(|t| t.tun.clone()) else { return };
    let mtu = tun.mtu() as usize;
    let mut pkt = vec![0u8; mtu.max(1500) + 64];
    let mut out = vec![0u8; mtu.max(1500) + 128];
    loop {
        let n = match tun.recv(&mut pkt).await {
            Ok(n) => n,
            Err(_) => return,
        };
        let Some(t) = tunnel.upgrade() else { return };
        let peer = t.route(&pkt[..n]);
        if peer.is_none() {
            t.counters.drop_one();
        }
        drop(t);
        if let Some(peer) = peer {
            peer.send_data(&pkt[..n], &mut out).await;
        }
    }
}
