//! Resolver messages: never panic; whatever parses re-encodes to the same
//! bytes (signatures rely on that), and verifying a signature never panics.
#![no_main]

use libfuzzer_sys::fuzz_target;
use skywire_core::wire::resolver::ResolverMessage;

fuzz_target!(|data: &[u8]| {
    if let Ok(m) = ResolverMessage::parse(data) {
        assert_eq!(m.to_bytes().unwrap(), data);
        match &m {
            ResolverMessage::Bind(b) => {
                let _ = b.verify();
            }
            ResolverMessage::ConnectRequest(c) => {
                let _ = c.verify();
            }
            _ => {}
        }
    }
});
