//! Maps keyed by numbers the node chose itself (random session indexes,
//! sequential transport ids), looked up for every received datagram: hashed
//! with one multiply instead of the standard SipHash, which took ~3 % of a
//! receiving server's CPU.
//!
//! SipHash's random key defends a map against keys an attacker picks so that
//! they collide. Here only lookups take a peer's number; every key stored is
//! ours (random or a counter), so a lookup costs at most the short probe run
//! that random keys leave, whatever number it asks for.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

/// Fibonacci hashing: the odd 64-bit constant nearest 2^64 / φ. A bijection on
/// u64, and it spreads a counter's low bits into the top ones, which hashbrown
/// uses as its tag; the fold brings high bits down into the bucket index.
const K: u64 = 0x9E37_79B9_7F4A_7C15;

#[derive(Default, Clone, Copy)]
pub(crate) struct IdHasher(u64);

impl Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0 ^ (self.0 >> 32)
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.write_u64(u64::from(b));
        }
    }

    fn write_u32(&mut self, n: u32) {
        self.write_u64(u64::from(n));
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = (self.0.rotate_left(5) ^ n).wrapping_mul(K);
    }
}

pub(crate) type IdMap<K, V> = HashMap<K, V, BuildHasherDefault<IdHasher>>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_and_random_indexes_spread_over_buckets_and_tags() {
        let hash = |n: u64| {
            let mut h = IdHasher::default();
            h.write_u64(n);
            h.finish()
        };
        // Sequential ids: distinct low bits (bucket) and top 7 bits (tag) spread.
        let buckets: std::collections::HashSet<u64> = (1..=1024).map(|n| hash(n) & 1023).collect();
        assert!(buckets.len() > 600, "{} of 1024 buckets", buckets.len());
        let tags: std::collections::HashSet<u64> = (1..=1024).map(|n| hash(n) >> 57).collect();
        assert!(tags.len() > 100, "{} of 128 tags", tags.len());
        // And the map works as a map.
        let mut m: IdMap<u32, u32> = IdMap::default();
        for i in 0..10_000u32 {
            m.insert(i.wrapping_mul(2_654_435_761), i);
        }
        assert_eq!(m.len(), 10_000);
        assert_eq!(m.get(&7u32.wrapping_mul(2_654_435_761)), Some(&7));
        assert_eq!(m.get(&1), None);
    }
}
