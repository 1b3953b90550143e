//! Admission of inbound handshakes and sessions: what a stranger can make a
//! node hold before and after authenticating (docs/design.md section 7).
//!
//! Anyone who knows a node's public key can dial it, so each inbound dial is
//! counted from its first moment:
//! - *pending*: an STCPR connection from `accept` until the peer's first
//!   transport message confirms the new keys; a SUDPH responder session from
//!   the handshake until that confirmation. Pending handshakes are capped in
//!   total and per source, and expire after `handshake_timeout`.
//! - *session*: an inbound session from the handshake until it closes, capped
//!   in total and per source.
//!
//! Sessions we dial ourselves are never counted: we chose them.
//!
//! A [`Ticket`] holds one inbound dial's share of the counts and gives it back
//! when dropped, so no exit path can leak a slot.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::probe::ProbeLimiter;

/// Milliseconds of a duration since the node started: u64 holds 584 million
/// years of them, so saturating is only a formality.
fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// The caps. `Default` suits a small VPS (1 vCPU, 1 GiB): see each field.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Inbound handshakes not yet confirmed, in total. A pending STCPR
    /// connection costs a few KiB (socket, task, a fixed 184-byte frame
    /// buffer), so 256 is under 2 MiB; enough for a burst of honest
    /// reconnects after a server restart.
    pub pending_handshakes: usize,
    /// ...and per source (an IPv4 address, or an IPv6 /64: one host usually
    /// has a whole /64). A client makes one handshake at a time; a few
    /// households behind one NAT may make several.
    pub pending_handshakes_per_ip: usize,
    /// Inbound sessions in total. An idle STCPR session holds no read buffer
    /// (freed when idle), a busy one up to 128 KiB plus its send queue: 1024
    /// stays well inside 1 GiB even when all are busy.
    pub sessions: usize,
    /// Inbound sessions per source (IPv4 address or IPv6 /64): a carrier-grade
    /// NAT puts many users behind one address, so not too small.
    pub sessions_per_ip: usize,
    /// How long a handshake may take: an STCPR connection that has not sent
    /// a whole initiation by then is closed. An inbound session whose keys are
    /// not confirmed by the initiator within this plus one ping interval
    /// (the initiator pings every 5 s, which confirms a lost confirmation)
    /// is dropped.
    pub handshake_timeout: Duration,
    /// Inbound circuit handshakes (multi-hop, circuit.rs) not yet confirmed
    /// per via transport, i.e. per hop: every client of a hop dials us
    /// through its one transport with us, so a per-IP cap would make a busy
    /// hop look like one greedy host. The totals above still apply.
    pub circuit_pending_per_via: usize,
    /// Inbound circuit sessions per via transport: as many as one transport
    /// carries circuits (`MAX_CIRCUITS`), so the hop's own limits (per
    /// client, whitelist) decide, not ours. The totals above still apply.
    pub circuit_sessions_per_via: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            pending_handshakes: 256,
            pending_handshakes_per_ip: 8,
            sessions: 1024,
            sessions_per_ip: 32,
            handshake_timeout: Duration::from_secs(5),
            circuit_pending_per_via: 128,
            circuit_sessions_per_via: super::circuit::MAX_CIRCUITS,
        }
    }
}

/// Why an inbound dial was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    PendingTotal,
    PendingPerIp,
    SessionsTotal,
    SessionsPerIp,
    /// The first STCPR frame announced a length no valid first message has.
    BadFirstFrame,
    /// A latency probe over its source's rate (node/probe.rs).
    ProbesPerIp,
    /// A latency probe over the node's total rate.
    ProbesTotal,
}

impl Refusal {
    pub fn as_str(self) -> &'static str {
        match self {
            Refusal::PendingTotal => "pending handshakes (total)",
            Refusal::PendingPerIp => "pending handshakes per source",
            Refusal::SessionsTotal => "sessions (total)",
            Refusal::SessionsPerIp => "sessions per source",
            Refusal::BadFirstFrame => "bad first frame",
            Refusal::ProbesPerIp => "latency probes per source",
            Refusal::ProbesTotal => "latency probes (total)",
        }
    }
}

/// How many inbound dials each limit refused since the node started.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LimitStats {
    pub pending: usize,
    pub sessions: usize,
    pub refused_pending_total: u64,
    pub refused_pending_per_ip: u64,
    pub refused_sessions_total: u64,
    pub refused_sessions_per_ip: u64,
    pub refused_bad_first_frame: u64,
    /// Latency probes answered, and refused by each rate limit.
    pub probes_answered: u64,
    pub refused_probes_per_ip: u64,
    pub refused_probes_total: u64,
}

