//! The filter block: a bloom filter over `xxh3_64(user_key)`, probed where it lies.
//!
//! ```text
//! filter payload = format u8 | num_hashes u32 LE | num_words u32 LE | word u64 LE * num_words
//! ```
//!
//! Keys are hashed by us (xxh3, platform-stable) and a hash maps to its bits as fastbloom 0.17's
//! `insert_hash` / `contains_hash` map it (the layout the format was first written with; the tests
//! check both directions against fastbloom itself and read a golden table back). The filter is
//! built straight into the payload and probed in the table's bytes (the file mapping): no copy of
//! it lives on the heap. Format [`FILTER_FORMAT_NONE`] (or any unknown format byte) means "no
//! filter": the table is read without one, which costs I/O but never loses a key. See
//! `format-spec/sstable.md` ("Filter block").

use std::path::Path;

use bytes::Bytes;
use zerocopy::FromBytes;
use zerocopy::little_endian::U32;

use crate::cache::mapped::MappedBuf;
use crate::error::{Error, Result};
use crate::format::MAX_KEY_SIZE;
use crate::format::sst::{
    FILTER_FORMAT_FASTBLOOM_XXH3, FILTER_FORMAT_FASTBLOOM_XXH3_PREFIX,
    FILTER_FORMAT_NONE, FILTER_HEADER_SIZE, FILTER_PREFIX_HEADER_SIZE, FilterHeader,
    MAX_BLOOM_HASHES,
};

fn corrupt(offset: usize, reason: &'static str) -> Error {
    Error::corruption(Path::new(""), offset as u64, reason)
}

/// Collects key hashes while a table is written; the filter is sized at the end, when the number
/// of distinct keys is known.
#[derive(Debug, Default)]
pub struct FilterBuilder {
    /// The hashes, 8 bytes each (native order), out of the malloc heap (see [`MappedBuf`]).
    hashes: MappedBuf,
    false_positive_rate: f64,
    /// 0: whole keys only (format 1); else also key prefixes of this length (format 2).
    prefix_len: usize,
    last_prefix: Vec<u8>,
}

impl FilterBuilder {
    /// `false_positive_rate` outside (0, 1) disables the filter.
    pub fn new(false_positive_rate: f64, expected_keys: usize) -> FilterBuilder {
        let enabled = false_positive_rate > 0.0 && false_positive_rate < 1.0;
        let mut hashes = MappedBuf::new();
        if enabled {
            hashes.reserve(8 * expected_keys.min(1 << 20));
        }
        FilterBuilder {
            hashes,
            false_positive_rate: if enabled { false_positive_rate } else { 0.0 },
            prefix_len: 0,
            last_prefix: Vec::new(),
        }
    }

    /// Also records the first `prefix_len` bytes of every key (0 turns it off).
    pub fn with_prefix_len(mut self, prefix_len: usize) -> FilterBuilder {
        self.prefix_len = prefix_len.min(MAX_KEY_SIZE);
        self
    }

    /// Adds one distinct user key (call once per user key, in key order): its hash, and with a
    /// prefix length its prefix's hash (once per distinct prefix).
    pub fn add_key(&mut self, user_key: &[u8]) {
        if self.false_positive_rate <= 0.0 {
            return;
        }
        self.hashes
            .extend_from_slice(&super::key_hash(user_key).to_ne_bytes());
        if self.prefix_len > 0
            && let Some(p) = user_key.get(..self.prefix_len)
            && p != self.last_prefix.as_slice()
        {
            self.hashes.extend_from_slice(&super::key_hash(p).to_ne_bytes());
            self.last_prefix.clear();
            self.last_prefix.extend_from_slice(p);
        }
    }

    /// Adds one distinct user key's hash (call once per user key, not per version).
    #[cfg(any(test, feature = "internal"))]
    pub fn add_hash(&mut self, hash: u64) {
        if self.false_positive_rate > 0.0 {
            self.hashes.extend_from_slice(&hash.to_ne_bytes());
        }
    }

