//! The visor's node for TypeScript: listen, dial, control messages, TUNs and
//! counters. Events reach JavaScript through one threadsafe function as a
//! tagged union (`kind`); packets never do.
//!
//! Numbers across the boundary: transport ids are `u64` in the core and `i64`
//! here (a JS number). The core counts them up from 1, so they stay far below
//! 2^53 (exact in a double) for centuries at any real dial rate; the
//! conversions are checked (`try_from`) instead of the old truncating `as u32`,
//! which would have aliased transport 2^32 + 1 to transport 1.

use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ipnet::IpNet;
use napi::bindgen_prelude::*;
use napi::threadsafe_function::{ThreadsafeFunction, ThreadsafeFunctionCallMode};
use napi_derive::napi;
use skywire_core::node::{
    Event, LimitStats, Limits, NodeConfig, NodeError, SpliceInfo, TransportInfo, TransportKind as CoreKind,
};
use skywire_core::router::TransportId;
use skywire_core::tun::TunConfig;
use skywire_core::{Keypair, PublicKey, SecretKey};
use tokio::task::JoinHandle;

use crate::{coded, core_err};
use skywire_core::Code;

fn node_err(e: NodeError) -> Error {
    coded(e.code(), e)
}

fn parse_addr(s: &str, what: &str) -> Result<SocketAddr> {
    s.parse().map_err(|_| coded(Code::InvalidAddress, format!("{what} must be IP:PORT, got {s:?}")))
}

fn parse_pk(s: &str) -> Result<PublicKey> {
    s.parse().map_err(core_err)
}

#[napi(object)]
pub struct NodeOptions {
    /// The visor's Ed25519 secret key (hex).
    pub secret_key: String,
    /// STCPR (TCP) listen address, e.g. "0.0.0.0:7777"; none: no STCPR listener.
    pub stcpr_listen: Option<String>,
    /// SUDPH (UDP) listen address; none: no SUDPH.
    pub sudph_listen: Option<String>,
    /// The address resolver's UDP address, for SUDPH binding and hole punching.
    pub resolver: Option<String>,
    /// The resolver's address in the other family (IPv6 when `resolver` is
    /// IPv4): a dual-stack node keeps a binding over each.
    pub resolver6: Option<String>,
    /// LAN addresses announced to the resolver (tried first by same-NAT peers).
    pub local_addrs: Option<Vec<String>>,
    /// Caps on what strangers can make the node hold; absent fields keep the core's defaults.
    pub limits: Option<NodeLimits>,
    /// Workers on the data path, 1 to 64: SUDPH sockets on the one port
    /// (SO_REUSEPORT) and TUN queues per tunnel, so a server's clients spread
    /// over the cores. Absent: one per core. 1: one socket, one queue.
    pub workers: Option<u32>,
}

/// A worker or queue count from JavaScript, 1 to `max`: absent is `None`.
fn count(what: &str, v: Option<u32>, max: usize) -> Result<Option<usize>> {
    let Some(n) = v else { return Ok(None) };
    match usize::try_from(n) {
        Ok(k) if (1..=max).contains(&k) => Ok(Some(k)),
        _ => Err(coded(Code::Usage, format!("{what} must be an integer from 1 to {max}, got {n}"))),
    }
}

/// Caps on inbound dials (see `skywire_core::node::Limits` for why each default).
#[napi(object)]
pub struct NodeLimits {
    /// Handshakes not yet confirmed, in total (default 256).
    pub pending_handshakes: Option<u32>,
    /// ...per source IPv4 address or IPv6 /64 (default 8).
    pub pending_handshakes_per_ip: Option<u32>,
    /// Inbound sessions in total (default 1024).
    pub sessions: Option<u32>,
    /// ...per source IPv4 address or IPv6 /64 (default 32).
    pub sessions_per_ip: Option<u32>,
}

