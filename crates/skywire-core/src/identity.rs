//! Visor identity: one Ed25519 keypair.
//!
//! The public key in lowercase hex is the visor's address everywhere. The
//! same key mapped to X25519 (the standard birational map) is the Noise static
//! key, so knowing a PK is enough to start an authenticated IK handshake.

use std::fmt;
use std::str::FromStr;

use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use rand_core::OsRng;

use crate::error::{CoreError, Result};

pub const PUBLIC_KEY_LEN: usize = 32;
pub const SECRET_KEY_LEN: usize = 32;
pub const SIGNATURE_LEN: usize = 64;

/// A visor's public key (Ed25519).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PublicKey([u8; PUBLIC_KEY_LEN]);

/// A visor's secret key (the Ed25519 seed). Never printed.
#[derive(Clone)]
pub struct SecretKey([u8; SECRET_KEY_LEN]);

#[derive(Clone)]
pub struct Keypair {
    pub public: PublicKey,
    pub secret: SecretKey,
}

fn decode_hex32(s: &str, what: &str) -> std::result::Result<[u8; 32], String> {
    if s.len() != 64 {
        return Err(format!("{what} must be 64 hex characters, got {}", s.len()));
    }
    if s.bytes().any(|b| b.is_ascii_uppercase()) {
        return Err(format!("{what} must be lowercase hex"));
    }
    let mut out = [0u8; 32];
    hex::decode_to_slice(s, &mut out).map_err(|e| format!("{what} is not hex: {e}"))?;
    Ok(out)
}

/// Curve points that decode but must never be a visor's identity. A key made
/// by `Keypair::generate` (the base point times a scalar) is none of these.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WeakKey {
    /// One of the 8 points of small order (the identity `0100..00`, the
    /// all-zero encoding, ...): X25519 with it gives an all-zero shared secret
    /// whatever our key, so the "peer" needs no secret at all.
    SmallOrder,
    /// A point with a small-order component: X25519 clears that component,
    /// so the same secret key would answer to up to 8 different public keys.
    MixedOrder,
    /// The y coordinate is not reduced (y >= p): a second spelling of a point
    /// that has a shorter one, so one key would have two addresses.
    NonCanonical,
}

impl fmt::Display for WeakKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            WeakKey::SmallOrder => "small-order point",
            WeakKey::MixedOrder => "point with a small-order component",
            WeakKey::NonCanonical => "non-canonical point encoding",
        })
    }
}

impl PublicKey {
    /// Only the encoding of a prime-order curve point is a public key:
    /// anything else is refused here, so no weak key ever reaches Noise,
    /// signatures, the whitelist or the discovery services.
    pub fn from_bytes(bytes: [u8; PUBLIC_KEY_LEN]) -> Result<Self> {
        // Reject bytes that are not a point on the curve now, not at first use.
        let vk = VerifyingKey::from_bytes(&bytes)
            .map_err(|_| CoreError::InvalidPublicKey("not a valid Ed25519 point".into()))?;
        if vk.is_weak() {
            return Err(CoreError::WeakPublicKey(WeakKey::SmallOrder));
        }
        let point = vk.to_edwards();
        if point.compress().to_bytes() != bytes {
            return Err(CoreError::WeakPublicKey(WeakKey::NonCanonical));
        }
        if !point.is_torsion_free() {
            return Err(CoreError::WeakPublicKey(WeakKey::MixedOrder));
        }
        Ok(PublicKey(bytes))
    }

    pub fn as_bytes(&self) -> &[u8; PUBLIC_KEY_LEN] {
        &self.0
    }

    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    /// The X25519 (Montgomery) form of this key, used as the Noise static key.
    pub fn to_x25519(&self) -> [u8; 32] {
        self.verifying_key().to_montgomery().to_bytes()
    }

    fn verifying_key(&self) -> VerifyingKey {
        // Checked at construction.
        VerifyingKey::from_bytes(&self.0).expect("validated public key")
    }

    /// Verify an Ed25519 signature over `msg`. Strict verification, so that a
    /// signature has exactly one valid encoding (no malleability games).
    pub fn verify(&self, msg: &[u8], sig: &[u8]) -> Result<()> {
        let sig: [u8; SIGNATURE_LEN] =
            sig.try_into().map_err(|_| CoreError::InvalidSignature(format!("must be {SIGNATURE_LEN} bytes")))?;
        self.verifying_key()
            .verify_strict(msg, &Signature::from_bytes(&sig))
            .map_err(|_| CoreError::InvalidSignature("does not verify".into()))
    }
}