    /// The filter block payload: the filter sized for the hashes added (as fastbloom 0.17's
    /// `with_false_pos(rate).expected_items(n)` sizes it) and every hash's bits set, written
    /// straight into the payload (a [`MappedBuf`], like the hashes).
    pub fn finish(&self) -> MappedBuf {
        let mut out = MappedBuf::new();
        if self.false_positive_rate <= 0.0 || self.hashes.is_empty() {
            out.extend_from_slice(&[FILTER_FORMAT_NONE]);
            return out;
        }
        // Very small rates would make huge filters; 1e-9 is far below anything useful.
        let fp = self.false_positive_rate.max(1e-9);
        let items = self.hashes.len() / 8;
        let num_words = filter_bits(items, fp).div_ceil(64);
        let num_hashes = filter_hashes(num_words * 64, items);
        let (format, header) = if self.prefix_len > 0 {
            (FILTER_FORMAT_FASTBLOOM_XXH3_PREFIX, FILTER_PREFIX_HEADER_SIZE)
        } else {
            (FILTER_FORMAT_FASTBLOOM_XXH3, FILTER_HEADER_SIZE)
        };
        out.reserve(header + 8 * num_words);
        out.extend_from_slice(&[format]);
        out.extend_from_slice(&num_hashes.to_le_bytes());
        out.extend_from_slice(&crate::format::len_u32(num_words).to_le_bytes());
        if self.prefix_len > 0 {
            out.extend_from_slice(&crate::format::len_u32(self.prefix_len).to_le_bytes());
        }
        out.resize_zeroed(header + 8 * num_words);
        if let Some(words) = out.as_mut_slice().get_mut(header..) {
            let num_bits = num_words as u64 * 64;
            let hashes = self.hashes.chunks_exact(8).map(|c| {
                let mut b = [0u8; 8];
                b.copy_from_slice(c);
                u64::from_ne_bytes(b)
            });
            for h in hashes {
                for bit in bit_indices(h, num_hashes, num_bits) {
                    if let Some(byte) = words.get_mut((bit >> 3) as usize) {
                        *byte |= 1 << (bit & 7);
                    }
                }
            }
        }
        out
    }
}

/// Bits of a filter for `items` items at false-positive rate `fp` (fastbloom 0.17's
/// `optimal_size`): `8 * ceil(items * ln(fp) / (-8 * ln(2)^2))`, at least 64.
#[expect(
    clippy::cast_possible_truncation,
    reason = "a float-to-int cast saturates: an absurd size stays a number, never UB"
)]
fn filter_bits(items: usize, fp: f64) -> usize {
    let ln2_sq = std::f64::consts::LN_2 * std::f64::consts::LN_2;
    let bytes = (items as f64 * fp.ln() / (-8.0 * ln2_sq)).ceil();
    (bytes as usize).saturating_mul(8).max(64)
}

/// Hash functions for `bits` bits and `items` items (fastbloom 0.17's `optimal_hashes`):
/// `round(ln(2) * bits / items)`, clamped to 1..=`MAX_BLOOM_HASHES`.
#[expect(
    clippy::cast_possible_truncation,
    reason = "a float-to-int cast saturates, and the count is clamped to the format's range"
)]
fn filter_hashes(bits: usize, items: usize) -> u32 {
    let k = (std::f64::consts::LN_2 * bits as f64 / items.max(1) as f64).round();
    (k as u32).clamp(1, MAX_BLOOM_HASHES)
}

/// The bit indices of hash `h` in a filter of `num_bits` bits and `num_hashes` hash functions
/// (fastbloom 0.17's layout, `format-spec/sstable.md`): the first is `h` itself, each next one
/// `h1 = h1.rotate_left(5) + h2` with `h2 = h * 0x517cc1b727220a95`; a hash `x` becomes the index
/// `(x * num_bits) >> 64` (128-bit product).
#[inline]
fn bit_indices(h: u64, num_hashes: u32, num_bits: u64) -> impl Iterator<Item = u64> {
    let h2 = h.wrapping_mul(0x517c_c1b7_2722_0a95);
    let mut h1 = h;
    (0..num_hashes.max(1)).map(move |i| {
        if i > 0 {
            h1 = h1.rotate_left(5).wrapping_add(h2);
        }
        ((u128::from(h1) * u128::from(num_bits)) >> 64) as u64
    })
}

