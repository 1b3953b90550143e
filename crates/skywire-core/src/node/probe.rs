//! Signed latency probes (docs/wire.md section 4): the node's stateless
//! answer on its SUDPH socket, and a prober with a socket of its own, so a
//! plain CLI process (no root, no running visor) can time a server.
//!
//! Answering costs one Ed25519 signature (tens of microseconds), so it is
//! rate-limited before any signing: per source and in total (token buckets,
//! numbers below), and refusals are counted in the node's limit stats.

use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;
use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use tokio::net::UdpSocket;
use tokio::sync::Semaphore;

use super::limits::{source_key, Refusal};
use super::udp::UdpSock;
use super::{Inner, NodeError};
use crate::wire::probe::{ProbeAnswer, ProbeRequest, NONCE_LEN, PK_AT, PROBE_LEN};
use crate::PublicKey;

/// Answers per source (IPv4 address or IPv6 /64) per second, and the burst a
/// source may use at once: a `vpn list` sends one probe per server and
/// resends a lost one a few times; ten at once leaves room for a few users
/// behind one NAT.
pub const PROBES_PER_SOURCE_PER_S: u64 = 5;
pub const PROBE_BURST_PER_SOURCE: u64 = 10;
/// Answers per second from the whole node: a signature took at most 105 us
/// on a loaded 2-core host, so 200 of them are at most 2% of one core, and 200 answers of 132 bytes are 211 kbit/s at most, sent
/// only to sources that sent as many bytes.
pub const PROBES_PER_S: u64 = 200;
pub const PROBE_BURST: u64 = 200;
/// Per-source buckets live in a fixed table indexed by a keyed hash of the
/// source: memory is bounded whatever the sources, and two sources that share
/// a bucket only share a limit (stricter, never looser).
const SOURCE_BUCKETS: usize = 1024;

/// One token is this many micro-tokens: a bucket refilling `rate` tokens per
/// second gains `rate` micro-tokens per microsecond, in integers.
const MICRO: u64 = 1_000_000;

#[derive(Clone, Copy)]
pub(super) struct Bucket {
    micro_tokens: u64,
    at: Instant,
}

impl Bucket {
    pub(super) fn full(burst: u64, now: Instant) -> Self {
        Bucket { micro_tokens: burst * MICRO, at: now }
    }

    /// Refill for the time since the last call, then take one token if there is one.
    pub(super) fn take(&mut self, rate: u64, burst: u64, now: Instant) -> bool {
        let us = u64::try_from(now.saturating_duration_since(self.at).as_micros()).unwrap_or(u64::MAX);
        self.micro_tokens = self.micro_tokens.saturating_add(us.saturating_mul(rate)).min(burst * MICRO);
        self.at = now;
        if self.micro_tokens >= MICRO {
            self.micro_tokens -= MICRO;
            true
        } else {
            false
        }
    }
}

/// Which limit of a [`SourceLimiter`] refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Limited {
    PerSource,
    Total,
}

/// Token buckets per source (IPv4 address or IPv6 /64, in the fixed table by a
/// keyed hash) and one for the whole node: what the probe answers and the
/// unknown-session hints are both limited by.
pub(super) struct SourceLimiter {
    global: Mutex<Bucket>,
    per_source: Mutex<Vec<Bucket>>,
    hasher: RandomState,
    /// Tokens per second and burst: per source, then in total.
    per_source_rate: (u64, u64),
    total_rate: (u64, u64),
}

impl SourceLimiter {
    pub(super) fn new(per_source_rate: (u64, u64), total_rate: (u64, u64)) -> Self {
        let now = Instant::now();
        SourceLimiter {
            global: Mutex::new(Bucket::full(total_rate.1, now)),
            per_source: Mutex::new(vec![Bucket::full(per_source_rate.1, now); SOURCE_BUCKETS]),
            hasher: RandomState::new(),
            per_source_rate,
            total_rate,
        }
    }

    /// Take a token for `ip`. The source's bucket is checked first, so one
    /// flooding source empties only its own.
    pub(super) fn admit(&self, ip: IpAddr, now: Instant) -> Result<(), Limited> {
        let slot = usize::try_from(self.hasher.hash_one(source_key(ip)) % SOURCE_BUCKETS as u64).unwrap_or(0);
        let (rate, burst) = self.per_source_rate;
        if !self.per_source.lock().unwrap()[slot].take(rate, burst, now) {
            return Err(Limited::PerSource);
        }
        let (rate, burst) = self.total_rate;
        if !self.global.lock().unwrap().take(rate, burst, now) {
            return Err(Limited::Total);
        }
        Ok(())
    }
}

