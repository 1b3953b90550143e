//! The public face of a node: start it, dial, send control messages, manage
//! TUNs and transports, shut it down. Each call is a short step into the shared
//! state (state.rs) or a dial (stcpr.rs, sudph.rs).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use ipnet::IpNet;
use tokio::sync::{mpsc, watch};

use super::crypto::{Acceptor, Kind, MAX_CONTROL};
use super::limits::{Gate, LimitStats};
use super::sink::SinkPool;
use super::state::Inner;
use super::timers::timer_loop;
use super::tunnel::Tunnel;
use super::udp::UdpSock;
use super::{mark, stcpr, sudph, Event, NodeConfig, NodeError, SpliceInfo, TransportInfo};
use crate::router::TransportId;
use crate::tun::{Tun, TunConfig};
use crate::PublicKey;

pub struct Node {
    inner: Arc<Inner>,
    stcpr_addr: Option<SocketAddr>,
    sudph_addr: Option<SocketAddr>,
    /// SUDPH sockets and TUN queues per tunnel (config.rs `workers`).
    workers: usize,
}

impl Node {
    /// Bind the listeners and start the node's tasks on the current tokio runtime.
    pub async fn start(cfg: NodeConfig) -> Result<(Node, mpsc::UnboundedReceiver<Event>), NodeError> {
        let (events, rx) = mpsc::unbounded_channel();
        let tcp = match cfg.stcpr_listen {
            Some(addr) => Some(mark::listen_marked(addr).map_err(|source| NodeError::Listen {
                what: "STCPR (TCP)",
                addr,
                source,
            })?),
            None => None,
        };
        let workers = super::config::effective_workers(cfg.workers);
        let socks: Vec<Arc<UdpSock>> = match cfg.sudph_listen {
            Some(addr) => UdpSock::bind_group(addr, workers)
                .map_err(|source| NodeError::Listen { what: "SUDPH (UDP)", addr, source })?
                .into_iter()
                .map(Arc::new)
                .collect(),
            None => Vec::new(),
        };
        // The first socket is the one dials, the resolver binding and punches
        // leave from; any socket may receive anything (all share `Inner`).
        let udp = socks.first().cloned();
        let stcpr_addr = tcp.as_ref().and_then(|l| l.local_addr().ok());
        let sudph_addr = udp.as_ref().and_then(|s| s.local_addr().ok());
        let inner = Arc::new(Inner {
            acceptor: Mutex::new(Acceptor::new(&cfg.keypair, cfg.responder)),
            keypair: cfg.keypair,
            events,
            epoch: Instant::now(),
            udp: udp.clone(),
            sinks: SinkPool::default(),
            resolvers: super::resolver::Resolvers::new(cfg.resolver.into_iter().chain(cfg.resolver6)),
            observed: Mutex::new(Default::default()),
            pending: Mutex::new(Default::default()),
            punch_waiters: Mutex::new(HashMap::new()),
            dialing: Mutex::new(HashMap::new()),
            gate: Gate::new(cfg.limits),
            hints: super::hint::Hints::new(),
            transports: RwLock::new(Default::default()),
            by_index: RwLock::new(Default::default()),
            tunnels: Mutex::new(HashMap::new()),
            next_id: AtomicU64::new(1),
            tasks: Mutex::new(Vec::new()),
            closed: watch::channel(false).0,
        });
        let mut tasks = Vec::new();
        if let Some(l) = tcp {
            tasks.push(tokio::spawn(stcpr::accept_loop(inner.clone(), l)));
        }
        for (worker, s) in socks.iter().enumerate() {
            tasks.push(tokio::spawn(sudph::recv_loop(inner.clone(), s.clone(), worker)));
        }
        if let Some(s) = udp {
            let locals = if cfg.local_addrs.is_empty() {
                sudph_addr.filter(|a| !a.ip().is_unspecified()).into_iter().collect()
            } else {
                cfg.local_addrs.clone()
            };
            tasks.push(tokio::spawn(sudph::bind_loop(inner.clone(), s, locals)));
        }
        tasks.push(tokio::spawn(timer_loop(Arc::downgrade(&inner))));
        *inner.tasks.lock().unwrap() = tasks;
        Ok((Node { inner, stcpr_addr, sudph_addr, workers }, rx))
    }

