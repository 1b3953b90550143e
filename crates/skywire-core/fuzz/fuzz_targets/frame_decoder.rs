//! STCPR frame decoder on raw bytes, under any limit: the same bytes fed at
//! once, or in fuzzer-sized pieces alternately fed and read into the
//! decoder's own window, must give the same frames and the same error; every
//! frame must be within the limit and re-encode to the bytes it came from.
//!
//! Input: `selector u8`, `param u16 BE`, `step u8`, then the stream.
#![no_main]

use libfuzzer_sys::fuzz_target;
use skywire_core::wire::frame::{self, append_frame, FrameDecoder, FrameLimit, FRAME_HEADER_LEN, MAX_FRAME_LEN};
use skywire_core::wire::WireError;

fn drain(d: &mut FrameDecoder, frames: &mut Vec<Vec<u8>>) -> Result<(), WireError> {
    let limit = d.limit();
    while let Some(f) = d.next_frame()? {
        assert!(!f.is_empty() && f.len() <= limit.max() && f.len() <= MAX_FRAME_LEN);
        frames.push(f.to_vec());
    }
    Ok(())
}

fuzz_target!(|data: &[u8]| {
    let Some((&[sel, p0, p1, step], bytes)) = data.split_first_chunk::<4>() else { return };
    let param = usize::from(u16::from_be_bytes([p0, p1]));
    let limit = match sel % 6 {
        0 => FrameLimit::ANY,
        1 => frame::FIRST_FRAME,
        2 => frame::ANSWER,
        3 => frame::ESTABLISHED,
        4 => FrameLimit::up_to(param.max(1)),
        _ => FrameLimit::exactly(param.max(1)),
    };
    let idle = usize::from(sel >> 3);
    let busy = idle + param % 4096;

    let mut whole = FrameDecoder::new(limit);
    whole.feed(bytes);
    let mut f1 = Vec::new();
    let r1 = drain(&mut whole, &mut f1);

    let mut chunked = FrameDecoder::new(limit).with_window(idle, busy);
    let mut f2 = Vec::new();
    let mut r2 = Ok(());
    let step = usize::from(step % 17) + 1;
    let mut rest = bytes;
    let mut i = 0usize;
    while !rest.is_empty() {
        let n = if i.is_multiple_of(2) {
            let n = step.min(rest.len());
            chunked.feed(&rest[..n]);
            n
        } else {
            let room = chunked.read_buf();
            assert!(!room.is_empty(), "an empty read buffer would look like end of stream");
            let n = room.len().min(step).min(rest.len());
            room[..n].copy_from_slice(&rest[..n]);
            chunked.advance(n);
            n
        };
        rest = &rest[n..];
        i += 1;
        r2 = drain(&mut chunked, &mut f2);
        if r2.is_err() {
            break;
        }
    }
    assert_eq!(r1, r2);
    assert_eq!(f1, f2);

    // Re-encoding gives back the bytes the frames came from.
    let mut enc = Vec::new();
    for f in &f1 {
        assert_eq!(append_frame(&mut enc, f), Ok(FRAME_HEADER_LEN + f.len()));
    }
    assert_eq!(&enc[..], &bytes[..enc.len()]);
    if r1.is_ok() {
        assert_eq!(whole.buffered(), bytes.len() - enc.len());
        assert_eq!(chunked.buffered(), whole.buffered());
    }
});
