//! IPv4 and IPv6 side by side: how the node's sockets cover both families,
//! and the order STCPR tries a peer's addresses in.
//!
//! Why one dual-stack socket per transport kind (`[::]` with IPV6_V6ONLY off)
//! rather than one socket per family: SUDPH's socket is also its identity at
//! the address resolver and towards NATs, so one socket keeps one port, one
//! receive loop, one set of buffers and one place where marks and offloads are
//! set; IPv4 peers reach it as IPv4-mapped IPv6 addresses (`::ffff:a.b.c.d`),
//! which [`canonical`] turns back into plain IPv4 at the two places addresses
//! come in (UDP receive, TCP accept), so everything above compares, rate-limits
//! and reports IPv4 peers exactly as on an IPv4 socket. A concrete address
//! (`0.0.0.0`, `192.0.2.1`, `[2001:db8::1]`) binds that family only:
//! `0.0.0.0:7777` keeps meaning IPv4 only.

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// The address as the rest of the node sees it: IPv4-mapped IPv6 (what a
/// dual-stack socket reports for an IPv4 peer) as plain IPv4.
pub(crate) fn canonical(a: SocketAddr) -> SocketAddr {
    SocketAddr::new(a.ip().to_canonical(), a.port())
}

/// `[::]`: the wildcard that covers both families.
pub(crate) fn is_dual_wildcard(addr: SocketAddr) -> bool {
    addr.ip() == IpAddr::V6(Ipv6Addr::UNSPECIFIED)
}

/// Turns IPV6_V6ONLY off on a socket about to bind the IPv6 wildcard, so it
/// takes IPv4 too whatever `net.ipv6.bindv6only` says; any other address
/// keeps the kernel's default (a concrete address is one family anyway).
pub(crate) fn prepare(sock: &socket2::Socket, addr: SocketAddr) -> io::Result<()> {
    if is_dual_wildcard(addr) {
        sock.set_only_v6(false)?;
    }
    Ok(())
}

/// Binds with `bind`; on a host without IPv6 (the kernel refuses IPv6
/// sockets: `ipv6.disable=1`) the wildcard `[::]` falls back to `0.0.0.0` on
/// the same port, so the default listen addresses work everywhere.
pub(crate) fn bind_with_fallback<T>(addr: SocketAddr, bind: impl Fn(SocketAddr) -> io::Result<T>) -> io::Result<T> {
    match bind(addr) {
        Err(e) if is_dual_wildcard(addr) && e.raw_os_error() == Some(libc::EAFNOSUPPORT) => {
            bind(SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), addr.port()))
        }
        r => r,
    }
}

/// Which families a socket bound at `local` can send to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Reach {
    pub(crate) v4: bool,
    pub(crate) v6: bool,
}

impl Reach {
    /// `dual`: the socket is IPv6 with IPV6_V6ONLY off.
    pub(crate) fn of(local: SocketAddr, dual: bool) -> Reach {
        match local {
            SocketAddr::V4(_) => Reach { v4: true, v6: false },
            SocketAddr::V6(_) => Reach { v4: dual, v6: true },
        }
    }

    pub(crate) fn reaches(self, to: SocketAddr) -> bool {
        if to.is_ipv4() {
            self.v4
        } else {
            self.v6
        }
    }
}

/// The order to try a peer's addresses in (RFC 8305, section 4): IPv6 first,
/// then alternating families, each family keeping its given order, so a
/// broken family costs one attempt delay, not one timeout per address.
/// Duplicates (also as IPv4-mapped) are tried once.
pub(crate) fn interleave(addrs: &[SocketAddr]) -> Vec<SocketAddr> {
    let mut seen: Vec<SocketAddr> = Vec::with_capacity(addrs.len());
    for a in addrs.iter().copied().map(canonical) {
        if !seen.contains(&a) {
            seen.push(a);
        }
    }
    let (v6, v4): (Vec<_>, Vec<_>) = seen.into_iter().partition(SocketAddr::is_ipv6);
    let mut out = Vec::with_capacity(v6.len() + v4.len());
    let (mut a, mut b) = (v6.into_iter(), v4.into_iter());
    loop {
        match (a.next(), b.next()) {
            (None, None) => return out,
            (x, y) => out.extend(x.into_iter().chain(y)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn a(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    #[test]
    fn mapped_addresses_become_ipv4() {
        assert_eq!(canonical(a("[::ffff:192.0.2.7]:7777")), a("192.0.2.7:7777"));
        assert_eq!(canonical(a("[2001:db8::7]:7777")), a("[2001:db8::7]:7777"));
        assert_eq!(canonical(a("192.0.2.7:1")), a("192.0.2.7:1"));
    }

    #[test]
    fn interleaves_ipv6_first_and_drops_duplicates() {
        let got = interleave(&[
            a("192.0.2.1:1"),
            a("192.0.2.2:1"),
            a("192.0.2.3:1"),
            a("[2001:db8::1]:1"),
            a("[::ffff:192.0.2.1]:1"),
            a("[2001:db8::2]:1"),
        ]);
        assert_eq!(
            got,
            [a("[2001:db8::1]:1"), a("192.0.2.1:1"), a("[2001:db8::2]:1"), a("192.0.2.2:1"), a("192.0.2.3:1")]
        );
        assert!(interleave(&[]).is_empty());
        assert_eq!(interleave(&[a("192.0.2.1:1")]), [a("192.0.2.1:1")]);
    }

    #[test]
    fn reach_by_socket_family() {
        let dual = Reach::of(a("[::]:1"), true);
        assert!(dual.reaches(a("192.0.2.1:1")) && dual.reaches(a("[2001:db8::1]:1")));
        let v4 = Reach::of(a("0.0.0.0:1"), false);
        assert!(v4.reaches(a("192.0.2.1:1")) && !v4.reaches(a("[2001:db8::1]:1")));
        let v6 = Reach::of(a("[2001:db8::9]:1"), false);
        assert!(!v6.reaches(a("192.0.2.1:1")) && v6.reaches(a("[2001:db8::1]:1")));
    }

    #[test]
    fn the_ipv6_wildcard_takes_ipv4_too() {
        use std::net::UdpSocket;
        let Ok(s) = socket2::Socket::new(socket2::Domain::IPV6, socket2::Type::DGRAM, None) else {
            return; // a host without IPv6: nothing to check
        };
        let any: SocketAddr = a("[::]:0");
        prepare(&s, any).unwrap();
        s.bind(&any.into()).unwrap();
        let s: UdpSocket = s.into();
        let port = s.local_addr().unwrap().port();
        let c = UdpSocket::bind("127.0.0.1:0").unwrap();
        c.send_to(b"v4", ("127.0.0.1", port)).unwrap();
        let mut buf = [0u8; 8];
        s.set_read_timeout(Some(std::time::Duration::from_secs(2))).unwrap();
        let (n, from) = s.recv_from(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"v4");
        assert_eq!(canonical(from), c.local_addr().unwrap());
    }
}
