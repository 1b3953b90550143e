//! An STCPR connection's byte stream as the node reads it: the first frame
//! under the handshake limit (responder: exactly one initiation, read through
//! a header-only window; dialer: an answer of at most 92 bytes), then
//! established frames. The stream is made of encoded messages, raw bytes and
//! raw length headers (zero, oversized, off by one), and is delivered
//! - at once,
//! - in fuzzer-chosen pieces fed to the decoder (headers split across reads),
//! - through the decoder's read window as a socket would (1-byte reads too;
//!   past the first 4 KiB pieces are at least 512 bytes, for speed).
//!
//! All three must give the same frames and the same error after the same
//! frame as a plain whole-buffer parser; a stream of messages only must
//! decode to those messages (encode → decode round trip); and the responder's
//! first stage must never hold more than one initiation.
//!
//! Input: `flags u8` (bit 0: dialer, bit 1: 1-byte reads), then records
//! `tag u8` + data, by `tag % 5`:
//! 0 message `n u8` + n bytes; 1 message of `n u24 BE` bytes of `fill u8`;
//! 2 raw `n u8` + n bytes; 3 raw header `u32 BE`; 4 piece size `u16 BE`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use skywire_core::wire::frame::{self, append_frame, FrameDecoder, FRAME_HEADER_LEN, MAX_FRAME_LEN};
use skywire_core::wire::WireError;

/// Room to keep the fuzzer fast: two of the largest established frames.
const MAX_STREAM: usize = 2 * (FRAME_HEADER_LEN + 65_551) + 64;
/// Past this many bytes pieces are at least `FAST_PIECE` long: tiny pieces
/// all through two 64 KiB frames would only make the fuzzer slow.
const SMALL_PIECES_UP_TO: usize = 4096;
const FAST_PIECE: usize = 512;
/// The node's established read window (node/stcpr.rs).
const IDLE_READ_BUF: usize = 2048;
const READ_BUF: usize = 128 * 1024;

struct Input<'a>(&'a [u8]);

impl Input<'_> {
    fn take(&mut self, n: usize) -> &[u8] {
        let (a, b) = self.0.split_at(n.min(self.0.len()));
        self.0 = b;
        a
    }
    fn u8(&mut self) -> Option<u8> {
        self.take(1).first().copied()
    }
    fn uint(&mut self, n: usize) -> Option<usize> {
        let b = self.take(n);
        (b.len() == n).then(|| b.iter().fold(0usize, |a, &x| a << 8 | usize::from(x)))
    }
}

#[derive(Clone, Copy)]
enum Role {
    Responder,
    Dialer,
}

/// The lengths each stage takes, as docs/wire.md section 2 states them:
/// written out here, not taken from the code under test.
fn allowed(role: Role, first: bool) -> (usize, usize) {
    match (role, first) {
        (Role::Responder, true) => (180, 180),
        (Role::Dialer, true) => (1, 92),
        (_, false) => (1, 65_551),
    }
}

fn check(role: Role, first: bool, len: u32) -> Result<usize, WireError> {
    let (min, max) = allowed(role, first);
    let l = len as usize;
    if (min..=max).contains(&l) {
        Ok(l)
    } else {
        Err(WireError::BadFrameLength { len, min, max })
    }
}

fn decoder(role: Role) -> FrameDecoder {
    match role {
        Role::Responder => FrameDecoder::new(frame::FIRST_FRAME),
        Role::Dialer => FrameDecoder::new(frame::ANSWER).with_window(IDLE_READ_BUF, IDLE_READ_BUF),
    }
}

#[derive(Debug, PartialEq)]
struct Outcome {
    frames: Vec<Vec<u8>>,
    error: Option<WireError>,
    /// Bytes left over after the last whole frame (when no error).
    left: usize,
}

/// The reference: the whole stream in one buffer, plain index arithmetic.
fn reference(stream: &[u8], role: Role) -> Outcome {
    let (mut frames, mut at) = (Vec::new(), 0);
    while let Some(h) = stream.get(at..at + 4) {
        let l = match check(role, frames.is_empty(), u32::from_be_bytes(h.try_into().unwrap())) {
            Ok(l) => l,
            Err(e) => return Outcome { frames, error: Some(e), left: 0 },
        };
        let Some(body) = stream.get(at + 4..at + 4 + l) else { break };
        frames.push(body.to_vec());
        at += 4 + l;
    }
    Outcome { frames, error: None, left: stream.len() - at }
}

/// Take every whole frame out of `dec`, moving to the established stage
/// after the first one, as the node does.
fn drain(dec: &mut FrameDecoder, out: &mut Outcome) -> bool {
    loop {
        let max = dec.limit().max();
        match dec.next_frame() {
            Ok(Some(f)) => {
                assert!(f.len() <= max);
                out.frames.push(f.to_vec());
                if out.frames.len() == 1 {
                    dec.set_limit(frame::ESTABLISHED);
                    dec.set_window(IDLE_READ_BUF, READ_BUF);
                }
            }
            Ok(None) => return true,
            Err(e) => {
                out.error = Some(e);
                return false;
            }
        }
    }
}