fn limits(l: Option<NodeLimits>) -> Limits {
    let mut out = Limits::default();
    if let Some(l) = l {
        let set = |v: Option<u32>, slot: &mut usize| {
            if let Some(v) = v {
                // A u32 fits a usize on every target we build (64-bit Linux);
                // saturate rather than wrap if that ever changes.
                *slot = usize::try_from(v).unwrap_or(usize::MAX);
            }
        };
        set(l.pending_handshakes, &mut out.pending_handshakes);
        set(l.pending_handshakes_per_ip, &mut out.pending_handshakes_per_ip);
        set(l.sessions, &mut out.sessions);
        set(l.sessions_per_ip, &mut out.sessions_per_ip);
    }
    out
}

/// What the node holds for strangers now, and how many dials each limit refused.
#[napi(object)]
pub struct NodeLimitStats {
    pub pending: u32,
    pub sessions: u32,
    pub refused_pending_total: f64,
    pub refused_pending_per_ip: f64,
    pub refused_sessions_total: f64,
    pub refused_sessions_per_ip: f64,
    pub refused_bad_first_frame: f64,
    /// Latency probes answered, and refused by the per-source and total rate limits.
    pub probes_answered: f64,
    pub refused_probes_per_ip: f64,
    pub refused_probes_total: f64,
}

/// A count held now, for JavaScript: the caps that bound it are configured as
/// u32 (`NodeLimits`), so it fits; saturate rather than wrap if not.
fn held(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// A running total as a JS number: exact below 2^53 (9 PB of bytes, or 2^53
/// packets), which no counter of one process reaches.
#[allow(clippy::cast_precision_loss)] // see above: exact in the range a counter can reach
fn total(n: u64) -> f64 {
    n as f64
}

impl From<LimitStats> for NodeLimitStats {
    fn from(s: LimitStats) -> Self {
        NodeLimitStats {
            pending: held(s.pending),
            sessions: held(s.sessions),
            refused_pending_total: total(s.refused_pending_total),
            refused_pending_per_ip: total(s.refused_pending_per_ip),
            refused_sessions_total: total(s.refused_sessions_total),
            refused_sessions_per_ip: total(s.refused_sessions_per_ip),
            refused_bad_first_frame: total(s.refused_bad_first_frame),
            probes_answered: total(s.probes_answered),
            refused_probes_per_ip: total(s.refused_probes_per_ip),
            refused_probes_total: total(s.refused_probes_total),
        }
    }
}

/// A transport id for JavaScript (see the module comment for why i64).
fn js_id(id: TransportId) -> i64 {
    i64::try_from(id).expect("transport ids count up from 1 and never reach 2^63")
}

/// A transport id from JavaScript: a negative number names no transport.
fn core_id(id: i64) -> Result<TransportId> {
    TransportId::try_from(id).map_err(|_| node_err(NodeError::NoTransport(0)))
}

/// How a transport carries its messages: STCPR (TCP) or SUDPH (UDP, hole punched).
#[napi(string_enum = "lowercase")]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TransportKind {
    Stcpr,
    Sudph,
}

impl From<CoreKind> for TransportKind {
    fn from(k: CoreKind) -> Self {
        match k {
            CoreKind::Stcpr => TransportKind::Stcpr,
            CoreKind::Sudph => TransportKind::Sudph,
        }
    }
}

/// One event from the node; `kind` says which (a discriminated union in TypeScript).
#[napi(discriminant = "kind", discriminant_case = "kebab-case")]
pub enum NodeEvent {
    /// A transport is up (we dialed it, or a peer dialed us). `via`: a
    /// circuit transport (multi-hop), and the transport it runs through.
    TransportUp { id: i64, peer: String, transport: TransportKind, remote: String, initiator: bool, via: Option<i64> },
    /// A control message from the peer of transport `id`.
    Control { id: i64, data: Buffer },
    /// A transport closed; `reason` says why, for logs.
    TransportDown { id: i64, peer: String, reason: String },
    /// Hole-punching progress for a dial or for a peer dialing us.
    Punch { peer: String, stage: String, addr: Option<String> },
    /// The address resolver acknowledged our SUDPH binding and saw us at `observed`.
    Bound { observed: String },
    /// Inbound dials refused by a limit (`reason`): `addr` is the source that
    /// triggered this report, `limits` the counts; at most one every 10 s.
    Refused { reason: String, addr: String, limits: NodeLimitStats },
    /// A splice this visor relayed ended because one of its transports
    /// closed; named as `splice(fromId, fromCircuit, ...)` was called.
    SpliceDown { from_id: i64, from_circuit: u32 },
}

