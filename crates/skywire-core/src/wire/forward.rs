//! The body of a forward message (transport plaintext kind 5, `docs/wire.md`
//! section 6): `circuit u32` then one whole section-1 session message of the
//! inner layer, or nothing (the circuit is closed). A hop moves these between
//! two transports without reading the inner message; the visor at the
//! circuit's end hands it to a session.

use super::message::Message;
use super::{check_out, Reader, WireError};

/// Bytes the forward header adds in front of the inner message.
pub const CIRCUIT_LEN: usize = 4;

/// One forward body, borrowed from the decrypted plaintext.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Forward<'a> {
    /// The circuit, a number local to the transport that carried this body.
    pub circuit: u32,
    /// The inner session message (type 1-4, whole and well formed); empty
    /// when the sender closed the circuit.
    pub msg: &'a [u8],
}

impl<'a> Forward<'a> {
    /// Parse a forward body. The inner message must be a section-1 message
    /// of a valid shape (lengths and reserved bytes as `Message::parse`
    /// checks them), or nothing (a close); anything else is dropped by the
    /// caller before any lookup or crypto. Circuit 0 is never allocated, so
    /// it is refused.
    pub fn parse(body: &'a [u8]) -> Result<Self, WireError> {
        let mut r = Reader::new(body, "forward body");
        let circuit = r.u32()?;
        if circuit == 0 {
            return Err(WireError::ReservedCircuit);
        }
        let msg = r.rest();
        if !msg.is_empty() {
            Message::parse(msg)?;
        }
        Ok(Forward { circuit, msg })
    }

    /// Whether the sender closed the circuit (no inner message).
    pub fn is_close(&self) -> bool {
        self.msg.is_empty()
    }

    /// Whether the inner message is a handshake initiation (what opens a
    /// circuit at its far end, or rekeys it).
    pub fn is_initiation(&self) -> bool {
        self.msg.first() == Some(&super::message::TYPE_INITIATION)
    }
}

/// Write a forward body (`circuit` then `msg`) into `out`; returns its length.
pub fn write(out: &mut [u8], circuit: u32, msg: &[u8]) -> Result<usize, WireError> {
    let len = CIRCUIT_LEN + msg.len();
    check_out(out, len)?;
    out[..CIRCUIT_LEN].copy_from_slice(&circuit.to_be_bytes());
    out[CIRCUIT_LEN..len].copy_from_slice(msg);
    Ok(len)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::message::{INITIATION_LEN, TRANSPORT_MIN_LEN, TYPE_TRANSPORT};

    fn transport_msg(len: usize) -> Vec<u8> {
        let mut m = vec![0u8; len];
        m[0] = TYPE_TRANSPORT;
        m
    }

    #[test]
    fn round_trips() {
        let inner = transport_msg(TRANSPORT_MIN_LEN + 10);
        let mut out = vec![0u8; 100];
        let n = write(&mut out, 0xdead_beef, &inner).unwrap();
        let f = Forward::parse(&out[..n]).unwrap();
        assert_eq!(f.circuit, 0xdead_beef);
        assert_eq!(f.msg, &inner[..]);
        assert!(!f.is_initiation());
        assert!(!f.is_close());
        assert_eq!(n, inner.len() + CIRCUIT_LEN);
        // A close: the circuit alone.
        let n = write(&mut out, 9, &[]).unwrap();
        assert_eq!(n, CIRCUIT_LEN);
        assert!(Forward::parse(&out[..n]).unwrap().is_close());
    }

    #[test]
    fn refuses_what_no_peer_sends() {
        // Too short for a circuit.
        assert!(matches!(Forward::parse(&[0, 0, 1]), Err(WireError::Truncated { .. })));
        // Circuit 0.
        let mut b = 0u32.to_be_bytes().to_vec();
        b.extend(transport_msg(TRANSPORT_MIN_LEN));
        assert_eq!(Forward::parse(&b), Err(WireError::ReservedCircuit));
        // No inner message, an unknown inner type, a short transport message,
        // an initiation of the wrong length, non-zero reserved bytes.
        let with = |inner: &[u8]| {
            let mut b = 7u32.to_be_bytes().to_vec();
            b.extend_from_slice(inner);
            Forward::parse(&b).map(|f| f.circuit)
        };
        // No inner message: a close.
        assert_eq!(with(&[]), Ok(7));
        assert!(with(&[9; 40]).is_err());
        assert!(with(&transport_msg(TRANSPORT_MIN_LEN - 1)).is_err());
        let mut init = vec![0u8; INITIATION_LEN + 1];
        init[0] = 1;
        assert!(with(&init).is_err());
        let mut bad = transport_msg(TRANSPORT_MIN_LEN);
        bad[2] = 1;
        assert!(with(&bad).is_err());
        assert!(with(&transport_msg(TRANSPORT_MIN_LEN)).is_ok());
    }

    #[test]
    fn write_needs_room() {
        let mut out = [0u8; 8];
        assert!(matches!(write(&mut out, 1, &[4; 10]), Err(WireError::BufferTooSmall { need: 14, have: 8 })));
    }
}