/// The tag bit of a via transport's key (`via_key`): apart from every IP's.
const VIA_TAG: u128 = 1 << 126;

/// The source a circuit's inbound dial counts by: its via transport.
pub(crate) fn via_key(via: u64) -> u128 {
    VIA_TAG | u128::from(via)
}

/// The per-source caps (pending, sessions) for `key`: per IP, or per via
/// transport for a circuit.
fn source_caps(l: &Limits, key: u128) -> (usize, usize) {
    if key & (VIA_TAG | (1 << 127)) == VIA_TAG {
        (l.circuit_pending_per_via, l.circuit_sessions_per_via)
    } else {
        (l.pending_handshakes_per_ip, l.sessions_per_ip)
    }
}

/// The source a per-IP limit counts by. IPv6 by /64: a host that owns a /64
/// could otherwise claim 2^64 "sources".
pub(crate) fn source_key(ip: IpAddr) -> u128 {
    match ip {
        IpAddr::V4(v4) => u128::from(u32::from(v4)),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => u128::from(u32::from(v4)),
            None => (u128::from(v6) >> 64) | (1 << 127),
        },
    }
}

#[derive(Default)]
struct Counts {
    pending: usize,
    sessions: usize,
}

#[derive(Default)]
struct State {
    pending: usize,
    sessions: usize,
    /// Only sources that hold something: at most pending + sessions entries.
    by_source: HashMap<u128, Counts>,
}

/// Whether one more session fits the caps, given the source's sessions.
fn session_room(l: &Limits, st: &State, key: u128, ip_sessions: usize) -> Result<(), Refusal> {
    if st.sessions >= l.sessions {
        return Err(Refusal::SessionsTotal);
    }
    if ip_sessions >= source_caps(l, key).1 {
        return Err(Refusal::SessionsPerIp);
    }
    Ok(())
}

/// Counters the node reports; one per [`Refusal`].
#[derive(Default)]
struct Refused([AtomicU64; 7]);

pub(crate) struct Gate {
    limits: Limits,
    state: Mutex<State>,
    refused: Refused,
    /// The latency probes' rate limits (they count their refusals here too).
    pub(crate) probes: ProbeLimiter,
    /// When the last "refused" report went out (ms since `epoch`), so a flood
    /// produces one report per interval, not one per connection.
    last_report: AtomicU64,
    epoch: Instant,
}

/// How often at most a flood of refusals is reported to the host.
pub(crate) const REPORT_EVERY: Duration = Duration::from_secs(10);

impl Gate {
    pub(crate) fn new(limits: Limits) -> Arc<Gate> {
        Arc::new(Gate {
            limits,
            state: Mutex::new(State::default()),
            refused: Refused::default(),
            probes: ProbeLimiter::new(),
            last_report: AtomicU64::new(0),
            epoch: Instant::now(),
        })
    }

    pub(crate) fn limits(&self) -> &Limits {
        &self.limits
    }

    /// A new inbound dial from `ip` starts its handshake: take a pending slot
    /// if the pending caps allow, and only if the session caps leave room for
    /// it to become a session (a full server need not even read the dial).
    pub(crate) fn begin(self: &Arc<Self>, ip: IpAddr) -> Result<Ticket, Refusal> {
        self.begin_keyed(source_key(ip))
    }

    /// `begin` for a source named by its key: a circuit's inbound dial is
    /// counted per via transport (circuit.rs), not per IP.
    pub(crate) fn begin_keyed(self: &Arc<Self>, key: u128) -> Result<Ticket, Refusal> {
        let l = &self.limits;
        let mut st = self.state.lock().unwrap();
        let (ip_pending, ip_sessions) = st.by_source.get(&key).map_or((0, 0), |c| (c.pending, c.sessions));
        if st.pending >= l.pending_handshakes {
            return Err(Refusal::PendingTotal);
        }
        // Per IP, or per via transport for a circuit (counted as "per IP").
        if ip_pending >= source_caps(l, key).0 {
            return Err(Refusal::PendingPerIp);
        }
        session_room(l, &st, key, ip_sessions)?;
        st.pending += 1;
        st.by_source.entry(key).or_default().pending += 1;
        Ok(Ticket { gate: self.clone(), key, pending: true, session: false })
    }

