//! SUDPH: sessions over one UDP socket, with NAT hole punching coordinated by
//! the address resolver (docs/wire.md sections 1 and 3).
//!
//! One task per socket (one per worker, udp.rs) reads it and dispatches by the first byte: session
//! messages go to the session named by their receiver index (or to the
//! acceptor for new handshakes), resolver messages to the resolver state,
//! latency probes to their stateless answer (probe.rs). Data packets take
//! the first arm: the probe costs them nothing.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, oneshot};

use super::crypto::{self, Accepted, Established, Progress};
use super::resolver::{self, ErrorCode, PeerAddress, ResolverMessage};
use super::sink::TunSink;
use super::transport::{Link, Transport};
use super::udp::{RecvBatch, UdpSock};
use super::{Event, Inner, NodeError, TransportKind};
use crate::wire::message::{classify, Route};
use crate::PublicKey;

/// When the dialer sends its handshake (ms after the dial starts), then every
/// PROBE_EVERY until the deadline. The two NAT mappings open at different
/// moments, and a probe that reaches the peer's NAT before the peer's own
/// punch went out is dropped there: the next one, 50 ms later, gets through.
/// Each probe is one small datagram to each candidate address.
const PROBES: [u64; 10] = [0, 50, 100, 200, 400, 800, 1200, 1600, 2000, 2500];
const PROBE_EVERY: u64 = 500;

/// When the dialed side punches towards the dialer (ms after the resolver told
/// it to), until a session with the dialer is up: one punch can be lost, or
/// leave before the dialer's NAT has a mapping to let it through.
const PUNCHES: [u64; 8] = [0, 50, 100, 200, 400, 800, 1600, 3200];

pub(crate) fn probe_at(i: usize) -> Duration {
    let last = PROBES[PROBES.len() - 1];
    let ms = PROBES.get(i).copied().unwrap_or_else(|| last + (i + 1 - PROBES.len()) as u64 * PROBE_EVERY);
    Duration::from_millis(ms)
}

/// How long the dialer waits, after the resolver answered, before sending
/// anything to a peer behind a NAT. The resolver tells the peer at the same
/// moment, and the peer punches at once; a NAT that answers unsolicited
/// packets itself (ICMP port unreachable) keeps a conntrack entry for our
/// first packet if it arrives before that punch left, and then gives the
/// punch another port, which a port-restricted NAT on our side never lets in.
/// On the internet the path between the peers is usually longer than this
/// difference anyway; in a LAN-speed lab it is not.
const HEAD_START: Duration = Duration::from_millis(30);

/// Only for a peer we know is behind a NAT (it published LAN addresses and
/// none is what the resolver sees) and not behind ours (then the LAN is used).
fn needs_head_start(inner: &Inner, info: &PeerAddress) -> bool {
    let same_nat = behind_same_nat(inner, info);
    !same_nat && !info.local_addrs.is_empty() && info.local_addrs.iter().all(|a| a.ip() != info.observed.ip())
}

/// At most this many addresses learned from one peer's punches per dial.
const MAX_LEARNED: usize = 8;

/// A SUDPH dial in progress. The peer's punches may arrive from another port
/// than the resolver saw (its NAT picked a new one, e.g. because our early
/// probe left a conntrack entry there that clashes): such a source becomes a
/// target too, but only on an IP the resolver named for the peer, so a forged
/// punch cannot point our probes at anyone else.
#[derive(Debug, Default)]
pub(crate) struct Dialing {
    ips: Vec<IpAddr>,
    learned: Vec<SocketAddr>,
}

impl Dialing {
    fn new(targets: &[SocketAddr]) -> Self {
        let mut d = Dialing::default();
        d.add_ips(targets);
        d
    }

    /// The resolver named more addresses (its answer over the other family).
    fn add_ips(&mut self, targets: &[SocketAddr]) {
        for a in targets {
            if !self.ips.contains(&a.ip()) {
                self.ips.push(a.ip());
            }
        }
    }

    /// Notes a punch from `src`; true when it is a new target.
    fn learn(&mut self, src: SocketAddr) -> bool {
        if !self.ips.contains(&src.ip()) || self.learned.contains(&src) || self.learned.len() >= MAX_LEARNED {
            return false;
        }
        self.learned.push(src);
        true
    }
}

