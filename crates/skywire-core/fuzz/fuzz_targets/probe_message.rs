//! Latency probe messages: never panic; whatever parses re-encodes to the
//! same bytes, a request and an answer never both parse from one datagram,
//! and verifying an answer never panics.
#![no_main]

use libfuzzer_sys::fuzz_target;
use skywire_core::wire::probe::{ProbeAnswer, ProbeRequest};

fuzz_target!(|data: &[u8]| {
    let req = ProbeRequest::parse(data);
    let ans = ProbeAnswer::parse(data);
    assert!(req.is_err() || ans.is_err());
    if let Ok(r) = req {
        assert_eq!(&r.to_bytes()[..], data);
    }
    if let Ok(a) = ans {
        assert_eq!(&a.to_bytes()[..], data);
        let _ = a.verify(&ProbeRequest { nonce: a.nonce, pk: a.pk });
    }
});
