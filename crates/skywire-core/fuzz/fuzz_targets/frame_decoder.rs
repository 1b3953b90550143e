//! STCPR frame decoder: the same bytes fed in fuzzer-chosen chunks must give
//! the same frames (and the same error) as fed at once; every frame must
//! re-encode to the bytes it came from.
#![no_main]

use libfuzzer_sys::fuzz_target;
use skywire_core::wire::frame::{FrameDecoder, FrameEncoder, MAX_FRAME_LEN};
use skywire_core::wire::WireError;

fn drain(d: &mut FrameDecoder, frames: &mut Vec<Vec<u8>>) -> Result<(), WireError> {
    while let Some(f) = d.next_frame()? {
        assert!(!f.is_empty() && f.len() <= MAX_FRAME_LEN);
        frames.push(f.to_vec());
    }
    Ok(())
}

fuzz_target!(|data: &[u8]| {
    let Some((&split, bytes)) = data.split_first() else { return };
    let mut whole = FrameDecoder::new();
    whole.feed(bytes);
    let mut f1 = Vec::new();
    let r1 = drain(&mut whole, &mut f1);

    let mut chunked = FrameDecoder::new();
    let mut f2 = Vec::new();
    let mut r2 = Ok(());
    let step = usize::from(split % 17) + 1;
    for (i, c) in bytes.chunks(step).enumerate() {
        if i % 2 == 0 {
            chunked.feed(c);
        } else {
            let slot = chunked.read_buf(c.len() + 3);
            slot[..c.len()].copy_from_slice(c);
            chunked.advance(c.len());
        }
        r2 = drain(&mut chunked, &mut f2);
        if r2.is_err() {
            break;
        }
    }
    assert_eq!(r1, r2);
    assert_eq!(f1, f2);

    let mut enc = FrameEncoder::new();
    for f in &f1 {
        enc.push(f).unwrap();
    }
    assert_eq!(enc.as_bytes(), &bytes[..enc.len()]);
});
