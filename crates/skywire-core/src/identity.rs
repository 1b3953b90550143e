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

impl PublicKey {
    pub fn from_bytes(bytes: [u8; PUBLIC_KEY_LEN]) -> Result<Self> {
        // Reject bytes that are not a point on the curve now, not at first use.
        VerifyingKey::from_bytes(&bytes)
            .map_err(|_| CoreError::InvalidPublicKey("not a valid Ed25519 point".into()))?;
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
        let sig: [u8; SIGNATURE_LEN] = sig
            .try_into()
            .map_err(|_| CoreError::InvalidSignature(format!("must be {SIGNATURE_LEN} bytes")))?;
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
        decode_hex32(s, "secret key")
            .map(SecretKey)
            .map_err(CoreError::InvalidSecretKey)
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

    // RFC 8032 test vector 1: the seed and its public key.
    #[test]
    fn rfc8032_vector() {
        let sk: SecretKey = "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60"
            .parse()
            .unwrap();
        assert_eq!(
            sk.public_key().to_hex(),
            "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a"
        );
    }
}
