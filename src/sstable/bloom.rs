//! The filter block: a fastbloom filter over `xxh3_64(user_key)`.
//!
//! ```text
//! filter payload = format u8 | num_hashes u32 LE | num_words u32 LE | word u64 LE * num_words
//! ```
//!
//! Keys are hashed by us (xxh3, platform-stable) and inserted/queried by hash, so fastbloom's own
//! `Hash`-based hashing never touches the format. Its bit layout (how a hash maps to bit indices)
//! is still fastbloom's, which is why the version is pinned and a golden table is read back in the
//! tests. Format [`FILTER_FORMAT_NONE`] (or any unknown format byte) means "no filter": the table
//! is read without one, which costs I/O but never loses a key. See `format-spec/sstable.md`
//! ("Filter block").

use std::path::Path;

use fastbloom::BloomFilter;
use zerocopy::FromBytes;
use zerocopy::little_endian::U32;

use crate::error::{Error, Result};
use crate::format::MAX_KEY_SIZE;
use crate::format::sst::{
    BLOOM_SEED, FILTER_FORMAT_FASTBLOOM_XXH3, FILTER_FORMAT_FASTBLOOM_XXH3_PREFIX,
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
    hashes: Vec<u64>,
    false_positive_rate: f64,
    /// 0: whole keys only (format 1); else also key prefixes of this length (format 2).
    prefix_len: usize,
    last_prefix: Vec<u8>,
}

