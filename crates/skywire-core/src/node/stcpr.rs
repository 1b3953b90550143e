//! STCPR: sessions over TCP. Each session message travels as one frame,
//! `length u32 BE` + bytes (docs/wire.md section 2), read and written by
//! [`crate::wire::frame`] only. A connection carries exactly one session and
//! is served by one task, which reads and writes in turns (a server holds
//! thousands of idle connections: one small task each, and a send queue that
//! holds nothing while empty). Encryption happens in the TUN reader, so a
//! slow peer never blocks it; it only fills this connection's queue.

use std::future::Future;
use std::io::IoSlice;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;

use super::crypto::{self, Accepted, Established, Progress};
use super::family;
use super::limits::{Refusal, Ticket};
use super::transport::{Link, TcpQueue, Transport};
use super::{Inner, NodeError, TransportKind};
use crate::wire::frame::{self, encode_frame, FrameDecoder};
use crate::wire::WireError;
use crate::PublicKey;

// The frame lengths each stage takes are wire::frame's FIRST_FRAME, ANSWER
// and ESTABLISHED; any other length closes the connection before anything is
// allocated for it.
/// The first frame a responder reads must be a handshake initiation, which
/// has exactly this length: any other length closes the connection before a
/// byte of the body is read, and the body goes into a fixed-size buffer.
const FIRST_FRAME: usize = frame::FIRST_FRAME.max();
/// The largest answer a dialer may get to its initiation (a response, or a
/// cookie reply from a responder under load).
const MAX_REPLY: usize = frame::ANSWER.max();
/// Entries queued per connection before new data packets are dropped: each
/// entry is one batch from the TUN (up to ~64 KiB of frames) or one control
/// message, so this bounds the queue near 2 MiB.
const QUEUE: usize = 32;
/// Bytes one read asks the kernel for under load, and while idle.
const READ_BUF: usize = 128 * 1024;
const IDLE_READ_BUF: usize = 2048;

/// The decoder of an established connection: small while idle (a server
/// holds thousands), grown when a read fills it, i.e. when data is flowing.
fn established(mut dec: FrameDecoder) -> FrameDecoder {
    dec.set_limit(frame::ESTABLISHED);
    dec.set_window(IDLE_READ_BUF, READ_BUF);
    dec
}

/// Why a handshake frame could not be read.
enum ReadFailed {
    Closed,
    Io(std::io::Error),
    Frame(WireError),
}

/// Close at once with a reset: no lingering FIN exchange, no TIME_WAIT on
/// our side, so refusing costs us nothing that outlives the call.
fn reset(stream: TcpStream) {
    let _ = socket2::SockRef::from(&stream).set_linger(Some(Duration::ZERO));
    drop(stream);
}

pub(crate) async fn accept_loop(inner: Arc<Inner>, listener: TcpListener) {
    loop {
        let Ok((stream, addr)) = listener.accept().await else {
            // EMFILE and friends: back off instead of spinning.
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        };
        // An IPv4 peer on the dual-stack listener: its own address, its own
        // per-source caps (not one shared ::ffff:0:0/96 bucket).
        let addr = family::canonical(addr);
        // Admission before any byte is read: a stranger over the caps costs
        // one accept and one close.
        let ticket = match inner.gate.begin(addr.ip()) {
            Ok(t) => t,
            Err(why) => {
                reset(stream);
                inner.refused(why, addr.ip());
                continue;
            }
        };
        let inner = inner.clone();
        let deadline = inner.gate.limits().handshake_timeout;
        tokio::spawn(async move {
            // A connection that sends nothing, or half an initiation, is
            // dropped (and its ticket with it) when the deadline passes.
            let _ = tokio::time::timeout(deadline, respond(inner, stream, addr, ticket)).await;
        });
    }
}

