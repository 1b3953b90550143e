//! STCPR: sessions over TCP. Each session message travels as one frame,
//! `length u32 BE` + bytes (docs/wire.md section 2). A connection carries
//! exactly one session; its reader and writer are separate tasks so that a
//! slow reader never blocks encryption.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;

use super::crypto::{self, Accepted, Established, Progress};
use super::limits::{Refusal, Ticket};
use super::peer::{Link, Peer};
use super::{Inner, NodeError, TransportKind};
use crate::wire::message::{COOKIE_REPLY_LEN, INITIATION_LEN, RESPONSE_LEN, TAG_LEN, TRANSPORT_HEADER_LEN};
use crate::PublicKey;

/// Largest frame of an established connection: the largest session message
/// (a transport header and a Noise message of at most 65535 bytes). A bigger
/// length closes the connection before anything is allocated for it.
pub(crate) const MAX_FRAME: usize = TRANSPORT_HEADER_LEN + 1 + crate::session::MAX_BODY_LEN + TAG_LEN;
/// The first frame a responder reads must be a handshake initiation, which
/// has exactly this length: any other length closes the connection before a
/// byte of the body is read, and the body goes into a fixed buffer.
const FIRST_FRAME: usize = INITIATION_LEN;
/// The largest answer a dialer may get to its initiation (a response, or a
/// cookie reply from a responder under load).
const MAX_REPLY: usize = if RESPONSE_LEN > COOKIE_REPLY_LEN { RESPONSE_LEN } else { COOKIE_REPLY_LEN };
/// Entries queued per connection before new data packets are dropped: each
/// entry is one batch from the TUN (up to ~64 KiB of frames) or one control
/// message, so this bounds the queue near 2 MiB.
const QUEUE: usize = 32;
/// Bytes one read asks the kernel for under load, and while idle.
const READ_BUF: usize = 128 * 1024;
const IDLE_READ_BUF: usize = 2048;
/// The frame header: the message's length, u32 big-endian.
pub(crate) const FRAME_HEADER: usize = 4;

pub(crate) fn frame(msg: &[u8]) -> Vec<u8> {
    let mut f = Vec::with_capacity(FRAME_HEADER + msg.len());
    f.extend_from_slice(&(msg.len() as u32).to_be_bytes());
    f.extend_from_slice(msg);
    f
}

/// Read one frame of at most `max` bytes into `buf` (reused). `Ok(None)` on
/// a clean close.
async fn read_frame(r: &mut BufReader<OwnedReadHalf>, buf: &mut Vec<u8>, max: usize) -> std::io::Result<Option<usize>> {
    let mut len = [0u8; FRAME_HEADER];
    match r.read_exact(&mut len).await {
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(e),
    }
    let n = u32::from_be_bytes(len) as usize;
    if n == 0 || n > max {
        return Err(std::io::Error::new(std::io::ErrorKind::InvalidData, format!("bad frame length {n}")));
    }
    if buf.len() < n {
        buf.resize(n, 0);
    }
    r.read_exact(&mut buf[..n]).await?;
    Ok(Some(n))
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
    let mut first = [0u8; FIRST_FRAME];
    let mut len = [0u8; FRAME_HEADER];
    if read_exact(&stream, &mut len).await.is_err() {
        return;
    }
    if u32::from_be_bytes(len) as usize != FIRST_FRAME {
        reset(stream);
        inner.refused(Refusal::BadFirstFrame, addr.ip());
        return;
    }
    if read_exact(&stream, &mut first).await.is_err() {
        return;
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
            if wr.write_all(&frame(&out[..len])).await.is_err() {
                return;
            }
            start_conn(inner, *session, index, rd, Vec::new(), wr, addr, false, Some(ticket));
        }
        Ok(Accepted::Reply(len)) => {
            // Cookie reply: the initiator retries with mac2 on a new connection.
            let _ = wr.write_all(&frame(&out[..len])).await;
        }
        Err(_) => {}
    }
}

