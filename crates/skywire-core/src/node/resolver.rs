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
