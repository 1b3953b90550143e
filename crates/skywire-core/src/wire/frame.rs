//! STCPR framing (`docs/wire.md` section 2): `length u32 BE` then `length`
//! bytes. This is the only code that reads or writes it: the STCPR handshake,
//! the connection reader, the batched writer and the fuzz targets all go
//! through here, so what is fuzzed is what runs.
//!
//! Decoding: a [`FrameDecoder`] is fed whatever TCP handed over, in chunks of
//! any size, and yields whole frames. Each stage of a connection takes only
//! the lengths its messages can have ([`FrameLimit`]); a length outside them
//! poisons the decoder (the peer is broken or hostile, the connection must be
//! closed), and it is refused from the four header bytes alone.
//!
//! Memory: the decoder's buffer is also the socket's read window
//! ([`read_buf`](FrameDecoder::read_buf)). It holds at most the larger of the
//! window and one frame of the current limit, so a length field can make it
//! reserve no more than the stage allows; with a header-only window it never
//! reads a byte past the frame it is waiting for.
//!
//! Encoding: [`append_frame`] and [`append_frame_with`] append frames to a
//! batch buffer that leaves in one write; the latter lets the session layer
//! encrypt straight into it.

use thiserror::Error;

use super::message::{COOKIE_REPLY_LEN, INITIATION_LEN, RESPONSE_LEN, TAG_LEN, TRANSPORT_HEADER_LEN};
use super::WireError;

pub const FRAME_HEADER_LEN: usize = 4;
/// No stage of a connection accepts a longer frame, and nothing encodes one.
pub const MAX_FRAME_LEN: usize = 262_144;

/// The lengths each stage of an STCPR connection takes (`docs/wire.md`
/// section 2): the dialer's first frame is an initiation, nothing else...
pub const FIRST_FRAME: FrameLimit = FrameLimit::exactly(INITIATION_LEN);
/// ...the listener answers with a response or a cookie reply...
pub const ANSWER: FrameLimit =
    FrameLimit::up_to(if RESPONSE_LEN > COOKIE_REPLY_LEN { RESPONSE_LEN } else { COOKIE_REPLY_LEN });
/// ...and then a frame is one transport message, with the largest body a
/// session allows.
pub const ESTABLISHED: FrameLimit =
    FrameLimit::up_to(TRANSPORT_HEADER_LEN + 1 + crate::session::MAX_BODY_LEN + TAG_LEN);

/// The frame lengths a stage of a connection accepts: `min..=max`, within
/// `1..=`[`MAX_FRAME_LEN`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FrameLimit {
    min: usize,
    max: usize,
}

impl FrameLimit {
    /// Every length the wire allows.
    pub const ANY: FrameLimit = FrameLimit::up_to(MAX_FRAME_LEN);

    /// Lengths `1..=max`. Panics on a `max` outside `1..=MAX_FRAME_LEN` (a
    /// programming error: limits are constants).
    pub const fn up_to(max: usize) -> Self {
        assert!(max >= 1 && max <= MAX_FRAME_LEN, "frame limit outside 1..=MAX_FRAME_LEN");
        FrameLimit { min: 1, max }
    }

    /// Exactly `len`, for a stage whose only message has a fixed size.
    pub const fn exactly(len: usize) -> Self {
        assert!(len >= 1 && len <= MAX_FRAME_LEN, "frame limit outside 1..=MAX_FRAME_LEN");
        FrameLimit { min: len, max: len }
    }

    pub const fn max(self) -> usize {
        self.max
    }

    pub fn check(self, len: u32) -> Result<usize, WireError> {
        match usize::try_from(len) {
            Ok(l) if (self.min..=self.max).contains(&l) => Ok(l),
            _ => Err(WireError::BadFrameLength { len, min: self.min, max: self.max }),
        }
    }
}

