//! STCPR: sessions over TCP. Each session message travels as one frame,
//! `length u32 BE` + bytes (docs/wire.md section 2), read and written by
//! [`crate::wire::frame`] only. A connection carries exactly one session; its
//! reader and writer are separate tasks so that a slow reader never blocks
//! encryption.

use std::io::IoSlice;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio::task::JoinSet;

use super::crypto::{self, Accepted, Established, Progress};
use super::family;
use super::limits::{Refusal, Ticket};
use super::transport::{Link, Transport};
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
    let (rd, mut wr) = stream.into_split();
    match accepted {
        Ok(Accepted::Session(session, len)) => {
            // The caps may have filled while this one was handshaking.
            if let Err(why) = ticket.establish() {
                inner.refused(why, addr.ip());
                return;
            }
            let Ok(answer) = encode_frame(&out[..len]) else { return };
            if wr.write_all(&answer).await.is_err() {
                return;
            }
            start_conn(inner, *session, index, rd, established(dec), wr, addr, false, Some(ticket));
        }
        Ok(Accepted::Reply(len)) => {
            // Cookie reply: the initiator retries with mac2 on a new connection.
            if let Ok(answer) = encode_frame(&out[..len]) {
                let _ = wr.write_all(&answer).await;
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
    rd: &mut OwnedReadHalf,
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
        let stream = match first.take() {
            Some(s) => s,
            None => connect(addr).await.map_err(|e| NodeError::Unreachable(format!("STCPR {addr}: {e}")))?,
        };
        let _ = stream.set_nodelay(true);
        let (mut rd, mut wr) = stream.into_split();
        let hs = |e: &dyn std::fmt::Display| NodeError::Handshake(format!("{addr}: {e}"));
        let hello = encode_frame(&init).map_err(|e| hs(&e))?;
        wr.write_all(&hello).await.map_err(|e| NodeError::Unreachable(format!("STCPR {addr}: {e}")))?;
        // Small: it only has to hold the answer and whatever arrives right behind it.
        let mut dec = FrameDecoder::new(frame::ANSWER).with_window(IDLE_READ_BUF, IDLE_READ_BUF);
        let mut answer = [0u8; MAX_REPLY];
        let n = match read_answer(&mut rd, &mut dec, &mut answer).await {
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
                wr.write_all(&confirm).await.map_err(|e| hs(&e))?;
                // Frames that arrived right behind the answer are in the decoder.
                return Ok(start_conn(inner.clone(), session, index, rd, established(dec), wr, addr, true, None));
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
    rd: OwnedReadHalf,
    dec: FrameDecoder,
    wr: OwnedWriteHalf,
    addr: SocketAddr,
    initiator: bool,
    ticket: Option<Ticket>,
) -> Arc<Transport> {
    let (tx, rx) = mpsc::channel(QUEUE);
    let close = Arc::new(tokio::sync::Notify::new());
    let link = Link::Tcp { tx, addr, close: close.clone() };
    let peer = inner.add_transport(session, index, TransportKind::Stcpr, link, initiator, ticket);
    let writer = tokio::spawn(write_loop(wr, rx));
    let p = peer.clone();
    tokio::spawn(async move {
        // The reader holds the peer, so a session closed on our side must
        // stop it explicitly; ending it drops both halves and the socket.
        let reason = tokio::select! {
            r = read_loop(&inner, &p, rd, dec) => r,
            _ = close.notified() => "closed locally".to_string(),
        };
        writer.abort();
        inner.remove_transport(p.id, &reason);
    });
    peer
}

/// Write what the queue holds, several entries per write when they pile up
/// (each entry is already a run of frames): fewer syscalls under load, no
/// added latency when the queue holds one. Several entries leave in one
/// vectored write, so no coalescing buffer grows under load and stays with
/// the connection once it is idle; the write's state is boxed (one
/// allocation per write) so that the waiting task stays small.
async fn write_loop(mut wr: OwnedWriteHalf, mut rx: mpsc::Receiver<Vec<u8>>) {
    loop {
        // A fresh Vec each time (no allocation until an entry arrives): an
        // idle writer keeps no capacity from its last burst.
        let mut batch = Vec::new();
        if rx.recv_many(&mut batch, WRITE_BATCH).await == 0 {
            break;
        }
        if Box::pin(write_all_vectored(&mut wr, &batch)).await.is_err() {
            return;
        }
    }
    let _ = wr.shutdown().await;
}

/// Queue entries one write takes at most.
const WRITE_BATCH: usize = 16;

/// Write every buffer of `bufs` (at most WRITE_BATCH), in order, with as
/// few syscalls as the socket allows.
async fn write_all_vectored(wr: &mut OwnedWriteHalf, bufs: &[Vec<u8>]) -> std::io::Result<()> {
    if let [one] = bufs {
        return wr.write_all(one).await;
    }
    let mut slices = [IoSlice::new(&[]); WRITE_BATCH];
    let n = bufs.len().min(WRITE_BATCH);
    for (s, b) in slices.iter_mut().zip(bufs) {
        *s = IoSlice::new(b);
    }
    let mut left = &mut slices[..n];
    while !left.is_empty() {
        match wr.write_vectored(left).await {
            Ok(0) => return Err(std::io::ErrorKind::WriteZero.into()),
            Ok(k) => IoSlice::advance_slices(&mut left, k),
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Read frames and act on each; after decrypting all the complete frames one
/// read brought, write their packets to the TUN in one batch.
///
/// What an idle connection holds is this loop's state while it waits: the
/// read buffer is freed once traffic is light ([`FrameDecoder::release_if_idle`]),
/// the wait is for readiness (no buffer lent to a pending read), and the
/// decrypt path's larger state lives in a boxed future only while a read's
/// frames are handled (one allocation per read, not per frame).
async fn read_loop(inner: &Arc<Inner>, peer: &Arc<Transport>, rd: OwnedReadHalf, mut dec: FrameDecoder) -> String {
    loop {
        if dec.buffered() > 0 {
            if let Err(e) = Box::pin(on_frames(inner, peer, &mut dec)).await {
                return format!("connection error: {e}");
            }
        }
        dec.release_if_idle();
        if let Err(e) = rd.readable().await {
            return format!("connection error: {e}");
        }
        match rd.try_read(dec.read_buf()) {
            Ok(0) => return "connection closed by peer".into(),
            Ok(k) => dec.advance(k),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(e) => return format!("connection error: {e}"),
        }
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

    /// A batch larger than the socket takes at once leaves in order and
    /// whole: the vectored write resumes mid-buffer after a partial write.
    #[tokio::test]
    async fn a_vectored_batch_arrives_whole_and_in_order() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let (client, accepted) = tokio::join!(TcpStream::connect(listener.local_addr().unwrap()), listener.accept());
        let (mut server, _) = accepted.unwrap();
        let client = client.unwrap();
        // A small send buffer forces partial writes.
        socket2::SockRef::from(&client).set_send_buffer_size(4096).unwrap();
        let (_rd, mut wr) = client.into_split();
        let bufs: Vec<Vec<u8>> = (0..super::WRITE_BATCH)
            .map(|i| (0..1000 + 4999 * i).map(|j| u8::try_from((i * 31 + j) % 251).unwrap()).collect())
            .collect();
        let want: Vec<u8> = bufs.concat();
        let reader = tokio::spawn(async move {
            let mut got = Vec::new();
            server.read_to_end(&mut got).await.unwrap();
            got
        });
        super::write_all_vectored(&mut wr, &bufs).await.unwrap();
        super::write_all_vectored(&mut wr, &bufs[..1]).await.unwrap();
        drop(wr);
        let got = reader.await.unwrap();
        assert_eq!(got.len(), want.len() + bufs[0].len());
        assert!(got[..want.len()] == want[..], "the batch arrived out of order");
        assert!(got[want.len()..] == bufs[0][..]);
    }
}
