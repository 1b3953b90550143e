//! Latency probe messages (`docs/wire.md` section 4, types 0x20 and 0x21).
//!
//! A prober asks a visor's SUDPH socket "are you `pk`?" with a fresh nonce;
//! the visor answers with that nonce and its Ed25519 signature over it. The
//! prober times the round trip, and only a visor holding the secret key of
//! `pk` can produce an answer it accepts. Both messages have one fixed length,
//! the same for both: the request is padded to the answer's size, so a forged
//! source never gets more bytes back than it sent (no amplification).

use super::{Reader, WireError};
use crate::identity::{Keypair, PublicKey, SIGNATURE_LEN};

pub const TYPE_PROBE_REQUEST: u8 = 0x20;
pub const TYPE_PROBE_ANSWER: u8 = 0x21;

pub const NONCE_LEN: usize = 32;
/// type, 3 reserved bytes, nonce, pk, then 64 bytes: zero padding in a
/// request, the signature in an answer.
pub const PROBE_LEN: usize = 4 + NONCE_LEN + 32 + SIGNATURE_LEN;
/// Signed data = this tag, the nonce, the answering visor's pk. No other
/// signature of a visor's key starts with it (the resolver's context is
/// `skywire-ar-udp/1`), so an answer cannot be replayed as anything else.
/// Where the pk sits in both messages (after type, reserved and nonce).
pub const PK_AT: std::ops::Range<usize> = 4 + NONCE_LEN..4 + NONCE_LEN + 32;
pub const PROBE_SIG_CONTEXT: &[u8] = b"skywire-latency-probe/1";

/// "Are you `pk`? Answer with `nonce`."
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProbeRequest {
    pub nonce: [u8; NONCE_LEN],
    pub pk: PublicKey,
}

/// "I am `pk`, and here is your `nonce`, signed."
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProbeAnswer {
    pub nonce: [u8; NONCE_LEN],
    pub pk: PublicKey,
    pub sig: [u8; SIGNATURE_LEN],
}

fn header<'a>(buf: &'a [u8], ty: u8, what: &'static str) -> Result<Reader<'a>, WireError> {
    if buf.len() != PROBE_LEN {
        return Err(WireError::BadLength { what, expected: PROBE_LEN, got: buf.len() });
    }
    let mut r = Reader::new(buf, what);
    let got = r.u8()?;
    if got != ty {
        return Err(WireError::UnknownType(got));
    }
    if r.array::<3>()? != &[0, 0, 0] {
        return Err(WireError::ReservedNotZero(ty));
    }
    Ok(r)
}

fn get_pk(r: &mut Reader<'_>, what: &'static str) -> Result<PublicKey, WireError> {
    PublicKey::from_bytes(*r.array::<32>()?).map_err(|_| WireError::BadPublicKey(what))
}

fn signed_bytes(nonce: &[u8; NONCE_LEN], pk: &PublicKey) -> Vec<u8> {
    let mut m = Vec::with_capacity(PROBE_SIG_CONTEXT.len() + NONCE_LEN + 32);
    m.extend_from_slice(PROBE_SIG_CONTEXT);
    m.extend_from_slice(nonce);
    m.extend_from_slice(pk.as_bytes());
    m
}

impl ProbeRequest {
    /// Exactly [`PROBE_LEN`] bytes, reserved bytes and padding zero, a valid pk.
    pub fn parse(buf: &[u8]) -> Result<Self, WireError> {
        let mut r = header(buf, TYPE_PROBE_REQUEST, "probe request")?;
        let nonce = *r.array::<NONCE_LEN>()?;
        let pk = get_pk(&mut r, "probe request pk")?;
        if r.array::<SIGNATURE_LEN>()?.iter().any(|&b| b != 0) {
            return Err(WireError::ReservedNotZero(TYPE_PROBE_REQUEST));
        }
        r.finish()?;
        Ok(ProbeRequest { nonce, pk })
    }

    pub fn to_bytes(&self) -> [u8; PROBE_LEN] {
        let mut out = [0u8; PROBE_LEN];
        out[0] = TYPE_PROBE_REQUEST;
        out[4..36].copy_from_slice(&self.nonce);
        out[PK_AT].copy_from_slice(self.pk.as_bytes());
        out
    }

    /// The answer `kp` gives to this request (the caller checked `pk` is `kp`'s).
    pub fn answer(&self, kp: &Keypair) -> ProbeAnswer {
        ProbeAnswer { nonce: self.nonce, pk: kp.public, sig: kp.secret.sign(&signed_bytes(&self.nonce, &kp.public)) }
    }
}

impl ProbeAnswer {
    /// Exactly [`PROBE_LEN`] bytes, reserved bytes zero, a valid pk. The
    /// signature is not checked here: see [`verify`](Self::verify).
    pub fn parse(buf: &[u8]) -> Result<Self, WireError> {
        let mut r = header(buf, TYPE_PROBE_ANSWER, "probe answer")?;
        let nonce = *r.array::<NONCE_LEN>()?;
        let pk = get_pk(&mut r, "probe answer pk")?;
        let sig = *r.array::<SIGNATURE_LEN>()?;
        r.finish()?;
        Ok(ProbeAnswer { nonce, pk, sig })
    }

    pub fn to_bytes(&self) -> [u8; PROBE_LEN] {
        let mut out = [0u8; PROBE_LEN];
        out[0] = TYPE_PROBE_ANSWER;
        out[4..36].copy_from_slice(&self.nonce);
        out[PK_AT].copy_from_slice(self.pk.as_bytes());
        out[68..].copy_from_slice(&self.sig);
        out
    }