/// Server side: the first frame must be a valid handshake initiation. It is
/// read into a fixed buffer after its length proved to be an initiation's:
/// nothing is allocated from what a stranger announces.
async fn respond(inner: Arc<Inner>, stream: TcpStream, addr: SocketAddr, mut ticket: Ticket) {
    let _ = stream.set_nodelay(true);
    // A header-only window: the reads take the 4 header bytes, then exactly
    // the body once the length proved to be an initiation's; the buffer never
    // exceeds one initiation.
    let mut dec = FrameDecoder::new(frame::FIRST_FRAME);
    let mut first = [0u8; FIRST_FRAME];
    match read_first(&stream, &mut dec, &mut first).await {
        Ok(()) => {}
        Err(ReadFailed::Frame(_)) => {
            reset(stream);
            inner.refused(Refusal::BadFirstFrame, addr.ip());
            return;
        }
        Err(ReadFailed::Closed | ReadFailed::Io(_)) => return,
    }
    let index = inner.alloc_index();
    let mut out = [0u8; MAX_REPLY];
    // Cookies are bound to the source address; a TCP retry comes from a new
    // port, and TCP's own handshake has already proved the IP, so bind to it.
    let src = SocketAddr::new(addr.ip(), 0);
    let accepted = inner.acceptor.lock().unwrap().accept(src, &first, index, Instant::now(), &mut out);
    let mut stream = stream;
    match accepted {
        Ok(Accepted::Session(session, len)) => {
            // The caps may have filled while this one was handshaking.
            if let Err(why) = ticket.establish() {
                inner.refused(why, addr.ip());
                return;
            }
            let Ok(answer) = encode_frame(&out[..len]) else { return };
            if stream.write_all(&answer).await.is_err() {
                return;
            }
            start_conn(inner, *session, index, stream, established(dec), addr, false, Some(ticket));
        }
        Ok(Accepted::Reply(len)) => {
            // Cookie reply: the initiator retries with mac2 on a new connection.
            if let Ok(answer) = encode_frame(&out[..len]) {
                let _ = stream.write_all(&answer).await;
            }
        }
        Err(_) => {}
    }
}

/// Read the responder's first frame into `first`, through a shared
/// `&TcpStream` (tokio reads need `&mut`) so that the stream can still be
/// reset afterwards.
async fn read_first(
    stream: &TcpStream,
    dec: &mut FrameDecoder,
    first: &mut [u8; FIRST_FRAME],
) -> Result<(), ReadFailed> {
    loop {
        if let Some(f) = dec.next_frame().map_err(ReadFailed::Frame)? {
            // The limit admits exactly FIRST_FRAME bytes.
            first.copy_from_slice(f);
            return Ok(());
        }
        stream.readable().await.map_err(ReadFailed::Io)?;
        match stream.try_read(dec.read_buf()) {
            Ok(0) => return Err(ReadFailed::Closed),
            Ok(n) => dec.advance(n),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => continue,
            Err(e) => return Err(ReadFailed::Io(e)),
        }
    }
}

/// Read the dialer's answer into `answer`; returns its length.
async fn read_answer(
    rd: &mut TcpStream,
    dec: &mut FrameDecoder,
    answer: &mut [u8; MAX_REPLY],
) -> Result<usize, ReadFailed> {
    loop {
        if let Some(f) = dec.next_frame().map_err(ReadFailed::Frame)? {
            // The limit admits at most MAX_REPLY bytes.
            answer[..f.len()].copy_from_slice(f);
            return Ok(f.len());
        }
        match rd.read(dec.read_buf()).await {
            Ok(0) => return Err(ReadFailed::Closed),
            Ok(n) => dec.advance(n),
            Err(e) => return Err(ReadFailed::Io(e)),
        }
    }
}

/// RFC 8305's connection attempt delay: the next address is tried this long
/// after the previous attempt started (at once when that one failed), while
/// the earlier attempts keep running; the first to connect is used.
pub(crate) const ATTEMPT_DELAY: Duration = Duration::from_millis(250);
/// How long the handshake over an open connection may take before the dial
/// moves on to the other addresses: a responder closes a silent connection
/// after 5 s (docs/wire.md section 2), so a real peer answers well within it.
const HANDSHAKE_WAIT: Duration = Duration::from_secs(5);

