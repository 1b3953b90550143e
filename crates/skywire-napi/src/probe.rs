//! Signed latency probes for TypeScript: a function, not a node method, so a
//! CLI process without a running visor (and without root) can time servers.

use std::net::SocketAddr;
use std::time::Duration;

use napi::bindgen_prelude::*;
use napi_derive::napi;
use skywire_core::node::{probe_latency as core_probe, MAX_PROBE_ADDRS};
use skywire_core::{Code, PublicKey};

use crate::{coded, core_err};

/// The longest a probe may wait: a server slower than this is not one to pick.
const MAX_TIMEOUT_MS: u32 = 10_000;

#[napi(object)]
pub struct ProbeResult {
    /// Round trip of the answered request, in milliseconds (fractional).
    pub rtt_ms: f64,
    /// The address that answered (one of those given).
    pub addr: String,
}

/// Time a signed probe to the visor `public_key` at its SUDPH `addrs`
/// (IP:PORT, 1 to 8). Resolves to null when no valid answer came within
/// `timeout_ms` (clamped to 1..=10000): offline, a visor too old to answer, rate-limited,
/// or not that key. Throws only for bad arguments or no UDP socket.
#[napi]
pub async fn probe_latency(public_key: String, addrs: Vec<String>, timeout_ms: u32) -> Result<Option<ProbeResult>> {
    let pk: PublicKey = public_key.parse().map_err(core_err)?;
    if addrs.is_empty() || addrs.len() > MAX_PROBE_ADDRS {
        return Err(coded(
            Code::InvalidAddress,
            format!("a probe takes 1 to {MAX_PROBE_ADDRS} addresses, got {}", addrs.len()),
        ));
    }
    let addrs = addrs
        .iter()
        .map(|s| {
            s.parse::<SocketAddr>()
                .map_err(|_| coded(Code::InvalidAddress, format!("probe address must be IP:PORT, got {s:?}")))
        })
        .collect::<Result<Vec<_>>>()?;
    // Clamped, not refused: the TS wrapper checks user input; this only
    // keeps any caller's probe bounded in time.
    let timeout = Duration::from_millis(u64::from(timeout_ms.clamp(1, MAX_TIMEOUT_MS)));
    let probed = core_probe(pk, &addrs, timeout).await.map_err(|e| coded(e.code(), e))?;
    Ok(probed.map(|p| ProbeResult { rtt_ms: p.rtt.as_secs_f64() * 1000.0, addr: p.addr.to_string() }))
}
