//! STCPR framing (`docs/wire.md` section 2): `length u32` then `length` bytes.
//!
//! The decoder is fed whatever TCP handed us, in chunks of any size, and yields
//! whole frames. A length of 0 or above [`MAX_FRAME_LEN`] poisons it: the peer
//! is broken or hostile and the connection has to be closed. It never reserves
//! memory from a length field; its buffer only grows with bytes that actually
//! arrived, so it holds at most one partial frame plus the last chunk.
//!
//! The encoder appends frames to one buffer so queued messages leave in one
//! write; [`FrameEncoder::begin_frame`] lets the session layer encrypt straight
//! into that buffer.

use super::{check_out, WireError};

pub const FRAME_HEADER_LEN: usize = 4;
pub const MAX_FRAME_LEN: usize = 262_144;

fn check_len(len: u32) -> Result<usize, WireError> {
    let l = len as usize;
    if l == 0 || l > MAX_FRAME_LEN {
        Err(WireError::BadFrameLength(len))
    } else {
        Ok(l)
    }
}

/// Incremental frame decoder. Usage: [`feed`](Self::feed) (or
/// [`read_buf`](Self::read_buf) + [`advance`](Self::advance) to read from the
/// socket without an extra copy), then call [`next_frame`](Self::next_frame)
/// until it returns `Ok(None)`.
#[derive(Debug, Default)]
pub struct FrameDecoder {
    buf: Vec<u8>,
    /// First unconsumed byte in `buf`.
    start: usize,
    /// Length of `buf` before the last `read_buf`, while its slice is out.
    read_tail: Option<usize>,
    poisoned: Option<WireError>,
}

impl FrameDecoder {
    pub fn new() -> Self {
        Self::default()
    }

    /// Drop consumed bytes so the buffer does not creep; this only moves the
    /// partial frame that is left.
    fn compact(&mut self) {
        if let Some(t) = self.read_tail.take() {
            // read_buf without advance: nothing of that slice was filled.
            self.buf.truncate(t);
        }
        if self.start > 0 {
            self.buf.drain(..self.start);
            self.start = 0;
        }
    }

    pub fn feed(&mut self, chunk: &[u8]) {
        self.compact();
        self.buf.extend_from_slice(chunk);
    }

    /// A writable slice of `n` bytes to read socket data into; follow with
    /// [`advance`](Self::advance)`(bytes actually read)`.
    pub fn read_buf(&mut self, n: usize) -> &mut [u8] {
        self.compact();
        let len = self.buf.len();
        self.buf.resize(len + n, 0);
        self.read_tail = Some(len);
        &mut self.buf[len..]
    }

    /// Keep the first `n` bytes of the slice the last [`read_buf`](Self::read_buf) returned.
    pub fn advance(&mut self, n: usize) {
        if let Some(t) = self.read_tail.take() {
            let keep = t + n.min(self.buf.len() - t);
            self.buf.truncate(keep);
        }
    }

    /// Bytes received but not yet returned as frames.
    pub fn buffered(&self) -> usize {
        self.read_tail.unwrap_or(self.buf.len()) - self.start
    }

    /// The next whole frame, `Ok(None)` when more bytes are needed, or an
    /// error when the stream is broken (then every later call fails too).
    pub fn next_frame(&mut self) -> Result<Option<&[u8]>, WireError> {
        if let Some(e) = &self.poisoned {
            return Err(e.clone());
        }
        let end = self.read_tail.unwrap_or(self.buf.len());
        let avail = &self.buf[self.start..end];
        if avail.len() < FRAME_HEADER_LEN {
            return Ok(None);
        }
        let raw = u32::from_be_bytes(avail[..FRAME_HEADER_LEN].try_into().expect("4 bytes"));
        let len = match check_len(raw) {
            Ok(l) => l,
            Err(e) => {
                self.poisoned = Some(e.clone());
                return Err(e);
            }
        };
        if avail.len() < FRAME_HEADER_LEN + len {
            return Ok(None);
        }
        let begin = self.start + FRAME_HEADER_LEN;
        self.start = begin + len;
        Ok(Some(&self.buf[begin..begin + len]))
    }
}

