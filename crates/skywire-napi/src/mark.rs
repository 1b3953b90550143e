//! Marked sockets for the host program's own control-plane requests (the
//! discovery services): the SYN already carries the bypass mark, so the
//! VPN client's policy routing keeps them outside the tunnel. Only the
//! connected fd crosses into JavaScript, which wraps it in a net.Socket.

use std::os::fd::IntoRawFd;
use std::time::Duration;

use napi_derive::napi;
use skywire_core::node::mark::{connect_marked as core_connect, marking_refused, BYPASS_MARK};

use crate::coded;
use skywire_core::Code;

#[napi(object)]
pub struct BypassMark {
    /// The SO_MARK value (BYPASS_MARK in the core).
    pub mark: u32,
    /// True once the kernel refused to mark a socket (no CAP_NET_ADMIN): such sockets go unmarked.
    pub refused: bool,
}

#[napi]
pub fn bypass_mark() -> BypassMark {
    BypassMark { mark: BYPASS_MARK, refused: marking_refused() }
}

/// Connect a marked TCP socket to `addr` ("IP:PORT" or "[IPv6]:PORT"); resolves to its fd, which the caller owns.
#[napi]
pub async fn connect_marked(addr: String, timeout_ms: u32) -> napi::Result<i32> {
    let sa: std::net::SocketAddr =
        addr.parse().map_err(|_| coded(Code::InvalidAddress, format!("address must be IP:PORT, got {addr:?}")))?;
    let timeout = Duration::from_millis(u64::from(timeout_ms.max(1)));
    let stream = tokio::task::spawn_blocking(move || core_connect(sa, timeout))
        .await
        .map_err(|e| coded(Code::Internal, e))?
        .map_err(|e| coded(Code::Unreachable, format!("{sa}: {e}")))?;
    Ok(stream.into_raw_fd())
}