/// Client side: happy eyeballs over `addrs` (IPv6 and IPv4 interleaved,
/// family.rs), then the handshake over the first connection that opened; the
/// other attempts are dropped (closed). A handshake that fails there moves on
/// to the attempts still running and the addresses not yet tried.
pub(crate) async fn dial(
    inner: &Arc<Inner>,
    remote: PublicKey,
    addrs: &[SocketAddr],
    deadline: Instant,
) -> Result<Arc<Transport>, NodeError> {
    let order = family::interleave(addrs);
    let mut last = NodeError::Unreachable(format!("{remote}: no STCPR address"));
    let mut todo = order.into_iter();
    let mut attempts: JoinSet<(SocketAddr, std::io::Result<TcpStream>)> = JoinSet::new();
    let mut next_at = Instant::now();
    loop {
        let now = Instant::now();
        if now >= deadline {
            return Err(NodeError::Timeout);
        }
        if attempts.is_empty() || now >= next_at {
            if let Some(addr) = todo.next() {
                attempts.spawn(async move { (addr, connect(addr).await) });
                next_at = now + ATTEMPT_DELAY;
                continue;
            }
        }
        if attempts.is_empty() {
            return Err(last);
        }
        let wake = if todo.as_slice().is_empty() { deadline } else { next_at.min(deadline) };
        tokio::select! {
            done = attempts.join_next() => match done {
                Some(Ok((addr, Ok(stream)))) => {
                    let left = deadline.saturating_duration_since(Instant::now());
                    match tokio::time::timeout(left.min(HANDSHAKE_WAIT), dial_one(inner, remote, addr, Some(stream))).await {
                        Ok(Ok(tp)) => return Ok(tp),
                        Ok(Err(e)) => last = e,
                        Err(_) if left <= HANDSHAKE_WAIT => return Err(NodeError::Timeout),
                        // Something there took the connection and says nothing: not our peer; on to the rest.
                        Err(_) => {
                            last = NodeError::Handshake(format!("{addr} did not answer the handshake"));
                            next_at = Instant::now();
                        }
                    }
                }
                Some(Ok((addr, Err(e)))) => {
                    last = NodeError::Unreachable(format!("STCPR {addr}: {e}"));
                    // A failed attempt starts the next one now (RFC 8305 section 5).
                    next_at = Instant::now();
                }
                _ => {}
            },
            () = tokio::time::sleep_until(wake.into()) => {}
        }
    }
}

/// Handshake with `addr`, over `first` when already connected. A responder
/// under load answers with a cookie and closes: the second connection
/// carries the initiation with mac2.
async fn dial_one(
    inner: &Arc<Inner>,
    remote: PublicKey,
    addr: SocketAddr,
    mut first: Option<TcpStream>,
) -> Result<Arc<Transport>, NodeError> {
    let index = inner.alloc_index();
    let (mut pending, mut init) = crypto::initiate(&inner.keypair, remote, index, Instant::now())
        .map_err(|e| NodeError::Handshake(e.to_string()))?;
    for _ in 0..2 {
        let mut stream = match first.take() {
            Some(s) => s,
            None => connect(addr).await.map_err(|e| NodeError::Unreachable(format!("STCPR {addr}: {e}")))?,
        };
        let _ = stream.set_nodelay(true);
        let hs = |e: &dyn std::fmt::Display| NodeError::Handshake(format!("{addr}: {e}"));
        let hello = encode_frame(&init).map_err(|e| hs(&e))?;
        stream.write_all(&hello).await.map_err(|e| NodeError::Unreachable(format!("STCPR {addr}: {e}")))?;
        // Small: it only has to hold the answer and whatever arrives right behind it.
        let mut dec = FrameDecoder::new(frame::ANSWER).with_window(IDLE_READ_BUF, IDLE_READ_BUF);
        let mut answer = [0u8; MAX_REPLY];
        let n = match read_answer(&mut stream, &mut dec, &mut answer).await {
            Ok(n) => n,
            Err(ReadFailed::Closed) => {
                return Err(NodeError::Handshake(format!("{addr} closed the connection during the handshake")))
            }
            Err(ReadFailed::Io(e)) => return Err(hs(&e)),
            Err(ReadFailed::Frame(e)) => return Err(hs(&e)),
        };
        match pending.handle(&answer[..n], Instant::now()) {
            Ok(Progress::Established(e)) => {
                let Established { session, confirm } = *e;
                let confirm = encode_frame(&confirm).map_err(|e| hs(&e))?;
                stream.write_all(&confirm).await.map_err(|e| hs(&e))?;
                // Frames that arrived right behind the answer are in the decoder.
                return Ok(start_conn(inner.clone(), session, index, stream, established(dec), addr, true, None));
            }
            Ok(Progress::Retry(again)) => init = again,
            Err(e) => return Err(hs(&e)),
        }
    }
    Err(NodeError::Handshake(format!("{addr} is under load and refused our handshake twice")))
}