impl FromStr for PublicKey {
    type Err = CoreError;
    fn from_str(s: &str) -> Result<Self> {
        let bytes = decode_hex32(s, "public key").map_err(CoreError::InvalidPublicKey)?;
        PublicKey::from_bytes(bytes)
    }
}

impl fmt::Display for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicKey({})", self.to_hex())
    }
}

impl SecretKey {
    pub fn from_bytes(bytes: [u8; SECRET_KEY_LEN]) -> Self {
        SecretKey(bytes)
    }

    pub fn as_bytes(&self) -> &[u8; SECRET_KEY_LEN] {
        &self.0
    }

    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    fn signing_key(&self) -> SigningKey {
        SigningKey::from_bytes(&self.0)
    }

    pub fn public_key(&self) -> PublicKey {
        PublicKey(self.signing_key().verifying_key().to_bytes())
    }

    /// The X25519 secret matching `PublicKey::to_x25519` (the clamped SHA-512
    /// scalar of the seed, as RFC 8032 derives it).
    pub fn to_x25519(&self) -> [u8; 32] {
        self.signing_key().to_scalar_bytes()
    }

    pub fn sign(&self, msg: &[u8]) -> [u8; SIGNATURE_LEN] {
        self.signing_key().sign(msg).to_bytes()
    }
}

impl FromStr for SecretKey {
    type Err = CoreError;
    fn from_str(s: &str) -> Result<Self> {
        decode_hex32(s, "secret key").map(SecretKey).map_err(CoreError::InvalidSecretKey)
    }
}

impl fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretKey(<redacted>)")
    }
}

impl Drop for SecretKey {
    fn drop(&mut self) {
        // Best effort: do not leave the seed in freed memory.
        for b in self.0.iter_mut() {
            // SAFETY: `b` is a valid, aligned, exclusive reference into our own array.
            unsafe { std::ptr::write_volatile(b, 0) };
        }
    }
}

impl Keypair {
    pub fn generate() -> Self {
        let sk = SigningKey::generate(&mut OsRng);
        let secret = SecretKey(sk.to_bytes());
        Keypair { public: secret.public_key(), secret }
    }