    /// Whether a handshake from `ip` can only be a newcomer that the caps
    /// refuse anyway: nothing of ours is at that source (so it cannot be a
    /// rekey of a session we hold) and `begin` would refuse. Lets SUDPH drop
    /// such an initiation before any Diffie-Hellman work.
    pub(crate) fn refuses_newcomer(&self, ip: IpAddr) -> Option<Refusal> {
        let l = &self.limits;
        let st = self.state.lock().unwrap();
        if st.by_source.contains_key(&source_key(ip)) {
            return None;
        }
        if st.pending >= l.pending_handshakes {
            Some(Refusal::PendingTotal)
        } else if st.sessions >= l.sessions {
            Some(Refusal::SessionsTotal)
        } else {
            None
        }
    }

    /// Count a refusal (the caller refused: `begin` and `establish` only
    /// say why); true when it is time to tell the host about refusals
    /// (at most once per [`REPORT_EVERY`]).
    pub(crate) fn count(&self, why: Refusal) -> bool {
        self.refused.0[why as usize].fetch_add(1, Ordering::Relaxed);
        let every = millis(REPORT_EVERY);
        let now = millis(self.epoch.elapsed()) + every;
        let last = self.last_report.load(Ordering::Relaxed);
        now.saturating_sub(last) >= every
            && self.last_report.compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed).is_ok()
    }

    pub(crate) fn stats(&self) -> LimitStats {
        let st = self.state.lock().unwrap();
        let r = |w: Refusal| self.refused.0[w as usize].load(Ordering::Relaxed);
        LimitStats {
            pending: st.pending,
            sessions: st.sessions,
            refused_pending_total: r(Refusal::PendingTotal),
            refused_pending_per_ip: r(Refusal::PendingPerIp),
            refused_sessions_total: r(Refusal::SessionsTotal),
            refused_sessions_per_ip: r(Refusal::SessionsPerIp),
            refused_bad_first_frame: r(Refusal::BadFirstFrame),
            probes_answered: self.probes.answered(),
            refused_probes_per_ip: r(Refusal::ProbesPerIp),
            refused_probes_total: r(Refusal::ProbesTotal),
        }
    }

    fn release(&self, key: u128, pending: bool, session: bool) {
        let mut st = self.state.lock().unwrap();
        let Some(c) = st.by_source.get_mut(&key) else { return };
        if pending {
            c.pending -= 1;
        }
        if session {
            c.sessions -= 1;
        }
        if c.pending == 0 && c.sessions == 0 {
            st.by_source.remove(&key);
        }
        if pending {
            st.pending -= 1;
        }
        if session {
            st.sessions -= 1;
        }
    }
}

/// One inbound dial's share of the counts. Dropping it gives them back.
pub(crate) struct Ticket {
    gate: Arc<Gate>,
    key: u128,
    pending: bool,
    session: bool,
}

impl Ticket {
    /// The handshake produced a session: take a session slot if the caps
    /// allow (they may have filled since `begin`). The pending slot stays
    /// until [`confirm`](Self::confirm).
    pub(crate) fn establish(&mut self) -> Result<(), Refusal> {
        if self.session {
            return Ok(());
        }
        let l = self.gate.limits;
        let mut st = self.gate.state.lock().unwrap();
        let ip_sessions = st.by_source.get(&self.key).map_or(0, |c| c.sessions);
        session_room(&l, &st, self.key, ip_sessions)?;
        st.sessions += 1;
        st.by_source.entry(self.key).or_default().sessions += 1;
        self.session = true;
        Ok(())
    }

    /// The initiator confirmed the keys: the handshake is no longer pending.
    pub(crate) fn confirm(&mut self) {
        if self.pending {
            self.pending = false;
            self.gate.release(self.key, true, false);
        }
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        if self.pending || self.session {
            self.gate.release(self.key, self.pending, self.session);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gate(p: usize, pi: usize, s: usize, si: usize) -> Arc<Gate> {
        Gate::new(Limits {
            pending_handshakes: p,
            pending_handshakes_per_ip: pi,
            sessions: s,
            sessions_per_ip: si,
            handshake_timeout: Duration::from_secs(5),
            circuit_pending_per_via: 2,
            circuit_sessions_per_via: 3,
        })
    }

    const A: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(198, 51, 100, 1));
    const B: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(198, 51, 100, 2));

