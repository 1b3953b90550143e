//! Forward bodies (multi-hop, docs/wire.md section 6): never panic; whatever
//! parses is a circuit other than 0 and either a close or an inner message
//! that parses on its own, and writing it back gives the same bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use skywire_core::wire::forward::{self, Forward, CIRCUIT_LEN};
use skywire_core::wire::message::Message;

fuzz_target!(|data: &[u8]| {
    if let Ok(f) = Forward::parse(data) {
        assert_ne!(f.circuit, 0);
        assert!(f.is_close() || Message::parse(f.msg).is_ok());
        assert_eq!(f.is_initiation(), matches!(Message::parse(f.msg), Ok(Message::Initiation(_))));
        let mut out = vec![0u8; CIRCUIT_LEN + f.msg.len()];
        let n = forward::write(&mut out, f.circuit, f.msg).unwrap();
        assert_eq!(&out[..n], data);
    }
});
