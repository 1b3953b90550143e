//! Unknown-session hints (docs/wire.md section 1, type 5): how a peer learns
//! within a round trip that the node at the other end restarted, instead of
//! after the host's silence timeout.
//!
//! The restarted node receives transport messages naming a receiver index it
//! never issued. It answers each (rate-limited per source and in total, 8
//! bytes for at least 33, so never an amplifier) with a hint naming that
//! index. The hint is unauthenticated, so the peer never acts on it: it sends
//! an authenticated ping at once and, when nothing authenticated comes back
//! within [`PONG_WITHIN`] (or three RTTs), closes the transport (the host then redials, the
//! usual path). A forged hint costs one ping; a live peer's pong ends the
//! suspicion. Idle transports send nothing new: the hint answers traffic
//! that was going to flow anyway (a ping every 5 s at most when idle).

use std::collections::HashSet;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::probe::SourceLimiter;
use super::transport::Link;
use super::udp::UdpSock;
use super::{Inner, TransportKind};
use crate::router::TransportId;
use crate::wire::message::{write_unknown_session, TRANSPORT_MIN_LEN, UNKNOWN_SESSION_LEN};

/// Hints per source (IPv4 address or IPv6 /64) per second, and its burst: a
/// peer needs one; a few more cover a lost one while its traffic keeps coming.
pub const HINTS_PER_SOURCE_PER_S: u64 = 4;
pub const HINT_BURST_PER_SOURCE: u64 = 4;
/// Hints per second from the whole node: after a restart every client's next
/// packet draws one; beyond this the rest learn from a later packet. 500
/// datagrams of 8 bytes are 32 kbit/s plus headers, only to sources that sent more.
pub const HINTS_PER_S: u64 = 500;
pub const HINT_BURST: u64 = 500;
/// How long the peer waits for an answer to the ping a hint provoked: an RTT
/// on the same continent is well under it. On a slower path (the session's
/// measured RTT) three RTTs, up to PONG_WITHIN_MAX, so a forged hint cannot
/// make a live but distant peer's transport close.
pub const PONG_WITHIN: Duration = Duration::from_millis(300);
pub const PONG_WITHIN_MAX: Duration = Duration::from_secs(2);

/// The node's hint state: the limits on hints it sends, and which transports
/// a hint it received is being checked for.
pub(crate) struct Hints {
    limits: SourceLimiter,
    /// Transports with a ping in flight because of a hint: one check at a time each.
    checking: Mutex<HashSet<TransportId>>,
    pub(crate) sent: AtomicU64,
    pub(crate) refused: AtomicU64,
    /// Pings sent because of a hint, and transports closed when none was answered.
    pub(crate) pinged: AtomicU64,
    pub(crate) closed: AtomicU64,
}

impl Hints {
    pub(crate) fn new() -> Self {
        Hints {
            limits: SourceLimiter::new((HINTS_PER_SOURCE_PER_S, HINT_BURST_PER_SOURCE), (HINTS_PER_S, HINT_BURST)),
            checking: Mutex::new(HashSet::new()),
            sent: AtomicU64::new(0),
            refused: AtomicU64::new(0),
            pinged: AtomicU64::new(0),
            closed: AtomicU64::new(0),
        }
    }

    /// Whether a hint to `ip` may go now; the source's bucket first, so one
    /// flooding source empties only its own.
    fn admit(&self, ip: IpAddr, now: Instant) -> bool {
        let ok = self.limits.admit(ip, now).is_ok();
        if !ok {
            self.refused.fetch_add(1, Ordering::Relaxed);
        }
        ok
    }
}

/// A transport message (`len` bytes) named receiver index `index`, which no
/// session of ours owns: tell the sender, within the limits. Never waits.
/// Anything shorter than a whole transport message is not answered (and
/// spends no tokens, so garbage cannot use up an honest source's).
pub(crate) fn on_unknown_index(inner: &Inner, sock: &UdpSock, index: u32, len: usize, src: SocketAddr) {
    if len < TRANSPORT_MIN_LEN || !inner.hints.admit(src.ip(), Instant::now()) {
        return;
    }
    let mut out = [0u8; UNKNOWN_SESSION_LEN];
    if write_unknown_session(&mut out, index).is_ok() && sock.try_send_to(&out, src).is_ok() {
        inner.hints.sent.fetch_add(1, Ordering::Relaxed);
    }
}

/// A hint came from `src`: ping each SUDPH transport we have with that
/// address, and close it if nothing authenticated arrives within PONG_WITHIN.
pub(crate) fn on_hint(inner: &Arc<Inner>, src: SocketAddr) {
    let suspects: Vec<_> = inner
        .transports
        .read()
        .unwrap()
        .values()
        .filter(|p| p.kind == TransportKind::Sudph && matches!(p.link, Link::Udp { .. }) && p.link.remote_addr() == src)
        .cloned()
        .collect();
    for tp in suspects {
        if !inner.hints.checking.lock().unwrap().insert(tp.id) {
            continue;
        }
        let pinged_at = Instant::now();
        let mut buf = [0u8; 64];
        let ping = tp.session.lock().unwrap().ping(pinged_at, &mut buf);
        if let Ok(n) = ping {
            tp.link.try_send(&buf[..n]);
            inner.hints.pinged.fetch_add(1, Ordering::Relaxed);
        }
        let rtt = tp.counters.snapshot(inner.epoch).rtt.unwrap_or_default();
        let within = (rtt * 3).clamp(PONG_WITHIN, PONG_WITHIN_MAX);
        let weak = Arc::downgrade(inner);
        tokio::spawn(async move {
            tokio::time::sleep(within).await;
            let Some(inner) = weak.upgrade() else { return };
            inner.hints.checking.lock().unwrap().remove(&tp.id);
            // Anything authenticated since the ping (its pong, data, a
            // keepalive) proves the session is alive at the other end.
            let heard = tp.counters.snapshot(inner.epoch).last_rx_ago.is_some_and(|ago| ago < pinged_at.elapsed());
            if !heard && inner.transport(tp.id).is_some() {
                inner.hints.closed.fetch_add(1, Ordering::Relaxed);
                inner.remove_transport(
                    tp.id,
                    "the peer no longer knows the session (restarted) and did not answer a ping",
                );
            }
        });
    }
}
