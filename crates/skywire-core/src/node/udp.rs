//! The SUDPH socket: one UDP socket for every session, the resolver and hole
//! punching, with the kernel's batching turned on (through quinn-udp):
//! UDP GSO sends a run of equal-size datagrams in one `sendmsg`, UDP GRO and
//! `recvmmsg` receive many in one call. Everything else sees plain
//! `send_to`/`try_send_to`.
//!
//! With several workers the node binds one such socket per worker on the
//! same address with `SO_REUSEPORT` ([`UdpSock::bind_group`]): the kernel
//! hashes each sender's address and port to one socket, so each client's
//! datagrams are always read (and decrypted) by the same worker, and the
//! clients spread over the workers. Every socket has the same local address,
//! so a datagram may leave from any of them: NATs and the resolver see one
//! port.

use std::io::{self, IoSliceMut};
use std::net::SocketAddr;

use quinn_udp::{RecvMeta, Transmit, UdpSockRef, UdpSocketState};
use tokio::io::Interest;
use tokio::net::UdpSocket;

use super::family::{self, Reach};

/// Datagram slots per receive call (`recvmmsg`).
const RECV_SLOTS: usize = 8;
/// One slot holds a whole GRO list: the kernel stops coalescing at 64 KiB.
const SLOT_BYTES: usize = 65_536 + 2048;
/// A GSO send carries at most this many payload bytes (the UDP length field).
const GSO_MAX_BYTES: usize = 65_000;

pub(crate) struct UdpSock {
    io: UdpSocket,
    state: UdpSocketState,
    /// The families this socket can send to (family.rs: `[::]` is both).
    reach: Reach,
}

impl UdpSock {
    /// Bind with buffers big enough for bursts at tunnel speed. `[::]` takes
    /// both families (falling back to `0.0.0.0` on a host without IPv6).
    pub(crate) fn bind(addr: SocketAddr) -> io::Result<UdpSock> {
        family::bind_with_fallback(addr, |a| Self::bind_exact(a, false))
    }

    /// `n` sockets on one address, each with `SO_REUSEPORT` (one: [`bind`](Self::bind), no reuse).
    /// First a plain socket claims the address (an address another program
    /// holds fails here, as with one socket; port 0 becomes a free port) and
    /// is closed; the group then binds that exact address. Between the two a
    /// program of our own user could slip in with `SO_REUSEPORT` too: the
    /// kernel admits only the same user into a group, and the window is
    /// microseconds at start.
    pub(crate) fn bind_group(addr: SocketAddr, n: usize) -> io::Result<Vec<UdpSock>> {
        if n <= 1 {
            return Ok(vec![Self::bind(addr)?]);
        }
        let claimed = family::bind_with_fallback(addr, |a| {
            let s = socket2::Socket::new(socket2::Domain::for_address(a), socket2::Type::DGRAM, None)?;
            family::prepare(&s, a)?;
            s.bind(&a.into())?;
            s.local_addr()?.as_socket().ok_or_else(|| io::Error::other("bound UDP socket without an IP address"))
        })?;
        (0..n).map(|_| Self::bind_exact(claimed, true)).collect()
    }