/// The node's probe rate limits and counters.
pub(crate) struct ProbeLimiter {
    limits: SourceLimiter,
    answered: AtomicU64,
}

impl ProbeLimiter {
    pub(crate) fn new() -> Self {
        ProbeLimiter {
            limits: SourceLimiter::new((PROBES_PER_SOURCE_PER_S, PROBE_BURST_PER_SOURCE), (PROBES_PER_S, PROBE_BURST)),
            answered: AtomicU64::new(0),
        }
    }

    /// Whether a probe from `ip` may be answered now.
    pub(crate) fn admit(&self, ip: IpAddr, now: Instant) -> Result<(), Refusal> {
        self.limits.admit(ip, now).map_err(|l| match l {
            Limited::PerSource => Refusal::ProbesPerIp,
            Limited::Total => Refusal::ProbesTotal,
        })
    }

    pub(crate) fn answered(&self) -> u64 {
        self.answered.load(Ordering::Relaxed)
    }
}

/// A probe request reached the SUDPH socket: answer it from the same socket
/// if it is well formed, asks for our key, and fits the rate limits. No state
/// is kept, and nothing is sent for anything else.
pub(crate) fn on_probe(inner: &Inner, sock: &UdpSock, msg: &[u8], src: SocketAddr) {
    // Checked before the bucket, so garbage cannot drain an honest source's
    // tokens (its source address may be forged). The length and the raw pk
    // first: a probe for another key costs no curve arithmetic.
    if msg.len() != PROBE_LEN || msg.get(PK_AT) != Some(inner.keypair.public.as_bytes().as_slice()) {
        return;
    }
    let Ok(req) = ProbeRequest::parse(msg) else { return };
    if let Err(why) = inner.gate.probes.admit(src.ip(), Instant::now()) {
        return inner.refused(why, src.ip());
    }
    inner.gate.probes.answered.fetch_add(1, Ordering::Relaxed);
    // Never waits: a full socket buffer drops the answer, as the network may.
    let _ = sock.try_send_to(&req.answer(&inner.keypair).to_bytes(), src);
}

/// What a probe measured: the round trip, and which address answered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Probed {
    pub rtt: Duration,
    pub addr: SocketAddr,
}

/// Most addresses one probe tries (a server publishes a few).
pub const MAX_PROBE_ADDRS: usize = 8;
/// Probes in flight in this process at once, whoever calls: each is one
/// socket and a few datagrams, and more would only measure our own queueing.
pub const MAX_PROBES_IN_FLIGHT: usize = 16;
static IN_FLIGHT: Semaphore = Semaphore::const_new(MAX_PROBES_IN_FLIGHT);

/// When requests go out (ms after the probe starts): at once, then again
/// for a lost datagram, each with a fresh nonce so every answer times the
/// request it answers.
const SENDS_AT_MS: [u64; 5] = [0, 250, 600, 1200, 2500];

fn random_nonce() -> [u8; NONCE_LEN] {
    use rand_core::{OsRng, RngCore};
    let mut n = [0u8; NONCE_LEN];
    OsRng.fill_bytes(&mut n);
    n
}