/// A TCP connection to `addr` whose packets carry the bypass mark from the
/// SYN on, so the VPN client's policy routing keeps them outside the tunnel.
async fn connect(addr: SocketAddr) -> std::io::Result<TcpStream> {
    let sock = if addr.is_ipv4() { tokio::net::TcpSocket::new_v4()? } else { tokio::net::TcpSocket::new_v6()? };
    super::mark::mark(&sock)?;
    sock.connect(addr).await
}

/// `dec`: the handshake's decoder, set for an established connection, with
/// whatever it already read behind the handshake; `ticket`: an inbound
/// connection's admission.
#[allow(clippy::too_many_arguments)]
fn start_conn(
    inner: Arc<Inner>,
    session: crypto::SessionBox,
    index: u32,
    stream: TcpStream,
    dec: FrameDecoder,
    addr: SocketAddr,
    initiator: bool,
    ticket: Option<Ticket>,
) -> Arc<Transport> {
    let link = Link::Tcp { queue: TcpQueue::new(QUEUE), addr };
    let peer = inner.add_transport(session, index, TransportKind::Stcpr, link, initiator, ticket);
    // Frames that came right behind the handshake are acted on first.
    let dec = Box::new(dec);
    let reader = if dec.buffered() > 0 {
        Reader::Handling(handle(inner.clone(), peer.clone(), dec))
    } else {
        Reader::Idle(Some(dec))
    };
    tokio::spawn(Conn { inner, peer: peer.clone(), stream, reader, out: Outgoing::default() });
    peer
}

/// The task that serves one established connection until it ends, then
/// removes its transport. Writing and reading take turns, one syscall
/// each, so that neither starves the other under load: what the queue
/// holds goes out (a burst of entries in one vectored write), and what
/// arrives is read and acted on.
///
/// What an idle connection holds is this struct (a hand-written future: an
/// `async` block would keep the arguments it moved in as well as the
/// state they moved to): the read buffer is freed once traffic is light
/// ([`FrameDecoder::release_if_idle`]), the wait is for readiness (no buffer
/// lent to a pending read), the queue's batch is dropped after each burst,
/// and the decrypt path's larger state lives in a boxed future only while a
/// read's frames are handled (one allocation per read, not per frame).
struct Conn {
    inner: Arc<Inner>,
    /// The task holds the peer, so a session closed on our side stops it
    /// through the queue; ending it closes the socket.
    peer: Arc<Transport>,
    stream: TcpStream,
    reader: Reader,
    out: Outgoing,
}

impl Future for Conn {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        let Poll::Ready(reason) = this.serve(cx) else { return Poll::Pending };
        this.inner.remove_transport(this.peer.id, &reason);
        Poll::Ready(())
    }
}

impl Conn {
    fn serve(&mut self, cx: &mut Context<'_>) -> Poll<String> {
        let Link::Tcp { queue, .. } = &self.peer.link else { unreachable!("an STCPR transport has a TCP link") };
        if !queue.watch(cx.waker()) {
            // Closed on our side: what was queued last (circuit closes) goes
            // out if the socket takes it now, without waiting.
            queue.take(&mut self.out.batch, usize::MAX);
            let _ = self.out.try_write(&self.stream);
            return Poll::Ready("closed locally".to_string());
        }
        loop {
            let wrote = match self.out.step(cx, &self.stream, queue) {
                Step::End(why) => return Poll::Ready(why),
                s => s,
            };
            let read = match self.reader.step(cx, &self.inner, &self.peer, &self.stream) {
                Step::End(why) => return Poll::Ready(why),
                s => s,
            };
            // Both wait (their wakers registered), or tokio's budget ran out
            // (then it woke us to go on later).
            if matches!((wrote, read), (Step::Blocked, Step::Blocked)) {
                return Poll::Pending;
            }
        }
    }
}

/// What one turn of a connection's reading or writing came to.
enum Step {
    Progress,
    /// Waiting, with the task's waker registered where it waits.
    Blocked,
    /// The connection ends, for this reason.
    End(String),
}

