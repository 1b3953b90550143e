//! N-API binding over `skywire-core`. Only conversions live here: every
//! decision about bytes is made in the core crate, and no data packet ever
//! crosses into JavaScript.

mod identity;
mod mark;
mod node;

use napi::{Error, Status};

/// A JS error whose message starts with a stable code (`EINVALIDPK: ...`);
/// ts/native.ts turns it into a SkywireError with that code.
pub(crate) fn coded(code: &str, msg: impl std::fmt::Display) -> Error {
    Error::new(Status::GenericFailure, format!("{code}: {msg}"))
}

pub(crate) fn core_err(e: skywire_core::CoreError) -> Error {
    coded(e.code(), e)
}