/// The receive task of worker `worker`'s socket. Its sink writes on TUN
/// queue `worker`, so the kernel routes the answers of the flows this
/// socket's clients send to the same worker's TUN reader.
pub(crate) async fn recv_loop(inner: Arc<Inner>, sock: Arc<UdpSock>, worker: usize) {
    let mut batch = RecvBatch::new();
    let mut sink = TunSink::new();
    sink.queue = worker;
    let mut out = vec![0u8; 2048];
    loop {
        // An error is an ICMP port unreachable from an earlier send (Linux
        // reports it here); it says nothing about this socket.
        let Ok(slots) = sock.recv_batch(&mut batch).await else { continue };
        for i in 0..slots {
            let (src, datagrams) = batch.datagrams(i);
            for msg in datagrams {
                on_datagram(&inner, &sock, msg, src, &mut sink, &mut out).await;
            }
        }
        // Everything ready has been read: write what it decrypted to.
        sink.flush().await;
    }
}

async fn on_datagram(
    inner: &Arc<Inner>,
    sock: &Arc<UdpSock>,
    msg: &[u8],
    src: SocketAddr,
    sink: &mut TunSink,
    out: &mut [u8],
) {
    match classify(msg) {
        Ok(Route::Index(idx)) => {
            // A response or cookie reply to a dial in progress.
            if let Some(tx) = inner.pending.lock().unwrap().remove(&idx) {
                let _ = tx.send((msg.to_vec(), src));
                return;
            }
            let Some(peer) = inner.transport_by_index(idx) else {
                // Restarted (or never ours): say so, so a live peer need not wait out its silence timeout.
                if msg[0] == crate::wire::message::TYPE_TRANSPORT {
                    super::hint::on_unknown_index(inner, sock, idx, msg.len(), src);
                }
                return;
            };
            let authenticated = inner.on_session_message(&peer, msg, sink).await;
            // Follow the peer when its NAT mapping changes, but only on a
            // message that authenticated: a forged source moves nothing.
            if let (true, Link::Udp { addr, .. }) = (authenticated, &peer.link) {
                let mut a = addr.lock().unwrap();
                if *a != src {
                    *a = src;
                }
            }
        }
        Ok(Route::Initiation) => on_initiation(inner, sock, msg, src, out).await,
        Ok(Route::Resolver(_)) => on_resolver(inner, sock, msg, src),
        Ok(Route::Probe) => super::probe::on_probe(inner, sock, msg, src),
        Ok(Route::UnknownSession(_)) => super::hint::on_hint(inner, src),
        Err(_) => {}
    }
}

async fn on_initiation(inner: &Arc<Inner>, sock: &Arc<UdpSock>, msg: &[u8], src: SocketAddr, out: &mut [u8]) {
    // Over the caps, with nothing of ours at that source (so no rekey):
    // dropped before any Diffie-Hellman work.
    if let Some(why) = inner.gate.refuses_newcomer(src.ip()) {
        inner.refused(why, src.ip());
        return;
    }
    let index = inner.alloc_index();
    let accepted = inner.acceptor.lock().unwrap().accept(src, msg, index, Instant::now(), out);
    match accepted {
        Ok(Accepted::Session(session, len)) => {
            // A new handshake from a peer we already have on this address is
            // a rekey: keep the peer (and its tunnel), take the new keys.
            if let Some(existing) = inner.find_udp_transport(session.remote(), src) {
                send_probe(sock, &out[..len], src).await;
                inner.absorb(&existing, session, index);
                return;
            }
            // A new session: it is pending until the initiator confirms the
            // keys, and must fit the session caps. Refused: no answer, no state.
            let ticket = match inner.gate.begin(src.ip()) {
                Ok(mut t) => match t.establish() {
                    Ok(()) => t,
                    Err(why) => return inner.refused(why, src.ip()),
                },
                Err(why) => return inner.refused(why, src.ip()),
            };
            send_probe(sock, &out[..len], src).await;
            let link = Link::Udp { sock: sock.clone(), addr: std::sync::Mutex::new(src) };
            inner.add_transport(*session, index, TransportKind::Sudph, link, false, Some(ticket));
        }
        Ok(Accepted::Reply(len)) => {
            send_probe(sock, &out[..len], src).await;
        }
        Err(_) => {}
    }
}

