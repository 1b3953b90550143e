//! The TUN device: created, addressed, sized and brought up here so that the
//! host program only says what it wants, never how.

use std::io;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::sync::Arc;

use thiserror::Error;
use tun_rs::{AsyncDevice, DeviceBuilder, GROTable, VIRTIO_NET_HDR_LEN};

/// Bytes a packet handed to [`Tun::send_batch`] must have free in front of
/// it: the kernel's virtio-net header goes there when offloads are on.
pub const TUN_HEADROOM: usize = VIRTIO_NET_HDR_LEN;
/// Packets one [`Tun::recv_batch`] call can return: one TCP segmentation
/// offload read splits into at most 64 KiB / MSS segments (about 48 at our
/// MTU, 128 with a tiny MSS), and small packets are gathered up to this many.
pub const TUN_BATCH: usize = 256;
/// Largest read from an offloading TUN: virtio header + one 64 KiB packet.
const RAW_READ: usize = VIRTIO_NET_HDR_LEN + 65_535;
/// More packets are only read into a batch while this many slots are free,
/// so a following offload read always has room to be split.
const SLOTS_PER_READ: usize = 128;

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
    /// Queues (IFF_MULTI_QUEUE, one file descriptor each): the kernel spreads
    /// the flows it routes into the TUN over them, so that one reader per
    /// queue can encrypt in parallel. 0 or 1: one queue, as before. A
    /// node's `create_tunnel` turns 0 into its worker count.
    pub queues: usize,
}

impl Default for TunConfig {
    fn default() -> Self {
        // 1420 leaves room for IPv6 + UDP + our 32 bytes of framing and tag
        // inside a 1500-byte path, like WireGuard.
        TunConfig { name: None, ipv4: None, ipv6: None, mtu: 1420, queues: 0 }
    }
}

/// Most queues one TUN gets (the kernel's own cap is 256).
pub const MAX_TUN_QUEUES: usize = 64;

/// An up, addressed TUN device with one or more queues. Cloning shares the device.
#[derive(Clone)]
pub struct Tun {
    queues: Arc<[AsyncDevice]>,
    name: String,
    mtu: u32,
}

fn valid_name(n: &str) -> bool {
    (1..=15).contains(&n.len()) && n.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
}

fn build(cfg: &TunConfig, offload: bool, multi_queue: bool) -> io::Result<AsyncDevice> {
    let mtu = u16::try_from(cfg.mtu)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, format!("MTU {} is larger than 65535", cfg.mtu)))?;
    let mut b = DeviceBuilder::new().mtu(mtu).offload(offload).multi_queue(multi_queue);
    if let Some(name) = &cfg.name {
        b = b.name(name);
    }
    if let Some((addr, prefix)) = cfg.ipv4 {
        b = b.ipv4(addr, prefix, None);
    }
    if let Some((addr, prefix)) = cfg.ipv6 {
        b = b.ipv6(addr, prefix);
    }
    b.build_async()
}

impl Tun {
    /// Must be called inside a tokio runtime (the device registers with its reactor).
    pub fn create(cfg: &TunConfig) -> Result<Tun, TunError> {
        if !(576..=65535).contains(&cfg.mtu) {
            return Err(TunError::BadMtu(cfg.mtu));
        }
        if let Some(name) = &cfg.name {
            if !valid_name(name) {
                return Err(TunError::BadName(name.clone()));
            }
        }
        // Offloads (IFF_VNET_HDR + TSO/USO): the kernel hands us 64 KiB TCP
        // super-packets and takes coalesced ones back, so a TCP flow costs one
        // TUN syscall per ~45 packets instead of one each (as wireguard-go does).
        // A kernel or sandbox that refuses them still gets a working TUN, one
        // packet per syscall (the batch calls handle both).
        let wanted = cfg.queues.clamp(1, MAX_TUN_QUEUES);
        let multi = wanted > 1;
        let dev = match build(cfg, true, multi) {
            Ok(dev) => dev,
            Err(e) if matches!(e.raw_os_error(), Some(libc::EINVAL | libc::EOPNOTSUPP | libc::ENOTTY)) => {
                build(cfg, false, multi).map_err(|e| TunError::io("create", e))?
            }
            Err(e) => return Err(TunError::io("create", e)),
        };
        let name = dev.name().map_err(|e| TunError::io("name", e))?;
        let mut queues = Vec::with_capacity(wanted);
        // Each further queue is another open of /dev/net/tun attached to the
        // same device, with the same flags and offloads.
        while queues.len() + 1 < wanted {
            queues.push(dev.try_clone().map_err(|e| TunError::io("add queue", e))?);
        }
        queues.insert(0, dev);
        Ok(Tun { queues: queues.into(), name, mtu: cfg.mtu })
    }