/// What the format byte of a filter payload says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FilterKind {
    /// [`FILTER_FORMAT_NONE`]: no filter.
    None,
    /// [`FILTER_FORMAT_FASTBLOOM_XXH3`]: whole keys.
    Keys,
    /// [`FILTER_FORMAT_FASTBLOOM_XXH3_PREFIX`]: whole keys and key prefixes of this length.
    KeysAndPrefixes { prefix_len: u32 },
    /// A format byte this build does not know: read as "no filter" (never loses a key).
    Unknown(u8),
}

/// The bloom part of a format-1 or format-2 filter payload, validated.
#[derive(Debug, Clone, Copy)]
pub struct BloomLayout<'a> {
    /// Number of hash functions, in `1..=MAX_BLOOM_HASHES`.
    pub num_hashes: u32,
    /// Number of u64 words (at least 1).
    pub num_words: u32,
    /// The words, `8 * num_words` bytes, little-endian.
    pub words: &'a [u8],
}

impl BloomLayout<'_> {
    /// Number of filter bits.
    pub fn bits(&self) -> u64 {
        u64::from(self.num_words) * 64
    }
}

/// A parsed filter payload: the one decoder of the filter block, used by the engine
/// ([`Filter::decode`]), `lsmkv::debug::sst` (inspect, verify) and the fuzz targets.
/// Spec: `format-spec/sstable.md` ("Filter block", "Prefix filter").
#[derive(Debug, Clone, Copy)]
pub struct FilterLayout<'a> {
    /// The format byte, decoded.
    pub kind: FilterKind,
    /// The bloom filter, for formats 1 and 2.
    pub bloom: Option<BloomLayout<'a>>,
}

impl<'a> FilterLayout<'a> {
    /// Parses and checks a filter payload (the block contents without its trailer). Unknown
    /// format bytes are not an error ([`FilterKind::Unknown`], no bloom); a known format with bad
    /// framing is corruption, with offsets relative to the payload start.
    pub fn parse(payload: &'a [u8]) -> Result<FilterLayout<'a>> {
        let Some(&format) = payload.first() else {
            return Err(corrupt(0, "empty filter block"));
        };
        let kind_without_prefix = match format {
            FILTER_FORMAT_NONE => {
                return Ok(FilterLayout {
                    kind: FilterKind::None,
                    bloom: None,
                });
            }
            FILTER_FORMAT_FASTBLOOM_XXH3 | FILTER_FORMAT_FASTBLOOM_XXH3_PREFIX => FilterKind::Keys,
            other => {
                return Ok(FilterLayout {
                    kind: FilterKind::Unknown(other),
                    bloom: None,
                });
            }
        };
        let (header, rest) = FilterHeader::ref_from_prefix(payload)
            .map_err(|_| corrupt(1, "filter header truncated"))?;
        let (kind, words) = if format == FILTER_FORMAT_FASTBLOOM_XXH3_PREFIX {
            let (p, rest) = U32::ref_from_prefix(rest)
                .map_err(|_| corrupt(FILTER_HEADER_SIZE, "filter header truncated"))?;
            let prefix_len = p.get();
            // Bounded before any use as a slice length.
            if prefix_len == 0 || prefix_len as usize > MAX_KEY_SIZE {
                return Err(corrupt(
                    FILTER_HEADER_SIZE,
                    "filter prefix length out of range",
                ));
            }
            (FilterKind::KeysAndPrefixes { prefix_len }, rest)
        } else {
            (kind_without_prefix, rest)
        };
        let num_hashes = header.num_hashes.get();
        let num_words = header.num_words.get();
        if num_hashes == 0 || num_hashes > MAX_BLOOM_HASHES {
            return Err(corrupt(1, "filter hash count out of range"));
        }
        // fastbloom requires at least one word; the count must match the bytes exactly
        // (checked by division, so `num_words * 8` cannot overflow).
        if num_words == 0 || words.len() % 8 != 0 || words.len() / 8 != num_words as usize {
            return Err(corrupt(5, "filter word count does not match its length"));
        }
        Ok(FilterLayout {
            kind,
            bloom: Some(BloomLayout {
                num_hashes,
                num_words,
                words,
            }),
        })
    }

    /// The format byte as stored.
    pub fn format(&self) -> u8 {
        match self.kind {
            FilterKind::None => FILTER_FORMAT_NONE,
            FilterKind::Keys => FILTER_FORMAT_FASTBLOOM_XXH3,
            FilterKind::KeysAndPrefixes { .. } => FILTER_FORMAT_FASTBLOOM_XXH3_PREFIX,
            FilterKind::Unknown(b) => b,
        }
    }

    /// The prefix length of a format-2 filter.
    pub fn prefix_len(&self) -> Option<usize> {
        match self.kind {
            FilterKind::KeysAndPrefixes { prefix_len } => Some(prefix_len as usize),
            _ => None,
        }
    }
}

/// A filter, read in place: its words are a slice of the table's bytes (for an open table, of
/// the file mapping), or none.
#[derive(Debug, Clone)]
pub struct Filter {
    /// `8 * num_words` bytes: bit `i` is bit `i % 8` of byte `i / 8` (the little-endian words).
    words: Bytes,
    /// Hash functions; 0 for "no filter".
    num_hashes: u32,
    /// Format 2: the length of the key prefixes the filter also holds.
    prefix_len: Option<usize>,
}

impl Filter {
    /// A filter that answers "maybe" for every key.
    pub fn none() -> Filter {
        Filter {
            words: Bytes::new(),
            num_hashes: 0,
            prefix_len: None,
        }
    }

