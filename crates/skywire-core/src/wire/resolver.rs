//! UDP address-resolver messages (`docs/wire.md` section 3, types 0x10-0x17).
//!
//! These are control-plane messages a few times a minute, so they are plain
//! owned structs. Parsing is strict (exact lengths, known families and codes)
//! which makes encoding canonical: re-encoding a parsed message yields the
//! same bytes, and that is what signatures are checked against.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use super::{Reader, WireError};
use crate::identity::{Keypair, PublicKey, SIGNATURE_LEN};

pub const TYPE_BIND: u8 = 0x10;
pub const TYPE_BIND_ACK: u8 = 0x11;
pub const TYPE_CONNECT_REQUEST: u8 = 0x12;
pub const TYPE_PEER_ADDRESS: u8 = 0x13;
pub const TYPE_ERROR: u8 = 0x14;
pub const TYPE_PUNCH: u8 = 0x15;
/// The resolver's answer to a bind from an address it has not verified.
pub const TYPE_BIND_CHALLENGE: u8 = 0x16;
/// The visor's echo of a challenge, from the address the challenge went to.
pub const TYPE_BIND_CONFIRM: u8 = 0x17;
/// Length of the resolver's MAC in a bind challenge.
pub const CHALLENGE_MAC_LEN: usize = 16;

/// Most local addresses a bind or peer-address message may list.
pub const MAX_ADDRS: usize = 8;
/// Signed data = this context followed by the message bytes before `sig`.
pub const SIG_CONTEXT: &[u8] = b"skywire-ar-udp/1";

/// Resolver error codes (type 0x14).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum ErrorCode {
    TargetNotBound = 1,
    BadSignature = 2,
    StaleTimestamp = 3,
    RateLimited = 4,
}