impl NodeEvent {
    fn from_core(e: Event) -> Self {
        match e {
            Event::TransportUp { id, peer, transport, remote, initiator, via } => NodeEvent::TransportUp {
                id: js_id(id),
                peer: peer.to_hex(),
                transport: transport.into(),
                remote: remote.to_string(),
                initiator,
                via: via.map(js_id),
            },
            Event::Control { id, data } => NodeEvent::Control { id: js_id(id), data: data.into() },
            Event::TransportDown { id, peer, reason } => {
                NodeEvent::TransportDown { id: js_id(id), peer: peer.to_hex(), reason }
            }
            Event::Punch { peer, stage, addr } => {
                NodeEvent::Punch { peer: peer.to_hex(), stage, addr: addr.map(|a| a.to_string()) }
            }
            Event::Bound { observed } => NodeEvent::Bound { observed: observed.to_string() },
            Event::Refused { why, from, stats } => {
                NodeEvent::Refused { reason: why.as_str().into(), addr: from.to_string(), limits: stats.into() }
            }
            Event::SpliceDown { from_id, from_circuit } => {
                NodeEvent::SpliceDown { from_id: js_id(from_id), from_circuit }
            }
        }
    }
}

#[napi(object)]
pub struct TunOptions {
    /// Interface name (≤ 15 chars); the kernel picks one when absent.
    pub name: Option<String>,
    /// IPv4 address with prefix, e.g. "10.77.0.1/24".
    pub ipv4: Option<String>,
    /// IPv6 address with prefix.
    pub ipv6: Option<String>,
    pub mtu: Option<u32>,
    /// TUN queues, 1 to 64 (each read by its own task); absent: the node's `workers`.
    pub queues: Option<u32>,
}

#[napi(object)]
pub struct TransportStats {
    pub tx_bytes: f64,
    pub tx_packets: f64,
    pub rx_bytes: f64,
    pub rx_packets: f64,
    pub dropped: f64,
    /// Milliseconds since the last authenticated packet from the peer.
    pub last_rx_ms: Option<f64>,
    /// Round-trip time from keepalive pings, in milliseconds.
    pub rtt_ms: Option<f64>,
    /// Rekeys completed on this transport's session (the first handshake does not count).
    pub rekeys: f64,
}

/// One live transport, as `transport()` and `transports()` describe it.
#[napi(object)]
pub struct TransportDescription {
    pub id: i64,
    pub peer: String,
    pub transport: TransportKind,
    pub remote: String,
    pub initiator: bool,
    /// A circuit transport (multi-hop): the transport it runs through; its
    /// `transport` is then the kind at the base of the chain, and `remote`
    /// the first hop's address.
    pub via: Option<i64>,
    pub tun: Option<String>,
    pub age_ms: f64,
    pub stats: TransportStats,
}

fn describe(s: TransportInfo) -> TransportDescription {
    let st = s.stats;
    TransportDescription {
        id: js_id(s.id),
        peer: s.peer.to_hex(),
        transport: s.transport.into(),
        remote: s.remote.to_string(),
        initiator: s.initiator,
        via: s.via.map(js_id),
        tun: s.tunnel,
        age_ms: s.age.as_secs_f64() * 1000.0,
        stats: TransportStats {
            tx_bytes: total(st.tx_bytes),
            tx_packets: total(st.tx_packets),
            rx_bytes: total(st.rx_bytes),
            rx_packets: total(st.rx_packets),
            dropped: total(st.dropped),
            last_rx_ms: st.last_rx_ago.map(|d| d.as_secs_f64() * 1000.0),
            rtt_ms: st.rtt.map(|d| d.as_secs_f64() * 1000.0),
            rekeys: total(st.rekeys),
        },
    }
}

