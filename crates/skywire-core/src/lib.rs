//! Skywire core: everything that touches a packet.
//!
//! This crate is plain Rust with no N-API in it, so that it can be tested,
//! fuzzed and benchmarked on its own. The `skywire-napi` crate is a thin
//! binding that exposes it to TypeScript.

pub mod codes;
pub mod error;
pub mod identity;
pub mod node;
pub mod packet;
pub mod router;
pub mod session;
pub mod tun;
pub mod wire;

pub use codes::Code;
pub use error::{CoreError, Result};
pub use identity::{Keypair, PublicKey, SecretKey};