/// Incremental frame decoder for one connection.
///
/// From a socket: `read(dec.read_buf())` then [`advance`](Self::advance) by
/// what was read; from anything else: [`feed`](Self::feed). Then call
/// [`next_frame`](Self::next_frame) until it returns `Ok(None)`.
#[derive(Debug)]
pub struct FrameDecoder {
    /// `buf[start..end]`: received, not yet returned; `buf[end..]`: room for
    /// the next read. `buf.len()` only grows while the traffic is heavy; an
    /// idle connection frees it ([`release_if_idle`](Self::release_if_idle)).
    buf: Vec<u8>,
    start: usize,
    end: usize,
    limit: FrameLimit,
    /// The read window now, what it grows to once a read fills it, and
    /// what it falls back to once a read brings less than `idle`.
    window: usize,
    busy: usize,
    idle: usize,
    poisoned: Option<WireError>,
}

impl FrameDecoder {
    /// A decoder whose reads take only what the frame at the front still
    /// lacks (a header-only window); widen it with [`with_window`](Self::with_window).
    pub fn new(limit: FrameLimit) -> Self {
        FrameDecoder {
            buf: Vec::new(),
            start: 0,
            end: 0,
            limit,
            window: FRAME_HEADER_LEN,
            busy: FRAME_HEADER_LEN,
            idle: FRAME_HEADER_LEN,
            poisoned: None,
        }
    }

    pub fn with_window(mut self, idle: usize, busy: usize) -> Self {
        self.set_window(idle, busy);
        self
    }

    /// Reads get `idle` bytes of room (at least a header's worth), and
    /// `busy` from the first read that fills the window until a read brings
    /// less than `idle`: a light connection holds little, a busy one reads a
    /// lot per syscall.
    pub fn set_window(&mut self, idle: usize, busy: usize) {
        self.idle = idle.max(FRAME_HEADER_LEN);
        self.window = self.idle;
        self.busy = busy.max(self.window);
    }

    /// Free the buffer when it holds nothing and the traffic is light (the
    /// window is back at its idle size): a connection waiting for its next
    /// keepalive then holds no buffer at all, and the next read allocates
    /// the idle window again (one small allocation per light read; a busy
    /// connection keeps its buffer). Returns whether it freed anything.
    pub fn release_if_idle(&mut self) -> bool {
        if !self.is_idle() || self.buf.capacity() == 0 {
            return false;
        }
        self.buf = Vec::new();
        self.start = 0;
        self.end = 0;
        true
    }

    /// Nothing buffered and the traffic light: what the decoder holds could
    /// be freed (a fresh decoder with the same settings would do the same).
    pub fn is_idle(&self) -> bool {
        self.start == self.end && self.window <= self.idle
    }

    /// Bytes of heap the buffer holds now (what an idle connection costs).
    pub fn capacity(&self) -> usize {
        self.buf.capacity()
    }

    /// The lengths frames from the next one on must have: a connection
    /// moves from handshake to established between two frames.
    pub fn set_limit(&mut self, limit: FrameLimit) {
        self.limit = limit;
    }

    pub fn limit(&self) -> FrameLimit {
        self.limit
    }

    /// Bytes received but not yet returned as frames.
    pub fn buffered(&self) -> usize {
        self.end - self.start
    }

    /// Bytes of memory the buffer holds (received data plus read room).
    pub fn buffer_len(&self) -> usize {
        self.buf.len()
    }

