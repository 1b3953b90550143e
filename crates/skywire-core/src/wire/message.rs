//! Session message headers (`docs/wire.md` section 1).
//!
//! Parsing borrows from the input; nothing here allocates. Every message type
//! has a fixed length except transport, whose ciphertext runs to the end.
//! The MAC fields are exposed together with the byte ranges they cover so the
//! session layer can check them before it does any Diffie-Hellman.

use super::{check_out, Reader, WireError};

pub const TYPE_INITIATION: u8 = 1;
pub const TYPE_RESPONSE: u8 = 2;
pub const TYPE_COOKIE_REPLY: u8 = 3;
pub const TYPE_TRANSPORT: u8 = 4;
/// (since 0.4.0) "I have no session with this receiver index": the unauthenticated
/// answer of a restarted node to a transport message (section 1).
pub const TYPE_UNKNOWN_SESSION: u8 = 5;
/// Type, three reserved bytes, the receiver index that was not known.
pub const UNKNOWN_SESSION_LEN: usize = 8;

pub const MAC_LEN: usize = 16;
pub const TAG_LEN: usize = 16;
/// Noise IK message 1: `e` (32) + encrypted `s` (32 + 16) + encrypted 12-byte timestamp (12 + 16).
pub const NOISE_INIT_LEN: usize = 32 + 48 + 12 + 32 + 16;
/// Noise IK message 2: `e` (32) + encrypted empty payload (16).
pub const NOISE_RESP_LEN: usize = 32 + 16;
pub const INITIATION_LEN: usize = 8 + NOISE_INIT_LEN + 2 * MAC_LEN;
pub const RESPONSE_LEN: usize = 12 + NOISE_RESP_LEN + 2 * MAC_LEN;
pub const COOKIE_NONCE_LEN: usize = 24;
pub const COOKIE_LEN: usize = 16;
pub const ENCRYPTED_COOKIE_LEN: usize = COOKIE_LEN + TAG_LEN;
pub const COOKIE_REPLY_LEN: usize = 8 + COOKIE_NONCE_LEN + ENCRYPTED_COOKIE_LEN;
pub const TRANSPORT_HEADER_LEN: usize = 16;
/// The smallest transport message: header, kind byte, tag.
pub const TRANSPORT_MIN_LEN: usize = TRANSPORT_HEADER_LEN + 1 + TAG_LEN;

/// Where a datagram from the session port has to go; read from the first bytes only.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    /// A handshake initiation: hand it to the `Responder`.
    Initiation,
    /// A response, cookie reply or transport message: hand it to the session
    /// that owns this local (receiver) index.
    Index(u32),
    /// A resolver message (types 0x10 and up, section 3).
    Resolver(u8),
    /// A latency probe request (type 0x20, section 4): answer it, stateless.
    Probe,
    /// An unknown-session hint naming the receiver index (the peer's index
    /// of one of our sessions) its sender did not know. Unauthenticated: a
    /// reason to ping, never to act.
    UnknownSession(u32),
}