fn on_resolver(inner: &Arc<Inner>, sock: &Arc<UdpSock>, msg: &[u8], src: SocketAddr) {
    // Only the configured resolver may tell us things, except punches, which
    // come from peers: one from a peer we are dialing says where it really is.
    let from_resolver = inner.resolvers.contains(src);
    match ResolverMessage::parse(msg) {
        Ok(ResolverMessage::Punch(p)) if !from_resolver => {
            if let Some(d) = inner.dialing.lock().unwrap().get_mut(&p.pk) {
                if d.learn(src) {
                    let _ = inner.events.send(Event::Punch {
                        peer: p.pk,
                        stage: "peer punched from".into(),
                        addr: Some(src),
                    });
                }
            }
        }
        Ok(ResolverMessage::BindAck(ack)) if from_resolver => {
            // Per family: over IPv4 and IPv6 we are bound (and NATed) separately.
            let changed = inner.observed.lock().unwrap().set(super::family::canonical(ack.observed));
            if changed {
                let _ = inner.events.send(Event::Bound { observed: ack.observed });
            }
        }
        Ok(ResolverMessage::PeerAddress(info)) if from_resolver => {
            let info = canonical_info(info);
            // A dial of ours is waiting (one answer per family it asked).
            let info = match inner.punch_waiters.lock().unwrap().get(&info.peer) {
                Some(w) => match w.send((src, Ok(info))) {
                    Ok(()) => return,
                    Err(back) => match back.0 .1 {
                        Ok(info) => info,
                        Err(_) => return,
                    },
                },
                None => info,
            };
            // We are the target: open our NAT towards the client, and keep it
            // open on a schedule until the client's handshake has come through.
            let _ = inner.events.send(Event::Punch {
                peer: info.peer,
                stage: "punching".into(),
                addr: Some(info.observed),
            });
            // The first punch right here, not from the task: the client's first
            // probe is on its way, and the sooner our mapping exists the sooner
            // it gets through (and an ICMP-answering NAT of ours is not
            // provoked into renumbering us).
            punch(inner, sock, &info);
            tokio::spawn(punch_until_up(Arc::downgrade(inner), sock.clone(), info));
        }
        Ok(ResolverMessage::Error(e)) if from_resolver => {
            if let Some(w) = inner.punch_waiters.lock().unwrap().get(&e.about) {
                let _ = w.send((src, Err(e.code)));
            }
        }
        // The resolver checks we receive at this address before storing our
        // binding: echo its challenge unchanged (same size, so never an
        // amplifier); the bind ack follows.
        Ok(ResolverMessage::BindChallenge(c)) if from_resolver && c.pk == inner.keypair.public => {
            if let Ok(echo) = ResolverMessage::BindConfirm(c).to_bytes() {
                let _ = sock.try_send_to(&echo, src);
            }
        }
        _ => {}
    }
}

/// IPv4-mapped addresses in an answer as plain IPv4 (what our socket reports).
fn canonical_info(mut info: PeerAddress) -> PeerAddress {
    info.observed = super::family::canonical(info.observed);
    for a in &mut info.local_addrs {
        *a = super::family::canonical(*a);
    }
    info
}

/// The resolver saw the peer at the IP it saw us at, in that family.
fn behind_same_nat(inner: &Inner, info: &PeerAddress) -> bool {
    inner.observed.lock().unwrap().like(info.observed).map(|o| o.ip()) == Some(info.observed.ip())
}

fn candidates(inner: &Inner, info: &PeerAddress) -> Vec<SocketAddr> {
    // Behind the same NAT (same observed IP) the peer's LAN addresses are the
    // ones that work; hairpinning through the NAT often does not.
    // Behind another NAT its private addresses are somebody else's network:
    // probes there draw ICMP errors at best, and on our socket (IP_RECVERR)
    // each such error makes the next send fail, whatever it carries.
    let same_nat = behind_same_nat(inner, info);
    let mut c = Vec::new();
    if same_nat {
        c.extend(info.local_addrs.iter().copied());
    }
    c.push(info.observed);
    if !same_nat {
        c.extend(info.local_addrs.iter().copied().filter(|a| !is_private(a.ip())));
    }
    // Only what our socket can send to (an IPv4 socket skips IPv6 addresses),
    // and never an address no peer can be at.
    c.retain(|a| dialable(*a) && inner.udp.as_ref().is_some_and(|s| s.reaches(*a)));
    let mut unique = Vec::with_capacity(c.len());
    for a in c {
        if !unique.contains(&a) {
            unique.push(a);
        }
    }
    unique
}

/// Not port 0, the unspecified address or a multicast group (nobody can be
/// there, and probes to a group would reach a whole link).
fn dialable(a: SocketAddr) -> bool {
    a.port() != 0 && !a.ip().is_unspecified() && !a.ip().is_multicast()
}

