//! The node's one timer task: keepalive, ping, rekey and expiry of every
//! session, and forgetting rotated indexes.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use super::crypto::{self, Tick};
use super::state::Inner;
use super::transport::Transport;

impl Inner {
    /// Start a rekey of `p`'s session (the timer found its keys due).
    pub(super) fn rekey(&self, p: &Transport, now: Instant, buf: &mut [u8]) {
        let index = self.alloc_index();
        let sent = p.session.lock().unwrap().rekey(index, now, buf);
        if let Ok(n) = sent {
            self.by_index.write().unwrap().insert(index, p.id);
            p.link.try_send(&buf[..n]);
        }
    }
}

/// Session timers (keepalive, ping, rekey, expiry) for all peers, a few times
/// a second: cheap, and no per-packet timer work.
pub(super) async fn timer_loop(inner: std::sync::Weak<Inner>) {
    let mut buf = vec![0u8; 512];
    let mut tick = tokio::time::interval(Duration::from_millis(250));
    let mut rounds: u64 = 0;
    loop {
        tick.tick().await;
        let Some(inner) = inner.upgrade() else { return };
        let peers: Vec<_> = inner.transports.read().unwrap().values().cloned().collect();
        let now = Instant::now();
        // A stranger's handshake may not hold a slot for minutes: an inbound
        // session the initiator never confirms goes after the handshake
        // timeout plus one ping interval (a lost confirmation is repeated by
        // the initiator's first ping).
        let confirm_within = inner.gate.limits().handshake_timeout + crypto::PING_EVERY;
        for p in &peers {
            if p.unconfirmed.load(Ordering::Relaxed) && now.saturating_duration_since(p.since) >= confirm_within {
                inner.remove_transport(p.id, "handshake not confirmed in time");
                continue;
            }
            // Several actions can be due at once (a retransmit and a ping).
            for _ in 0..4 {
                let action = p.session.lock().unwrap().tick(now, &mut buf);
                match action {
                    Tick::Idle => break,
                    Tick::Send(n) => {
                        p.link.try_send(&buf[..n]);
                    }
                    Tick::Rekey => {
                        inner.rekey(p, now, &mut buf);
                        break;
                    }
                    Tick::Expired => {
                        inner.remove_transport(p.id, "session expired: no traffic from the peer");
                        break;
                    }
                }
            }
        }
        // Forget indexes the sessions have rotated away from.
        rounds += 1;
        if rounds.is_multiple_of(40) {
            let mut map = inner.by_index.write().unwrap();
            let peers = inner.transports.read().unwrap();
            map.retain(|idx, id| peers.get(id).is_some_and(|p| p.session.lock().unwrap().owns_index(*idx)));
        }
    }
}
