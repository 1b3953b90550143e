//! Inbound dispatch: one decrypted session message becomes a TUN write, a
//! control event, a reply, an RTT sample, an in-band rekey, or (multi-hop) a
//! relayed message or an inner one for a circuit's own session (circuit.rs).

use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;

use super::circuit::{self, Forwarded};
use super::crypto::{self, Inbound};
use super::sink::TunSink;
use super::state::Inner;
use super::transport::Transport;
use super::Event;
use crate::wire::forward::CIRCUIT_LEN;

/// One message handled: done (and whether it authenticated), or an inner
/// message for a circuit transport that ends here.
enum Step {
    Done(bool),
    Inner(Arc<Transport>, Vec<u8>),
}

impl Inner {
    /// Decrypt one session message from transport `tp` and act on it; data packets
    /// are left in `sink` (the caller flushes it when it has read all that is
    /// ready). Returns whether the message authenticated.
    pub(crate) async fn on_session_message(&self, tp: &Arc<Transport>, msg: &[u8], sink: &mut TunSink) -> bool {
        let (mut circuit, mut inner) = match self.on_message(tp, msg, sink).await {
            Step::Done(authenticated) => return authenticated,
            Step::Inner(c, m) => (c, m),
        };
        // The outer message authenticated and carried an inner one for a
        // circuit that ends here: that circuit's own session takes it. A
        // loop, not recursion, for circuits inside circuits.
        loop {
            let step = self.on_message(&circuit, &inner, sink).await;
            circuit::give_buf(inner);
            match step {
                Step::Done(_) => return true,
                Step::Inner(c, m) => (circuit, inner) = (c, m),
            }
        }
    }

    async fn on_message(&self, tp: &Arc<Transport>, msg: &[u8], sink: &mut TunSink) -> Step {
        if msg.first() == Some(&1) {
            return Step::Done(self.on_inband_rekey(tp, msg));
        }
        let tunnel = tp.tunnel.read().unwrap().clone();
        match &tunnel {
            Some(t) => sink.reserve(t).await,
            None => sink.reserve_any().await,
        }
        let now = sink.now();
        let (slot, relays) = sink.slot_and_relays(msg.len());
        let out = &mut slot[TunSink::DECRYPT_AT..];
        let res = {
            let mut s = tp.session.lock().unwrap();
            let res = s.decapsulate(msg, out, now);
            // One relaxed load per message; the rest only once per inbound session.
            if res.is_ok() && tp.unconfirmed.load(Ordering::Relaxed) && s.is_established() {
                drop(s);
                tp.confirmed();
            }
            res
        };
        match res {
            Ok(Inbound::Data(range)) => {
                match &tunnel {
                    Some(t) if t.admit(tp, &out[range.clone()], self.epoch, now) => {
                        sink.commit(t, TunSink::DECRYPT_AT + range.start, range.len())
                    }
                    Some(_) => {}
                    None => tp.counters.drop_one(),
                }
                Step::Done(true)
            }
            Ok(Inbound::Forward(range)) => {
                tp.counters.touch_at(self.epoch, now);
                let range_start = range.start;
                let body = &out[range];
                match self.on_forward(tp, body) {
                    Forwarded::Done => Step::Done(true),
                    // on_forward parsed the body: the inner message follows the circuit.
                    Forwarded::Local(c) => {
                        // Copied out of the sink's slot, which the inner message's
                        // own decryption needs; pooled, so no allocation per packet.
                        let mut inner = circuit::take_buf();
                        inner.extend_from_slice(&body[CIRCUIT_LEN..]);
                        Step::Inner(c, inner)
                    }
                    Forwarded::Relay { to, circuit, splice } => {
                        // The same body, renumbered in place for the next transport,
                        // queued with the other relays of this read: the receive
                        // loop sends them together when it flushes the sink.
                        let range = range_start..range_start + body.len();
                        out[range.start..range.start + CIRCUIT_LEN].copy_from_slice(&circuit.to_be_bytes());
                        relays.push(to, splice, &out[range]);
                        if relays.full() {
                            relays.flush().await;
                        }
                        Step::Done(true)
                    }
                }
            }
            Ok(Inbound::Control(range)) => {
                tp.counters.touch_at(self.epoch, now);
                let _ = self.events.send(Event::Control { id: tp.id, data: out[range].to_vec() });
                Step::Done(true)
            }
            Ok(Inbound::Reply(range)) => {
                tp.counters.touch_at(self.epoch, now);
                tp.link.try_send(&out[range]);
                Step::Done(true)
            }
            Ok(Inbound::Rtt(rtt)) => {
                tp.counters.touch_at(self.epoch, now);
                tp.counters.set_rtt(rtt);
                Step::Done(true)
            }
            Ok(Inbound::Nothing) => {
                tp.counters.touch_at(self.epoch, now);
                Step::Done(true)
            }
            Err(_) => {
                tp.counters.drop_one();
                Step::Done(false)
            }
        }
    }

    /// A handshake initiation inside an established STCPR connection or
    /// circuit: the peer is rekeying.
    fn on_inband_rekey(&self, tp: &Arc<Transport>, msg: &[u8]) -> bool {
        let index = self.alloc_index();
        let mut reply = vec![0u8; 512];
        let src = SocketAddr::new(tp.link.remote_addr().ip(), 0);
        let accepted = self.acceptor.lock().unwrap().accept(src, msg, index, Instant::now(), &mut reply);
        if let Ok(crypto::Accepted::Session(session, len)) = accepted {
            if session.remote() == tp.remote {
                tp.link.try_send(&reply[..len]);
                self.absorb(tp, session, index);
                return true;
            }
        }
        false
    }
}