    /// Move the partial frame that is left to the front.
    fn compact(&mut self) {
        if self.start > 0 {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
    }

    /// How many bytes the frame at the front needs in all, header included,
    /// as far as its header tells. A header outside the limit asks for no
    /// more: [`next_frame`](Self::next_frame) refuses it.
    fn need(&self) -> usize {
        let avail = &self.buf[self.start..self.end];
        match avail.first_chunk::<FRAME_HEADER_LEN>() {
            Some(h) => FRAME_HEADER_LEN + self.limit.check(u32::from_be_bytes(*h)).unwrap_or(0),
            None => FRAME_HEADER_LEN,
        }
    }

    /// Append bytes received some other way.
    pub fn feed(&mut self, chunk: &[u8]) {
        self.compact();
        let end = self.end + chunk.len();
        if self.buf.len() < end {
            self.buf.resize(end, 0);
        }
        self.buf[self.end..end].copy_from_slice(chunk);
        self.end = end;
    }

    /// Room to read socket data into, never empty (so a read of 0 bytes
    /// means end of stream); follow with [`advance`](Self::advance). Room
    /// for the whole frame at the front is made, bounded by the limit.
    pub fn read_buf(&mut self) -> &mut [u8] {
        self.compact();
        let want = self.window.max(self.need()).max(self.end + 1);
        if self.buf.len() < want {
            self.buf.resize(want, 0);
        }
        &mut self.buf[self.end..]
    }

    /// Keep the first `n` bytes of the slice [`read_buf`](Self::read_buf) returned.
    pub fn advance(&mut self, n: usize) {
        self.end += n.min(self.buf.len() - self.end);
        if self.end == self.buf.len() {
            self.window = self.busy;
        } else if n < self.idle {
            // Light traffic again (a keepalive, a ping): the small window,
            // and release_if_idle may free the buffer.
            self.window = self.idle;
        }
    }

    /// The next whole frame, `Ok(None)` when more bytes are needed, or an
    /// error when the stream is broken (then every later call fails too).
    pub fn next_frame(&mut self) -> Result<Option<&[u8]>, WireError> {
        if let Some(e) = &self.poisoned {
            return Err(e.clone());
        }
        let avail = &self.buf[self.start..self.end];
        let Some(h) = avail.first_chunk::<FRAME_HEADER_LEN>() else { return Ok(None) };
        let len = match self.limit.check(u32::from_be_bytes(*h)) {
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

/// Why [`append_frame_with`] appended nothing.
#[derive(Debug, PartialEq, Eq, Error)]
pub enum AppendError<E> {
    #[error(transparent)]
    Frame(WireError),
    #[error("filling the frame failed: {0}")]
    Fill(E),
}

/// Append `msg` to `batch` as one frame; returns the bytes appended.
pub fn append_frame(batch: &mut Vec<u8>, msg: &[u8]) -> Result<usize, WireError> {
    append_frame_with(batch, msg.len(), |body| {
        body.copy_from_slice(msg);
        Ok::<_, WireError>(msg.len())
    })
    .map_err(|e| match e {
        AppendError::Frame(e) | AppendError::Fill(e) => e,
    })
}

/// One message as a frame in a buffer of its own.
pub fn encode_frame(msg: &[u8]) -> Result<Vec<u8>, WireError> {
    let mut f = Vec::with_capacity(FRAME_HEADER_LEN + msg.len());
    append_frame(&mut f, msg)?;
    Ok(f)
}

/// Append one frame whose body `fill` writes into the `room` bytes it is
/// given (so a message is encrypted straight into the batch) and whose length
/// it returns; returns the bytes appended. On any error `batch` is left as it
/// was.
pub fn append_frame_with<E>(
    batch: &mut Vec<u8>,
    room: usize,
    fill: impl FnOnce(&mut [u8]) -> Result<usize, E>,
) -> Result<usize, AppendError<E>> {
    let bad = |len: usize| WireError::BadFrameLength {
        len: u32::try_from(len).unwrap_or(u32::MAX),
        min: 1,
        max: MAX_FRAME_LEN,
    };
    if room > MAX_FRAME_LEN {
        return Err(AppendError::Frame(bad(room)));
    }
    let at = batch.len();
    batch.resize(at + FRAME_HEADER_LEN + room, 0);
    let len = match fill(&mut batch[at + FRAME_HEADER_LEN..]) {
        Ok(len) if (1..=room).contains(&len) => len,
        Ok(len) => {
            batch.truncate(at);
            return Err(AppendError::Frame(bad(len)));
        }
        Err(e) => {
            batch.truncate(at);
            return Err(AppendError::Fill(e));
        }
    };
    // len <= room <= MAX_FRAME_LEN, so it fits the u32.
    let header = u32::try_from(len).expect("a frame is at most MAX_FRAME_LEN");
    batch[at..at + FRAME_HEADER_LEN].copy_from_slice(&header.to_be_bytes());
    batch.truncate(at + FRAME_HEADER_LEN + len);
    Ok(FRAME_HEADER_LEN + len)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// MAX_FRAME_LEN as the u32 a frame header carries.
    fn max_u32() -> u32 {
        u32::try_from(MAX_FRAME_LEN).unwrap()
    }

    fn frames_of(dec: &mut FrameDecoder) -> Result<Vec<Vec<u8>>, WireError> {
        let mut v = Vec::new();
        while let Some(f) = dec.next_frame()? {
            v.push(f.to_vec());
        }
        Ok(v)
    }

    fn encode_all(msgs: &[Vec<u8>]) -> Vec<u8> {
        let mut batch = Vec::new();
        for m in msgs {
            append_frame(&mut batch, m).unwrap();
        }
        batch
    }

    fn bad(len: u32, min: usize, max: usize) -> WireError {
        WireError::BadFrameLength { len, min, max }
    }

    #[test]
    fn stage_limits_are_the_documented_ones() {
        assert_eq!(FIRST_FRAME, FrameLimit::exactly(180));
        assert_eq!(ANSWER, FrameLimit::up_to(92));
        assert_eq!(ESTABLISHED, FrameLimit::up_to(65_551));
    }

    #[test]
    fn coalesced_frames_decode_in_one_chunk() {
        let msgs: Vec<Vec<u8>> = vec![vec![1], vec![2; 300], (0..=255u8).collect(), vec![9; MAX_FRAME_LEN]];
        let bytes = encode_all(&msgs);
        assert_eq!(&bytes[..5], &[0, 0, 0, 1, 1]);
        assert_eq!(bytes.len(), msgs.iter().map(|m| m.len() + 4).sum::<usize>());
        let mut dec = FrameDecoder::new(FrameLimit::ANY);
        dec.feed(&bytes);
        assert_eq!(frames_of(&mut dec).unwrap(), msgs);
        assert_eq!(dec.buffered(), 0);
    }

    /// Read `bytes` through `read_buf`/`advance`, each read taking at most
    /// `step` bytes; returns the frames and the largest buffer held.
    fn read_in_steps(dec: &mut FrameDecoder, bytes: &[u8], step: usize) -> (Vec<Vec<u8>>, usize) {
        let (mut got, mut largest, mut off) = (Vec::new(), 0, 0);
        while off < bytes.len() {
            let room = dec.read_buf();
            assert!(!room.is_empty());
            let n = room.len().min(step).min(bytes.len() - off);
            room[..n].copy_from_slice(&bytes[off..off + n]);
            dec.advance(n);
            off += n;
            largest = largest.max(dec.buffer_len());
            got.extend(frames_of(dec).unwrap());
        }
        (got, largest)
    }

    #[test]
    fn split_at_every_byte() {
        let msgs: Vec<Vec<u8>> = vec![vec![1], vec![2; 40], vec![3, 4, 5]];
        let bytes = encode_all(&msgs);
        let mut dec = FrameDecoder::new(FrameLimit::up_to(40));
        let mut got = Vec::new();
        for b in &bytes {
            dec.feed(std::slice::from_ref(b));
            got.extend(frames_of(&mut dec).unwrap());
        }
        assert_eq!(got, msgs);
        // Two chunks split at every position: one fed, one read into the window.
        for cut in 0..=bytes.len() {
            let mut dec = FrameDecoder::new(FrameLimit::up_to(40)).with_window(16, 64);
            dec.feed(&bytes[..cut]);
            let mut got = frames_of(&mut dec).unwrap();
            got.extend(read_in_steps(&mut dec, &bytes[cut..], usize::MAX).0);
            assert_eq!(got, msgs, "cut at {cut}");
        }
    }

    #[test]
    fn truncated_input_waits() {
        let mut dec = FrameDecoder::new(FrameLimit::ANY);
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
    fn lengths_outside_the_limit_poison() {
        let mut dec = FrameDecoder::new(FrameLimit::ANY);
        dec.feed(&[0, 0, 0, 0]);
        assert_eq!(dec.next_frame(), Err(bad(0, 1, MAX_FRAME_LEN)));
        dec.feed(&[0, 0, 0, 1, 7]);
        assert_eq!(dec.next_frame(), Err(bad(0, 1, MAX_FRAME_LEN)), "must stay poisoned");

        // Refused from the header alone: no body bytes are ever awaited.
        for (limit, len) in [(FrameLimit::ANY, max_u32() + 1), (FrameLimit::ANY, u32::MAX), (FrameLimit::up_to(92), 93)]
        {
            let mut dec = FrameDecoder::new(limit);
            dec.feed(&len.to_be_bytes());
            assert_eq!(dec.next_frame(), Err(bad(len, 1, limit.max())));
        }
        let mut dec = FrameDecoder::new(FrameLimit::ANY);
        dec.feed(&max_u32().to_be_bytes());
        assert_eq!(dec.next_frame(), Ok(None), "256 KiB exactly is allowed");

        let exact = FrameLimit::exactly(180);
        for len in [179u32, 181, 1] {
            let mut dec = FrameDecoder::new(exact);
            dec.feed(&len.to_be_bytes());
            assert_eq!(dec.next_frame(), Err(bad(len, 180, 180)));
        }
    }

    #[test]
    fn garbage_after_good_frame() {
        let mut dec = FrameDecoder::new(FrameLimit::ANY);
        dec.feed(&[0, 0, 0, 2, 0xaa, 0xbb, 0x80, 0, 0, 0, 1]);
        assert_eq!(dec.next_frame().unwrap(), Some(&[0xaa, 0xbb][..]));
        assert_eq!(dec.next_frame(), Err(bad(0x8000_0000, 1, MAX_FRAME_LEN)));
    }

    #[test]
    fn a_header_only_window_reads_nothing_past_the_frame() {
        // The STCPR responder's first frame: 4 bytes, then exactly the body,
        // into a buffer that never grows past one initiation.
        let first = vec![7u8; 180];
        let mut bytes = encode_all(std::slice::from_ref(&first));
        bytes.extend_from_slice(&[0, 0, 0, 1, 9]);
        let mut dec = FrameDecoder::new(FrameLimit::exactly(180));
        assert_eq!(dec.read_buf().len(), 4);
        dec.read_buf()[..4].copy_from_slice(&bytes[..4]);
        dec.advance(4);
        assert_eq!(dec.next_frame(), Ok(None));
        assert_eq!(dec.read_buf().len(), 180, "exactly the body");
        dec.read_buf().copy_from_slice(&bytes[4..184]);
        dec.advance(180);
        assert_eq!(dec.next_frame().unwrap(), Some(&first[..]));
        assert_eq!(dec.buffer_len(), 184);
        // Established: the next stage's limit and window apply from the next frame on.
        dec.set_limit(FrameLimit::up_to(1000));
        dec.set_window(64, 512);
        assert_eq!(read_in_steps(&mut dec, &bytes[184..], usize::MAX).0, vec![vec![9]]);
    }

    #[test]
    fn a_huge_header_reserves_nothing_beyond_the_limit() {
        let mut dec = FrameDecoder::new(FrameLimit::exactly(180));
        dec.read_buf()[..4].copy_from_slice(&(256u32 * 1024).to_be_bytes());
        dec.advance(4);
        assert!(dec.next_frame().is_err());
        assert_eq!(dec.buffer_len(), 4);
        // A valid length reserves room for its frame, within the limit.
        let mut dec = FrameDecoder::new(FrameLimit::up_to(1000)).with_window(16, 16);
        dec.feed(&1000u32.to_be_bytes());
        assert_eq!(dec.next_frame(), Ok(None));
        assert_eq!(dec.read_buf().len(), 1000);
    }

    #[test]
    fn the_window_grows_once_a_read_fills_it() {
        let msgs: Vec<Vec<u8>> = (1..=40u8).map(|i| vec![i; 10 * usize::from(i)]).collect();
        let bytes = encode_all(&msgs);
        let mut dec = FrameDecoder::new(FrameLimit::up_to(400)).with_window(64, 2048);
        assert_eq!(dec.read_buf().len(), 64, "idle");
        let (got, largest) = read_in_steps(&mut dec, &bytes, usize::MAX);
        assert_eq!(got, msgs);
        assert_eq!(largest, 2048, "busy");
        // Reads that never fill the window keep it small.
        let mut dec = FrameDecoder::new(FrameLimit::up_to(400)).with_window(64, 2048);
        let (got, largest) = read_in_steps(&mut dec, &encode_all(&msgs[..3]), 7);
        assert_eq!(got, &msgs[..3]);
        assert_eq!(largest, 64);
    }

    /// One read of `bytes` (all of them fit the window).
    fn read_once(dec: &mut FrameDecoder, bytes: &[u8]) {
        dec.read_buf()[..bytes.len()].copy_from_slice(bytes);
        dec.advance(bytes.len());
    }

    #[test]
    fn an_idle_connection_holds_no_buffer() {
        let mut dec = FrameDecoder::new(FrameLimit::up_to(400)).with_window(64, 2048);
        let keepalive = encode_all(&[vec![7u8; 20]]);
        assert_eq!(dec.capacity(), 0, "nothing before the first read");
        read_once(&mut dec, &keepalive);
        assert_eq!(frames_of(&mut dec).unwrap(), vec![vec![7u8; 20]]);
        assert!(dec.release_if_idle());
        assert_eq!(dec.capacity(), 0, "freed while waiting for the next keepalive");
        // Heavy traffic: the reads fill the window, which grows and stays.
        let msgs: Vec<Vec<u8>> = (1..=40u8).map(|i| vec![i; 10 * usize::from(i)]).collect();
        let (got, largest) = read_in_steps(&mut dec, &encode_all(&msgs), usize::MAX);
        assert_eq!(got, msgs);
        assert_eq!(largest, 2048);
        assert!(!dec.release_if_idle(), "a busy connection keeps its buffer");
        assert!(dec.capacity() >= 2048);
        // The next keepalive is a light read: back to idle, freed again.
        read_once(&mut dec, &keepalive);
        assert_eq!(frames_of(&mut dec).unwrap().len(), 1);
        assert!(dec.release_if_idle());
        assert_eq!(dec.capacity(), 0);
        // A partial frame is never thrown away.
        let big = encode_all(&[vec![3u8; 300]]);
        read_once(&mut dec, &big[..14]);
        assert_eq!(dec.next_frame(), Ok(None));
        assert!(!dec.release_if_idle());
        assert_eq!(read_in_steps(&mut dec, &big[14..], usize::MAX).0, vec![vec![3u8; 300]]);
    }

    #[test]
    fn append_rejects_bad_lengths_and_leaves_the_batch_as_it_was() {
        let mut batch = Vec::new();
        assert_eq!(append_frame(&mut batch, &[]), Err(bad(0, 1, MAX_FRAME_LEN)));
        assert!(append_frame(&mut batch, &vec![0; MAX_FRAME_LEN + 1]).is_err());
        assert!(batch.is_empty());
        assert_eq!(append_frame(&mut batch, &[1, 2, 3]), Ok(7));
        // In place: 3 of 100 bytes of room used.
        let n = append_frame_with(&mut batch, 100, |body| {
            body[..3].copy_from_slice(&[4, 5, 6]);
            Ok::<_, ()>(3)
        });
        assert_eq!(n, Ok(7));
        assert_eq!(batch, [0, 0, 0, 3, 1, 2, 3, 0, 0, 0, 3, 4, 5, 6]);
        assert_eq!(
            append_frame_with(&mut batch, 10, |_| Ok::<_, ()>(11)),
            Err(AppendError::Frame(bad(11, 1, MAX_FRAME_LEN)))
        );
        assert_eq!(
            append_frame_with(&mut batch, 10, |_| Ok::<_, ()>(0)),
            Err(AppendError::Frame(bad(0, 1, MAX_FRAME_LEN)))
        );
        assert_eq!(append_frame_with(&mut batch, 10, |_| Err::<usize, _>("no key")), Err(AppendError::Fill("no key")));
        assert_eq!(batch.len(), 14);
        assert_eq!(encode_frame(&[5, 6]), Ok(vec![0, 0, 0, 2, 5, 6]));
    }
}