    /// Whether this answers `request`: the same nonce, the pk asked for, and a
    /// signature by that pk over both.
    pub fn verify(&self, request: &ProbeRequest) -> Result<(), WireError> {
        if self.nonce != request.nonce || self.pk != request.pk {
            return Err(WireError::BadSignature);
        }
        self.pk.verify(&signed_bytes(&self.nonce, &self.pk), &self.sig).map_err(|_| WireError::BadSignature)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::SecretKey;

    fn kp(seed: u8) -> Keypair {
        let secret = SecretKey::from_bytes([seed; 32]);
        Keypair { public: secret.public_key(), secret }
    }

    fn request(to: &Keypair) -> ProbeRequest {
        ProbeRequest { nonce: [7; NONCE_LEN], pk: to.public }
    }

    #[test]
    fn exact_layouts_and_equal_sizes() {
        let server = kp(1);
        let req = request(&server);
        let bytes = req.to_bytes();
        assert_eq!(bytes.len(), 132);
        assert_eq!(&bytes[..4], &[0x20, 0, 0, 0]);
        assert_eq!(&bytes[4..36], &[7; 32]);
        assert_eq!(&bytes[36..68], server.public.as_bytes());
        assert!(bytes[68..].iter().all(|&b| b == 0), "padding");
        let ans = req.answer(&server).to_bytes();
        // Never more bytes back than came in: no amplification.
        assert_eq!(ans.len(), bytes.len());
        assert_eq!(&ans[..4], &[0x21, 0, 0, 0]);
        assert_eq!(&ans[4..68], &bytes[4..68]);
        // The signature is over the tag, the nonce and the pk.
        let mut signed = PROBE_SIG_CONTEXT.to_vec();
        signed.extend_from_slice(&ans[4..68]);
        assert!(server.public.verify(&signed, &ans[68..]).is_ok());
    }

    #[test]
    fn round_trip() {
        let server = kp(2);
        let req = request(&server);
        assert_eq!(ProbeRequest::parse(&req.to_bytes()), Ok(req));
        let ans = req.answer(&server);
        assert_eq!(ProbeAnswer::parse(&ans.to_bytes()), Ok(ans));
        assert_eq!(ans.verify(&req), Ok(()));
    }

    #[test]
    fn wrong_pk_forged_and_replayed_answers_fail() {
        let server = kp(3);
        let mallory = kp(4);
        let req = request(&server);
        // Another visor answers for itself: not the pk asked for.
        assert_eq!(req.answer(&mallory).verify(&req), Err(WireError::BadSignature));
        // ...or claims the server's pk with its own signature.
        let mut forged = req.answer(&mallory);
        forged.pk = server.public;
        assert_eq!(forged.verify(&req), Err(WireError::BadSignature));
        // Unsigned.
        let mut unsigned = req.answer(&server);
        unsigned.sig = [0; SIGNATURE_LEN];
        assert_eq!(unsigned.verify(&req), Err(WireError::BadSignature));
        // A genuine answer to an earlier request (another nonce) is a replay.
        let old = ProbeRequest { nonce: [8; NONCE_LEN], pk: server.public }.answer(&server);
        assert_eq!(old.verify(&req), Err(WireError::BadSignature));
        // One flipped signature bit.
        let mut bytes = req.answer(&server).to_bytes();
        bytes[100] ^= 1;
        assert_eq!(ProbeAnswer::parse(&bytes).unwrap().verify(&req), Err(WireError::BadSignature));
    }

    /// The fuzz seeds were built outside this codec (from docs/wire.md, with
    /// the binding's generic `sign`): the layouts agree.
    #[test]
    fn fuzz_seeds_match_the_spec() {
        let req = ProbeRequest::parse(include_bytes!("../../fuzz/corpus/probe_message/seed-request")).unwrap();
        assert_eq!(req.nonce, [7; NONCE_LEN]);
        assert_eq!(req.pk, kp(1).public);
        let ans = ProbeAnswer::parse(include_bytes!("../../fuzz/corpus/probe_message/seed-answer")).unwrap();
        assert_eq!(ans.verify(&req), Ok(()));
        assert_eq!(ans, req.answer(&kp(1)), "Ed25519 signatures are deterministic");
        let bad = ProbeAnswer::parse(include_bytes!("../../fuzz/corpus/probe_message/seed-answer-bad-sig")).unwrap();
        assert_eq!(bad.verify(&req), Err(WireError::BadSignature));
    }

    #[test]
    fn strict_parsing() {
        let server = kp(5);
        let good = request(&server).to_bytes();
        // Too small (a request must be padded to the answer's size), too big, empty.
        for len in [0, 1, 4, 68, PROBE_LEN - 1] {
            assert!(matches!(ProbeRequest::parse(&good[..len]), Err(WireError::BadLength { .. })), "{len}");
        }
        let mut long = good.to_vec();
        long.push(0);
        assert!(matches!(ProbeRequest::parse(&long), Err(WireError::BadLength { .. })));
        // Reserved, padding, type, pk.
        let mut b = good;
        b[2] = 1;
        assert_eq!(ProbeRequest::parse(&b), Err(WireError::ReservedNotZero(TYPE_PROBE_REQUEST)));
        let mut b = good;
        b[131] = 1;
        assert_eq!(ProbeRequest::parse(&b), Err(WireError::ReservedNotZero(TYPE_PROBE_REQUEST)));
        assert_eq!(ProbeAnswer::parse(&good), Err(WireError::UnknownType(TYPE_PROBE_REQUEST)));
        let mut b = good;
        b[36..68].copy_from_slice(&[0; 32]);
        assert!(matches!(ProbeRequest::parse(&b), Err(WireError::BadPublicKey(_))));
    }
}
