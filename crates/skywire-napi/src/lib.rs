//! N-API binding over `skywire-core`. Only conversions live here: every
//! decision about bytes is made in the core crate, and no data packet ever
//! crosses into JavaScript.

// `#[napi]` registers exports only outside `cfg(test)`: in a test build the
// exported functions look unused to rustc, though JavaScript calls every one.
#![cfg_attr(test, allow(dead_code))]

mod identity;
mod mark;
mod node;
mod probe;

use napi::{Error, Status};
use skywire_core::Code;

/// A JS error whose message starts with a stable code (`EINVALIDPK: ...`);
/// ts/native.ts turns it into a SkywireError with that code. The code rides
/// in the message because napi's async path (`execute_tokio_future`) only
/// carries `Error<Status>`, whose JS `code` is the napi status name; the
/// prefix is one fixed format parsed in one place, never prose.
pub(crate) fn coded(code: Code, msg: impl std::fmt::Display) -> Error {
    Error::new(Status::GenericFailure, format!("{code}: {msg}"))
}

pub(crate) fn core_err(e: skywire_core::CoreError) -> Error {
    coded(e.code(), e)
}