    /// Checks a filter payload and keeps its words where they are (`payload` is the filter
    /// block's contents, a slice of the table's bytes). Unknown formats yield [`Filter::none`]; a
    /// known format with bad framing is corruption (offsets relative to the payload start).
    pub fn decode(payload: &Bytes) -> Result<Filter> {
        let layout = FilterLayout::parse(payload)?;
        let Some(bloom) = &layout.bloom else {
            if let FilterKind::Unknown(format) = layout.kind {
                tracing::warn!(
                    format,
                    "unknown SSTable filter format; reading without the filter"
                );
            }
            return Ok(Filter::none());
        };
        Ok(Filter {
            words: payload.slice_ref(bloom.words),
            num_hashes: bloom.num_hashes,
            prefix_len: layout.prefix_len(),
        })
    }

    /// False only if `h` was certainly never added: every one of its bits must be set.
    #[inline]
    fn contains_hash(&self, h: u64) -> bool {
        let num_bits = self.words.len() as u64 * 8;
        bit_indices(h, self.num_hashes, num_bits).all(|bit| {
            // Indices are below `num_bits`, so the byte exists; a missing one reads as "maybe".
            self.words
                .get((bit >> 3) as usize)
                .is_none_or(|b| b >> (bit & 7) & 1 == 1)
        })
    }

    /// False only if no key starting with `prefix` was added: needs a format-2 filter and a
    /// prefix at least as long as the filter's prefix length (otherwise: "maybe").
    #[inline]
    pub fn may_contain_prefix(&self, prefix: &[u8]) -> bool {
        match self.prefix_len {
            Some(n) if self.is_present() => prefix
                .get(..n)
                .is_none_or(|p| self.contains_hash(super::key_hash(p))),
            _ => true,
        }
    }

    /// The prefix length of a format-2 filter.
    #[cfg(any(test, feature = "internal"))]
    pub fn prefix_len(&self) -> Option<usize> {
        self.prefix_len
    }

    /// False only if `key_hash` (= `xxh3_64(user_key)`) was certainly never added.
    #[inline]
    pub fn may_contain_hash(&self, key_hash: u64) -> bool {
        !self.is_present() || self.contains_hash(key_hash)
    }

    /// True when a real filter is present.
    pub fn is_present(&self) -> bool {
        self.num_hashes > 0 && !self.words.is_empty()
    }

