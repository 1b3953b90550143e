//! The visor's network node for TypeScript: listen, dial, control messages,
//! TUNs and counters. Events reach JavaScript through one threadsafe
//! function; packets never do.

use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ipnet::IpNet;
use napi::bindgen_prelude::*;
use napi::threadsafe_function::{ThreadsafeFunction, ThreadsafeFunctionCallMode};
use napi_derive::napi;
use skywire_core::node::{Event, LimitStats, Limits, Node, NodeConfig, NodeError, TransportInfo};
use skywire_core::tun::TunConfig;
use skywire_core::{Keypair, PublicKey, SecretKey};
use tokio::task::JoinHandle;

use crate::{coded, core_err};

fn node_err(e: NodeError) -> Error {
    coded(e.code(), e)
}

fn parse_addr(s: &str, what: &str) -> Result<SocketAddr> {
    s.parse().map_err(|_| coded("EINVALIDADDR", format!("{what} must be IP:PORT, got {s:?}")))
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
    /// LAN addresses announced to the resolver (tried first by same-NAT peers).
    pub local_addrs: Option<Vec<String>>,
    /// Caps on what strangers can make the node hold; absent fields keep the core's defaults.
    pub limits: Option<NodeLimits>,
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
                *slot = v as usize;
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
}

impl From<LimitStats> for NodeLimitStats {
    fn from(s: LimitStats) -> Self {
        NodeLimitStats {
            pending: s.pending as u32,
            sessions: s.sessions as u32,
            refused_pending_total: s.refused_pending_total as f64,
            refused_pending_per_ip: s.refused_pending_per_ip as f64,
            refused_sessions_total: s.refused_sessions_total as f64,
            refused_sessions_per_ip: s.refused_sessions_per_ip as f64,
            refused_bad_first_frame: s.refused_bad_first_frame as f64,
        }
    }
}

/// One event from the node. `kind` says which fields are set:
/// "session-up" (id, peer, transport, remote, initiator), "control" (id, data),
/// "session-down" (id, peer, reason), "punch" (peer, stage, addr?),
/// "bound" (observed), "refused" (reason: the limit, addr: the source that
/// triggered this report, limits: the counts; at most one every 10 s).
#[napi(object)]
pub struct NodeEvent {
    pub kind: String,
    pub id: Option<u32>,
    pub peer: Option<String>,
    pub transport: Option<String>,
    pub remote: Option<String>,
    pub initiator: Option<bool>,
    pub data: Option<Buffer>,
    pub reason: Option<String>,
    pub stage: Option<String>,
    pub addr: Option<String>,
    pub observed: Option<String>,
    pub limits: Option<NodeLimitStats>,
}

impl NodeEvent {
    fn empty(kind: &str) -> Self {
        NodeEvent {
            kind: kind.into(),
            id: None,
            peer: None,
            transport: None,
            remote: None,
            initiator: None,
            data: None,
            reason: None,
            stage: None,
            addr: None,
            observed: None,
            limits: None,
        }
    }

