//! The visor's side of the address resolver's UDP protocol (docs/wire.md
//! section 3): building signed requests and naming errors. The formats
//! themselves live in `crate::wire::resolver`.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use std::net::SocketAddr;

use crate::wire::resolver::{Bind, ConnectRequest, Punch, MAX_ADDRS};
pub(crate) use crate::wire::resolver::{ErrorCode, PeerAddress, ResolverMessage};
use crate::{Keypair, PublicKey};

/// Re-bind well inside the resolver's 60 s expiry; this is also what keeps
/// our NAT mapping towards the resolver open.
pub(crate) const REBIND_EVERY: Duration = Duration::from_secs(20);

fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX)).unwrap_or(0)
}

/// What the resolver answered about a peer: its addresses, or its error code.
pub(crate) type Located = Result<PeerAddress, ErrorCode>;
/// Where a dial waits for the resolver's answers: one per family asked,
/// each with the resolver address it came from.
pub(crate) type LocateTx = tokio::sync::mpsc::UnboundedSender<(SocketAddr, Located)>;

pub(crate) fn bind(kp: &Keypair, locals: &[SocketAddr]) -> Vec<u8> {
    let locals: Vec<_> = locals.iter().copied().take(MAX_ADDRS).collect();
    Bind::signed(kp, now_ms(), locals).and_then(|b| ResolverMessage::Bind(b).to_bytes()).unwrap_or_default()
}

pub(crate) fn connect_request(kp: &Keypair, target: PublicKey) -> Vec<u8> {
    ResolverMessage::ConnectRequest(ConnectRequest::signed(kp, target, now_ms())).to_bytes().unwrap_or_default()
}

pub(crate) fn punch(pk: PublicKey) -> Vec<u8> {
    ResolverMessage::Punch(Punch { pk }).to_bytes().unwrap_or_default()
}

pub(crate) fn error_text(code: ErrorCode) -> String {
    match code {
        ErrorCode::TargetNotBound => "the peer is not bound at the address resolver (offline, or no SUDPH)".into(),
        ErrorCode::BadSignature => "the address resolver rejected our signature".into(),
        ErrorCode::StaleTimestamp => "the address resolver says our clock is off or the request is stale".into(),
        ErrorCode::RateLimited => "the address resolver is rate limiting us".into(),
    }
}

/// The address resolver's UDP addresses, at most one per family: a visor
/// with both families keeps a binding over each (docs/wire.md section 3).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Resolvers {
    pub(crate) v4: Option<SocketAddr>,
    pub(crate) v6: Option<SocketAddr>,
}

impl Resolvers {
    /// From the configured addresses (IPv4-mapped counts as IPv4); the first
    /// of each family wins.
    pub(crate) fn new(addrs: impl IntoIterator<Item = SocketAddr>) -> Self {
        let mut r = Resolvers::default();
        for a in addrs.into_iter().map(super::family::canonical) {
            let slot = if a.is_ipv4() { &mut r.v4 } else { &mut r.v6 };
            slot.get_or_insert(a);
        }
        r
    }

    /// Whether a datagram from `src` comes from one of our resolvers.
    pub(crate) fn contains(&self, src: SocketAddr) -> bool {
        self.v4 == Some(src) || self.v6 == Some(src)
    }

    /// IPv6 first, as the dial order.
    pub(crate) fn all(&self) -> impl Iterator<Item = SocketAddr> {
        self.v6.into_iter().chain(self.v4)
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.v4.is_none() && self.v6.is_none()
    }
}

/// Where the resolver saw our SUDPH socket, per family (our NAT's mapping
/// for IPv4; usually our own address for IPv6).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Observed {
    pub(crate) v4: Option<SocketAddr>,
    pub(crate) v6: Option<SocketAddr>,
}

impl Observed {
    /// Records an ack's address in its family; true when it changed.
    pub(crate) fn set(&mut self, a: SocketAddr) -> bool {
        let slot = if a.is_ipv4() { &mut self.v4 } else { &mut self.v6 };
        slot.replace(a) != Some(a)
    }

    /// Ours in the family of `like`.
    pub(crate) fn like(&self, like: SocketAddr) -> Option<SocketAddr> {
        if like.is_ipv4() {
            self.v4
        } else {
            self.v6
        }
    }

    /// One address for callers that show one: IPv4 when bound over it
    /// (what an IPv4 "what is my IP" would say), else IPv6.
    pub(crate) fn primary(&self) -> Option<SocketAddr> {
        self.v4.or(self.v6)
    }
}

#[cfg(test)]
mod family_tests {
    use super::*;

    fn a(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    #[test]
    fn resolvers_one_per_family() {
        let r = Resolvers::new([a("[::ffff:192.0.2.1]:9091"), a("[2001:db8::1]:9091"), a("192.0.2.9:9091")]);
        assert_eq!(r.v4, Some(a("192.0.2.1:9091")));
        assert_eq!(r.v6, Some(a("[2001:db8::1]:9091")));
        assert!(r.contains(a("192.0.2.1:9091")) && !r.contains(a("192.0.2.9:9091")));
        assert_eq!(r.all().collect::<Vec<_>>(), [a("[2001:db8::1]:9091"), a("192.0.2.1:9091")]);
        assert!(Resolvers::new([]).is_empty());
    }

    #[test]
    fn observed_per_family() {
        let mut o = Observed::default();
        assert!(o.set(a("[2001:db8::5]:7778")));
        assert_eq!(o.primary(), Some(a("[2001:db8::5]:7778")));
        assert!(o.set(a("203.0.113.5:40000")));
        assert!(!o.set(a("203.0.113.5:40000")));
        assert_eq!(o.primary(), Some(a("203.0.113.5:40000")));
        assert_eq!(o.like(a("[2001:db8::9]:1")), Some(a("[2001:db8::5]:7778")));
        assert_eq!(o.like(a("198.51.100.1:1")), Some(a("203.0.113.5:40000")));
    }
}