fn finish(dec: &FrameDecoder, mut out: Outcome) -> Outcome {
    if out.error.is_none() {
        out.left = dec.buffered();
    }
    out
}

fn empty() -> Outcome {
    Outcome { frames: Vec::new(), error: None, left: 0 }
}

fn at_once(stream: &[u8], role: Role) -> Outcome {
    let mut dec = decoder(role);
    let mut out = empty();
    dec.feed(stream);
    drain(&mut dec, &mut out);
    finish(&dec, out)
}

/// The size of piece `i`, starting at stream offset `at`.
fn piece(pieces: &[usize], i: usize, at: usize, default: usize) -> usize {
    let p = pieces.get(i % pieces.len().max(1)).copied().unwrap_or(default);
    if at < SMALL_PIECES_UP_TO {
        p
    } else {
        p.max(FAST_PIECE)
    }
}

fn fed_in_pieces(stream: &[u8], role: Role, pieces: &[usize]) -> Outcome {
    let mut dec = decoder(role);
    let mut out = empty();
    let (mut at, mut i) = (0, 0);
    while at < stream.len() {
        let n = piece(pieces, i, at, 7).min(stream.len() - at);
        dec.feed(&stream[at..at + n]);
        at += n;
        i += 1;
        if !drain(&mut dec, &mut out) {
            break;
        }
    }
    finish(&dec, out)
}

fn read_from_socket(stream: &[u8], role: Role, pieces: &[usize], one_byte: bool) -> Outcome {
    let mut dec = decoder(role);
    let mut out = empty();
    let (mut at, mut i) = (0, 0);
    while at < stream.len() {
        let first_stage = out.frames.is_empty();
        let room = dec.read_buf();
        assert!(!room.is_empty(), "an empty read buffer would look like end of stream");
        let p = piece(if one_byte { &[1] } else { pieces }, i, at, usize::MAX);
        let n = room.len().min(p).min(stream.len() - at);
        room[..n].copy_from_slice(&stream[at..at + n]);
        dec.advance(n);
        at += n;
        i += 1;
        if first_stage {
            if let Role::Responder = role {
                // Pre-authentication: never more than one initiation held.
                assert!(dec.buffer_len() <= FRAME_HEADER_LEN + 180);
            }
        }
        let ok = drain(&mut dec, &mut out);
        if first_stage && !out.frames.is_empty() {
            if let Role::Responder = role {
                assert_eq!(dec.buffered(), 0, "the responder read past its first frame");
            }
        }
        if !ok {
            break;
        }
    }
    finish(&dec, out)
}

fuzz_target!(|data: &[u8]| {
    let mut input = Input(data);
    let Some(flags) = input.u8() else { return };
    let role = if flags & 1 == 0 { Role::Responder } else { Role::Dialer };
    let one_byte = flags & 2 != 0;

    let mut stream = Vec::new();
    let mut messages = Vec::new();
    let mut only_messages = true;
    let mut pieces = Vec::new();
    while let Some(tag) = input.u8() {
        let before = stream.len();
        let msg = match tag % 5 {
            0 => {
                let n = usize::from(input.u8().unwrap_or(0));
                Some(input.take(n).to_vec())
            }
            1 => {
                let (Some(n), Some(fill)) = (input.uint(3), input.u8()) else { break };
                let n = n % (MAX_FRAME_LEN + 2);
                if before + n > MAX_STREAM {
                    break;
                }
                Some(vec![fill; n])
            }
            2 => {
                let n = usize::from(input.u8().unwrap_or(0));
                stream.extend_from_slice(input.take(n));
                None
            }
            3 => {
                let Some(h) = input.uint(4) else { break };
                stream.extend_from_slice(&(h as u32).to_be_bytes());
                None
            }
            _ => {
                let Some(p) = input.uint(2) else { break };
                pieces.push(p.max(1));
                continue;
            }
        };
        match msg {
            Some(m) => match append_frame(&mut stream, &m) {
                Ok(n) => {
                    assert_eq!(n, FRAME_HEADER_LEN + m.len());
                    assert_eq!(&stream[before..before + 4], &(m.len() as u32).to_be_bytes());
                    messages.push(m);
                }
                Err(e) => {
                    assert!(m.is_empty() || m.len() > MAX_FRAME_LEN, "{e}");
                    assert_eq!(stream.len(), before, "a refused frame left bytes behind");
                }
            },
            None => only_messages = false,
        }
        if stream.len() > MAX_STREAM {
            break;
        }
    }

    let want = reference(&stream, role);
    assert_eq!(at_once(&stream, role), want);
    assert_eq!(fed_in_pieces(&stream, role, &pieces), want);
    assert_eq!(read_from_socket(&stream, role, &pieces, one_byte), want);

    // Encode → decode: messages the stages accept come back as they were.
    if only_messages {
        let ok = messages.iter().enumerate().take_while(|(i, m)| check(role, *i == 0, m.len() as u32).is_ok()).count();
        assert_eq!(want.frames, messages[..ok]);
        assert_eq!(want.error.is_some(), ok < messages.len());
        if want.error.is_none() {
            assert_eq!(want.left, 0);
        }
    }
});
