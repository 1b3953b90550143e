//! Session message headers: parse and classify agree, never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use skywire_core::wire::message::{classify, Message, Route};

fuzz_target!(|data: &[u8]| {
    let route = classify(data);
    if let Ok(m) = Message::parse(data) {
        let want = match m {
            Message::Initiation(_) => Route::Initiation,
            Message::Response(r) => Route::Index(r.receiver_index),
            Message::CookieReply(c) => Route::Index(c.receiver_index),
            Message::Transport(t) => Route::Index(t.receiver_index),
        };
        assert_eq!(route, Ok(want));
    }
});
