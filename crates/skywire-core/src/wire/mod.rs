//! Byte formats of `docs/wire.md`, and nothing else: no crypto state, no I/O.
//!
//! - [`message`]: the session message headers of section 1 (types 1-4) and a
//!   [`message::classify`] helper that tells the I/O layer where a datagram goes.
//! - [`frame`]: the STCPR length-prefixed framing of section 2.
//! - [`resolver`]: the UDP address-resolver messages of section 3 (types 0x10-0x15).
//! - [`probe`]: the signed latency probe of section 4 (types 0x20-0x21).
//! - [`forward`]: the body of a forward message (multi-hop, section 6).
//!
//! Every parser takes untrusted bytes and returns a [`WireError`] on anything
//! short, long or malformed; none of them panics (they are fuzzed, see `fuzz/`).

pub mod forward;
pub mod frame;
pub mod message;
pub mod probe;
pub mod resolver;

use thiserror::Error;

/// What was wrong with some bytes on the wire.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum WireError {
    #[error("truncated {what}: need {need} bytes, got {got}")]
    Truncated { what: &'static str, need: usize, got: usize },
    #[error("{what} has {extra} trailing bytes")]
    Trailing { what: &'static str, extra: usize },
    #[error("{what} must be exactly {expected} bytes, got {got}")]
    BadLength { what: &'static str, expected: usize, got: usize },
    #[error("empty message")]
    Empty,
    #[error("unknown message type {0:#04x}")]
    UnknownType(u8),
    #[error("reserved bytes of a type {0} message are not zero")]
    ReservedNotZero(u8),
    #[error("address family {0} is neither 4 nor 6")]
    BadAddressFamily(u8),
    #[error("{0} addresses listed, at most {max} allowed", max = resolver::MAX_ADDRS)]
    TooManyAddresses(usize),
    #[error("frame length {len} is outside {min}..={max}")]
    BadFrameLength { len: u32, min: usize, max: usize },
    #[error("frame decoder failed earlier; the connection must be closed")]
    DecoderPoisoned,
    #[error("output buffer too small: need {need} bytes, have {have}")]
    BufferTooSmall { need: usize, have: usize },
    #[error("{0} is not a valid Ed25519 public key")]
    BadPublicKey(&'static str),
    #[error("signature does not verify")]
    BadSignature,
    #[error("unknown resolver error code {0}")]
    UnknownErrorCode(u8),
    #[error("circuit 0 is reserved")]
    ReservedCircuit,
}

/// Reads without panicking; every caller in this module goes through these.
pub(crate) struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
    what: &'static str,
}

impl<'a> Reader<'a> {
    pub(crate) fn new(buf: &'a [u8], what: &'static str) -> Self {
        Reader { buf, pos: 0, what }
    }

    pub(crate) fn take(&mut self, n: usize) -> Result<&'a [u8], WireError> {
        let end = self.pos.checked_add(n).filter(|&e| e <= self.buf.len()).ok_or(WireError::Truncated {
            what: self.what,
            need: self.pos.saturating_add(n),
            got: self.buf.len(),
        })?;
        let s = &self.buf[self.pos..end];
        self.pos = end;
        Ok(s)
    }

    pub(crate) fn array<const N: usize>(&mut self) -> Result<&'a [u8; N], WireError> {
        // take(N) returned exactly N bytes.
        Ok(self.take(N)?.try_into().expect("length checked"))
    }

    pub(crate) fn u8(&mut self) -> Result<u8, WireError> {
        Ok(self.take(1)?[0])
    }

    pub(crate) fn u16(&mut self) -> Result<u16, WireError> {
        Ok(u16::from_be_bytes(*self.array()?))
    }

    pub(crate) fn u32(&mut self) -> Result<u32, WireError> {
        Ok(u32::from_be_bytes(*self.array()?))
    }

    pub(crate) fn u64(&mut self) -> Result<u64, WireError> {
        Ok(u64::from_be_bytes(*self.array()?))
    }

    pub(crate) fn rest(&mut self) -> &'a [u8] {
        let s = &self.buf[self.pos..];
        self.pos = self.buf.len();
        s
    }

    pub(crate) fn finish(&self) -> Result<(), WireError> {
        match self.buf.len() - self.pos {
            0 => Ok(()),
            extra => Err(WireError::Trailing { what: self.what, extra }),
        }
    }
}

pub(crate) fn check_out(out: &[u8], need: usize) -> Result<(), WireError> {
    if out.len() < need {
        Err(WireError::BufferTooSmall { need, have: out.len() })
    } else {
        Ok(())
    }
}