/// One splice this visor relays (multi-hop), as `splices()` lists them.
#[napi(object)]
pub struct SpliceDescription {
    pub from_id: i64,
    pub from_circuit: u32,
    pub to_id: i64,
    pub to_circuit: u32,
    /// Messages relayed (both directions), and dropped over the splice's rate.
    pub relayed: f64,
    pub dropped: f64,
}

impl From<SpliceInfo> for SpliceDescription {
    fn from(s: SpliceInfo) -> Self {
        SpliceDescription {
            from_id: js_id(s.from_id),
            from_circuit: s.from_circuit,
            to_id: js_id(s.to_id),
            to_circuit: s.to_circuit,
            relayed: total(s.relayed),
            dropped: total(s.dropped),
        }
    }
}

/// Bytes each circuit layer adds to a packet: a tunnel over n circuits needs
/// an MTU n × this lower than a direct one.
#[allow(clippy::cast_possible_truncation)] // 37
#[napi]
pub const CIRCUIT_OVERHEAD: u32 = skywire_core::node::CIRCUIT_OVERHEAD as u32;

/// Circuits one transport may carry.
#[allow(clippy::cast_possible_truncation)] // 1024
#[napi]
pub const MAX_CIRCUITS: u32 = skywire_core::node::MAX_CIRCUITS as u32;

type EventFn = ThreadsafeFunction<NodeEvent, (), NodeEvent, Status, false>;

/// A visor's running node. Call `close()` when done: it stops every task,
/// closes transports and TUNs, and releases the event callback.
#[napi]
pub struct Node {
    node: Arc<skywire_core::node::Node>,
    pump: Mutex<Option<JoinHandle<()>>>,
}

#[napi]
impl Node {
    /// Bind the listeners and start. `onEvent` receives every node event.
    #[napi(factory, ts_args_type = "options: NodeOptions, onEvent: (event: NodeEvent) => void")]
    pub async fn start(options: NodeOptions, on_event: Arc<EventFn>) -> Result<Node> {
        let sk: SecretKey = options.secret_key.parse().map_err(core_err)?;
        let cfg = NodeConfig {
            keypair: Keypair::from_secret(sk),
            stcpr_listen: options.stcpr_listen.as_deref().map(|s| parse_addr(s, "stcprListen")).transpose()?,
            sudph_listen: options.sudph_listen.as_deref().map(|s| parse_addr(s, "sudphListen")).transpose()?,
            resolver: options.resolver.as_deref().map(|s| parse_addr(s, "resolver")).transpose()?,
            resolver6: options.resolver6.as_deref().map(|s| parse_addr(s, "resolver6")).transpose()?,
            local_addrs: options
                .local_addrs
                .unwrap_or_default()
                .iter()
                .map(|s| parse_addr(s, "localAddrs"))
                .collect::<Result<_>>()?,
            responder: Default::default(),
            limits: limits(options.limits),
            // Absent: the core's default (0, one per core).
            workers: count("workers", options.workers, skywire_core::node::MAX_WORKERS)?.unwrap_or(0),
        };
        let (node, mut events) = skywire_core::node::Node::start(cfg).await.map_err(node_err)?;
        let pump = tokio::spawn(async move {
            while let Some(e) = events.recv().await {
                on_event.call(NodeEvent::from_core(e), ThreadsafeFunctionCallMode::NonBlocking);
            }
        });
        Ok(Node { node: Arc::new(node), pump: Mutex::new(Some(pump)) })
    }

