//! [`KeyFilter`]: a blocked Bloom filter over the user keys of one memtable, so that a point read
//! of a key the memtable does not hold (most reads, while writes go on) skips the skiplist search.
//!
//! A search of a full memtable visits about twenty nodes spread over tens of MiB of arena, a cache
//! miss each; the filter answers "absent" with one load. It is blocked: all the bits of a key are
//! in one 64-bit word, so an insert costs one atomic OR on one cache line, not one per hash. The
//! price is a higher false-positive rate than a classic filter of the same size (about 1.1% at 13
//! bits per key instead of 0.3%), which only sends a read on to the search it would have done
//! anyway.
//!
//! Concurrency: the writer sets a key's bits before the entry's seqno is published (the batch is
//! inserted before the write path makes it visible, with release/acquire on the visible seqno),
//! so a reader whose snapshot includes the entry sees the bits. Relaxed atomics suffice here.
//!
//! Memory: the words live in an anonymous mapping of their own, not in the malloc heap. A 64 MiB
//! memtable's filter is 512 KiB, made and dropped with every memtable; from glibc's malloc it was
//! mapped and unmapped each time, and each unmapping raised glibc's dynamic mmap threshold (see
//! `crate::cache::mapped`).

#![allow(
    unsafe_code,
    reason = "the filter's words are atomics over an anonymous mapping the filter owns"
)]

use std::sync::atomic::{AtomicU64, Ordering};

/// Bits a key sets in its word.
const BITS_PER_KEY: u32 = 6;

/// A blocked Bloom filter of a fixed number of 64-bit words (a power of two).
pub(super) struct KeyFilter {
    /// The words' memory: `8 * (mask + 1)` bytes, zeroed by the kernel, page aligned.
    map: memmap2::MmapRaw,
    /// Number of words - 1.
    mask: usize,
}

impl KeyFilter {
    /// A filter of at least `bits` bits (rounded up to a power of two of 64-bit words, at least
    /// one word). Aborts like a failed allocation when the system has no memory left.
    pub fn with_bits(bits: usize) -> KeyFilter {
        let words = bits.div_ceil(64).max(1).next_power_of_two();
        KeyFilter {
            map: memmap2::MmapRaw::from(crate::cache::mapped::map_anon(words * 8)),
            mask: words - 1,
        }
    }

    /// The words.
    #[inline]
    fn words(&self) -> &[AtomicU64] {
        // SAFETY: the mapping is `8 * (mask + 1)` bytes, page aligned (so aligned for `u64`),
        // zero-initialised by the kernel, and lives as long as `self`. `AtomicU64` has the size,
        // alignment and bit validity of `u64`, and the mapping is only ever accessed through these
        // atomics (nothing reads or writes it as plain bytes), so shared references to them are
        // sound; the pointer comes from the mapping itself (`MmapRaw`), not from a reference.
        unsafe {
            std::slice::from_raw_parts(self.map.as_mut_ptr().cast::<AtomicU64>(), self.mask + 1)
        }
    }

    /// Bytes held.
    pub fn bytes(&self) -> usize {
        (self.mask + 1) * 8
    }

    /// The word of `hash` and the bits it sets there: the word from the hash's high half, each bit
    /// position from 6 bits of the low half.
    #[inline]
    fn locate(&self, hash: u64) -> (Option<&AtomicU64>, u64) {
        let word = ((hash >> 32) as usize) & self.mask;
        let mut bits = 0u64;
        for i in 0..BITS_PER_KEY {
            bits |= 1u64 << ((hash >> (6 * i)) & 63);
        }
        (self.words().get(word), bits)
    }

    /// Records the key of hash `hash` (`sstable::key_hash` of the user key).
    #[inline]
    pub fn insert(&self, hash: u64) {
        let (word, bits) = self.locate(hash);
        if let Some(w) = word
            && w.load(Ordering::Relaxed) & bits != bits
        {
            w.fetch_or(bits, Ordering::Relaxed);
        }
    }

    /// False when no key of hash `hash` was ever inserted; true when one may have been.
    #[inline]
    pub fn may_contain(&self, hash: u64) -> bool {
        let (word, bits) = self.locate(hash);
        word.is_none_or(|w| w.load(Ordering::Relaxed) & bits == bits)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sstable::key_hash;

    #[test]
    fn no_false_negatives_and_few_false_positives() {
        let n = 20_000u64;
        let f = KeyFilter::with_bits(n as usize * 10);
        assert_eq!(f.bytes(), 32_768, "200,000 bits round up to 4096 words");
        for i in 0..n {
            f.insert(key_hash(format!("key{i:08}").as_bytes()));
        }
        for i in 0..n {
            assert!(f.may_contain(key_hash(format!("key{i:08}").as_bytes())), "{i}");
        }
        let fp = (n..n * 6)
            .filter(|i| f.may_contain(key_hash(format!("key{i:08}").as_bytes())))
            .count();
        // About 1.1% at 13 bits per key (a classic filter would be near 0.3%); a broken locate
        // (every key in one word, or one bit per key) goes far past 3%.
        assert!(fp < (5 * n as usize) * 3 / 100, "{fp} false positives of {}", 5 * n);
        let empty = KeyFilter::with_bits(0);
        assert_eq!(empty.bytes(), 8);
        assert!(!empty.may_contain(key_hash(b"a")));
    }
}
