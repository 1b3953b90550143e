//! Per-session and per-tunnel counters. Atomics, because the TUN task and the
//! socket task update the same session concurrently and the host reads them
//! at any time.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant};

#[derive(Default)]
pub struct Counters {
    pub tx_bytes: AtomicU64,
    pub tx_packets: AtomicU64,
    pub rx_bytes: AtomicU64,
    pub rx_packets: AtomicU64,
    /// Packets dropped: spoofed source, no route, full queue, decrypt failure.
    pub dropped: AtomicU64,
    /// Microseconds since `epoch` of the last authenticated packet received.
    last_rx_us: AtomicU64,
    rtt_us: AtomicU64,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Snapshot {
    pub tx_bytes: u64,
    pub tx_packets: u64,
    pub rx_bytes: u64,
    pub rx_packets: u64,
    pub dropped: u64,
    /// Time since the last authenticated packet; `None` if none yet.
    pub last_rx_ago: Option<Duration>,
    pub rtt: Option<Duration>,
    /// Rekeys completed on the session (filled in by the node from the
    /// session state, not kept here).
    pub rekeys: u64,
}

/// Microseconds, at least 1 (0 means "never"): u64 holds 584 thousand years
/// of them, so saturating is only a formality.
fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX).max(1)
}

impl Counters {
    pub fn sent(&self, packets: usize, bytes: usize) {
        self.tx_bytes.fetch_add(bytes as u64, Relaxed);
        self.tx_packets.fetch_add(packets as u64, Relaxed);
    }

    /// A data packet received at `now` (the receive loop reads the clock
    /// once per batch, not per packet).
    pub fn received(&self, bytes: usize, epoch: Instant, now: Instant) {
        self.rx_bytes.fetch_add(bytes as u64, Relaxed);
        self.rx_packets.fetch_add(1, Relaxed);
        self.touch_at(epoch, now);
    }

    /// Any authenticated message (keepalives too) proves the peer is alive.
    pub fn touch(&self, epoch: Instant) {
        self.touch_at(epoch, Instant::now());
    }

    pub fn touch_at(&self, epoch: Instant, now: Instant) {
        self.last_rx_us.store(micros(now.saturating_duration_since(epoch)), Relaxed);
    }

    pub fn drop_one(&self) {
        self.drop_many(1);
    }

    pub fn drop_many(&self, packets: usize) {
        self.dropped.fetch_add(packets as u64, Relaxed);
    }

    pub fn set_rtt(&self, rtt: Duration) {
        self.rtt_us.store(micros(rtt), Relaxed);
    }

    pub fn snapshot(&self, epoch: Instant) -> Snapshot {
        let last = self.last_rx_us.load(Relaxed);
        let rtt = self.rtt_us.load(Relaxed);
        Snapshot {
            tx_bytes: self.tx_bytes.load(Relaxed),
            tx_packets: self.tx_packets.load(Relaxed),
            rx_bytes: self.rx_bytes.load(Relaxed),
            rx_packets: self.rx_packets.load(Relaxed),
            dropped: self.dropped.load(Relaxed),
            last_rx_ago: (last != 0).then(|| epoch.elapsed().saturating_sub(Duration::from_micros(last))),
            rtt: (rtt != 0).then(|| Duration::from_micros(rtt)),
            rekeys: 0,
        }
    }
}