/// Send a signed probe to `pk` at each of `addrs`, and return the first valid
/// answer's round trip; `None` when none came within `timeout` (offline, a
/// 0.2.0 visor that does not answer probes, rate-limited, or not `pk`).
/// Answers that are unsigned, signed by another key, or for a nonce we did not
/// send are ignored. The socket is our own, marked to bypass a VPN tunnel
/// when the process may do so: the time measured is the direct path's.
pub async fn probe_latency(
    pk: PublicKey,
    addrs: &[SocketAddr],
    timeout: Duration,
) -> Result<Option<Probed>, NodeError> {
    let addrs: Vec<SocketAddr> = addrs.iter().take(MAX_PROBE_ADDRS).copied().collect();
    if addrs.is_empty() {
        return Ok(None);
    }
    let _permit = IN_FLIGHT.acquire().await.map_err(|_| NodeError::Closed)?;
    let start = Instant::now();
    let deadline = start + timeout;
    // One socket for both families when there is IPv6 among the targets
    // (IPv4 ones as mapped addresses), a plain IPv4 one otherwise: a host
    // without IPv6 can still probe.
    let v6 = addrs.iter().any(SocketAddr::is_ipv6);
    let bind: SocketAddr = if v6 { (Ipv6Addr::UNSPECIFIED, 0).into() } else { ([0, 0, 0, 0], 0).into() };
    let sock =
        UdpSocket::bind(bind).await.map_err(|source| NodeError::Listen { what: "probe (UDP)", addr: bind, source })?;
    let _ = super::mark::mark(&sock);
    let to_wire = |a: SocketAddr| match a {
        SocketAddr::V4(v4) if v6 => SocketAddr::new(IpAddr::V6(v4.ip().to_ipv6_mapped()), v4.port()),
        a => a,
    };
    // Every request sent: its nonce, where it went, when. At most
    // MAX_PROBE_ADDRS x SENDS_AT_MS entries.
    let mut sent: Vec<(ProbeRequest, SocketAddr, Instant)> = Vec::new();
    let mut next_send = 0usize;
    let mut buf = [0u8; PROBE_LEN + 1];
    loop {
        let now = Instant::now();
        if now >= deadline {
            return Ok(None);
        }
        while next_send < SENDS_AT_MS.len() && now >= start + Duration::from_millis(SENDS_AT_MS[next_send]) {
            for &a in &addrs {
                let req = ProbeRequest { nonce: random_nonce(), pk };
                // Unreachable addresses fail here (or fail a later send, as
                // an ICMP error): the other addresses are still tried.
                // Timed from before the send: the answer can be back before
                // the send call returns (loopback, a descheduled thread).
                let at = Instant::now();
                if sock.send_to(&req.to_bytes(), to_wire(a)).await.is_ok() {
                    sent.push((req, a, at));
                }
            }
            next_send += 1;
        }
        let wake = SENDS_AT_MS.get(next_send).map_or(deadline, |&ms| (start + Duration::from_millis(ms)).min(deadline));
        let Ok(got) =
            tokio::time::timeout(wake.saturating_duration_since(Instant::now()), sock.recv_from(&mut buf)).await
        else {
            continue;
        };
        let at = Instant::now();
        // An error is an ICMP report about an earlier send: keep listening.
        let Ok((n, _from)) = got else { continue };
        let Ok(answer) = ProbeAnswer::parse(&buf[..n]) else { continue };
        let Some((req, addr, sent_at)) = sent.iter().find(|(r, _, _)| r.nonce == answer.nonce) else { continue };
        if answer.verify(req).is_ok() {
            return Ok(Some(Probed { rtt: at.saturating_duration_since(*sent_at), addr: *addr }));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(198, 51, 100, 1));

    #[test]
    fn bucket_refills_at_its_rate_up_to_its_burst() {
        let t0 = Instant::now();
        let mut b = Bucket::full(3, t0);
        assert!((0..3).all(|_| b.take(2, 3, t0)));
        assert!(!b.take(2, 3, t0), "burst used up");
        // 2 per second: one token after 500 ms, not before.
        assert!(!b.take(2, 3, t0 + Duration::from_millis(499)));
        assert!(b.take(2, 3, t0 + Duration::from_millis(500)));
        // A long pause refills to the burst, no further.
        let later = t0 + Duration::from_secs(3600);
        assert_eq!((0..10).filter(|_| b.take(2, 3, later)).count(), 3);
    }

    #[test]
    fn per_source_then_global_limits() {
        let l = ProbeLimiter::new();
        let now = Instant::now();
        let ok = (0..50).filter(|_| l.admit(A, now).is_ok()).count();
        assert_eq!(ok, usize::try_from(PROBE_BURST_PER_SOURCE).unwrap());
        assert_eq!(l.admit(A, now), Err(Refusal::ProbesPerIp));
        // Many sources: the global bucket caps the total.
        let mut admitted = 0;
        let mut refused_total = 0;
        for i in 0..2000u32 {
            let ip = IpAddr::V4(std::net::Ipv4Addr::from(0x0a00_0000 + i));
            match l.admit(ip, now) {
                Ok(()) => admitted += 1,
                Err(Refusal::ProbesTotal) => refused_total += 1,
                Err(_) => {}
            }
        }
        assert_eq!(admitted + ok, usize::try_from(PROBE_BURST).unwrap());
        assert!(refused_total > 1000);
        // A second later the source may again, at its rate.
        let later = now + Duration::from_secs(1);
        assert!(l.admit(A, later).is_ok());
    }
}