/// A read's frames, acted on; the decoder comes back with the result.
type Handling = Pin<Box<dyn Future<Output = (Box<FrameDecoder>, Result<(), WireError>)> + Send>>;

enum Reader {
    /// Waiting for data. The decoder is boxed, and not kept at all while it
    /// holds nothing and the traffic is light (then it is all constants):
    /// the task stays small enough for tokio's 256-byte task cell.
    Idle(Option<Box<FrameDecoder>>),
    /// Acting on what the last read brought (this may wait for the TUN).
    Handling(Handling),
}

fn handle(inner: Arc<Inner>, peer: Arc<Transport>, mut dec: Box<FrameDecoder>) -> Handling {
    Box::pin(async move {
        let res = on_frames(&inner, &peer, &mut dec).await;
        (dec, res)
    })
}

impl Reader {
    /// One read (then the start of acting on its frames), or one poll of
    /// the frames being acted on.
    fn step(&mut self, cx: &mut Context<'_>, inner: &Arc<Inner>, peer: &Arc<Transport>, stream: &TcpStream) -> Step {
        match self {
            Reader::Handling(f) => match f.as_mut().poll(cx) {
                Poll::Ready((_, Err(e))) => Step::End(format!("connection error: {e}")),
                Poll::Ready((dec, Ok(()))) => {
                    *self = Reader::Idle(Some(dec));
                    Step::Progress
                }
                Poll::Pending => Step::Blocked,
            },
            Reader::Idle(kept) => {
                if kept.as_ref().is_some_and(|d| d.is_idle()) {
                    // Its read buffer goes with it.
                    *kept = None;
                }
                match stream.poll_read_ready(cx) {
                    Poll::Pending => return Step::Blocked,
                    Poll::Ready(Err(e)) => return Step::End(format!("connection error: {e}")),
                    Poll::Ready(Ok(())) => {}
                }
                let dec = kept.get_or_insert_with(|| Box::new(established(FrameDecoder::new(frame::ESTABLISHED))));
                match stream.try_read(dec.read_buf()) {
                    Ok(0) => Step::End("connection closed by peer".into()),
                    Ok(k) => {
                        dec.advance(k);
                        if let Some(dec) = kept.take() {
                            *self = Reader::Handling(handle(inner.clone(), peer.clone(), dec));
                        }
                        Step::Progress
                    }
                    // Readiness was stale; the next poll registers the waker.
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => Step::Progress,
                    Err(e) => Step::End(format!("connection error: {e}")),
                }
            }
        }
    }
}

/// Queue entries one write takes at most.
const WRITE_BATCH: usize = 16;

/// The entries being written (each already a run of frames): written from
/// `batch[first]` at offset `off` on. Several entries leave in one vectored
/// write, so no coalescing buffer grows under load and stays with the
/// connection once it is idle.
#[derive(Default)]
struct Outgoing {
    batch: Vec<Vec<u8>>,
    first: usize,
    off: usize,
}

impl Outgoing {
    /// One write of what is queued (taking the next entries first when the
    /// last ones are out).
    fn step(&mut self, cx: &mut Context<'_>, stream: &TcpStream, queue: &TcpQueue) -> Step {
        if self.first == self.batch.len() {
            self.batch.clear();
            self.first = 0;
            self.off = 0;
            // A closed queue is seen by `serve` on the next round.
            queue.take(&mut self.batch, WRITE_BATCH);
            if self.batch.is_empty() {
                // An idle connection keeps no capacity from its last burst.
                self.batch = Vec::new();
                return Step::Blocked;
            }
        }
        match stream.poll_write_ready(cx) {
            Poll::Pending => return Step::Blocked,
            Poll::Ready(Err(e)) => return Step::End(format!("connection error: {e}")),
            Poll::Ready(Ok(())) => {}
        }
        match self.try_write(stream) {
            Ok(()) => Step::Progress,
            // Readiness was stale; the next poll registers the waker.
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => Step::Progress,
            Err(e) => Step::End(format!("connection error: {e}")),
        }
    }

