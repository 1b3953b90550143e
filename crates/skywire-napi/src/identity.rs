//! Keys and signatures for TypeScript (config generation, signed requests to
//! the discovery services).

use napi::bindgen_prelude::*;
use napi_derive::napi;
use skywire_core::{CoreError, Keypair, PublicKey, SecretKey};

use crate::core_err;

#[napi(object)]
pub struct KeyPair {
    /// Ed25519 public key, 64 lowercase hex characters.
    pub public_key: String,
    /// Ed25519 seed, 64 lowercase hex characters. Keep it secret.
    pub secret_key: String,
}

/// Generate a fresh visor identity.
#[napi]
pub fn generate_keypair() -> KeyPair {
    let kp = Keypair::generate();
    KeyPair { public_key: kp.public.to_hex(), secret_key: kp.secret.to_hex() }
}

/// The public key of a secret key (both hex).
#[napi]
pub fn public_key_from_secret(secret_key: String) -> Result<String> {
    let sk: SecretKey = secret_key.parse().map_err(core_err)?;
    Ok(sk.public_key().to_hex())
}

/// Whether `pk` is a well-formed visor public key (64 lowercase hex, the
/// canonical encoding of a prime-order curve point: no weak keys).
#[napi]
pub fn is_valid_public_key(pk: String) -> bool {
    pk.parse::<PublicKey>().is_ok()
}

/// Why `pk` is not a visor public key, in a few words ("small-order point",
/// "must be 64 hex characters, got 3", ...); null when it is one.
#[napi]
pub fn public_key_problem(pk: String) -> Option<String> {
    match pk.parse::<PublicKey>() {
        Ok(_) => None,
        Err(CoreError::InvalidPublicKey(why)) => Some(why),
        Err(CoreError::WeakPublicKey(weak)) => Some(weak.to_string()),
        Err(e) => Some(e.to_string()),
    }
}

/// Sign `message` with an Ed25519 secret key; returns the 64-byte signature.
#[napi]
pub fn sign(secret_key: String, message: Buffer) -> Result<Buffer> {
    let sk: SecretKey = secret_key.parse().map_err(core_err)?;
    Ok(sk.sign(&message).to_vec().into())
}

/// Verify an Ed25519 signature. Returns false for a bad signature; throws
/// only for a malformed public key.
#[napi]
pub fn verify(public_key: String, message: Buffer, signature: Buffer) -> Result<bool> {
    let pk: PublicKey = public_key.parse().map_err(core_err)?;
    Ok(pk.verify(&message, &signature).is_ok())
}