fn is_private(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4.is_private() || v4.is_link_local(),
        // ULA (fc00::/7) and link-local (fe80::/10, useless without a scope).
        IpAddr::V6(v6) => (v6.segments()[0] & 0xfe00) == 0xfc00 || (v6.segments()[0] & 0xffc0) == 0xfe80,
    }
}

fn punch(inner: &Arc<Inner>, sock: &Arc<UdpSock>, info: &PeerAddress) {
    let msg = resolver::punch(inner.keypair.public);
    for addr in candidates(inner, info) {
        try_send_probe(sock, &msg, addr);
    }
}

/// The socket reports ICMP errors (IP_RECVERR): an error an earlier datagram
/// drew (a peer's private address unreachable, a NAT answering a probe with
/// port unreachable) fails the NEXT send, and that datagram is not sent. A
/// failed send is therefore tried once more; a second failure is real.
async fn send_probe(sock: &UdpSock, msg: &[u8], to: SocketAddr) {
    if sock.send_to(msg, to).await.is_err() {
        let _ = sock.send_to(msg, to).await;
    }
}

fn try_send_probe(sock: &UdpSock, msg: &[u8], to: SocketAddr) {
    if let Err(e) = sock.try_send_to(msg, to) {
        if e.kind() != std::io::ErrorKind::WouldBlock {
            let _ = sock.try_send_to(msg, to);
        }
    }
}

fn has_transport(inner: &Inner, pk: PublicKey) -> bool {
    inner.transports.read().unwrap().values().any(|p| p.remote == pk)
}

/// The target's side of a punch: the rest of PUNCHES, stopping once a session
/// with the dialer exists (or the node is gone).
async fn punch_until_up(inner: std::sync::Weak<Inner>, sock: Arc<UdpSock>, info: PeerAddress) {
    let start = Instant::now();
    // PUNCHES[0] was sent by the caller.
    for at in PUNCHES.into_iter().skip(1) {
        tokio::time::sleep_until((start + Duration::from_millis(at)).into()).await;
        let Some(inner) = inner.upgrade() else { return };
        if has_transport(&inner, info.peer) {
            return;
        }
        punch(&inner, &sock, &info);
    }
}

/// Ask the resolver where `remote` is, punch, and handshake until `deadline`.
pub(crate) async fn dial(
    inner: &Arc<Inner>,
    remote: PublicKey,
    direct: Option<Vec<SocketAddr>>,
    deadline: Instant,
) -> Result<Arc<Transport>, NodeError> {
    let sock = inner.udp.clone().ok_or(NodeError::NotListening("SUDPH"))?;
    let mut more = None;
    let targets = match direct {
        Some(a) if !a.is_empty() => a.into_iter().map(super::family::canonical).collect(),
        _ => {
            let (info, rest) = match locate(inner, &sock, remote, deadline).await {
                Ok(found) => found,
                Err(e) => {
                    inner.punch_waiters.lock().unwrap().remove(&remote);
                    return Err(e);
                }
            };
            more = Some(rest);
            let targets = candidates(inner, &info);
            // Listening for the peer's punches before ours go out.
            inner.dialing.lock().unwrap().insert(remote, Dialing::new(&targets));
            if needs_head_start(inner, &info) {
                tokio::time::sleep(HEAD_START).await;
            }
            punch(inner, &sock, &info);
            let _ =
                inner.events.send(Event::Punch { peer: remote, stage: "punching".into(), addr: Some(info.observed) });
            targets
        }
    };
    inner.dialing.lock().unwrap().entry(remote).or_insert_with(|| Dialing::new(&targets));
    let result = probe(inner, &sock, remote, targets, more.as_mut(), deadline).await;
    inner.dialing.lock().unwrap().remove(&remote);
    inner.punch_waiters.lock().unwrap().remove(&remote);
    result
}

/// A fresh initiation at most this often: the responder accepts one
/// initiation per timestamp, so when its answer to ours was lost, re-sending
/// the same initiation can never succeed. The previous handshake stays valid
/// meanwhile, so an answer slower than this still completes.
const REINITIATE_EVERY: Duration = Duration::from_millis(1000);

