//! The TUN device: created, addressed, sized and brought up here so that the
//! host program only says what it wants, never how.

use std::io;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::sync::Arc;

use thiserror::Error;
use tun_rs::{AsyncDevice, DeviceBuilder};

#[derive(Debug, Error)]
pub enum TunError {
    #[error("creating a TUN device needs root (CAP_NET_ADMIN)")]
    Permission,
    #[error("/dev/net/tun is missing: the kernel has no TUN support here")]
    NoDevice,
    #[error("invalid TUN name {0:?}: 1 to 15 characters of letters, digits, '-', '_' or '.'")]
    BadName(String),
    #[error("MTU {0} is out of range (576..=65535)")]
    BadMtu(u32),
    #[error("TUN {op}: {source}")]
    Io {
        op: &'static str,
        #[source]
        source: io::Error,
    },
}

impl TunError {
    fn io(op: &'static str, source: io::Error) -> Self {
        match source.raw_os_error() {
            Some(libc_eperm) if libc_eperm == 1 || libc_eperm == 13 => TunError::Permission,
            Some(2) if op == "create" => TunError::NoDevice,
            _ => TunError::Io { op, source },
        }
    }
}

#[derive(Clone, Debug)]
pub struct TunConfig {
    /// Interface name; the kernel picks one (tunN) when `None`.
    pub name: Option<String>,
    pub ipv4: Option<(Ipv4Addr, u8)>,
    pub ipv6: Option<(Ipv6Addr, u8)>,
    pub mtu: u32,
}

impl Default for TunConfig {
    fn default() -> Self {
        // 1420 leaves room for IPv6 + UDP + our 32 bytes of framing and tag
        // inside a 1500-byte path, like WireGuard.
        TunConfig { name: None, ipv4: None, ipv6: None, mtu: 1420 }
    }
}

/// An up, addressed TUN device. Cloning shares the device.
#[derive(Clone)]
pub struct Tun {
    dev: Arc<AsyncDevice>,
    name: String,
    mtu: u32,
}

fn valid_name(n: &str) -> bool {
    (1..=15).contains(&n.len()) && n.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
}

impl Tun {
    /// Must be called inside a tokio runtime (the device registers with its reactor).
    pub fn create(cfg: &TunConfig) -> Result<Tun, TunError> {
        if !(576..=65535).contains(&cfg.mtu) {
            return Err(TunError::BadMtu(cfg.mtu));
        }
        let mut b = DeviceBuilder::new().mtu(cfg.mtu as u16);
        if let Some(name) = &cfg.name {
            if !valid_name(name) {
                return Err(TunError::BadName(name.clone()));
            }
            b = b.name(name);
        }
        if let Some((addr, prefix)) = cfg.ipv4 {
            b = b.ipv4(addr, prefix, None);
        }
        if let Some((addr, prefix)) = cfg.ipv6 {
            b = b.ipv6(addr, prefix);
        }
        let dev = b.build_async().map_err(|e| TunError::io("create", e))?;
        let name = dev.name().map_err(|e| TunError::io("name", e))?;
        Ok(Tun { dev: Arc::new(dev), name, mtu: cfg.mtu })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn mtu(&self) -> u32 {
        self.mtu
    }

    pub async fn recv(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.dev.recv(buf).await
    }

    pub async fn send(&self, pkt: &[u8]) -> io::Result<usize> {
        self.dev.send(pkt).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_checked() {
        assert!(valid_name("swvpn0"));
        assert!(!valid_name(""));
        assert!(!valid_name("a-name-that-is-too-long"));
        assert!(!valid_name("bad/name"));
    }

    #[test]
    fn mtu_is_checked_before_touching_the_kernel() {
        let cfg = TunConfig { mtu: 100, ..Default::default() };
        assert!(matches!(Tun::create(&cfg), Err(TunError::BadMtu(100))));
    }
}