    fn bind_exact(addr: SocketAddr, reuse_port: bool) -> io::Result<UdpSock> {
        use socket2::{Domain, Protocol, Socket, Type};
        let sock = Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP))?;
        if reuse_port {
            set_reuse_port(&sock)?;
        }
        let _ = sock.set_recv_buffer_size(4 << 20);
        let _ = sock.set_send_buffer_size(4 << 20);
        sock.set_nonblocking(true)?;
        // Sessions, resolver binding and hole punching all leave from here: outside the tunnel.
        // One mark covers both families of a dual-stack socket.
        super::mark::mark(&sock)?;
        family::prepare(&sock, addr)?;
        sock.bind(&addr.into())?;
        let dual = addr.is_ipv6() && !sock.only_v6()?;
        let state = UdpSocketState::new(UdpSockRef::from(&sock))?;
        allow_fragmentation(&sock, addr.is_ipv6());
        let reach = Reach::of(addr, dual);
        Ok(UdpSock { io: UdpSocket::from_std(sock.into())?, state, reach })
    }

    pub(crate) fn local_addr(&self) -> io::Result<SocketAddr> {
        self.io.local_addr()
    }

    /// Whether this socket can send to `to` (an IPv4 socket cannot reach IPv6, ...).
    pub(crate) fn reaches(&self, to: SocketAddr) -> bool {
        self.reach.reaches(to)
    }

    /// `to` in this socket's own family: IPv4 as IPv4-mapped on an IPv6 socket.
    fn dest(&self, to: SocketAddr) -> SocketAddr {
        match to {
            SocketAddr::V4(v4) if self.reach.v6 => SocketAddr::new(v4.ip().to_ipv6_mapped().into(), v4.port()),
            _ => to,
        }
    }

    pub(crate) async fn send_to(&self, msg: &[u8], to: SocketAddr) -> io::Result<usize> {
        self.io.send_to(msg, self.dest(to)).await
    }

    pub(crate) fn try_send_to(&self, msg: &[u8], to: SocketAddr) -> io::Result<usize> {
        self.io.try_send_to(msg, self.dest(to))
    }

    /// Most datagrams one [`send_run`](Self::send_run) may carry.
    pub(crate) fn max_segments(&self, segment: usize) -> usize {
        self.state.max_gso_segments().min(GSO_MAX_BYTES / segment.max(1)).max(1)
    }

    /// Send `buf` as datagrams of `segment` bytes each (the last may be
    /// shorter), in one system call when the kernel does GSO, waiting while
    /// the socket buffer is full. At most [`max_segments`](Self::max_segments).
    pub(crate) async fn send_run(&self, buf: &[u8], segment: usize, to: SocketAddr) -> io::Result<()> {
        let transmit = Transmit {
            destination: self.dest(to),
            ecn: None,
            contents: buf,
            segment_size: (buf.len() > segment).then_some(segment),
            src_ip: None,
        };
        self.io.async_io(Interest::WRITABLE, || self.state.try_send(UdpSockRef::from(&self.io), &transmit)).await
    }

    /// Wait for datagrams and receive what is ready into `batch`.
    pub(crate) async fn recv_batch(&self, batch: &mut RecvBatch) -> io::Result<usize> {
        let RecvBatch { bufs, meta } = batch;
        self.io
            .async_io(Interest::READABLE, || {
                let mut slices: [IoSliceMut<'_>; RECV_SLOTS] = {
                    let mut it = bufs.chunks_mut(SLOT_BYTES).map(IoSliceMut::new);
                    std::array::from_fn(|_| it.next().expect("RECV_SLOTS slots"))
                };
                self.state.recv(UdpSockRef::from(&self.io), &mut slices, meta)
            })
            .await
    }
}

/// `SO_REUSEPORT` (socket2 only has it with its "all" feature).
fn set_reuse_port(sock: &socket2::Socket) -> io::Result<()> {
    use std::os::fd::AsRawFd;
    let one: libc::c_int = 1;
    // SAFETY: a live socket, an int option, its size.
    let rc = unsafe {
        libc::setsockopt(
            sock.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_REUSEPORT,
            (&one as *const libc::c_int).cast(),
            super::mark::INT_LEN,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// quinn-udp sets "DF, and ignore ICMP" (`IP_PMTUDISC_PROBE`): a path whose
/// MTU is below our 1481-byte datagrams would then drop them for good. Like
/// kernel WireGuard, let IPv4 routers fragment them instead (the kernel
/// still sends whole GSO runs: each datagram fits our own link). IPv6
/// routers never fragment, so there the kernel's default applies: learn
/// the path MTU from ICMP and fragment at the source.
/// Best effort, as quinn-udp's own setting is: a kernel that refuses keeps it.
fn allow_fragmentation(sock: &socket2::Socket, v6: bool) {
    use std::os::fd::AsRawFd;
    let set = |level, name, value: libc::c_int| {
        // SAFETY: a live socket, an int option, its size.
        let rc = unsafe {
            libc::setsockopt(sock.as_raw_fd(), level, name, (&value as *const libc::c_int).cast(), super::mark::INT_LEN)
        };
        rc == 0
    };
    set(libc::IPPROTO_IP, libc::IP_MTU_DISCOVER, libc::IP_PMTUDISC_DONT);
    if v6 {
        set(libc::IPPROTO_IPV6, libc::IPV6_MTU_DISCOVER, libc::IPV6_PMTUDISC_WANT);
    }
}

/// Receive buffers, reused: `RECV_SLOTS` slots of `SLOT_BYTES`.
pub(crate) struct RecvBatch {
    bufs: Vec<u8>,
    meta: [RecvMeta; RECV_SLOTS],
}

impl RecvBatch {
    pub(crate) fn new() -> Self {
        RecvBatch { bufs: vec![0; RECV_SLOTS * SLOT_BYTES], meta: [RecvMeta::default(); RECV_SLOTS] }
    }

    /// The datagrams of received slot `i` (a GRO slot holds several of
    /// `stride` bytes, the last possibly shorter), with their sender (an IPv4
    /// sender as IPv4, also on a dual-stack socket).
    pub(crate) fn datagrams(&self, i: usize) -> (SocketAddr, std::slice::Chunks<'_, u8>) {
        let m = &self.meta[i];
        let slot = &self.bufs[i * SLOT_BYTES..i * SLOT_BYTES + m.len];
        (family::canonical(m.addr), slot.chunks(m.stride.max(1)))
    }
}