    /// Bytes of the filter's bit array (in the table's bytes, not the heap).
    #[cfg(any(test, feature = "internal"))]
    pub fn size_bytes(&self) -> usize {
        self.words.len()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)]
    use super::*;
    use crate::sstable::key_hash;

    #[test]
    fn round_trip_and_false_positive_rate() {
        let mut b = FilterBuilder::new(0.01, 1000);
        for i in 0..1000u32 {
            b.add_hash(key_hash(&i.to_le_bytes()));
        }
        let payload = b.finish().to_vec();
        let f = Filter::decode(&Bytes::from(payload.clone())).unwrap();
        assert!(f.is_present());
        for i in 0..1000u32 {
            assert!(f.may_contain_hash(key_hash(&i.to_le_bytes())));
        }
        let fps = (1000..11000u32)
            .filter(|i| f.may_contain_hash(key_hash(&i.to_le_bytes())))
            .count();
        assert!(fps < 300, "false positives {fps} / 10000");
    }

    #[test]
    fn prefix_filter_answers_prefix_queries() {
        let mut b = FilterBuilder::new(0.01, 1000).with_prefix_len(4);
        for i in 0..1000u32 {
            // Prefixes "p000".."p099", ten keys each, in key order.
            b.add_key(format!("p{:03}-{i:04}", i / 10).as_bytes());
        }
        let payload = b.finish().to_vec();
        assert_eq!(payload[0], FILTER_FORMAT_FASTBLOOM_XXH3_PREFIX);
        let f = Filter::decode(&Bytes::from(payload.clone())).unwrap();
        assert_eq!(f.prefix_len(), Some(4));
        for i in 0..1000u32 {
            let k = format!("p{:03}-{i:04}", i / 10);
            assert!(f.may_contain_hash(key_hash(k.as_bytes())));
            assert!(f.may_contain_prefix(&k.as_bytes()[..4]));
            assert!(f.may_contain_prefix(&k.as_bytes()[..6]));
        }
        // Shorter than the prefix length: cannot tell.
        assert!(f.may_contain_prefix(b"q"));
        let misses = (100..1100u32)
            .filter(|i| f.may_contain_prefix(format!("p{i:03}").as_bytes()))
            .count();
        assert!(misses < 100, "false positives {misses} / 1000");
        // Damaged prefix length is corruption, not a panic.
        let mut bad = payload.clone();
        bad[9..13].copy_from_slice(&0u32.to_le_bytes());
        assert!(Filter::decode(&Bytes::from(bad)).is_err());
        assert!(Filter::decode(&Bytes::copy_from_slice(&payload[..11])).is_err());
        // A format-1 filter answers "maybe" for every prefix.
        let mut b = FilterBuilder::new(0.01, 10);
        b.add_key(b"p000-0001");
        let f = Filter::decode(&Bytes::from(b.finish().to_vec())).unwrap();
        assert!(f.may_contain_prefix(b"zzzz"));
    }

    #[test]
    fn disabled_and_unknown_formats_admit_everything() {
        let b = FilterBuilder::new(0.0, 10);
        assert_eq!(b.finish().to_vec(), vec![FILTER_FORMAT_NONE]);
        let f = Filter::decode(&Bytes::from_static(&[FILTER_FORMAT_NONE])).unwrap();
        assert!(!f.is_present() && f.may_contain_hash(1));
        let f = Filter::decode(&Bytes::from_static(&[200, 1, 2, 3])).unwrap();
        assert!(!f.is_present() && f.may_contain_hash(1));
    }

    #[test]
    fn damaged_framing_is_corruption() {
        let mut b = FilterBuilder::new(0.1, 10);
        b.add_hash(1);
        let payload = b.finish().to_vec();
        for cut in 0..payload.len() {
            assert!(Filter::decode(&Bytes::copy_from_slice(&payload[..cut])).is_err(), "cut {cut}");
        }
        let mut p = payload.clone();
        p[1..5].copy_from_slice(&0u32.to_le_bytes());
        assert!(Filter::decode(&Bytes::from(p)).is_err());
        let mut p = payload;
        p[5..9].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(Filter::decode(&Bytes::from(p)).is_err());
    }