/// Decide where a datagram goes without parsing all of it. Errors only on
/// bytes too short to carry an index or on unknown types.
pub fn classify(buf: &[u8]) -> Result<Route, WireError> {
    let ty = *buf.first().ok_or(WireError::Empty)?;
    let index_at =
        |off: usize| {
            buf.get(off..off + 4)
                .map(|b| u32::from_be_bytes(b.try_into().expect("4 bytes")))
                .ok_or(WireError::Truncated { what: "session message header", need: off + 4, got: buf.len() })
        };
    match ty {
        TYPE_INITIATION => Ok(Route::Initiation),
        TYPE_RESPONSE => index_at(8).map(Route::Index),
        TYPE_COOKIE_REPLY | TYPE_TRANSPORT => index_at(4).map(Route::Index),
        TYPE_UNKNOWN_SESSION => {
            exact(buf, UNKNOWN_SESSION_LEN, "unknown-session hint")?;
            if buf[1..4] != [0, 0, 0] {
                return Err(WireError::ReservedNotZero(ty));
            }
            index_at(4).map(Route::UnknownSession)
        }
        0x10..=0x17 => Ok(Route::Resolver(ty)),
        super::probe::TYPE_PROBE_REQUEST => Ok(Route::Probe),
        other => Err(WireError::UnknownType(other)),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Initiation<'a> {
    pub sender_index: u32,
    pub noise: &'a [u8; NOISE_INIT_LEN],
    pub mac1: &'a [u8; MAC_LEN],
    pub mac2: &'a [u8; MAC_LEN],
    /// The whole message; `mac1` covers `raw[..len-32]`, `mac2` covers `raw[..len-16]`.
    pub raw: &'a [u8],
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Response<'a> {
    pub sender_index: u32,
    pub receiver_index: u32,
    pub noise: &'a [u8; NOISE_RESP_LEN],
    pub mac1: &'a [u8; MAC_LEN],
    pub mac2: &'a [u8; MAC_LEN],
    pub raw: &'a [u8],
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CookieReply<'a> {
    pub receiver_index: u32,
    pub nonce: &'a [u8; COOKIE_NONCE_LEN],
    pub encrypted_cookie: &'a [u8; ENCRYPTED_COOKIE_LEN],
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Transport<'a> {
    pub receiver_index: u32,
    pub counter: u64,
    /// Encrypted kind byte and body, then the 16-byte tag; at least 17 bytes.
    pub ciphertext: &'a [u8],
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Message<'a> {
    Initiation(Initiation<'a>),
    Response(Response<'a>),
    CookieReply(CookieReply<'a>),
    Transport(Transport<'a>),
}

fn header<'a>(buf: &'a [u8], ty: u8, what: &'static str) -> Result<Reader<'a>, WireError> {
    let mut r = Reader::new(buf, what);
    let _ = r.u8()?;
    if r.array::<3>()? != &[0, 0, 0] {
        return Err(WireError::ReservedNotZero(ty));
    }
    Ok(r)
}

fn exact(buf: &[u8], len: usize, what: &'static str) -> Result<(), WireError> {
    match buf.len().cmp(&len) {
        std::cmp::Ordering::Less => Err(WireError::Truncated { what, need: len, got: buf.len() }),
        std::cmp::Ordering::Greater => Err(WireError::Trailing { what, extra: buf.len() - len }),
        std::cmp::Ordering::Equal => Ok(()),
    }
}

impl<'a> Initiation<'a> {
    pub fn parse(buf: &'a [u8]) -> Result<Self, WireError> {
        const WHAT: &str = "handshake initiation";
        exact(buf, INITIATION_LEN, WHAT)?;
        let mut r = header(buf, TYPE_INITIATION, WHAT)?;
        Ok(Initiation { sender_index: r.u32()?, noise: r.array()?, mac1: r.array()?, mac2: r.array()?, raw: buf })
    }
}

impl<'a> Response<'a> {
    pub fn parse(buf: &'a [u8]) -> Result<Self, WireError> {
        const WHAT: &str = "handshake response";
        exact(buf, RESPONSE_LEN, WHAT)?;
        let mut r = header(buf, TYPE_RESPONSE, WHAT)?;
        Ok(Response {
            sender_index: r.u32()?,
            receiver_index: r.u32()?,
            noise: r.array()?,
            mac1: r.array()?,
            mac2: r.array()?,
            raw: buf,
        })
    }
}

impl<'a> CookieReply<'a> {
    pub fn parse(buf: &'a [u8]) -> Result<Self, WireError> {
        const WHAT: &str = "cookie reply";
        exact(buf, COOKIE_REPLY_LEN, WHAT)?;
        let mut r = header(buf, TYPE_COOKIE_REPLY, WHAT)?;
        Ok(CookieReply { receiver_index: r.u32()?, nonce: r.array()?, encrypted_cookie: r.array()? })
    }
}

impl<'a> Transport<'a> {
    pub fn parse(buf: &'a [u8]) -> Result<Self, WireError> {
        const WHAT: &str = "transport message";
        if buf.len() < TRANSPORT_MIN_LEN {
            return Err(WireError::Truncated { what: WHAT, need: TRANSPORT_MIN_LEN, got: buf.len() });
        }
        let mut r = header(buf, TYPE_TRANSPORT, WHAT)?;
        Ok(Transport { receiver_index: r.u32()?, counter: r.u64()?, ciphertext: r.rest() })
    }
}

impl<'a> Message<'a> {
    pub fn parse(buf: &'a [u8]) -> Result<Self, WireError> {
        match *buf.first().ok_or(WireError::Empty)? {
            TYPE_INITIATION => Initiation::parse(buf).map(Message::Initiation),
            TYPE_RESPONSE => Response::parse(buf).map(Message::Response),
            TYPE_COOKIE_REPLY => CookieReply::parse(buf).map(Message::CookieReply),
            TYPE_TRANSPORT => Transport::parse(buf).map(Message::Transport),
            other => Err(WireError::UnknownType(other)),
        }
    }
}

fn put_header(out: &mut [u8], ty: u8) {
    out[0] = ty;
    out[1..4].fill(0);
}

/// Write an initiation with zeroed MACs; returns its length. The session layer fills the MACs.
pub fn write_initiation(out: &mut [u8], sender_index: u32, noise: &[u8; NOISE_INIT_LEN]) -> Result<usize, WireError> {
    check_out(out, INITIATION_LEN)?;
    put_header(out, TYPE_INITIATION);
    out[4..8].copy_from_slice(&sender_index.to_be_bytes());
    out[8..8 + NOISE_INIT_LEN].copy_from_slice(noise);
    out[8 + NOISE_INIT_LEN..INITIATION_LEN].fill(0);
    Ok(INITIATION_LEN)
}

/// Write a response with zeroed MACs; returns its length.
pub fn write_response(
    out: &mut [u8],
    sender_index: u32,
    receiver_index: u32,
    noise: &[u8; NOISE_RESP_LEN],
) -> Result<usize, WireError> {
    check_out(out, RESPONSE_LEN)?;
    put_header(out, TYPE_RESPONSE);
    out[4..8].copy_from_slice(&sender_index.to_be_bytes());
    out[8..12].copy_from_slice(&receiver_index.to_be_bytes());
    out[12..12 + NOISE_RESP_LEN].copy_from_slice(noise);
    out[12 + NOISE_RESP_LEN..RESPONSE_LEN].fill(0);
    Ok(RESPONSE_LEN)
}

pub fn write_cookie_reply(
    out: &mut [u8],
    receiver_index: u32,
    nonce: &[u8; COOKIE_NONCE_LEN],
    encrypted_cookie: &[u8; ENCRYPTED_COOKIE_LEN],
) -> Result<usize, WireError> {
    check_out(out, COOKIE_REPLY_LEN)?;
    put_header(out, TYPE_COOKIE_REPLY);
    out[4..8].copy_from_slice(&receiver_index.to_be_bytes());
    out[8..32].copy_from_slice(nonce);
    out[32..COOKIE_REPLY_LEN].copy_from_slice(encrypted_cookie);
    Ok(COOKIE_REPLY_LEN)
}

/// Write the 16-byte transport header; the ciphertext goes right after it.
pub fn write_transport_header(out: &mut [u8], receiver_index: u32, counter: u64) -> Result<(), WireError> {
    check_out(out, TRANSPORT_HEADER_LEN)?;
    put_header(out, TYPE_TRANSPORT);
    out[4..8].copy_from_slice(&receiver_index.to_be_bytes());
    out[8..16].copy_from_slice(&counter.to_be_bytes());
    Ok(())
}

/// Write an unknown-session hint for `receiver_index`; returns its length.
pub fn write_unknown_session(out: &mut [u8], receiver_index: u32) -> Result<usize, WireError> {
    check_out(out, UNKNOWN_SESSION_LEN)?;
    put_header(out, TYPE_UNKNOWN_SESSION);
    out[4..8].copy_from_slice(&receiver_index.to_be_bytes());
    Ok(UNKNOWN_SESSION_LEN)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_match_the_spec() {
        assert_eq!(INITIATION_LEN, 180);
        assert_eq!(RESPONSE_LEN, 92);
        assert_eq!(COOKIE_REPLY_LEN, 64);
        assert_eq!(TRANSPORT_MIN_LEN, 33);
    }

    #[test]
    fn initiation_round_trip_and_fields() {
        let noise = [7u8; NOISE_INIT_LEN];
        let mut buf = [0xffu8; 200];
        let n = write_initiation(&mut buf, 0xdead_beef, &noise).unwrap();
        buf[n - 32..n - 16].copy_from_slice(&[1; 16]);
        buf[n - 16..n].copy_from_slice(&[2; 16]);
        let m = Initiation::parse(&buf[..n]).unwrap();
        assert_eq!(m.sender_index, 0xdead_beef);
        assert_eq!(m.noise, &noise);
        assert_eq!(m.mac1, &[1; 16]);
        assert_eq!(m.mac2, &[2; 16]);
        assert_eq!(&buf[..8], &[1, 0, 0, 0, 0xde, 0xad, 0xbe, 0xef]);
        assert_eq!(classify(&buf[..n]), Ok(Route::Initiation));
        assert!(matches!(Message::parse(&buf[..n]), Ok(Message::Initiation(_))));
        assert_eq!(
            Initiation::parse(&buf[..n - 1]),
            Err(WireError::Truncated { what: "handshake initiation", need: 180, got: 179 })
        );
        assert_eq!(
            Initiation::parse(&buf[..n + 1]),
            Err(WireError::Trailing { what: "handshake initiation", extra: 1 })
        );
        buf[2] = 1;
        assert_eq!(Initiation::parse(&buf[..n]), Err(WireError::ReservedNotZero(1)));
    }

    #[test]
    fn response_cookie_transport_round_trip() {
        let mut buf = [0u8; 128];
        let n = write_response(&mut buf, 5, 6, &[9; NOISE_RESP_LEN]).unwrap();
        let r = Response::parse(&buf[..n]).unwrap();
        assert_eq!((r.sender_index, r.receiver_index), (5, 6));
        assert_eq!(classify(&buf[..n]), Ok(Route::Index(6)));

        let n = write_cookie_reply(&mut buf, 77, &[3; 24], &[4; 32]).unwrap();
        let c = CookieReply::parse(&buf[..n]).unwrap();
        assert_eq!(c.receiver_index, 77);
        assert_eq!(c.nonce, &[3; 24]);
        assert_eq!(c.encrypted_cookie, &[4; 32]);
        assert_eq!(classify(&buf[..n]), Ok(Route::Index(77)));

        write_transport_header(&mut buf, 0x0102_0304, 0x1122_3344_5566_7788).unwrap();
        let t = Transport::parse(&buf[..40]).unwrap();
        assert_eq!(t.receiver_index, 0x0102_0304);
        assert_eq!(t.counter, 0x1122_3344_5566_7788);
        assert_eq!(t.ciphertext.len(), 24);
        assert!(matches!(Transport::parse(&buf[..32]), Err(WireError::Truncated { need: 33, .. })));
    }

    #[test]
    fn garbage_is_rejected() {
        assert_eq!(Message::parse(&[]), Err(WireError::Empty));
        assert_eq!(Message::parse(&[0]), Err(WireError::UnknownType(0)));
        assert_eq!(classify(&[9, 0, 0]), Err(WireError::UnknownType(9)));
        assert!(matches!(classify(&[4, 0, 0, 0, 1]), Err(WireError::Truncated { .. })));
        assert_eq!(classify(&[0x12]), Ok(Route::Resolver(0x12)));
        // A probe request is routed on its type byte alone (its parser checks
        // the rest); an answer is for probers, never for a node.
        assert_eq!(classify(&[0x20]), Ok(Route::Probe));
        assert_eq!(classify(&[0x21]), Err(WireError::UnknownType(0x21)));
        assert!(write_initiation(&mut [0u8; 10], 1, &[0; NOISE_INIT_LEN]).is_err());
    }

    #[test]
    fn unknown_session_hint_is_exactly_eight_bytes_and_never_longer_than_a_transport_message() {
        let mut buf = [0xffu8; 16];
        let n = write_unknown_session(&mut buf, 0xcafe_f00d).unwrap();
        assert_eq!(n, UNKNOWN_SESSION_LEN);
        const { assert!(UNKNOWN_SESSION_LEN < TRANSPORT_MIN_LEN, "no amplification") };
        assert_eq!(&buf[..n], &[5, 0, 0, 0, 0xca, 0xfe, 0xf0, 0x0d]);
        assert_eq!(classify(&buf[..n]), Ok(Route::UnknownSession(0xcafe_f00d)));
        // Any other length or a reserved byte set: not a hint.
        assert!(classify(&buf[..n + 1]).is_err());
        assert!(classify(&buf[..n - 1]).is_err());
        buf[2] = 1;
        assert!(classify(&buf[..n]).is_err());
        // Message::parse (the session layer) still knows nothing of it.
        assert_eq!(Message::parse(&[5, 0, 0, 0, 0, 0, 0, 1]), Err(WireError::UnknownType(5)));
    }
}