impl FilterBuilder {
    /// `false_positive_rate` outside (0, 1) disables the filter.
    pub fn new(false_positive_rate: f64, expected_keys: usize) -> FilterBuilder {
        let enabled = false_positive_rate > 0.0 && false_positive_rate < 1.0;
        FilterBuilder {
            hashes: if enabled {
                Vec::with_capacity(expected_keys.min(1 << 20))
            } else {
                Vec::new()
            },
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
        self.hashes.push(super::key_hash(user_key));
        if self.prefix_len > 0
            && let Some(p) = user_key.get(..self.prefix_len)
            && p != self.last_prefix.as_slice()
        {
            self.hashes.push(super::key_hash(p));
            self.last_prefix.clear();
            self.last_prefix.extend_from_slice(p);
        }
    }

    /// Adds one distinct user key's hash (call once per user key, not per version).
    #[cfg(any(test, feature = "internal"))]
    pub fn add_hash(&mut self, hash: u64) {
        if self.false_positive_rate > 0.0 {
            self.hashes.push(hash);
        }
    }

    /// The filter block payload.
    pub fn finish(&self) -> Vec<u8> {
        if self.false_positive_rate <= 0.0 || self.hashes.is_empty() {
            return vec![FILTER_FORMAT_NONE];
        }
        // Very small rates would make huge filters; 1e-9 is far below anything useful.
        let fp = self.false_positive_rate.max(1e-9);
        let mut f = BloomFilter::with_false_pos(fp)
            .seed(&BLOOM_SEED)
            .expected_items(self.hashes.len());
        for &h in &self.hashes {
            f.insert_hash(h);
        }
        if self.prefix_len > 0 {
            encode_with_prefix(&f, crate::format::len_u32(self.prefix_len))
        } else {
            encode(&f)
        }
    }
}

/// Serializes a filter in format [`FILTER_FORMAT_FASTBLOOM_XXH3_PREFIX`].
pub fn encode_with_prefix(f: &BloomFilter, prefix_len: u32) -> Vec<u8> {
    let words = f.as_slice();
    let mut out = Vec::with_capacity(FILTER_PREFIX_HEADER_SIZE + 8 * words.len());
    out.push(FILTER_FORMAT_FASTBLOOM_XXH3_PREFIX);
    out.extend_from_slice(&f.num_hashes().to_le_bytes());
    out.extend_from_slice(&crate::format::len_u32(words.len()).to_le_bytes());
    out.extend_from_slice(&prefix_len.to_le_bytes());
    for w in words {
        out.extend_from_slice(&w.to_le_bytes());
    }
    out
}

/// Serializes a filter in format [`FILTER_FORMAT_FASTBLOOM_XXH3`].
pub fn encode(f: &BloomFilter) -> Vec<u8> {
    let words = f.as_slice();
    let mut out = Vec::with_capacity(FILTER_HEADER_SIZE + 8 * words.len());
    out.push(FILTER_FORMAT_FASTBLOOM_XXH3);
    out.extend_from_slice(&f.num_hashes().to_le_bytes());
    out.extend_from_slice(&crate::format::len_u32(words.len()).to_le_bytes());
    for w in words {
        out.extend_from_slice(&w.to_le_bytes());
    }
    out
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

/// A decoded filter, or none.
#[derive(Debug, Clone)]
pub struct Filter {
    bloom: Option<BloomFilter>,
    /// Format 2: the length of the key prefixes the filter also holds.
    prefix_len: Option<usize>,
}

impl Filter {
    /// A filter that answers "maybe" for every key.
    pub fn none() -> Filter {
        Filter {
            bloom: None,
            prefix_len: None,
        }
    }

    /// Heap bytes of the filter's bit array (it is decoded out of the file at open).
    pub fn heap_bytes(&self) -> u64 {
        self.bloom.as_ref().map_or(0, |b| (b.num_bits() / 8) as u64)
    }

    /// Decodes a filter payload. Unknown formats yield [`Filter::none`]; a known format with bad
    /// framing is corruption (offsets relative to the payload start).
    pub fn decode(payload: &[u8]) -> Result<Filter> {
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
        let bits: Vec<u64> = bloom
            .words
            .chunks_exact(8)
            .map(|c| {
                let mut w = [0u8; 8];
                w.copy_from_slice(c);
                u64::from_le_bytes(w)
            })
            .collect();
        let bloom = BloomFilter::from_vec(bits)
            .seed(&BLOOM_SEED)
            .hashes(bloom.num_hashes);
        Ok(Filter {
            bloom: Some(bloom),
            prefix_len: layout.prefix_len(),
        })
    }

    /// False only if no key starting with `prefix` was added: needs a format-2 filter and a
    /// prefix at least as long as the filter's prefix length (otherwise: "maybe").
    #[inline]
    pub fn may_contain_prefix(&self, prefix: &[u8]) -> bool {
        match (&self.bloom, self.prefix_len) {
            (Some(b), Some(n)) => prefix
                .get(..n)
                .is_none_or(|p| b.contains_hash(super::key_hash(p))),
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
        self.bloom
            .as_ref()
            .is_none_or(|b| b.contains_hash(key_hash))
    }

    /// True when a real filter is present.
    #[cfg(any(test, feature = "internal"))]
    pub fn is_present(&self) -> bool {
        self.bloom.is_some()
    }

    /// Heap bytes held by the filter.
    #[cfg(any(test, feature = "internal"))]
    pub fn size_bytes(&self) -> usize {
        self.bloom.as_ref().map_or(0, |b| b.as_slice().len() * 8)
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
        let payload = b.finish();
        let f = Filter::decode(&payload).unwrap();
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
        let payload = b.finish();
        assert_eq!(payload[0], FILTER_FORMAT_FASTBLOOM_XXH3_PREFIX);
        let f = Filter::decode(&payload).unwrap();
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
        assert!(Filter::decode(&bad).is_err());
        assert!(Filter::decode(&payload[..11]).is_err());
        // A format-1 filter answers "maybe" for every prefix.
        let mut b = FilterBuilder::new(0.01, 10);
        b.add_key(b"p000-0001");
        let f = Filter::decode(&b.finish()).unwrap();
        assert!(f.may_contain_prefix(b"zzzz"));
    }

    #[test]
    fn disabled_and_unknown_formats_admit_everything() {
        let b = FilterBuilder::new(0.0, 10);
        assert_eq!(b.finish(), vec![FILTER_FORMAT_NONE]);
        let f = Filter::decode(&[FILTER_FORMAT_NONE]).unwrap();
        assert!(!f.is_present() && f.may_contain_hash(1));
        let f = Filter::decode(&[200, 1, 2, 3]).unwrap();
        assert!(!f.is_present() && f.may_contain_hash(1));
    }

    #[test]
    fn damaged_framing_is_corruption() {
        let mut b = FilterBuilder::new(0.1, 10);
        b.add_hash(1);
        let payload = b.finish();
        for cut in 0..payload.len() {
            assert!(Filter::decode(&payload[..cut]).is_err(), "cut {cut}");
        }
        let mut p = payload.clone();
        p[1..5].copy_from_slice(&0u32.to_le_bytes());
        assert!(Filter::decode(&p).is_err());
        let mut p = payload;
        p[5..9].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(Filter::decode(&p).is_err());
    }
}
