//! The one stable hash of the project's derived ids (insights, incidents, alert
//! fingerprints): FNV-1a over the parts in order, the same in every build and process, unlike
//! the std hasher. Callers put a separator part between fields that could run together.

/// FNV-1a (64-bit) of `parts`, concatenated.
pub fn stable_hash(parts: &[&[u8]]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for part in parts {
        for &b in *part {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
    }
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn it_is_fnv1a() {
        // The published FNV-1a 64 test vectors.
        assert_eq!(stable_hash(&[]), 0xcbf2_9ce4_8422_2325);
        assert_eq!(stable_hash(&[b"a"]), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(stable_hash(&[b"fo", b"obar"]), 0x8594_4171_f739_67e8);
    }
}