/// Write one frame (header and body) into `out`; returns the bytes written.
pub fn encode_frame(msg: &[u8], out: &mut [u8]) -> Result<usize, WireError> {
    let len = u32::try_from(msg.len()).map_err(|_| WireError::BadFrameLength(u32::MAX))?;
    check_len(len)?;
    check_out(out, FRAME_HEADER_LEN + msg.len())?;
    out[..FRAME_HEADER_LEN].copy_from_slice(&len.to_be_bytes());
    out[FRAME_HEADER_LEN..FRAME_HEADER_LEN + msg.len()].copy_from_slice(msg);
    Ok(FRAME_HEADER_LEN + msg.len())
}

/// Collects frames for one coalesced write. Reuse it: [`clear`](Self::clear)
/// keeps the allocation.
#[derive(Debug, Default)]
pub struct FrameEncoder {
    buf: Vec<u8>,
    /// Header position of a frame opened by `begin_frame` and not yet finished.
    open: Option<usize>,
}

impl FrameEncoder {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn with_capacity(cap: usize) -> Self {
        FrameEncoder { buf: Vec::with_capacity(cap), open: None }
    }

    /// Append a whole message as a frame.
    pub fn push(&mut self, msg: &[u8]) -> Result<(), WireError> {
        let body = self.begin_frame(msg.len())?;
        body.copy_from_slice(msg);
        self.finish_frame(msg.len())
    }

    /// Reserve room for a frame body of up to `max_len` bytes and return it,
    /// so a message can be encrypted in place. Must be followed by
    /// [`finish_frame`](Self::finish_frame) with the real length; a second
    /// `begin_frame` discards an unfinished one.
    pub fn begin_frame(&mut self, max_len: usize) -> Result<&mut [u8], WireError> {
        if max_len > MAX_FRAME_LEN {
            return Err(WireError::BadFrameLength(u32::try_from(max_len).unwrap_or(u32::MAX)));
        }
        if let Some(h) = self.open.take() {
            self.buf.truncate(h);
        }
        let h = self.buf.len();
        self.buf.resize(h + FRAME_HEADER_LEN + max_len, 0);
        self.open = Some(h);
        Ok(&mut self.buf[h + FRAME_HEADER_LEN..])
    }

    /// Close the frame opened by [`begin_frame`](Self::begin_frame) at `len` bytes.
    /// A length of 0 or above the reserved size drops the frame and errors.
    pub fn finish_frame(&mut self, len: usize) -> Result<(), WireError> {
        let h = self.open.take().ok_or(WireError::BadFrameLength(0))?;
        let reserved = self.buf.len() - h - FRAME_HEADER_LEN;
        let l32 = u32::try_from(len).unwrap_or(u32::MAX);
        if len > reserved || check_len(l32).is_err() {
            self.buf.truncate(h);
            return Err(WireError::BadFrameLength(l32));
        }
        self.buf[h..h + FRAME_HEADER_LEN].copy_from_slice(&l32.to_be_bytes());
        self.buf.truncate(h + FRAME_HEADER_LEN + len);
        Ok(())
    }

    /// Everything finished so far, ready for one write.
    pub fn as_bytes(&self) -> &[u8] {
        &self.buf[..self.open.unwrap_or(self.buf.len())]
    }

