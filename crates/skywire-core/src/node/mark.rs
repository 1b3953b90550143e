//! The bypass mark: every socket of the visor that must reach the server or
//! the discovery services OUTSIDE the tunnel carries this `SO_MARK`. The VPN
//! client's policy routing (ts/sys/bypass.ts) sends only unmarked packets
//! into the tunnel (`ip rule not fwmark BYPASS_MARK table ...`), and its kill
//! switch lets only marked ones leave beside it: so no other program's
//! traffic to those same addresses bypasses the tunnel (wg-quick's way).
//!
//! Setting a mark needs CAP_NET_ADMIN. The visor runs as root; where it does
//! not (a test or a server-only visor without the capability) the socket is
//! used unmarked and [`marking_refused`] says so, for the host to log once.

use std::io;
use std::net::SocketAddr;
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// "sk". Must equal BYPASS_MARK in ts/sys/bypass.ts.
pub const BYPASS_MARK: u32 = 0x736b;

static REFUSED: AtomicBool = AtomicBool::new(false);

/// True once the kernel refused to mark a socket (no CAP_NET_ADMIN).
pub fn marking_refused() -> bool {
    REFUSED.load(Ordering::Relaxed)
}

/// Marks `sock` with [`BYPASS_MARK`]. A missing capability is not an error
/// (remembered, see [`marking_refused`]); anything else is.
pub(crate) fn mark<S: AsRawFd>(sock: &S) -> io::Result<()> {
    set_mark(sock.as_raw_fd(), BYPASS_MARK)
}

/// The size of an int socket option (4: always fits a socklen_t).
#[allow(clippy::cast_possible_truncation)] // a 4-byte size, known at compile time
pub(crate) const INT_LEN: libc::socklen_t = size_of::<libc::c_int>() as libc::socklen_t;

fn set_mark(fd: std::os::fd::RawFd, mark: u32) -> io::Result<()> {
    // SO_MARK is a 32-bit pattern the kernel reads as an int: reinterpret, not convert.
    let value: libc::c_int = mark.cast_signed();
    // SAFETY: a live socket fd, an int option, its size.
    let rc = unsafe {
        libc::setsockopt(fd, libc::SOL_SOCKET, libc::SO_MARK, (&value as *const libc::c_int).cast(), INT_LEN)
    };
    if rc == 0 {
        return Ok(());
    }
    let e = io::Error::last_os_error();
    if e.raw_os_error() == Some(libc::EPERM) {
        REFUSED.store(true, Ordering::Relaxed);
        return Ok(());
    }
    Err(e)
}

/// The STCPR listener, marked: accepted connections inherit the listener's
/// mark (the SYN-ACK included), so a session a peer opens to us also stays
/// outside our own tunnel. As `TcpListener::bind`, with SO_REUSEADDR; `[::]`
/// takes both families (family.rs), falling back to `0.0.0.0` on a host
/// without IPv6.
pub(crate) fn listen_marked(addr: SocketAddr) -> io::Result<tokio::net::TcpListener> {
    super::family::bind_with_fallback(addr, |addr| {
        use socket2::{Domain, Protocol, Socket, Type};
        let sock = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
        sock.set_reuse_address(true)?;
        sock.set_nonblocking(true)?;
        mark(&sock)?;
        super::family::prepare(&sock, addr)?;
        sock.bind(&addr.into())?;
        sock.listen(1024)?;
        tokio::net::TcpListener::from_std(sock.into())
    })
}

/// A TCP socket to `addr`, marked before its SYN leaves, connected with a
/// bound wait. For the host program's own requests to the discovery services
/// (the N-API layer hands the fd to Node.js); blocking: call it off the
/// event loop.
pub fn connect_marked(addr: SocketAddr, timeout: Duration) -> io::Result<std::net::TcpStream> {
    use socket2::{Domain, Protocol, Socket, Type};
    let sock = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    mark(&sock)?;
    sock.connect_timeout(&addr.into(), timeout)?;
    Ok(sock.into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn marks_a_socket_or_records_why_not() {
        let s = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        mark(&s).unwrap();
        let mut v: libc::c_int = 0;
        let mut len = INT_LEN;
        // SAFETY: a live socket, an int-sized out buffer.
        let rc = unsafe {
            libc::getsockopt(
                s.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_MARK,
                (&mut v as *mut libc::c_int).cast(),
                &mut len,
            )
        };
        assert_eq!(rc, 0);
        if marking_refused() {
            assert_eq!(v, 0);
        } else {
            assert_eq!(v.cast_unsigned(), BYPASS_MARK);
        }
    }

    #[test]
    fn connect_marked_reaches_a_listener() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        let s = connect_marked(addr, Duration::from_secs(2)).unwrap();
        assert_eq!(s.peer_addr().unwrap(), addr);
        let refused = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
        // Nobody listens there any more: a clear error, not a hang.
        assert!(connect_marked(refused, Duration::from_secs(2)).is_err());
    }
}
