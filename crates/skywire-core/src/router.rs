//! Cryptokey routing: which session owns which tunnel addresses.
//!
//! A packet read from the TUN goes only to the session whose allowed networks
//! contain its destination; a packet decrypted from a session is accepted only
//! if its source lies in that same session's allowed networks. This is what
//! stops one VPN client from spoofing another's address.

use std::collections::HashMap;
use std::net::IpAddr;

use ipnet::IpNet;

pub type TransportId = u64;

#[derive(Default)]
pub struct AllowedIps {
    /// Host routes (/32, /128) are the common case on a server with many
    /// clients: a hash lookup, not a scan.
    hosts: HashMap<IpAddr, TransportId>,
    /// Wider prefixes, longest first (a client's 0.0.0.0/0 to its server).
    prefixes: Vec<(IpNet, TransportId)>,
}

impl AllowedIps {
    pub fn new() -> Self {
        Self::default()
    }

    /// Give `nets` to `peer`, replacing whatever else owned them.
    pub fn insert(&mut self, peer: TransportId, nets: &[IpNet]) {
        for net in nets {
            let net = net.trunc();
            if net.prefix_len() == net.max_prefix_len() {
                self.hosts.insert(net.addr(), peer);
            } else {
                self.prefixes.retain(|(n, _)| *n != net);
                self.prefixes.push((net, peer));
            }
        }
        self.prefixes.sort_by_key(|(n, _)| std::cmp::Reverse(n.prefix_len()));
    }

    pub fn remove_transport(&mut self, peer: TransportId) {
        self.hosts.retain(|_, p| *p != peer);
        self.prefixes.retain(|(_, p)| *p != peer);
    }

    /// The session a packet to `dst` must go to.
    pub fn lookup(&self, dst: IpAddr) -> Option<TransportId> {
        if let Some(p) = self.hosts.get(&dst) {
            return Some(*p);
        }
        self.prefixes.iter().find(|(n, _)| n.contains(&dst)).map(|(_, p)| *p)
    }

    /// Whether `peer` may send packets from `src`.
    pub fn allows(&self, peer: TransportId, src: IpAddr) -> bool {
        self.lookup(src) == Some(peer)
    }

    pub fn is_empty(&self) -> bool {
        self.hosts.is_empty() && self.prefixes.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn net(s: &str) -> IpNet {
        s.parse().unwrap()
    }
    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn host_routes_win_over_prefixes() {
        let mut t = AllowedIps::new();
        t.insert(1, &[net("0.0.0.0/0")]);
        t.insert(2, &[net("10.77.0.2/32")]);
        t.insert(3, &[net("10.77.0.3/32")]);
        assert_eq!(t.lookup(ip("10.77.0.2")), Some(2));
        assert_eq!(t.lookup(ip("10.77.0.3")), Some(3));
        assert_eq!(t.lookup(ip("8.8.8.8")), Some(1));
        assert_eq!(t.lookup(ip("::1")), None);
    }

    #[test]
    fn longest_prefix_first() {
        let mut t = AllowedIps::new();
        t.insert(1, &[net("10.0.0.0/8")]);
        t.insert(2, &[net("10.1.0.0/16")]);
        assert_eq!(t.lookup(ip("10.1.2.3")), Some(2));
        assert_eq!(t.lookup(ip("10.2.2.3")), Some(1));
    }

    #[test]
    fn spoofed_source_is_not_allowed() {
        let mut t = AllowedIps::new();
        t.insert(2, &[net("10.77.0.2/32")]);
        t.insert(3, &[net("10.77.0.3/32")]);
        assert!(t.allows(2, ip("10.77.0.2")));
        assert!(!t.allows(2, ip("10.77.0.3")), "peer 2 must not speak for peer 3");
        assert!(!t.allows(2, ip("192.168.1.1")));
    }

    #[test]
    fn spoofed_v6_source_is_not_allowed() {
        // What the VPN server attaches per client: its v4 /32 and its v6 /128.
        let mut t = AllowedIps::new();
        t.insert(2, &[net("10.77.0.2/32"), net("fd12:3456:789a:1::2/128")]);
        t.insert(3, &[net("10.77.0.3/32"), net("fd12:3456:789a:1::3/128")]);
        assert!(t.allows(2, ip("fd12:3456:789a:1::2")));
        assert!(!t.allows(2, ip("fd12:3456:789a:1::3")), "peer 2 must not speak for peer 3's v6 address");
        assert!(!t.allows(2, ip("fd12:3456:789a:1::4")), "nor for a free address of the pool");
        assert!(!t.allows(2, ip("2001:db8::2")));
        assert!(!t.allows(2, ip("::ffff:10.77.0.2")), "the v4-mapped form of its own v4 address is another source");
        assert_eq!(t.lookup(ip("fd12:3456:789a:1::3")), Some(3));
        t.remove_transport(3);
        assert_eq!(t.lookup(ip("fd12:3456:789a:1::3")), None);
    }

    #[test]
    fn remove_peer_frees_its_addresses() {
        let mut t = AllowedIps::new();
        t.insert(2, &[net("10.77.0.2/32"), net("fd00::/64")]);
        t.remove_transport(2);
        assert!(t.is_empty());
        assert_eq!(t.lookup(ip("10.77.0.2")), None);
    }

    #[test]
    fn reassigning_an_address_moves_it() {
        let mut t = AllowedIps::new();
        t.insert(2, &[net("10.77.0.2/32")]);
        t.insert(5, &[net("10.77.0.2/32")]);
        assert_eq!(t.lookup(ip("10.77.0.2")), Some(5));
    }
}