impl TryFrom<u8> for ErrorCode {
    type Error = WireError;
    fn try_from(v: u8) -> Result<Self, WireError> {
        Ok(match v {
            1 => ErrorCode::TargetNotBound,
            2 => ErrorCode::BadSignature,
            3 => ErrorCode::StaleTimestamp,
            4 => ErrorCode::RateLimited,
            other => return Err(WireError::UnknownErrorCode(other)),
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bind {
    pub pk: PublicKey,
    pub timestamp_ms: u64,
    pub local_addrs: Vec<SocketAddr>,
    pub sig: [u8; SIGNATURE_LEN],
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BindAck {
    pub observed: SocketAddr,
    pub ttl_s: u16,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectRequest {
    pub pk: PublicKey,
    pub target: PublicKey,
    pub timestamp_ms: u64,
    pub sig: [u8; SIGNATURE_LEN],
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerAddress {
    pub peer: PublicKey,
    pub observed: SocketAddr,
    pub local_addrs: Vec<SocketAddr>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ErrorMsg {
    pub about: PublicKey,
    pub code: ErrorCode,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Punch {
    pub pk: PublicKey,
}

/// A bind challenge (0x16) or its echo (0x17), byte for byte the same after
/// the type: the bind's content when the resolver issued the challenge, and
/// the resolver's MAC over that and the address it sent it to. Opaque to the
/// visor, which echoes it unchanged; the binding is stored only when the echo
/// comes back from that address, so a forged source binds nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BindChallenge {
    pub pk: PublicKey,
    pub timestamp_ms: u64,
    pub local_addrs: Vec<SocketAddr>,
    pub issued_s: u32,
    pub mac: [u8; CHALLENGE_MAC_LEN],
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ResolverMessage {
    Bind(Bind),
    BindAck(BindAck),
    ConnectRequest(ConnectRequest),
    PeerAddress(PeerAddress),
    Error(ErrorMsg),
    Punch(Punch),
    BindChallenge(BindChallenge),
    BindConfirm(BindChallenge),
}

/// Append `ADDR` (`family u8`, 4 or 16 address bytes, `port u16`).
pub fn put_addr(out: &mut Vec<u8>, a: &SocketAddr) {
    match a.ip() {
        IpAddr::V4(ip) => {
            out.push(4);
            out.extend_from_slice(&ip.octets());
        }
        IpAddr::V6(ip) => {
            out.push(6);
            out.extend_from_slice(&ip.octets());
        }
    }
    out.extend_from_slice(&a.port().to_be_bytes());
}

fn get_addr(r: &mut Reader<'_>) -> Result<SocketAddr, WireError> {
    let ip = match r.u8()? {
        4 => IpAddr::V4(Ipv4Addr::from(*r.array::<4>()?)),
        6 => IpAddr::V6(Ipv6Addr::from(*r.array::<16>()?)),
        other => return Err(WireError::BadAddressFamily(other)),
    };
    Ok(SocketAddr::new(ip, r.u16()?))
}

fn get_addrs(r: &mut Reader<'_>) -> Result<Vec<SocketAddr>, WireError> {
    let n = r.u8()? as usize;
    if n > MAX_ADDRS {
        return Err(WireError::TooManyAddresses(n));
    }
    (0..n).map(|_| get_addr(r)).collect()
}

fn put_addrs(out: &mut Vec<u8>, addrs: &[SocketAddr]) -> Result<(), WireError> {
    if addrs.len() > MAX_ADDRS {
        return Err(WireError::TooManyAddresses(addrs.len()));
    }
    // At most MAX_ADDRS (checked above), so it fits the count byte.
    out.push(u8::try_from(addrs.len()).map_err(|_| WireError::TooManyAddresses(addrs.len()))?);
    for a in addrs {
        put_addr(out, a);
    }
    Ok(())
}

fn get_pk(r: &mut Reader<'_>, what: &'static str) -> Result<PublicKey, WireError> {
    PublicKey::from_bytes(*r.array::<32>()?).map_err(|_| WireError::BadPublicKey(what))
}

fn signed_bytes(unsigned: &[u8]) -> Vec<u8> {
    let mut m = Vec::with_capacity(SIG_CONTEXT.len() + unsigned.len());
    m.extend_from_slice(SIG_CONTEXT);
    m.extend_from_slice(unsigned);
    m
}

impl Bind {
    /// Build and sign a bind for `kp`.
    pub fn signed(kp: &Keypair, timestamp_ms: u64, local_addrs: Vec<SocketAddr>) -> Result<Self, WireError> {
        let mut b = Bind { pk: kp.public, timestamp_ms, local_addrs, sig: [0; SIGNATURE_LEN] };
        let unsigned = b.unsigned_bytes()?;
        b.sig = kp.secret.sign(&signed_bytes(&unsigned));
        Ok(b)
    }

    fn unsigned_bytes(&self) -> Result<Vec<u8>, WireError> {
        let mut out = Vec::with_capacity(1 + 32 + 8 + 1 + self.local_addrs.len() * 19 + SIGNATURE_LEN);
        out.push(TYPE_BIND);
        out.extend_from_slice(self.pk.as_bytes());
        out.extend_from_slice(&self.timestamp_ms.to_be_bytes());
        put_addrs(&mut out, &self.local_addrs)?;
        Ok(out)
    }

    /// Check `sig` against `pk` over the context and the message bytes.
    pub fn verify(&self) -> Result<(), WireError> {
        let unsigned = self.unsigned_bytes()?;
        self.pk.verify(&signed_bytes(&unsigned), &self.sig).map_err(|_| WireError::BadSignature)
    }
}

impl ConnectRequest {
    pub fn signed(kp: &Keypair, target: PublicKey, timestamp_ms: u64) -> Self {
        let mut c = ConnectRequest { pk: kp.public, target, timestamp_ms, sig: [0; SIGNATURE_LEN] };
        c.sig = kp.secret.sign(&signed_bytes(&c.unsigned_bytes()));
        c
    }

    fn unsigned_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(1 + 32 + 32 + 8 + SIGNATURE_LEN);
        out.push(TYPE_CONNECT_REQUEST);
        out.extend_from_slice(self.pk.as_bytes());
        out.extend_from_slice(self.target.as_bytes());
        out.extend_from_slice(&self.timestamp_ms.to_be_bytes());
        out
    }

    pub fn verify(&self) -> Result<(), WireError> {
        self.pk.verify(&signed_bytes(&self.unsigned_bytes()), &self.sig).map_err(|_| WireError::BadSignature)
    }
}

impl ResolverMessage {
    /// The type byte this message is sent with.
    pub fn type_byte(&self) -> u8 {
        match self {
            ResolverMessage::Bind(_) => TYPE_BIND,
            ResolverMessage::BindAck(_) => TYPE_BIND_ACK,
            ResolverMessage::ConnectRequest(_) => TYPE_CONNECT_REQUEST,
            ResolverMessage::PeerAddress(_) => TYPE_PEER_ADDRESS,
            ResolverMessage::Error(_) => TYPE_ERROR,
            ResolverMessage::Punch(_) => TYPE_PUNCH,
            ResolverMessage::BindChallenge(_) => TYPE_BIND_CHALLENGE,
            ResolverMessage::BindConfirm(_) => TYPE_BIND_CONFIRM,
        }
    }

    /// Parse one datagram. Signatures are NOT checked here: call
    /// [`Bind::verify`] / [`ConnectRequest::verify`] (the resolver also checks
    /// timestamps, which needs its clock and state).
    pub fn parse(buf: &[u8]) -> Result<Self, WireError> {
        let ty = *buf.first().ok_or(WireError::Empty)?;
        let what = match ty {
            TYPE_BIND => "resolver bind",
            TYPE_BIND_ACK => "resolver bind ack",
            TYPE_CONNECT_REQUEST => "resolver connect request",
            TYPE_PEER_ADDRESS => "resolver peer address",
            TYPE_ERROR => "resolver error",
            TYPE_PUNCH => "punch",
            TYPE_BIND_CHALLENGE => "resolver bind challenge",
            TYPE_BIND_CONFIRM => "resolver bind confirm",
            other => return Err(WireError::UnknownType(other)),
        };
        let mut r = Reader::new(buf, what);
        let _ = r.u8()?;
        let msg = match ty {
            TYPE_BIND => ResolverMessage::Bind(Bind {
                pk: get_pk(&mut r, "bind pk")?,
                timestamp_ms: r.u64()?,
                local_addrs: get_addrs(&mut r)?,
                sig: *r.array()?,
            }),
            TYPE_BIND_ACK => ResolverMessage::BindAck(BindAck { observed: get_addr(&mut r)?, ttl_s: r.u16()? }),
            TYPE_CONNECT_REQUEST => ResolverMessage::ConnectRequest(ConnectRequest {
                pk: get_pk(&mut r, "connect request pk")?,
                target: get_pk(&mut r, "connect request target")?,
                timestamp_ms: r.u64()?,
                sig: *r.array()?,
            }),
            TYPE_PEER_ADDRESS => ResolverMessage::PeerAddress(PeerAddress {
                peer: get_pk(&mut r, "peer address peer")?,
                observed: get_addr(&mut r)?,
                local_addrs: get_addrs(&mut r)?,
            }),
            TYPE_ERROR => ResolverMessage::Error(ErrorMsg {
                about: get_pk(&mut r, "error about")?,
                code: ErrorCode::try_from(r.u8()?)?,
            }),
            TYPE_BIND_CHALLENGE | TYPE_BIND_CONFIRM => {
                let c = BindChallenge {
                    pk: get_pk(&mut r, "bind challenge pk")?,
                    timestamp_ms: r.u64()?,
                    local_addrs: get_addrs(&mut r)?,
                    issued_s: u32::from_be_bytes(*r.array::<4>()?),
                    mac: *r.array()?,
                };
                if ty == TYPE_BIND_CHALLENGE {
                    ResolverMessage::BindChallenge(c)
                } else {
                    ResolverMessage::BindConfirm(c)
                }
            }
            _ => ResolverMessage::Punch(Punch { pk: get_pk(&mut r, "punch pk")? }),
        };
        r.finish()?;
        Ok(msg)
    }

    /// Serialize; fails only on more than [`MAX_ADDRS`] addresses.
    pub fn to_bytes(&self) -> Result<Vec<u8>, WireError> {
        let mut out = Vec::with_capacity(64);
        match self {
            ResolverMessage::Bind(b) => {
                out = b.unsigned_bytes()?;
                out.extend_from_slice(&b.sig);
            }
            ResolverMessage::BindAck(a) => {
                out.push(TYPE_BIND_ACK);
                put_addr(&mut out, &a.observed);
                out.extend_from_slice(&a.ttl_s.to_be_bytes());
            }
            ResolverMessage::ConnectRequest(c) => {
                out = c.unsigned_bytes();
                out.extend_from_slice(&c.sig);
            }
            ResolverMessage::PeerAddress(p) => {
                out.push(TYPE_PEER_ADDRESS);
                out.extend_from_slice(p.peer.as_bytes());
                put_addr(&mut out, &p.observed);
                put_addrs(&mut out, &p.local_addrs)?;
            }
            ResolverMessage::Error(e) => {
                out.push(TYPE_ERROR);
                out.extend_from_slice(e.about.as_bytes());
                out.push(e.code as u8);
            }
            ResolverMessage::Punch(p) => {
                out.push(TYPE_PUNCH);
                out.extend_from_slice(p.pk.as_bytes());
            }
            ResolverMessage::BindChallenge(c) | ResolverMessage::BindConfirm(c) => {
                out.push(self.type_byte());
                out.extend_from_slice(c.pk.as_bytes());
                out.extend_from_slice(&c.timestamp_ms.to_be_bytes());
                put_addrs(&mut out, &c.local_addrs)?;
                out.extend_from_slice(&c.issued_s.to_be_bytes());
                out.extend_from_slice(&c.mac);
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::SecretKey;

    fn kp(seed: u8) -> Keypair {
        Keypair::from_secret(SecretKey::from_bytes([seed; 32]))
    }

    fn addrs() -> Vec<SocketAddr> {
        vec!["192.168.1.7:5000".parse().unwrap(), "[fd00::1]:65535".parse().unwrap()]
    }

    fn all_messages() -> Vec<ResolverMessage> {
        let a = kp(1);
        let b = kp(2);
        vec![
            ResolverMessage::Bind(Bind::signed(&a, 1_700_000_000_123, addrs()).unwrap()),
            ResolverMessage::BindAck(BindAck { observed: "203.0.113.9:40000".parse().unwrap(), ttl_s: 60 }),
            ResolverMessage::ConnectRequest(ConnectRequest::signed(&a, b.public, 42)),
            ResolverMessage::PeerAddress(PeerAddress {
                peer: b.public,
                observed: "[2001:db8::5]:7".parse().unwrap(),
                local_addrs: addrs(),
            }),
            ResolverMessage::Error(ErrorMsg { about: b.public, code: ErrorCode::StaleTimestamp }),
            ResolverMessage::Punch(Punch { pk: a.public }),
            ResolverMessage::BindChallenge(challenge()),
            ResolverMessage::BindConfirm(challenge()),
        ]
    }

    fn challenge() -> BindChallenge {
        BindChallenge {
            pk: kp(1).public,
            timestamp_ms: 7,
            local_addrs: addrs(),
            issued_s: 0x0102_0304,
            mac: [9; CHALLENGE_MAC_LEN],
        }
    }

    #[test]
    fn bind_challenge_layout_and_echo() {
        let c = BindChallenge { local_addrs: vec!["10.0.0.1:258".parse().unwrap()], ..challenge() };
        let bytes = ResolverMessage::BindChallenge(c.clone()).to_bytes().unwrap();
        assert_eq!(bytes.len(), 1 + 32 + 8 + 1 + 7 + 4 + 16);
        assert_eq!(bytes[0], TYPE_BIND_CHALLENGE);
        assert_eq!(&bytes[41..49], &[1, 4, 10, 0, 0, 1, 1, 2]);
        assert_eq!(&bytes[49..53], &[1, 2, 3, 4]);
        assert_eq!(&bytes[53..], &[9; 16]);
        // The echo differs only in the type byte.
        let echo = ResolverMessage::BindConfirm(c).to_bytes().unwrap();
        assert_eq!(echo[0], TYPE_BIND_CONFIRM);
        assert_eq!(&echo[1..], &bytes[1..]);
        // Always smaller than the bind it answers (no signature): the resolver never amplifies.
        let bind = ResolverMessage::Bind(Bind::signed(&kp(1), 7, vec!["10.0.0.1:258".parse().unwrap()]).unwrap())
            .to_bytes()
            .unwrap();
        assert!(bytes.len() < bind.len());
    }

    #[test]
    fn round_trip_every_type() {
        for m in all_messages() {
            let bytes = m.to_bytes().unwrap();
            assert_eq!(bytes[0], m.type_byte());
            assert_eq!(ResolverMessage::parse(&bytes).unwrap(), m);
        }
    }

    #[test]
    fn exact_layouts() {
        let a = kp(1);
        let bind = Bind::signed(&a, 0x0102_0304_0506_0708, vec!["10.0.0.1:258".parse().unwrap()]).unwrap();
        let bytes = ResolverMessage::Bind(bind.clone()).to_bytes().unwrap();
        assert_eq!(bytes.len(), 1 + 32 + 8 + 1 + 7 + 64);
        assert_eq!(&bytes[33..41], &[1, 2, 3, 4, 5, 6, 7, 8]);
        assert_eq!(&bytes[41..49], &[1, 4, 10, 0, 0, 1, 1, 2]);
        // The signature is over the context then everything before sig.
        let mut signed = SIG_CONTEXT.to_vec();
        signed.extend_from_slice(&bytes[..49]);
        a.public.verify(&signed, &bytes[49..]).unwrap();

        let ack = ResolverMessage::BindAck(BindAck { observed: "[::1]:80".parse().unwrap(), ttl_s: 0x0102 });
        let bytes = ack.to_bytes().unwrap();
        assert_eq!(bytes.len(), 1 + 1 + 16 + 2 + 2);
        assert_eq!(bytes[1], 6);
        assert_eq!(&bytes[18..22], &[0, 80, 1, 2]);
    }

    #[test]
    fn signatures_verify_and_reject_tampering() {
        let a = kp(1);
        let b = kp(2);
        let bind = Bind::signed(&a, 5, addrs()).unwrap();
        bind.verify().unwrap();
        let mut t = bind.clone();
        t.timestamp_ms += 1;
        assert_eq!(t.verify(), Err(WireError::BadSignature));
        let mut t = bind.clone();
        t.pk = b.public;
        assert_eq!(t.verify(), Err(WireError::BadSignature));

        let c = ConnectRequest::signed(&a, b.public, 9);
        c.verify().unwrap();
        let mut bytes = ResolverMessage::ConnectRequest(c).to_bytes().unwrap();
        let last = bytes.len() - 1;
        bytes[last] ^= 1;
        match ResolverMessage::parse(&bytes).unwrap() {
            ResolverMessage::ConnectRequest(c) => assert_eq!(c.verify(), Err(WireError::BadSignature)),
            other => panic!("parsed as {other:?}"),
        }
        // A signature without the context prefix must not verify.
        let c = ConnectRequest::signed(&a, b.public, 9);
        let mut forged = c.clone();
        forged.sig = a.secret.sign(&c.unsigned_bytes());
        assert_eq!(forged.verify(), Err(WireError::BadSignature));
    }

    #[test]
    fn truncation_and_garbage() {
        for m in all_messages() {
            let bytes = m.to_bytes().unwrap();
            for cut in 0..bytes.len() {
                assert!(ResolverMessage::parse(&bytes[..cut]).is_err(), "{:?} cut at {cut}", m.type_byte());
            }
            let mut long = bytes.clone();
            long.push(0);
            assert!(matches!(ResolverMessage::parse(&long), Err(WireError::Trailing { extra: 1, .. })));
        }
        assert_eq!(ResolverMessage::parse(&[0x18]), Err(WireError::UnknownType(0x18)));
        let ack = [TYPE_BIND_ACK, 5, 1, 2, 3, 4, 0, 0, 0, 0];
        assert_eq!(ResolverMessage::parse(&ack), Err(WireError::BadAddressFamily(5)));
        let mut e =
            ResolverMessage::Error(ErrorMsg { about: kp(3).public, code: ErrorCode::RateLimited }).to_bytes().unwrap();
        *e.last_mut().unwrap() = 9;
        assert_eq!(ResolverMessage::parse(&e), Err(WireError::UnknownErrorCode(9)));
        // n = 9 local addresses.
        let mut p = vec![TYPE_PEER_ADDRESS];
        p.extend_from_slice(kp(3).public.as_bytes());
        p.extend_from_slice(&[4, 1, 1, 1, 1, 0, 1, 9]);
        assert_eq!(ResolverMessage::parse(&p), Err(WireError::TooManyAddresses(9)));
        // A pk that is not a curve point (y = 2 has no x on Ed25519).
        let mut punch = vec![TYPE_PUNCH, 2];
        punch.extend_from_slice(&[0; 31]);
        assert!(matches!(ResolverMessage::parse(&punch), Err(WireError::BadPublicKey(_))));
        let too_many = vec!["1.1.1.1:1".parse().unwrap(); 9];
        assert_eq!(Bind::signed(&kp(1), 1, too_many).unwrap_err(), WireError::TooManyAddresses(9));
    }
}
