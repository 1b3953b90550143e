//! The shared resolver vectors (test/vectors/resolver.json, built from docs/wire.md section 3): every valid
//! datagram parses to its documented fields and re-encodes to the same bytes, its signature (bind, connect
//! request) verifies over the documented context, and every invalid datagram is refused with its error.
//! The TypeScript codec runs the same file (test/unit/services/ar/udp-wire-vectors.test.ts).

use std::net::{IpAddr, SocketAddr};

use serde_json::Value;
use skywire_core::identity::PublicKey;
use skywire_core::wire::resolver::{
    Bind, BindAck, BindChallenge, ConnectRequest, ErrorCode, ErrorMsg, PeerAddress, Punch, ResolverMessage, SIG_CONTEXT,
};
use skywire_core::wire::WireError;

fn vectors() -> Value {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../test/vectors/resolver.json");
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_json::from_str(&text).expect("resolver.json is JSON")
}

fn list<'a>(v: &'a Value, key: &str) -> &'a Vec<Value> {
    v[key].as_array().unwrap_or_else(|| panic!("{key} is an array"))
}

fn text<'a>(v: &'a Value, key: &str) -> &'a str {
    v[key].as_str().unwrap_or_else(|| panic!("{key} is a string in {v}"))
}

fn int(v: &Value, key: &str) -> u64 {
    v[key].as_u64().unwrap_or_else(|| panic!("{key} is an integer in {v}"))
}

fn bytes<const N: usize>(v: &Value, key: &str) -> [u8; N] {
    let b = hex::decode(text(v, key)).expect("hex");
    b.try_into().unwrap_or_else(|b: Vec<u8>| panic!("{key} is {} bytes, not {N}", b.len()))
}

fn pk(v: &Value, key: &str) -> PublicKey {
    PublicKey::from_bytes(bytes::<32>(v, key)).expect("a valid key")
}

/// `{family, ip, port}`: the address text is compared as an address, and the family must match it.
fn addr(v: &Value) -> SocketAddr {
    let ip: IpAddr = text(v, "ip").parse().expect("an IP address");
    match (int(v, "family"), ip) {
        (4, IpAddr::V4(_)) | (6, IpAddr::V6(_)) => {}
        (f, ip) => panic!("family {f} does not match {ip}"),
    }
    SocketAddr::new(ip, u16::try_from(int(v, "port")).expect("a port"))
}

fn addrs(v: &Value, key: &str) -> Vec<SocketAddr> {
    list(v, key).iter().map(addr).collect()
}

fn timestamp(f: &Value) -> u64 {
    text(f, "timestamp_ms").parse().expect("timestamp_ms is a decimal u64")
}

fn challenge(f: &Value) -> BindChallenge {
    BindChallenge {
        pk: pk(f, "pk"),
        timestamp_ms: timestamp(f),
        local_addrs: addrs(f, "local"),
        issued_s: u32::try_from(int(f, "issued_s")).expect("issued_s is a u32"),
        mac: bytes(f, "mac"),
    }
}

/// The message a vector's fields describe.
fn expected(kind: &str, f: &Value) -> ResolverMessage {
    match kind {
        "bind" => ResolverMessage::Bind(Bind {
            pk: pk(f, "pk"),
            timestamp_ms: timestamp(f),
            local_addrs: addrs(f, "local"),
            sig: bytes(f, "sig"),
        }),
        "bind_ack" => ResolverMessage::BindAck(BindAck {
            observed: addr(&f["observed"]),
            ttl_s: u16::try_from(int(f, "ttl_s")).expect("ttl_s is a u16"),
        }),
        "connect_request" => ResolverMessage::ConnectRequest(ConnectRequest {
            pk: pk(f, "pk"),
            target: pk(f, "target"),
            timestamp_ms: timestamp(f),
            sig: bytes(f, "sig"),
        }),
        "peer_address" => ResolverMessage::PeerAddress(PeerAddress {
            peer: pk(f, "peer"),
            observed: addr(&f["observed"]),
            local_addrs: addrs(f, "local"),
        }),
        "error" => ResolverMessage::Error(ErrorMsg {
            about: pk(f, "about"),
            code: ErrorCode::try_from(u8::try_from(int(f, "code")).expect("a u8")).expect("a known code"),
        }),
        "punch" => ResolverMessage::Punch(Punch { pk: pk(f, "pk") }),
        "bind_challenge" => ResolverMessage::BindChallenge(challenge(f)),
        "bind_confirm" => ResolverMessage::BindConfirm(challenge(f)),
        other => panic!("unknown kind {other}"),
    }
}

/// The vector file's name for each refusal.
fn error_kind(e: &WireError) -> &'static str {
    match e {
        WireError::Empty => "empty",
        WireError::UnknownType(_) => "unknown_type",
        WireError::Truncated { .. } => "truncated",
        WireError::Trailing { .. } => "trailing",
        WireError::BadAddressFamily(_) => "bad_address_family",
        WireError::TooManyAddresses(_) => "too_many_addresses",
        WireError::UnknownErrorCode(_) => "unknown_error_code",
        WireError::BadPublicKey(_) => "bad_public_key",
        other => panic!("an error the resolver codec should not report: {other}"),
    }
}

#[test]
fn the_signing_context_is_the_documented_one() {
    assert_eq!(text(&vectors(), "signing_context").as_bytes(), SIG_CONTEXT);
}

#[test]
fn every_valid_vector_parses_to_its_fields_and_re_encodes_byte_for_byte() {
    let v = vectors();
    let valid = list(&v, "valid");
    assert!(valid.len() >= 8, "every message type has a vector");
    for t in valid {
        let name = text(t, "name");
        let wire = hex::decode(text(t, "hex")).expect("hex");
        let msg = ResolverMessage::parse(&wire).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(msg, expected(text(t, "kind"), &t["fields"]), "{name}");
        assert_eq!(u64::from(msg.type_byte()), int(t, "type"), "{name}");
        assert_eq!(msg.to_bytes().expect("encodes"), wire, "{name}");
        match &msg {
            ResolverMessage::Bind(b) => b.verify().unwrap_or_else(|e| panic!("{name}: {e}")),
            ResolverMessage::ConnectRequest(c) => c.verify().unwrap_or_else(|e| panic!("{name}: {e}")),
            _ => {}
        }
    }
}

#[test]
fn every_invalid_vector_is_refused_with_its_error() {
    let v = vectors();
    let invalid = list(&v, "invalid");
    assert!(!invalid.is_empty());
    for t in invalid {
        let name = text(t, "name");
        let wire = hex::decode(text(t, "hex")).expect("hex");
        match ResolverMessage::parse(&wire) {
            Ok(m) => panic!("{name}: parsed as {m:?}"),
            Err(e) => assert_eq!(error_kind(&e), text(t, "error"), "{name}: {e}"),
        }
    }
}