    #[test]
    fn pending_caps_per_source_and_in_total() {
        let g = gate(3, 2, 100, 100);
        let a1 = g.begin(A).unwrap();
        let _a2 = g.begin(A).unwrap();
        assert_eq!(g.begin(A).err(), Some(Refusal::PendingPerIp));
        let _b1 = g.begin(B).unwrap();
        assert_eq!(g.begin(B).err(), Some(Refusal::PendingTotal));
        drop(a1);
        assert!(g.begin(B).is_ok(), "a dropped ticket gives its slot back");
    }

    #[test]
    fn session_caps_and_confirmation() {
        let g = gate(100, 100, 3, 2);
        let mut t: Vec<Ticket> = (0..2).map(|_| g.begin(A).unwrap()).collect();
        for x in &mut t {
            x.establish().unwrap();
            x.confirm();
        }
        assert_eq!(g.stats().pending, 0);
        // A third from A cannot become a session: refused before its handshake.
        assert_eq!(g.begin(A).err(), Some(Refusal::SessionsPerIp));
        let mut b = g.begin(B).unwrap();
        b.establish().unwrap();
        assert_eq!(g.begin(B).err(), Some(Refusal::SessionsTotal));
        assert_eq!(g.stats().sessions, 3);
        drop(t.pop());
        assert_eq!(g.stats().sessions, 2);
        assert!(g.begin(A).is_ok());
    }

    #[test]
    fn establish_rechecks_the_caps() {
        let g = gate(100, 100, 1, 1);
        let mut a = g.begin(A).unwrap();
        let mut b = g.begin(B).unwrap();
        a.establish().unwrap();
        assert_eq!(b.establish(), Err(Refusal::SessionsTotal));
        drop((a, b));
        assert_eq!(g.stats().pending + g.stats().sessions, 0);
        assert!(g.state.lock().unwrap().by_source.is_empty(), "no entry outlives its tickets");
    }

    #[test]
    fn ipv6_counts_by_64() {
        let g = gate(100, 1, 100, 100);
        let _a = g.begin("2001:db8:1:2::1".parse().unwrap()).unwrap();
        assert_eq!(g.begin("2001:db8:1:2::ffff".parse().unwrap()).err(), Some(Refusal::PendingPerIp));
        assert!(g.begin("2001:db8:1:3::1".parse().unwrap()).is_ok());
        // An IPv4-mapped address is the IPv4 source it maps.
        let _v4 = g.begin("192.0.2.7".parse().unwrap()).unwrap();
        assert!(g.begin("::ffff:192.0.2.7".parse().unwrap()).is_err());
    }

    #[test]
    fn newcomers_refused_before_any_work_only_when_nothing_is_at_their_source() {
        let g = gate(1, 1, 100, 100);
        let _a = g.begin(A).unwrap();
        assert_eq!(g.refuses_newcomer(B), Some(Refusal::PendingTotal));
        assert_eq!(g.refuses_newcomer(A), None, "A may be rekeying a session of ours");
    }

    #[test]
    fn reports_are_rate_limited() {
        let g = gate(0, 0, 0, 0);
        assert!(g.count(Refusal::PendingTotal), "the first refusal is reported");
        assert!(!g.count(Refusal::PendingTotal));
        assert!(!g.count(Refusal::BadFirstFrame));
        assert_eq!(g.stats().refused_pending_total, 2);
    }

    #[test]
    fn circuits_count_per_via_transport_under_their_own_caps() {
        // Per IP: 1 pending, 1 session; per via: 2 pending, 3 sessions.
        let g = gate(100, 1, 100, 1);
        let (v1, v2) = (via_key(7), via_key(8));
        assert_ne!(v1, source_key(A));
        let mut t: Vec<Ticket> = (0..2).map(|_| g.begin_keyed(v1).unwrap()).collect();
        assert_eq!(g.begin_keyed(v1).err(), Some(Refusal::PendingPerIp));
        // Another via transport, and an IP, have their own counts.
        let _other = g.begin_keyed(v2).unwrap();
        let _ip = g.begin(A).unwrap();
        assert_eq!(g.begin(A).err(), Some(Refusal::PendingPerIp));
        for x in &mut t {
            x.establish().unwrap();
            x.confirm();
        }
        let mut third = g.begin_keyed(v1).unwrap();
        third.establish().unwrap();
        third.confirm();
        assert_eq!(g.begin_keyed(v1).err(), Some(Refusal::SessionsPerIp), "3 sessions per via");
        // The totals bind circuits too.
        let g = gate(1, 100, 100, 100);
        let _a = g.begin_keyed(v1).unwrap();
        assert_eq!(g.begin_keyed(v2).err(), Some(Refusal::PendingTotal));
    }
}