    pub fn len(&self) -> usize {
        self.as_bytes().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn clear(&mut self) {
        self.buf.clear();
        self.open = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frames_of(dec: &mut FrameDecoder) -> Result<Vec<Vec<u8>>, WireError> {
        let mut v = Vec::new();
        while let Some(f) = dec.next_frame()? {
            v.push(f.to_vec());
        }
        Ok(v)
    }

    fn sample() -> (Vec<Vec<u8>>, Vec<u8>) {
        let msgs: Vec<Vec<u8>> = vec![vec![1], vec![2; 300], (0..=255u8).collect(), vec![9; MAX_FRAME_LEN]];
        let mut enc = FrameEncoder::new();
        for m in &msgs {
            enc.push(m).unwrap();
        }
        (msgs, enc.as_bytes().to_vec())
    }

    #[test]
    fn coalesced_frames_decode_in_one_chunk() {
        let (msgs, bytes) = sample();
        assert_eq!(&bytes[..5], &[0, 0, 0, 1, 1]);
        assert_eq!(bytes.len(), msgs.iter().map(|m| m.len() + 4).sum::<usize>());
        let mut dec = FrameDecoder::new();
        dec.feed(&bytes);
        assert_eq!(frames_of(&mut dec).unwrap(), msgs);
        assert_eq!(dec.buffered(), 0);
    }

    #[test]
    fn split_at_every_byte() {
        let msgs: Vec<Vec<u8>> = vec![vec![1], vec![2; 40], vec![3, 4, 5]];
        let mut enc = FrameEncoder::new();
        for m in &msgs {
            enc.push(m).unwrap();
        }
        let bytes = enc.as_bytes().to_vec();
        // One byte at a time.
        let mut dec = FrameDecoder::new();
        let mut got = Vec::new();
        for b in &bytes {
            dec.feed(std::slice::from_ref(b));
            got.extend(frames_of(&mut dec).unwrap());
        }
        assert_eq!(got, msgs);
        // Two chunks split at every position, through read_buf/advance.
        for cut in 0..=bytes.len() {
            let mut dec = FrameDecoder::new();
            let mut got = Vec::new();
            for part in [&bytes[..cut], &bytes[cut..]] {
                let slot = dec.read_buf(part.len() + 10);
                slot[..part.len()].copy_from_slice(part);
                dec.advance(part.len());
                got.extend(frames_of(&mut dec).unwrap());
            }
            assert_eq!(got, msgs, "cut at {cut}");
        }
    }

    #[test]
    fn truncated_input_waits() {
        let mut dec = FrameDecoder::new();
        dec.feed(&[0, 0, 0, 5, 1, 2]);
        assert_eq!(dec.next_frame(), Ok(None));
        dec.feed(&[3, 4]);
        assert_eq!(dec.next_frame(), Ok(None));
        dec.feed(&[5, 0, 0]);
        assert_eq!(dec.next_frame().unwrap(), Some(&[1u8, 2, 3, 4, 5][..]));
        assert_eq!(dec.next_frame(), Ok(None));
        assert_eq!(dec.buffered(), 2);
    }

    #[test]
    fn zero_and_oversized_lengths_poison() {
        let mut dec = FrameDecoder::new();
        dec.feed(&[0, 0, 0, 0]);
        assert_eq!(dec.next_frame(), Err(WireError::BadFrameLength(0)));
        dec.feed(&[0, 0, 0, 1, 7]);
        assert_eq!(dec.next_frame(), Err(WireError::BadFrameLength(0)), "must stay poisoned");

        let mut dec = FrameDecoder::new();
        // Rejected from the header alone: no body bytes are ever awaited.
        dec.feed(&(MAX_FRAME_LEN as u32 + 1).to_be_bytes());
        assert_eq!(dec.next_frame(), Err(WireError::BadFrameLength(262_145)));
        let mut dec = FrameDecoder::new();
        dec.feed(&[0xff, 0xff, 0xff, 0xff]);
        assert_eq!(dec.next_frame(), Err(WireError::BadFrameLength(u32::MAX)));

        let mut dec = FrameDecoder::new();
        dec.feed(&(MAX_FRAME_LEN as u32).to_be_bytes());
        assert_eq!(dec.next_frame(), Ok(None), "256 KiB exactly is allowed");
    }

    #[test]
    fn garbage_after_good_frame() {
        let mut dec = FrameDecoder::new();
        dec.feed(&[0, 0, 0, 2, 0xaa, 0xbb, 0x80, 0, 0, 0, 1]);
        assert_eq!(dec.next_frame().unwrap(), Some(&[0xaa, 0xbb][..]));
        assert_eq!(dec.next_frame(), Err(WireError::BadFrameLength(0x8000_0000)));
    }

    #[test]
    fn encoder_rejects_bad_lengths_and_in_place_frames() {
        let mut enc = FrameEncoder::new();
        assert_eq!(enc.push(&[]), Err(WireError::BadFrameLength(0)));
        assert!(enc.push(&vec![0; MAX_FRAME_LEN + 1]).is_err());
        assert!(enc.is_empty());
        let body = enc.begin_frame(100).unwrap();
        body[..3].copy_from_slice(&[1, 2, 3]);
        assert!(enc.as_bytes().is_empty(), "unfinished frame is not visible");
        enc.finish_frame(3).unwrap();
        assert_eq!(enc.as_bytes(), &[0, 0, 0, 3, 1, 2, 3]);
        enc.begin_frame(10).unwrap();
        assert!(enc.finish_frame(11).is_err());
        assert_eq!(enc.as_bytes(), &[0, 0, 0, 3, 1, 2, 3]);
        let mut out = [0u8; 6];
        assert_eq!(encode_frame(&[5, 6], &mut out), Ok(6));
        assert_eq!(out, [0, 0, 0, 2, 5, 6]);
        assert!(encode_frame(&[5, 6, 7], &mut out).is_err());
    }
}