    /// One vectored write of the entries left; advances past what it wrote.
    fn try_write(&mut self, stream: &TcpStream) -> std::io::Result<()> {
        let left = &self.batch[self.first..];
        if left.is_empty() {
            return Ok(());
        }
        let mut slices = [IoSlice::new(&[]); WRITE_BATCH];
        let n = left.len().min(WRITE_BATCH);
        for (s, b) in slices.iter_mut().zip(left) {
            *s = IoSlice::new(b);
        }
        slices[0] = IoSlice::new(&left[0][self.off..]);
        let mut k = stream.try_write_vectored(&slices[..n])?;
        if k == 0 {
            return Err(std::io::ErrorKind::WriteZero.into());
        }
        while k > 0 {
            let rest = self.batch[self.first].len() - self.off;
            if k < rest {
                self.off += k;
                break;
            }
            k -= rest;
            self.first += 1;
            self.off = 0;
        }
        Ok(())
    }
}

/// Act on every whole frame `dec` holds, then flush their packets to the TUN.
async fn on_frames(inner: &Arc<Inner>, peer: &Arc<Transport>, dec: &mut FrameDecoder) -> Result<(), WireError> {
    let mut sink = None;
    let res = loop {
        match dec.next_frame() {
            Ok(Some(msg)) => {
                let sink = sink.get_or_insert_with(|| inner.sinks.take());
                inner.on_session_message(peer, msg, sink).await;
            }
            Ok(None) => break Ok(()),
            Err(e) => break Err(e),
        }
    };
    if let Some(mut sink) = sink {
        sink.flush().await;
        inner.sinks.give(sink);
    }
    res
}

#[cfg(test)]
mod tests {
    use tokio::io::AsyncReadExt;
    use tokio::net::{TcpListener, TcpStream};

    use super::{Conn, Outgoing, Step, TcpQueue, WRITE_BATCH};

    /// A connection's task is tokio's task cell around `Conn`: about 100
    /// bytes of header and trailer, rounded up to 128-byte lines. Up to
    /// 152 bytes it takes a 256-byte cell; one byte more costs 128 per idle
    /// connection.
    #[test]
    fn a_connection_task_fits_a_256_byte_cell() {
        assert!(size_of::<Conn>() <= 152, "Conn is {} bytes", size_of::<Conn>());
    }

    /// Bursts larger than the socket takes at once leave in order and
    /// whole: a vectored write resumes mid-entry after a partial write, and
    /// the writer waits for the socket (its waker registered) instead of
    /// spinning.
    #[tokio::test]
    async fn queued_entries_arrive_whole_and_in_order() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let (client, accepted) = tokio::join!(TcpStream::connect(listener.local_addr().unwrap()), listener.accept());
        let (mut server, _) = accepted.unwrap();
        let client = client.unwrap();
        // A small send buffer forces partial writes.
        socket2::SockRef::from(&client).set_send_buffer_size(4096).unwrap();
        // More entries than one write takes, of sizes that split anywhere.
        let bufs: Vec<Vec<u8>> = (0..WRITE_BATCH + 5)
            .map(|i| (0..1000 + 4999 * i).map(|j| u8::try_from((i * 31 + j) % 251).unwrap()).collect())
            .collect();
        let want: Vec<u8> = bufs.concat();
        let reader = tokio::spawn(async move {
            let mut got = Vec::new();
            server.read_to_end(&mut got).await.unwrap();
            got
        });
        let queue = TcpQueue::new(64);
        for b in &bufs {
            assert!(queue.try_push(b.clone()).is_ok());
        }
        let mut out = Outgoing::default();
        let (mut writes, mut blocked) = (0, 0);
        std::future::poll_fn(|cx| loop {
            match out.step(cx, &client, &queue) {
                Step::Progress => writes += 1,
                Step::Blocked if out.batch.is_empty() => return std::task::Poll::Ready(()),
                Step::Blocked => {
                    blocked += 1;
                    return std::task::Poll::Pending;
                }
                Step::End(why) => panic!("{why}"),
            }
        })
        .await;
        assert!(blocked > 0, "the small send buffer never filled: the test proves nothing");
        assert!(writes < want.len() / 1000, "{writes} writes: one per burst, not per entry");
        drop(client);
        let got = reader.await.unwrap();
        assert_eq!(got.len(), want.len());
        assert!(got == want, "the entries arrived out of order");
    }
}