    /// Workers on the data path: SUDPH sockets, and TUN queues of a tunnel
    /// created without its own queue count.
    pub fn workers(&self) -> usize {
        self.workers
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

    /// The address the resolver last saw our SUDPH socket at (IPv4 when
    /// bound over both families).
    pub fn observed_addr(&self) -> Option<SocketAddr> {
        self.inner.observed.lock().unwrap().primary()
    }

    /// Where the resolver saw our SUDPH socket over each family: IPv4, IPv6.
    pub fn observed_addrs(&self) -> (Option<SocketAddr>, Option<SocketAddr>) {
        let o = *self.inner.observed.lock().unwrap();
        (o.v4, o.v6)
    }

    pub async fn dial_stcpr(
        &self,
        remote: PublicKey,
        addrs: &[SocketAddr],
        timeout: Duration,
    ) -> Result<TransportId, NodeError> {
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
    ) -> Result<TransportId, NodeError> {
        let deadline = Instant::now() + timeout;
        self.until_shutdown(sudph::dial(&self.inner, remote, direct, deadline)).await.map(|p| p.id)
    }

    /// A dial, unless the node shuts down first: whoever awaits a dial (a
    /// visor stopping while it connects) must not be held until its deadline.
    async fn until_shutdown<T>(
        &self,
        dial: impl std::future::Future<Output = Result<T, NodeError>>,
    ) -> Result<T, NodeError> {
        let mut closed = self.inner.closed.subscribe();
        if *closed.borrow_and_update() {
            return Err(NodeError::Closed);
        }
        tokio::select! {
            r = dial => r,
            _ = closed.wait_for(|c| *c) => Err(NodeError::Closed),
        }
    }

    /// Multi-hop, client: pick a circuit number on transport `via` for a
    /// dial through it (tell the hop, then `dial_via`). Released by
    /// `unsplice(via, circuit)` or a failed dial.
    pub fn reserve_circuit(&self, via: TransportId) -> Result<u32, NodeError> {
        self.inner.reserve_circuit(via)
    }

    /// Multi-hop, client: the Noise IK handshake with `remote` through
    /// circuit `circuit` of `via`. The result is a transport like any other
    /// (its `via` says what it runs through).
    pub async fn dial_via(
        &self,
        via: TransportId,
        circuit: u32,
        remote: PublicKey,
        timeout: Duration,
    ) -> Result<TransportId, NodeError> {
        let deadline = Instant::now() + timeout;
        self.until_shutdown(self.inner.dial_via(via, circuit, remote, deadline)).await.map(|p| p.id)
    }

    /// Multi-hop, hop: relay circuit `from_circuit` of transport `from` to a
    /// new circuit of transport `to` (returned), both ways, at most
    /// `bytes_per_sec` (0: no limit; over it messages drop and are counted).
    pub fn splice(
        &self,
        from: TransportId,
        from_circuit: u32,
        to: TransportId,
        bytes_per_sec: u64,
    ) -> Result<u32, NodeError> {
        self.inner.splice(from, from_circuit, to, bytes_per_sec)
    }

    /// End a splice (or release a reserved circuit number).
    pub fn unsplice(&self, from: TransportId, from_circuit: u32) -> Result<(), NodeError> {
        self.inner.unsplice(from, from_circuit)
    }

    /// The splices this visor relays, with their counts.
    pub fn splices(&self) -> Vec<SpliceInfo> {
        self.inner.splices()
    }

    pub fn send_control(&self, id: TransportId, data: &[u8]) -> Result<(), NodeError> {
        if data.len() > MAX_CONTROL {
            return Err(NodeError::ControlTooLarge(data.len()));
        }
        let tp = self.inner.transport(id).ok_or(NodeError::NoTransport(id))?;
        let mut buf = Vec::new();
        if tp.send(Kind::Control, data, &mut buf) {
            Ok(())
        } else {
            Err(NodeError::QueueFull)
        }
    }

    /// Create a TUN (up, addressed) that transports can be attached to, with
    /// `cfg.queues` queues (0: one per worker).
    pub fn create_tunnel(&self, cfg: &TunConfig) -> Result<String, NodeError> {
        let queues = if cfg.queues == 0 { self.workers } else { cfg.queues };
        let tun = Tun::create(&TunConfig { queues, ..cfg.clone() })?;
        let name = tun.name().to_string();
        let t = Tunnel::start(tun);
        self.inner.tunnels.lock().unwrap().insert(name.clone(), t);
        Ok(name)
    }

    /// Route `allowed` networks of `tunnel` to transport `id`, and accept from
    /// that transport only packets whose source is in `allowed`.
    pub fn attach(&self, tunnel: &str, id: TransportId, allowed: &[IpNet]) -> Result<(), NodeError> {
        let t = self
            .inner
            .tunnels
            .lock()
            .unwrap()
            .get(tunnel)
            .cloned()
            .ok_or_else(|| NodeError::NoTunnel(tunnel.into()))?;
        let tp = self.inner.transport(id).ok_or(NodeError::NoTransport(id))?;
        if let Some(old) = tp.tunnel.write().unwrap().replace(t.clone()) {
            old.detach(id);
        }
        t.attach(&tp, allowed);
        Ok(())
    }

    pub fn close_tunnel(&self, tunnel: &str) -> Result<(), NodeError> {
        let t = self.inner.tunnels.lock().unwrap().remove(tunnel).ok_or_else(|| NodeError::NoTunnel(tunnel.into()))?;
        for p in self.inner.transports.read().unwrap().values() {
            let mut slot = p.tunnel.write().unwrap();
            if slot.as_ref().is_some_and(|x| Arc::ptr_eq(x, &t)) {
                *slot = None;
            }
        }
        t.stop();
        Ok(())
    }

    pub fn close_transport(&self, id: TransportId) -> Result<(), NodeError> {
        self.inner.transport(id).ok_or(NodeError::NoTransport(id))?;
        self.inner.remove_transport(id, "closed locally");
        Ok(())
    }

    pub fn transport(&self, id: TransportId) -> Option<TransportInfo> {
        self.inner.transport(id).map(|p| self.inner.info(&p))
    }

    pub fn transports(&self) -> Vec<TransportInfo> {
        let all: Vec<_> = self.inner.transports.read().unwrap().values().cloned().collect();
        all.iter().map(|p| self.inner.info(p)).collect()
    }

    /// Stop every task, close every transport and TUN.
    pub fn shutdown(&self) {
        self.inner.closed.send_replace(true);
        for t in self.inner.tasks.lock().unwrap().drain(..) {
            t.abort();
        }
        let ids: Vec<_> = self.inner.transports.read().unwrap().keys().copied().collect();
        for id in ids {
            self.inner.remove_transport(id, "node shut down");
        }
        for (_, t) in self.inner.tunnels.lock().unwrap().drain() {
            t.stop();
        }
    }
}

#[cfg(test)]
impl Node {
    pub(super) fn inner(&self) -> &Arc<Inner> {
        &self.inner
    }

    /// The queue count of TUN `name`.
    pub(super) fn tunnel_queues(&self, name: &str) -> Option<usize> {
        self.inner.tunnels.lock().unwrap().get(name).map(|t| t.tun.queue_count())
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        self.shutdown();
    }
}