    #[napi(getter)]
    pub fn public_key(&self) -> String {
        self.node.public_key().to_hex()
    }

    /// The bound STCPR address (with the real port when 0 was asked for).
    #[napi(getter)]
    pub fn stcpr_addr(&self) -> Option<String> {
        self.node.stcpr_addr().map(|a| a.to_string())
    }

    #[napi(getter)]
    pub fn sudph_addr(&self) -> Option<String> {
        self.node.sudph_addr().map(|a| a.to_string())
    }

    /// Workers on the data path: SUDPH sockets, and TUN queues of a tunnel created without `queues`.
    #[napi(getter)]
    pub fn workers(&self) -> u32 {
        u32::try_from(self.node.workers()).unwrap_or(u32::MAX)
    }

    /// Pending handshakes and inbound sessions held now, and refusals so far.
    #[napi]
    pub fn limit_stats(&self) -> NodeLimitStats {
        self.node.limit_stats().into()
    }

    /// Where the address resolver last saw our SUDPH socket (our NAT's mapping).
    #[napi(getter)]
    pub fn observed_addr(&self) -> Option<String> {
        self.node.observed_addr().map(|a| a.to_string())
    }

    /// Open a transport to `pk`. "stcpr" needs `addrs` (from the address
    /// resolver); "sudph" punches through the resolver unless `addrs` are
    /// given. Resolves to the transport id.
    #[napi]
    pub async fn dial(
        &self,
        pk: String,
        transport: TransportKind,
        addrs: Option<Vec<String>>,
        timeout_ms: u32,
    ) -> Result<i64> {
        let remote = parse_pk(&pk)?;
        let addrs: Vec<SocketAddr> =
            addrs.unwrap_or_default().iter().map(|s| parse_addr(s, "address")).collect::<Result<_>>()?;
        let timeout = Duration::from_millis(u64::from(timeout_ms.max(1)));
        let id = match transport {
            TransportKind::Stcpr => self.node.dial_stcpr(remote, &addrs, timeout).await,
            TransportKind::Sudph => self.node.dial_sudph(remote, (!addrs.is_empty()).then_some(addrs), timeout).await,
        }
        .map_err(node_err)?;
        Ok(js_id(id))
    }

    /// Multi-hop, client: pick a circuit number on transport `viaId` for a
    /// dial through it. Tell the hop (its control), then `dialVia`; a failed
    /// dial or `unsplice(viaId, circuit)` releases it.
    #[napi]
    pub fn reserve_circuit(&self, via_id: i64) -> Result<u32> {
        self.node.reserve_circuit(core_id(via_id)?).map_err(node_err)
    }

    /// Multi-hop, client: the Noise IK handshake with `remotePk` through
    /// circuit `circuit` of `viaId`; resolves to the new transport's id.
    #[napi]
    pub async fn dial_via(&self, via_id: i64, circuit: u32, remote_pk: String, timeout_ms: u32) -> Result<i64> {
        let remote = parse_pk(&remote_pk)?;
        let timeout = Duration::from_millis(u64::from(timeout_ms.max(1)));
        let id = self.node.dial_via(core_id(via_id)?, circuit, remote, timeout).await.map_err(node_err)?;
        Ok(js_id(id))
    }

    /// Multi-hop, hop: relay circuit `fromCircuit` of transport `fromId` (a
    /// number the client picked) to a new circuit of `toId`, returned; both
    /// ways, at most `bytesPerSec` (0: no limit; over it messages drop).
    #[napi]
    pub fn splice(&self, from_id: i64, from_circuit: u32, to_id: i64, bytes_per_sec: f64) -> Result<u32> {
        if !(bytes_per_sec.is_finite() && bytes_per_sec >= 0.0) {
            return Err(coded(Code::Usage, format!("bytesPerSec must be a number >= 0, got {bytes_per_sec}")));
        }
        // Saturating float-to-int: rates beyond 2^64 mean "no limit" anyway.
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        let rate = bytes_per_sec as u64;
        self.node.splice(core_id(from_id)?, from_circuit, core_id(to_id)?, rate).map_err(node_err)
    }