    /// How many queues the device has (each read by its own task).
    pub fn queue_count(&self) -> usize {
        self.queues.len()
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn mtu(&self) -> u32 {
        self.mtu
    }

    /// Wait for packets and read as many as are ready, split into single IP
    /// packets at offset 0 of `batch.bufs`. Returns how many; a malformed
    /// offload read is skipped (counted in `batch.bad`), only device errors
    /// come back as `Err`.
    pub async fn recv_batch(&self, batch: &mut RecvBatch) -> io::Result<usize> {
        self.recv_batch_on(0, batch).await
    }

    /// [`recv_batch`](Self::recv_batch) from queue `queue` (modulo the queue count).
    pub async fn recv_batch_on(&self, queue: usize, batch: &mut RecvBatch) -> io::Result<usize> {
        let dev = &self.queues[queue % self.queues.len()];
        let mut n = 0;
        let RecvBatch { raw, bufs, sizes, bad } = batch;
        loop {
            let got = if n == 0 {
                dev.recv_multiple(raw, &mut bufs[n..], &mut sizes[n..], 0).await
            } else {
                dev.try_recv_multiple(raw, &mut bufs[n..], &mut sizes[n..], 0)
            };
            match got {
                Ok(k) => n += k,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock && n > 0 => return Ok(n),
                // Not the kernel's error: tun-rs could not split this read.
                Err(e) if e.raw_os_error().is_none() => *bad += 1,
                Err(e) => return if n > 0 { Ok(n) } else { Err(e) },
            }
            if bufs.len() - n < SLOTS_PER_READ {
                return Ok(n);
            }
        }
    }

    /// Write packets, each at offset [`TUN_HEADROOM`] of its buffer; TCP and
    /// UDP packets of one flow are coalesced into one write where the kernel
    /// accepts it. Buffers may be grown by the coalescing.
    pub async fn send_batch(&self, gro: &mut GROTable, bufs: &mut [Vec<u8>]) -> io::Result<usize> {
        self.send_batch_on(0, gro, bufs).await
    }

    /// [`send_batch`](Self::send_batch) through queue `queue` (modulo the
    /// queue count). The queue matters: the kernel notes which queue a
    /// flow's packets were written on and routes the flow's answers to that
    /// queue's reader, so a receive worker that always writes on its own
    /// queue gets its clients' answers to encrypt on the same worker.
    pub async fn send_batch_on(&self, queue: usize, gro: &mut GROTable, bufs: &mut [Vec<u8>]) -> io::Result<usize> {
        self.queues[queue % self.queues.len()].send_multiple(gro, bufs, TUN_HEADROOM).await
    }
}

/// Buffers for [`Tun::recv_batch`], reused across calls.
pub struct RecvBatch {
    raw: Vec<u8>,
    pub bufs: Vec<Vec<u8>>,
    pub sizes: Vec<usize>,
    /// Reads that could not be split into packets.
    pub bad: u64,
}

impl RecvBatch {
    pub fn new(mtu: u32) -> Self {
        let slot = (mtu as usize).max(1500);
        RecvBatch { raw: vec![0; RAW_READ], bufs: vec![vec![0; slot]; TUN_BATCH], sizes: vec![0; TUN_BATCH], bad: 0 }
    }

    pub fn packet(&self, i: usize) -> &[u8] {
        &self.bufs[i][..self.sizes[i]]
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