    pub fn from_secret(secret: SecretKey) -> Self {
        Keypair { public: secret.public_key(), secret }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_round_trip() {
        let kp = Keypair::generate();
        let pk: PublicKey = kp.public.to_hex().parse().unwrap();
        assert_eq!(pk, kp.public);
        let sk: SecretKey = kp.secret.to_hex().parse().unwrap();
        assert_eq!(sk.public_key(), kp.public);
    }

    #[test]
    fn rejects_bad_hex() {
        assert!("abc".parse::<PublicKey>().is_err());
        let upper = "A".repeat(64);
        assert!(upper.parse::<PublicKey>().is_err());
        let nothex = "z".repeat(64);
        assert!(nothex.parse::<PublicKey>().is_err());
    }

    #[test]
    fn sign_verify() {
        let kp = Keypair::generate();
        let sig = kp.secret.sign(b"hello");
        kp.public.verify(b"hello", &sig).unwrap();
        assert!(kp.public.verify(b"hellp", &sig).is_err());
        assert!(kp.public.verify(b"hello", &sig[..63]).is_err());
        let other = Keypair::generate();
        assert!(other.public.verify(b"hello", &sig).is_err());
    }

    #[test]
    fn x25519_forms_agree() {
        // The X25519 public derived from the Ed25519 public key must equal
        // the base-point multiple of the X25519 secret, or Noise IK fails.
        use curve25519_dalek::montgomery::MontgomeryPoint;
        let kp = Keypair::generate();
        let xp = MontgomeryPoint::mul_base_clamped(kp.secret.to_x25519()).to_bytes();
        assert_eq!(xp, kp.public.to_x25519());
    }

    /// The encodings of the 8 points of small order (the torsion subgroup),
    /// as listed in the ed25519-speccheck / "Taming the many EdDSAs" vectors,
    /// and non-canonical spellings of some of them (y >= p, or x = 0 with the
    /// sign bit set).
    const SMALL_ORDER: [&str; 12] = [
        // order 1: the identity (0, 1)
        "0100000000000000000000000000000000000000000000000000000000000000",
        // order 2: (0, -1)
        "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
        // order 4: (+-sqrt(-1), 0): the all-zero key and its sign flip
        "0000000000000000000000000000000000000000000000000000000000000000",
        "0000000000000000000000000000000000000000000000000000000000000080",
        // order 8
        "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a",
        "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac03fa",
        "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05",
        "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc85",
        // non-canonical: the identity with the sign bit, y = p + 1, y = p - 1 + p ...
        "0100000000000000000000000000000000000000000000000000000000000080",
        "eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
        "edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
        "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
    ];

    #[test]
    fn small_order_and_non_canonical_points_are_not_keys() {
        // Every one of them decodes as a curve point: a check for "is a
        // point" alone (what `from_bytes` did before) lets all of them in.
        for hex in SMALL_ORDER {
            assert!(VerifyingKey::from_bytes(&hex_bytes(hex)).is_ok(), "{hex} does not even decode");
        }
        for hex in SMALL_ORDER {
            let e = hex.parse::<PublicKey>().expect_err(hex);
            assert_eq!(e.code(), crate::Code::InvalidPublicKey, "{hex}");
            assert!(
                e.to_string().starts_with("not a valid public key")
                    || e.to_string().contains("not a valid Ed25519 point"),
                "{hex}: {e}"
            );
        }
        assert!(matches!(
            "0000000000000000000000000000000000000000000000000000000000000000".parse::<PublicKey>(),
            Err(CoreError::WeakPublicKey(WeakKey::SmallOrder))
        ));
        assert!(matches!(
            "0100000000000000000000000000000000000000000000000000000000000000".parse::<PublicKey>(),
            Err(CoreError::WeakPublicKey(WeakKey::SmallOrder))
        ));
        let e = "0100000000000000000000000000000000000000000000000000000000000000".parse::<PublicKey>().unwrap_err();
        assert_eq!(e.to_string(), "not a valid public key: small-order point");
    }

    #[test]
    fn mixed_order_and_non_canonical_spellings_of_real_keys_are_refused() {
        use curve25519_dalek::edwards::CompressedEdwardsY;
        let kp = Keypair::generate();
        let a = CompressedEdwardsY(*kp.public.as_bytes()).decompress().unwrap();
        // The order-8 point of the list above, added to a real key.
        let t = CompressedEdwardsY(hex_bytes(SMALL_ORDER[4])).decompress().unwrap();
        let mixed = (a + t).compress().to_bytes();
        assert!(matches!(PublicKey::from_bytes(mixed), Err(CoreError::WeakPublicKey(WeakKey::MixedOrder))));
        assert_eq!(PublicKey::from_bytes(*kp.public.as_bytes()).unwrap(), kp.public);
        // y >= p: p + y for every small y that is a point and not of small
        // order (the decoder reduces y mod p, so these spell real points twice).
        let mut seen = 0;
        for y in 2u8..=18 {
            let mut b = hex_bytes("edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f"); // p
            b[0] += y;
            if VerifyingKey::from_bytes(&b).is_ok_and(|vk| !vk.is_weak()) {
                seen += 1;
                assert!(
                    matches!(PublicKey::from_bytes(b), Err(CoreError::WeakPublicKey(WeakKey::NonCanonical))),
                    "y = p + {y}"
                );
            }
        }
        assert!(seen > 0, "no non-canonical spelling was tried");
    }

    #[test]
    fn generated_keys_are_never_weak() {
        for _ in 0..64 {
            let kp = Keypair::generate();
            assert!(PublicKey::from_bytes(*kp.public.as_bytes()).is_ok());
        }
    }

    fn hex_bytes(s: &str) -> [u8; 32] {
        let mut b = [0u8; 32];
        hex::decode_to_slice(s, &mut b).unwrap();
        b
    }

    // RFC 8032 test vector 1: the seed and its public key.
    #[test]
    fn rfc8032_vector() {
        let sk: SecretKey = "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60".parse().unwrap();
        assert_eq!(sk.public_key().to_hex(), "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a");
    }
}