    /// End a splice, or release a circuit number reserved for a dial.
    #[napi]
    pub fn unsplice(&self, from_id: i64, from_circuit: u32) -> Result<()> {
        self.node.unsplice(core_id(from_id)?, from_circuit).map_err(node_err)
    }

    /// The splices this visor relays, with their counts.
    #[napi]
    pub fn splices(&self) -> Vec<SpliceDescription> {
        self.node.splices().into_iter().map(Into::into).collect()
    }

    /// Send a control message (at most 60 KiB) over transport `id`.
    #[napi]
    pub fn send_control(&self, id: i64, data: Buffer) -> Result<()> {
        self.node.send_control(core_id(id)?, &data).map_err(node_err)
    }

    /// Create a TUN, addressed and up. Returns its name.
    #[napi]
    pub fn create_tun(&self, options: TunOptions) -> Result<String> {
        let mut cfg = TunConfig { name: options.name, ..Default::default() };
        if let Some(m) = options.mtu {
            cfg.mtu = m;
        }
        if let Some(q) = count("queues", options.queues, skywire_core::tun::MAX_TUN_QUEUES)? {
            cfg.queues = q;
        }
        if let Some(v4) = options.ipv4 {
            match v4.parse::<IpNet>() {
                Ok(IpNet::V4(n)) => cfg.ipv4 = Some((n.addr(), n.prefix_len())),
                _ => return Err(coded(Code::InvalidAddress, format!("ipv4 must be ADDR/PREFIX, got {v4:?}"))),
            }
        }
        if let Some(v6) = options.ipv6 {
            match v6.parse::<IpNet>() {
                Ok(IpNet::V6(n)) => cfg.ipv6 = Some((n.addr(), n.prefix_len())),
                _ => return Err(coded(Code::InvalidAddress, format!("ipv6 must be ADDR/PREFIX, got {v6:?}"))),
            }
        }
        // tun-rs registers the device with the tokio reactor of the caller,
        // and this is called from the JS thread.
        within_runtime_if_available(|| self.node.create_tunnel(&cfg)).map_err(node_err)
    }

    /// Route `allowed` networks ("10.77.0.2/32", "0.0.0.0/0") of TUN `tun` to
    /// transport `id`, and accept from it only packets with a source in them.
    #[napi]
    pub fn attach(&self, tun: String, id: i64, allowed: Vec<String>) -> Result<()> {
        let nets = allowed
            .iter()
            .map(|s| {
                s.parse::<IpNet>()
                    .or_else(|_| s.parse::<IpAddr>().map(IpNet::from))
                    .map_err(|_| coded(Code::InvalidAddress, format!("allowed network must be ADDR/PREFIX, got {s:?}")))
            })
            .collect::<Result<Vec<_>>>()?;
        self.node.attach(&tun, core_id(id)?, &nets).map_err(node_err)
    }

    #[napi]
    pub fn close_tun(&self, tun: String) -> Result<()> {
        self.node.close_tunnel(&tun).map_err(node_err)
    }

    #[napi]
    pub fn close_transport(&self, id: i64) -> Result<()> {
        self.node.close_transport(core_id(id)?).map_err(node_err)
    }

    #[napi]
    pub fn transport(&self, id: i64) -> Option<TransportDescription> {
        self.node.transport(core_id(id).ok()?).map(describe)
    }

    #[napi]
    pub fn transports(&self) -> Vec<TransportDescription> {
        self.node.transports().into_iter().map(describe).collect()
    }

    /// Stop everything. Safe to call twice.
    #[napi]
    pub fn close(&self) {
        self.node.shutdown();
        if let Some(p) = self.pump.lock().unwrap().take() {
            p.abort();
        }
    }
}