/// `read_exact` through a shared `&TcpStream` (tokio reads need `&mut`),
/// so that the stream can still be reset afterwards.
async fn read_exact(stream: &TcpStream, buf: &mut [u8]) -> std::io::Result<()> {
    let mut got = 0;
    while got < buf.len() {
        stream.readable().await?;
        match stream.try_read(&mut buf[got..]) {
            Ok(0) => return Err(std::io::ErrorKind::UnexpectedEof.into()),
            Ok(n) => got += n,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => continue,
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Client side: connect to the first address that answers, then handshake.
pub(crate) async fn dial(inner: &Arc<Inner>, remote: PublicKey, addrs: &[SocketAddr], deadline: Instant) -> Result<Arc<Peer>, NodeError> {
    let mut last = NodeError::Unreachable(format!("{remote}: no STCPR address"));
    for &addr in addrs {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(NodeError::Timeout);
        }
        match tokio::time::timeout(left, dial_one(inner, remote, addr)).await {
            Ok(Ok(peer)) => return Ok(peer),
            Ok(Err(e)) => last = e,
            Err(_) => return Err(NodeError::Timeout),
        }
    }
    Err(last)
}

async fn dial_one(inner: &Arc<Inner>, remote: PublicKey, addr: SocketAddr) -> Result<Arc<Peer>, NodeError> {
    let index = inner.alloc_index();
    let (mut pending, mut init) =
        crypto::initiate(&inner.keypair, remote, index, Instant::now()).map_err(|e| NodeError::Handshake(e.to_string()))?;
    // A responder under load answers with a cookie and closes: the second
    // connection carries the initiation with mac2.
    for _ in 0..2 {
        let stream = connect(addr).await.map_err(|e| NodeError::Unreachable(format!("STCPR {addr}: {e}")))?;
        let _ = stream.set_nodelay(true);
        let (rd, mut wr) = stream.into_split();
        // Small: it only has to hold the answer and whatever arrives right behind it.
        let mut rd = BufReader::with_capacity(IDLE_READ_BUF, rd);
        wr.write_all(&frame(&init)).await.map_err(|e| NodeError::Unreachable(format!("STCPR {addr}: {e}")))?;
        let mut buf = vec![0u8; MAX_REPLY];
        let n = match read_frame(&mut rd, &mut buf, MAX_REPLY).await {
            Ok(Some(n)) => n,
            Ok(None) => return Err(NodeError::Handshake(format!("{addr} closed the connection during the handshake"))),
            Err(e) => return Err(NodeError::Handshake(format!("{addr}: {e}"))),
        };
        match pending.handle(&buf[..n], Instant::now()) {
            Ok(Progress::Established(e)) => {
                let Established { session, confirm } = *e;
                wr.write_all(&frame(&confirm)).await.map_err(|e| NodeError::Handshake(format!("{addr}: {e}")))?;
                // Frames that arrived right behind the answer are in the reader's buffer.
                let early = rd.buffer().to_vec();
                return Ok(start_conn(inner.clone(), session, index, rd.into_inner(), early, wr, addr, true, None));
            }
            Ok(Progress::Retry(again)) => init = again,
            Err(e) => return Err(NodeError::Handshake(format!("{addr}: {e}"))),
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

/// `early`: bytes already read behind the handshake; `ticket`: an inbound
/// connection's admission.
#[allow(clippy::too_many_arguments)]
fn start_conn(
    inner: Arc<Inner>,
    session: crypto::SessionBox,
    index: u32,
    rd: OwnedReadHalf,
    early: Vec<u8>,
    wr: OwnedWriteHalf,
    addr: SocketAddr,
    initiator: bool,
    ticket: Option<Ticket>,
) -> Arc<Peer> {
    let (tx, rx) = mpsc::channel(QUEUE);
    let close = Arc::new(tokio::sync::Notify::new());
    let link = Link::Tcp { tx, addr, close: close.clone() };
    let peer = inner.add_peer(session, index, TransportKind::Stcpr, link, initiator, ticket);
    let writer = tokio::spawn(write_loop(wr, rx));
    let p = peer.clone();
    tokio::spawn(async move {
        // The reader holds the peer, so a session closed on our side must
        // stop it explicitly; ending it drops both halves and the socket.
        let reason = tokio::select! {
            r = read_loop(&inner, &p, rd, early) => r,
            _ = close.notified() => "closed locally".to_string(),
        };
        writer.abort();
        inner.remove_peer(p.id, &reason);
    });
    peer
}

/// Write what the queue holds, several entries per write when they pile up
/// (each entry is already a run of frames): fewer syscalls under load, no
/// added latency when the queue holds one.
async fn write_loop(mut wr: OwnedWriteHalf, mut rx: mpsc::Receiver<Vec<u8>>) {
    let mut batch = Vec::with_capacity(16);
    let mut out = Vec::new();
    while rx.recv_many(&mut batch, 16).await > 0 {
        let res = if batch.len() == 1 {
            wr.write_all(&batch[0]).await
        } else {
            out.clear();
            for f in &batch {
                out.extend_from_slice(f);
            }
            wr.write_all(&out).await
        };
        batch.clear();
        if res.is_err() {
            return;
        }
    }
    let _ = wr.shutdown().await;
}

/// Read frames and act on each; after decrypting all the complete frames one
/// read brought, write their packets to the TUN in one batch. `buf` starts
/// with what the handshake's reader had already buffered.
async fn read_loop(inner: &Arc<Inner>, peer: &Arc<Peer>, mut rd: OwnedReadHalf, mut buf: Vec<u8>) -> String {
    let (mut start, mut end) = (0, buf.len());
    // Small while the connection is idle (a server holds thousands); grown
    // when a read fills it, i.e. when data is flowing.
    buf.resize(buf.len().max(IDLE_READ_BUF), 0);
    loop {
        let mut sink = None;
        let need = loop {
            if end - start < FRAME_HEADER {
                break FRAME_HEADER;
            }
            let n = u32::from_be_bytes(buf[start..start + FRAME_HEADER].try_into().unwrap()) as usize;
            if n == 0 || n > MAX_FRAME {
                return format!("connection error: bad frame length {n}");
            }
            if end - start < FRAME_HEADER + n {
                break FRAME_HEADER + n;
            }
            let sink = sink.get_or_insert_with(|| inner.sinks.take());
            inner.on_session_message(peer, &buf[start + FRAME_HEADER..start + FRAME_HEADER + n], sink).await;
            start += FRAME_HEADER + n;
        };
        if let Some(mut sink) = sink {
            sink.flush().await;
            inner.sinks.give(sink);
        }
        // Keep the partial frame at the front, with room for all of it.
        if start > 0 {
            buf.copy_within(start..end, 0);
            end -= start;
            start = 0;
        }
        if buf.len() < need {
            buf.resize(need, 0);
        }
        match rd.read(&mut buf[end..]).await {
            Ok(0) => return "connection closed by peer".into(),
            Ok(k) => {
                end += k;
                if end == buf.len() && buf.len() < READ_BUF {
                    buf.resize(READ_BUF, 0);
                }
            }
            Err(e) => return format!("connection error: {e}"),
        }
    }
}
