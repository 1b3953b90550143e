//! Just enough IP header parsing for routing decisions: version, source and
//! destination. The forwarding loops never look deeper into a packet.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Source and destination of an IPv4 or IPv6 packet, or `None` when the bytes
/// are too short or not IP at all (such packets are dropped, never forwarded).
pub fn addresses(pkt: &[u8]) -> Option<(IpAddr, IpAddr)> {
    match pkt.first()? >> 4 {
        4 if pkt.len() >= 20 => {
            let src: [u8; 4] = pkt[12..16].try_into().ok()?;
            let dst: [u8; 4] = pkt[16..20].try_into().ok()?;
            Some((Ipv4Addr::from(src).into(), Ipv4Addr::from(dst).into()))
        }
        6 if pkt.len() >= 40 => {
            let src: [u8; 16] = pkt[8..24].try_into().ok()?;
            let dst: [u8; 16] = pkt[24..40].try_into().ok()?;
            Some((Ipv6Addr::from(src).into(), Ipv6Addr::from(dst).into()))
        }
        _ => None,
    }
}

pub fn destination(pkt: &[u8]) -> Option<IpAddr> {
    addresses(pkt).map(|(_, d)| d)
}

pub fn source(pkt: &[u8]) -> Option<IpAddr> {
    addresses(pkt).map(|(s, _)| s)
}

#[cfg(test)]
pub(crate) mod test_packets {
    /// A minimal IPv4/UDP packet with the given addresses (checksums zero:
    /// routing code never verifies them).
    pub fn ipv4(src: [u8; 4], dst: [u8; 4], payload: &[u8]) -> Vec<u8> {
        let total = 20 + 8 + payload.len();
        let len16 = |n: usize| u16::try_from(n).expect("a test packet fits an IPv4 length");
        let mut p = vec![0u8; total];
        p[0] = 0x45;
        p[2..4].copy_from_slice(&len16(total).to_be_bytes());
        p[8] = 64;
        p[9] = 17;
        p[12..16].copy_from_slice(&src);
        p[16..20].copy_from_slice(&dst);
        p[24..26].copy_from_slice(&len16(8 + payload.len()).to_be_bytes());
        p[28..].copy_from_slice(payload);
        p
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_ipv4() {
        let p = test_packets::ipv4([10, 0, 0, 2], [1, 1, 1, 1], b"x");
        assert_eq!(addresses(&p), Some((Ipv4Addr::new(10, 0, 0, 2).into(), Ipv4Addr::new(1, 1, 1, 1).into())));
    }

    #[test]
    fn parses_ipv6() {
        let mut p = vec![0u8; 40];
        p[0] = 0x60;
        p[23] = 1; // ::1 source
        p[24] = 0xfd; // fd00::2 destination
        p[39] = 2;
        let (s, d) = addresses(&p).unwrap();
        assert_eq!(s, "::1".parse::<IpAddr>().unwrap());
        assert_eq!(d, "fd00::2".parse::<IpAddr>().unwrap());
    }

    #[test]
    fn rejects_short_and_non_ip() {
        assert_eq!(addresses(&[]), None);
        assert_eq!(addresses(&[0x45; 19]), None);
        assert_eq!(addresses(&[0x60; 39]), None);
        assert_eq!(addresses(&[0x10; 60]), None);
    }
}