    /// The payload fastbloom 0.17 itself builds for `hashes` (the format's reference layout).
    fn fastbloom_payload(hashes: &[u64], fp: f64, prefix_len: Option<u32>) -> Vec<u8> {
        let mut f = fastbloom::BloomFilter::with_false_pos(fp.max(1e-9)).expected_items(hashes.len());
        for &h in hashes {
            f.insert_hash(h);
        }
        let mut out = vec![if prefix_len.is_some() {
            FILTER_FORMAT_FASTBLOOM_XXH3_PREFIX
        } else {
            FILTER_FORMAT_FASTBLOOM_XXH3
        }];
        out.extend_from_slice(&f.num_hashes().to_le_bytes());
        out.extend_from_slice(&(f.as_slice().len() as u32).to_le_bytes());
        if let Some(p) = prefix_len {
            out.extend_from_slice(&p.to_le_bytes());
        }
        for w in f.as_slice() {
            out.extend_from_slice(&w.to_le_bytes());
        }
        out
    }

    /// The builder writes exactly the bytes fastbloom 0.17 writes (so tables of either build read
    /// the same), and the in-place probe answers exactly as fastbloom's `contains_hash` for
    /// present and absent hashes.
    #[test]
    fn filters_are_fastbloom_0_17_bit_for_bit() {
        let mut rng = 0x2545_f491_4f6c_dd1d_u64;
        let mut next = move || {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            rng
        };
        for (n, fp) in [(1, 0.01), (7, 0.5), (1000, 0.01), (5000, 0.0082), (3000, 1e-12)] {
            let hashes: Vec<u64> = (0..n).map(|_| next()).collect();
            let mut b = FilterBuilder::new(fp, n);
            for &h in &hashes {
                b.add_hash(h);
            }
            let ours = b.finish().to_vec();
            assert_eq!(ours, fastbloom_payload(&hashes, fp, None), "n {n} fp {fp}");
            let f = Filter::decode(&Bytes::from(ours.clone())).unwrap();
            let words: Vec<u64> = ours[FILTER_HEADER_SIZE..]
                .chunks_exact(8)
                .map(|c| u64::from_le_bytes(c.try_into().unwrap()))
                .collect();
            let reference = fastbloom::BloomFilter::from_vec(words)
                .hashes(u32::from_le_bytes(ours[1..5].try_into().unwrap()));
            for &h in &hashes {
                assert!(f.may_contain_hash(h));
            }
            let mut positives = 0;
            for _ in 0..20_000 {
                let h = next();
                assert_eq!(f.may_contain_hash(h), reference.contains_hash(h), "hash {h:#x}");
                positives += usize::from(f.may_contain_hash(h));
            }
            if n >= 1000 {
                assert!(positives < 20_000 * 3 / 100 + 100, "{positives} false positives (n {n})");
            }
        }
        // Format 2 carries the prefix length; its bits are laid out the same way.
        let mut b = FilterBuilder::new(0.01, 100).with_prefix_len(3);
        let mut items = Vec::new();
        for i in 0..100u32 {
            let k = format!("k{:02}{i:03}", i / 10);
            b.add_key(k.as_bytes());
            items.push(key_hash(k.as_bytes()));
            if i % 10 == 0 {
                items.push(key_hash(&k.as_bytes()[..3]));
            }
        }
        assert_eq!(b.finish().to_vec(), fastbloom_payload(&items, 0.01, Some(3)));
    }

    /// A decoded filter reads its words where the payload lies: no copy.
    #[test]
    fn filter_words_stay_in_the_payload() {
        let mut b = FilterBuilder::new(0.01, 1000);
        for i in 0..1000u32 {
            b.add_hash(key_hash(&i.to_le_bytes()));
        }
        let payload = Bytes::from(b.finish().to_vec());
        let f = Filter::decode(&payload).unwrap();
        let range = payload.as_ptr_range();
        assert!(range.contains(&f.words.as_ptr()));
        assert_eq!(f.size_bytes(), payload.len() - FILTER_HEADER_SIZE);
    }
}