    fn from_core(e: Event) -> Self {
        match e {
            Event::TransportUp { id, peer, transport, remote, initiator } => NodeEvent {
                id: Some(id as u32),
                peer: Some(peer.to_hex()),
                transport: Some(transport.as_str().into()),
                remote: Some(remote.to_string()),
                initiator: Some(initiator),
                ..Self::empty("session-up")
            },
            Event::Control { id, data } => {
                NodeEvent { id: Some(id as u32), data: Some(data.into()), ..Self::empty("control") }
            }
            Event::TransportDown { id, peer, reason } => NodeEvent {
                id: Some(id as u32),
                peer: Some(peer.to_hex()),
                reason: Some(reason),
                ..Self::empty("session-down")
            },
            Event::Punch { peer, stage, addr } => NodeEvent {
                peer: Some(peer.to_hex()),
                stage: Some(stage),
                addr: addr.map(|a| a.to_string()),
                ..Self::empty("punch")
            },
            Event::Bound { observed } => NodeEvent { observed: Some(observed.to_string()), ..Self::empty("bound") },
            Event::Refused { why, from, stats } => NodeEvent {
                reason: Some(why.as_str().into()),
                addr: Some(from.to_string()),
                limits: Some(stats.into()),
                ..Self::empty("refused")
            },
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
}

#[napi(object)]
pub struct SessionStats {
    pub tx_bytes: f64,
    pub tx_packets: f64,
    pub rx_bytes: f64,
    pub rx_packets: f64,
    pub dropped: f64,
    /// Milliseconds since the last authenticated packet from the peer.
    pub last_rx_ms: Option<f64>,
    /// Round-trip time from keepalive pings, in milliseconds.
    pub rtt_ms: Option<f64>,
    /// Rekeys completed on this session (the first handshake does not count).
    pub rekeys: f64,
}

#[napi(object)]
pub struct SessionDescription {
    pub id: u32,
    pub peer: String,
    pub transport: String,
    pub remote: String,
    pub initiator: bool,
    pub tun: Option<String>,
    pub age_ms: f64,
    pub stats: SessionStats,
}

fn describe(s: TransportInfo) -> SessionDescription {
    let st = s.stats;
    SessionDescription {
        id: s.id as u32,
        peer: s.peer.to_hex(),
        transport: s.transport.as_str().into(),
        remote: s.remote.to_string(),
        initiator: s.initiator,
        tun: s.tunnel,
        age_ms: s.age.as_secs_f64() * 1000.0,
        stats: SessionStats {
            tx_bytes: st.tx_bytes as f64,
            tx_packets: st.tx_packets as f64,
            rx_bytes: st.rx_bytes as f64,
            rx_packets: st.rx_packets as f64,
            dropped: st.dropped as f64,
            last_rx_ms: st.last_rx_ago.map(|d| d.as_secs_f64() * 1000.0),
            rtt_ms: st.rtt.map(|d| d.as_secs_f64() * 1000.0),
            rekeys: st.rekeys as f64,
        },
    }
}

type EventFn = ThreadsafeFunction<NodeEvent, (), NodeEvent, Status, false>;

/// A running visor node. Call `close()` when done: it stops every task,
/// closes sessions and TUNs, and releases the event callback.
#[napi]
pub struct VisorNode {
    node: Arc<Node>,
    pump: Mutex<Option<JoinHandle<()>>>,
}

#[napi]
impl VisorNode {
    /// Bind the listeners and start. `onEvent` receives every node event.
    #[napi(factory, ts_args_type = "options: NodeOptions, onEvent: (event: NodeEvent) => void")]
    pub async fn start(options: NodeOptions, on_event: Arc<EventFn>) -> Result<VisorNode> {
        let sk: SecretKey = options.secret_key.parse().map_err(core_err)?;
        let cfg = NodeConfig {
            keypair: Keypair::from_secret(sk),
            stcpr_listen: options.stcpr_listen.as_deref().map(|s| parse_addr(s, "stcprListen")).transpose()?,
            sudph_listen: options.sudph_listen.as_deref().map(|s| parse_addr(s, "sudphListen")).transpose()?,
            resolver: options.resolver.as_deref().map(|s| parse_addr(s, "resolver")).transpose()?,
            local_addrs: options
                .local_addrs
                .unwrap_or_default()
                .iter()
                .map(|s| parse_addr(s, "localAddrs"))
                .collect::<Result<_>>()?,
            responder: Default::default(),
            limits: limits(options.limits),
        };
        let (node, mut events) = Node::start(cfg).await.map_err(node_err)?;
        let pump = tokio::spawn(async move {
            while let Some(e) = events.recv().await {
                on_event.call(NodeEvent::from_core(e), ThreadsafeFunctionCallMode::NonBlocking);
            }
        });
        Ok(VisorNode { node: Arc::new(node), pump: Mutex::new(Some(pump)) })
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

    /// Open a session to `pk`. transport "stcpr" needs `addrs` (from the
    /// address resolver); "sudph" punches through the resolver unless
    /// `addrs` are given. Resolves to the session id.
    #[napi]
    pub async fn dial(&self, pk: String, transport: String, addrs: Option<Vec<String>>, timeout_ms: u32) -> Result<u32> {
        let remote = parse_pk(&pk)?;
        let addrs: Vec<SocketAddr> =
            addrs.unwrap_or_default().iter().map(|s| parse_addr(s, "address")).collect::<Result<_>>()?;
        let timeout = Duration::from_millis(timeout_ms.max(1) as u64);
        let id = match transport.as_str() {
            "stcpr" => self.node.dial_stcpr(remote, &addrs, timeout).await,
            "sudph" => self.node.dial_sudph(remote, (!addrs.is_empty()).then_some(addrs), timeout).await,
            other => return Err(coded("EINVALIDTRANSPORT", format!("unknown transport {other:?} (stcpr or sudph)"))),
        }
        .map_err(node_err)?;
        Ok(id as u32)
    }

    /// Send a control message (at most 60 KiB) over session `id`.
    #[napi]
    pub fn send_control(&self, id: u32, data: Buffer) -> Result<()> {
        self.node.send_control(id as u64, &data).map_err(node_err)
    }

    /// Create a TUN, addressed and up. Returns its name.
    #[napi]
    pub fn create_tun(&self, options: TunOptions) -> Result<String> {
        let mut cfg = TunConfig { name: options.name, ..Default::default() };
        if let Some(m) = options.mtu {
            cfg.mtu = m;
        }
        if let Some(v4) = options.ipv4 {
            match v4.parse::<IpNet>() {
                Ok(IpNet::V4(n)) => cfg.ipv4 = Some((n.addr(), n.prefix_len())),
                _ => return Err(coded("EINVALIDADDR", format!("ipv4 must be ADDR/PREFIX, got {v4:?}"))),
            }
        }
        if let Some(v6) = options.ipv6 {
            match v6.parse::<IpNet>() {
                Ok(IpNet::V6(n)) => cfg.ipv6 = Some((n.addr(), n.prefix_len())),
                _ => return Err(coded("EINVALIDADDR", format!("ipv6 must be ADDR/PREFIX, got {v6:?}"))),
            }
        }
        // tun-rs registers the device with the tokio reactor of the caller,
        // and this is called from the JS thread.
        napi::bindgen_prelude::within_runtime_if_available(|| self.node.create_tunnel(&cfg)).map_err(node_err)
    }

    /// Route `allowed` networks ("10.77.0.2/32", "0.0.0.0/0") of TUN `tun` to
    /// session `id`, and accept from it only packets with a source in them.
    #[napi]
    pub fn attach(&self, tun: String, id: u32, allowed: Vec<String>) -> Result<()> {
        let nets = allowed
            .iter()
            .map(|s| {
                s.parse::<IpNet>()
                    .or_else(|_| s.parse::<IpAddr>().map(IpNet::from))
                    .map_err(|_| coded("EINVALIDADDR", format!("allowed network must be ADDR/PREFIX, got {s:?}")))
            })
            .collect::<Result<Vec<_>>>()?;
        self.node.attach(&tun, id as u64, &nets).map_err(node_err)
    }

    #[napi]
    pub fn close_tun(&self, tun: String) -> Result<()> {
        self.node.close_tunnel(&tun).map_err(node_err)
    }

    #[napi]
    pub fn close_transport(&self, id: u32) -> Result<()> {
        self.node.close_transport(id as u64).map_err(node_err)
    }

    #[napi]
    pub fn session(&self, id: u32) -> Option<SessionDescription> {
        self.node.transport(id as u64).map(describe)
    }

    #[napi]
    pub fn sessions(&self) -> Vec<SessionDescription> {
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