async fn probe(
    inner: &Arc<Inner>,
    sock: &Arc<UdpSock>,
    remote: PublicKey,
    mut targets: Vec<SocketAddr>,
    mut more: Option<&mut Answers>,
    deadline: Instant,
) -> Result<Arc<Transport>, NodeError> {
    // Re-sent on the schedule; a cookie reply (responder under load) turns it
    // into one carrying mac2.
    let index = inner.alloc_index();
    let initiate = || {
        crypto::initiate(&inner.keypair, remote, index, Instant::now()).map_err(|e| NodeError::Handshake(e.to_string()))
    };
    let (mut current, mut init) = initiate()?;
    let mut previous: Option<crypto::PendingHandshake> = None;
    let start = Instant::now();
    let mut initiated = start;
    let mut tick = 0usize;
    let mut send_now = true;
    loop {
        let now = Instant::now();
        if now >= deadline {
            break;
        }
        // Registered before anything is sent: on a fast path the answer can
        // arrive before the send call returns.
        let (tx, rx) = oneshot::channel();
        inner.pending.lock().unwrap().insert(index, tx);
        if send_now {
            if now.duration_since(initiated) >= REINITIATE_EVERY {
                let (fresh, msg) = initiate()?;
                previous = Some(std::mem::replace(&mut current, fresh));
                init = msg;
                initiated = now;
            }
            // The resolver's later answer over the other family: its
            // addresses join the targets (and we punch them too).
            while let Some(Ok((_, Ok(info)))) = more.as_deref_mut().map(mpsc::UnboundedReceiver::try_recv) {
                let fresh: Vec<_> = candidates(inner, &info).into_iter().filter(|a| !targets.contains(a)).collect();
                if let Some(d) = inner.dialing.lock().unwrap().get_mut(&remote) {
                    d.add_ips(&fresh);
                }
                punch(inner, sock, &info);
                targets.extend(fresh);
            }
            // Where the peer's punches came from, since the last probe.
            if let Some(d) = inner.dialing.lock().unwrap().get(&remote) {
                for a in &d.learned {
                    if !targets.contains(a) {
                        targets.push(*a);
                    }
                }
            }
            for t in &targets {
                send_probe(sock, &init, *t).await;
            }
            tick += 1;
        }
        // Wait for an answer until the next probe is due (not longer: a lost
        // probe must not cost a second).
        let next = (start + probe_at(tick)).min(deadline);
        let reply = tokio::time::timeout(next.saturating_duration_since(Instant::now()), rx).await;
        inner.pending.lock().unwrap().remove(&index);
        send_now = true;
        let Ok(Ok((resp, from))) = reply else { continue };
        let now = Instant::now();
        let progress = match current.handle(&resp, now) {
            Err(e) => match previous.as_mut().map(|p| p.handle(&resp, now)) {
                Some(Ok(p)) => Ok(p),
                _ => Err(e),
            },
            ok => ok,
        };
        match progress {
            Ok(Progress::Established(e)) => {
                let Established { session, confirm } = *e;
                // The confirmation goes first: until it arrives the responder
                // cannot use its new keys.
                send_probe(sock, &confirm, from).await;
                let link = Link::Udp { sock: sock.clone(), addr: std::sync::Mutex::new(from) };
                return Ok(inner.add_transport(session, index, TransportKind::Sudph, link, true, None));
            }
            Ok(Progress::Retry(again)) => {
                // Cookie reply: resend at once (top of the loop), with mac2.
                init = again;
                initiated = Instant::now();
            }
            Err(e) => {
                let _ = inner.events.send(Event::Punch {
                    peer: remote,
                    stage: format!("handshake failed: {e}"),
                    addr: Some(from),
                });
                send_now = false;
            }
        }
    }
    Err(NodeError::Unreachable(format!("{remote}: no answer to the handshake through the NATs (hole punching failed)")))
}

/// The resolver's answers to one dial, one per family asked.
type Answers = mpsc::UnboundedReceiver<(SocketAddr, resolver::Located)>;

