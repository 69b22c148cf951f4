//! Small, dependency-free hashing: a fast hasher for the in-memory maps and a stable hash for
//! pattern ids.
//!
//! `std`'s SipHash is DoS-resistant but several times slower on the short keys we hash per
//! message; the maps here are keyed by our own masked output and bounded, so a multiplicative
//! hash is enough. Pattern ids must never change between builds or Rust versions, so they use
//! [`stable_hash`], whose definition is fixed here rather than `std`'s unspecified hasher.

use std::hash::{BuildHasherDefault, Hasher};

const SEED: u64 = 0x51_7c_c1_b7_27_22_0a_95;

/// FxHash-style hasher (rotate, xor, multiply) over 8-byte words.
#[derive(Default, Clone, Copy)]
pub(crate) struct FastHasher {
    hash: u64,
}

impl FastHasher {
    #[inline]
    fn add(&mut self, word: u64) {
        self.hash = (self.hash.rotate_left(5) ^ word).wrapping_mul(SEED);
    }
}

impl Hasher for FastHasher {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            let mut w = [0u8; 8];
            w.copy_from_slice(c);
            self.add(u64::from_le_bytes(w));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut w = [0u8; 8];
            w[..rest.len()].copy_from_slice(rest);
            self.add(u64::from_le_bytes(w));
        }
    }

    #[inline]
    fn write_u8(&mut self, i: u8) {
        self.add(u64::from(i));
    }

    #[inline]
    fn write_u32(&mut self, i: u32) {
        self.add(u64::from(i));
    }

    #[inline]
    fn write_u64(&mut self, i: u64) {
        self.add(i);
    }

    #[inline]
    fn write_usize(&mut self, i: usize) {
        self.add(i as u64);
    }

    #[inline]
    fn finish(&self) -> u64 {
        self.hash
    }
}

/// `BuildHasher` for the crate's maps.
pub(crate) type FastBuild = BuildHasherDefault<FastHasher>;

/// A `HashMap` with the fast hasher.
pub(crate) type FastMap<K, V> = std::collections::HashMap<K, V, FastBuild>;

/// SplitMix64 finaliser: spreads every input bit over the whole output.
#[inline]
pub(crate) fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Stable 64-bit hash of a byte string (FNV-1a then [`mix`]); fixed forever because pattern
/// ids derived from it are persisted.
pub(crate) fn stable_hash(parts: &[&[u8]]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for (i, part) in parts.iter().enumerate() {
        if i > 0 {
            // A separator byte that cannot occur in UTF-8, so ("ab","c") != ("a","bc").
            h ^= 0xff;
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
        for &b in *part {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
    mix(h)
}

/// Hash of one token for the skeleton sums (fast, not persisted).
#[inline]
pub(crate) fn token_hash(tok: &str) -> u64 {
    let mut h = FastHasher::default();
    h.write(tok.as_bytes());
    mix(h.finish() ^ tok.len() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stable_hash_is_fixed() {
        // Pinned: ids persisted by one build must be recomputed identically by the next.
        assert_eq!(
            stable_hash(&[b"svc", b"a <*>"]),
            stable_hash(&[b"svc", b"a <*>"])
        );
        assert_ne!(stable_hash(&[b"ab", b"c"]), stable_hash(&[b"a", b"bc"]));
        assert_eq!(stable_hash(&[b""]), mix(0xcbf2_9ce4_8422_2325));
    }

    #[test]
    fn token_hash_distinguishes() {
        assert_ne!(token_hash("a"), token_hash("b"));
        assert_ne!(token_hash(""), token_hash("\0"));
    }
}
