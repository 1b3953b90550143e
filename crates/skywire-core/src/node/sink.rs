//! The inbound half of the data path, batched: every receive loop (the UDP
//! socket's, each TCP connection's) decrypts straight into a `TunSink` slot
//! and flushes the sink when it has nothing more ready to read. One flush is
//! one `Tun::send_batch`, where packets of one TCP flow are coalesced into a
//! single TUN write.

use std::sync::Arc;
use std::time::Instant;

use tun_rs::GROTable;

use super::tunnel::Tunnel;
use crate::tun::TUN_HEADROOM;

const MIN_SLOT: usize = 128;
/// Packets held before a flush is forced.
const SINK_SLOTS: usize = 128;
const SLOT_CAPACITY: usize = 2 * TUN_HEADROOM + 65_535;

pub(crate) struct TunSink {
    tunnel: Option<Arc<Tunnel>>,
    bufs: Vec<Vec<u8>>,
    used: usize,
    /// Made at the first flush with packets: its flow tables are large
    /// (~1 MiB touched), and a sink lent for keepalives never needs one.
    gro: Option<GROTable>,
    /// The clock, read once per batch (see [`Self::now`]).
    now: Option<Instant>,
    /// A hop's relays from the same reads (multi-hop), sent at each flush.
    pub(crate) relays: super::circuit::Relays,
    /// The TUN queue flushes write on (a UDP worker's own; tunnel.rs).
    pub(crate) queue: usize,
}

impl TunSink {
    pub(crate) fn new() -> Self {
        // Coalescing appends a flow's packets to its first buffer in place and
        // skips any buffer without room for 64 KiB. The capacity is only
        // address space until a coalesced packet actually fills it, and is
        // reserved when a slot is first used: a sink lent for a keepalive
        // touches one slot, not 128 (each a page of malloc's bookkeeping).
        let bufs = (0..SINK_SLOTS).map(|_| Vec::new()).collect();
        TunSink { tunnel: None, bufs, used: 0, gro: None, now: None, relays: Default::default(), queue: 0 }
    }

    /// Make room for one packet for `tunnel`: a full sink, or one holding
    /// another tunnel's packets, is written out first.
    /// Room for one more slot, for a message that is not for a TUN (yet):
    /// an outer layer of a circuit, whose inner packet follows in the next
    /// slot. Without it a read of more than `SINK_SLOTS` circuit packets
    /// indexed past the last slot (the receive task panicked: the exit of a
    /// batching hop stopped receiving).
    pub(crate) async fn reserve_any(&mut self) {
        if self.used == self.bufs.len() {
            self.flush().await;
        }
    }

    pub(crate) async fn reserve(&mut self, tunnel: &Arc<Tunnel>) {
        let other = self.tunnel.as_ref().is_some_and(|t| !Arc::ptr_eq(t, tunnel));
        if self.used == self.bufs.len() || (other && self.used > 0) {
            self.flush().await;
        }
    }

    /// The next free slot, sized for a message of `len` bytes. Decrypt into
    /// it at offset [`Self::DECRYPT_AT`] so that the IP packet (after the
    /// one-byte frame kind) lands at `TUN_HEADROOM`. With it, the relay
    /// queue (a hop's relay is renumbered in the slot and queued from there).
    pub(crate) fn slot_and_relays(&mut self, len: usize) -> (&mut [u8], &mut super::circuit::Relays) {
        let buf = &mut self.bufs[self.used];
        if buf.capacity() == 0 {
            buf.reserve_exact(SLOT_CAPACITY);
        }
        // The session wants room for a reply (a pong) even for tiny messages.
        buf.resize(TUN_HEADROOM + len.max(MIN_SLOT), 0);
        (&mut buf[..], &mut self.relays)
    }

    pub(crate) const DECRYPT_AT: usize = TUN_HEADROOM - 1;

    /// Keep the slot just filled: its packet is `range` of the slot.
    pub(crate) fn commit(&mut self, tunnel: &Arc<Tunnel>, start: usize, len: usize) {
        let buf = &mut self.bufs[self.used];
        if start != TUN_HEADROOM {
            buf.copy_within(start..start + len, TUN_HEADROOM);
        }
        buf.truncate(TUN_HEADROOM + len);
        if self.tunnel.is_none() {
            self.tunnel = Some(tunnel.clone());
        }
        self.used += 1;
    }

    /// The time for every message of this batch: read on the first call
    /// after a flush (the receive loops flush after each read), so a batch
    /// costs one clock read instead of two per packet (~3 % of a receiving
    /// server's CPU). It dates liveness and the keys' age checks, where a
    /// batch's few microseconds do not matter.
    pub(crate) fn now(&mut self) -> Instant {
        *self.now.get_or_insert_with(Instant::now)
    }

    /// Write out everything held.
    pub(crate) async fn flush(&mut self) {
        self.now = None;
        // Relays first: they are on their way to another visor, not to us.
        // Never skipped when no packet is for the TUN (a hop has none).
        if !self.relays.is_empty() {
            self.relays.flush().await;
        }
        if self.used == 0 {
            return;
        }
        let n = std::mem::take(&mut self.used);
        // Not kept past the flush: a closed tunnel must release its device
        // even while this receive loop lives on.
        if let Some(t) = self.tunnel.take() {
            let gro = self.gro.get_or_insert_with(GROTable::default);
            if t.tun.send_batch_on(self.queue, gro, &mut self.bufs[..n]).await.is_err() {
                // Some of the batch may have been written; count it all.
                t.counters.drop_many(n);
            }
        }
    }
}

/// Sinks lent to TCP connections while they process what they read: a
/// `GROTable` is large (its flow tables are preallocated), so connections
/// share a few instead of holding one each; idle ones hold none.
#[derive(Default)]
pub(crate) struct SinkPool {
    free: std::sync::Mutex<Vec<TunSink>>,
}

impl SinkPool {
    pub(crate) fn take(&self) -> TunSink {
        self.free.lock().unwrap().pop().unwrap_or_else(TunSink::new)
    }

    /// Return a flushed sink.
    pub(crate) fn give(&self, sink: TunSink) {
        debug_assert_eq!(sink.used, 0);
        debug_assert!(sink.relays.is_empty());
        self.free.lock().unwrap().push(sink);
    }
}