/// Ask the resolver where `remote` is, over each family we are bound in
/// (every family we can reach before any bind was acknowledged), and take
/// the first address it names; answers over the other family keep arriving
/// on the returned receiver. Fails when every family asked says why not.
async fn locate(
    inner: &Arc<Inner>,
    sock: &Arc<UdpSock>,
    remote: PublicKey,
    deadline: Instant,
) -> Result<(PeerAddress, Answers), NodeError> {
    if inner.resolvers.is_empty() {
        return Err(NodeError::NoResolver);
    }
    let reachable: Vec<SocketAddr> = inner.resolvers.all().filter(|a| sock.reaches(*a)).collect();
    let observed = *inner.observed.lock().unwrap();
    let bound: Vec<SocketAddr> = reachable.iter().copied().filter(|a| observed.like(*a).is_some()).collect();
    let mut asking = if bound.is_empty() { reachable } else { bound };
    if asking.is_empty() {
        return Err(NodeError::Unreachable(format!(
            "{remote}: the address resolver is in another address family than our SUDPH socket"
        )));
    }
    let (tx, mut rx) = mpsc::unbounded_channel();
    inner.punch_waiters.lock().unwrap().insert(remote, tx);
    let _ = inner.events.send(Event::Punch { peer: remote, stage: "asking resolver".into(), addr: None });
    let mut refusals: Vec<ErrorCode> = Vec::new();
    // UDP can lose the request: resend until each family answered.
    loop {
        for &to in &asking {
            let req = resolver::connect_request(&inner.keypair, remote);
            let _ = sock.send_to(&req, to).await;
        }
        let resend = Instant::now() + Duration::from_millis(700);
        loop {
            let until = resend.min(deadline);
            if until <= Instant::now() {
                break;
            }
            match tokio::time::timeout_at(until.into(), rx.recv()).await {
                Ok(Some((_, Ok(info)))) => return Ok((info, rx)),
                Ok(Some((from, Err(code)))) => {
                    // That family's answer is final; the others may still name the peer.
                    if asking.contains(&from) {
                        asking.retain(|a| *a != from);
                        refusals.push(code);
                    }
                    if asking.is_empty() {
                        return Err(if refusals.contains(&ErrorCode::TargetNotBound) {
                            NodeError::NotBound(remote)
                        } else {
                            NodeError::Unreachable(format!("{remote}: {}", resolver::error_text(refusals[0])))
                        });
                    }
                }
                Ok(None) => return Err(NodeError::Closed),
                Err(_) => break,
            }
        }
        if Instant::now() >= deadline {
            return Err(NodeError::Timeout);
        }
    }
}

/// Keep our binding (and so our NAT mapping) alive at the resolver.
/// Over each family the socket reaches and the resolver has an address in:
/// a binding per family, so peers of either family can find us.
pub(crate) async fn bind_loop(inner: Arc<Inner>, sock: Arc<UdpSock>, locals: Vec<SocketAddr>) {
    let to: Vec<SocketAddr> = inner.resolvers.all().filter(|a| sock.reaches(*a)).collect();
    if to.is_empty() {
        return;
    }
    loop {
        for &r in &to {
            let msg = resolver::bind(&inner.keypair, &locals);
            let _ = sock.send_to(&msg, r).await;
        }
        tokio::time::sleep(resolver::REBIND_EVERY).await;
    }
}

#[cfg(test)]
mod punch_tests {
    use super::*;

    #[test]
    fn probes_are_dense_first_then_steady() {
        let at: Vec<u128> = (0..13).map(|i| probe_at(i).as_millis()).collect();
        assert_eq!(at, [0, 50, 100, 200, 400, 800, 1200, 1600, 2000, 2500, 3000, 3500, 4000]);
        // Always increasing, so the loop never busy-waits.
        assert!((0..100).all(|i| probe_at(i + 1) > probe_at(i)));
    }

    #[test]
    fn candidates_are_never_unspecified_multicast_or_port_zero() {
        for bad in ["[::]:7778", "0.0.0.0:7778", "[ff02::1]:7778", "224.0.0.1:7778", "[2001:db8::1]:0"] {
            assert!(!dialable(bad.parse().unwrap()), "{bad}");
        }
        for good in ["[2001:db8::1]:7778", "203.0.113.1:7778", "[::1]:7778"] {
            assert!(dialable(good.parse().unwrap()), "{good}");
        }
        assert!(is_private("fe80::1".parse().unwrap()));
        assert!(is_private("fd00::1".parse().unwrap()));
        assert!(!is_private("2001:db8::1".parse().unwrap()));
    }

    #[test]
    fn punches_teach_new_ports_only_on_the_peers_ips() {
        let observed: SocketAddr = "203.0.113.40:7778".parse().unwrap();
        let lan: SocketAddr = "10.20.0.10:7778".parse().unwrap();
        let mut d = Dialing::new(&[observed, lan]);
        // The peer's NAT renumbered its port: a new target.
        assert!(d.learn("203.0.113.40:40001".parse().unwrap()));
        assert!(!d.learn("203.0.113.40:40001".parse().unwrap()), "learned twice");
        // A forged punch naming another host is ignored.
        assert!(!d.learn("198.51.100.7:7778".parse().unwrap()));
        // Bounded, whatever the peer's IP sends.
        for p in 50000..50100u16 {
            d.learn(SocketAddr::new(observed.ip(), p));
        }
        assert_eq!(d.learned.len(), MAX_LEARNED);
    }
}
