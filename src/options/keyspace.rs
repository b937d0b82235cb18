//! [`KeyspaceOptions`]: what a keyspace may set differently from the database, and its encoding in
//! the manifest (`format-spec/manifest.md`, "Keyspace options").

// On-disk integers have fixed widths: outside tests, a narrowing `as` must be a checked
// conversion.
#![cfg_attr(not(test), warn(clippy::cast_possible_truncation))]

use std::path::Path;
use std::time::Duration;

use crate::error::Result;
use crate::format::codec::{Cursor, put_length_prefixed, put_varint};
use crate::options::{CompactionStrategy, Compression, Options};

/// Options of one keyspace. Every field left `None` takes the database's value
/// ([`Options`]). Persisted in the manifest, so a keyspace keeps its options across reopens;
/// [`crate::Db::keyspace_with`] on an existing keyspace replaces them (new tables and new
/// writes use the new ones).
///
/// ```
/// use std::time::Duration;
/// use lsmkv::{Compression, KeyspaceOptions};
/// let opts = KeyspaceOptions::default()
///     .compression(Compression::None)
///     .block_size(16 << 10)
///     .ttl(Duration::from_secs(3600));
/// assert_eq!(opts.ttl_value(), Some(Duration::from_secs(3600)));
/// ```
#[derive(Debug, Clone, Default, PartialEq)]
pub struct KeyspaceOptions {
    compression: Option<Compression>,
    bloom_false_positive_rate: Option<f64>,
    prefix_bloom_length: Option<usize>,
    block_size: Option<usize>,
    compaction_strategy: Option<CompactionStrategy>,
    ttl: Option<Duration>,
}

/// Field tags of the encoding; never renumbered or reused.
mod tag {
    pub const COMPRESSION: u64 = 1;
    pub const BLOOM_FALSE_POSITIVE_RATE: u64 = 2;
    pub const PREFIX_BLOOM_LENGTH: u64 = 3;
    pub const BLOCK_SIZE: u64 = 4;
    pub const COMPACTION_STRATEGY: u64 = 5;
    pub const TTL_MILLIS: u64 = 6;
    /// An unknown field with this bit may be skipped.
    pub const SKIPPABLE_BIT: u64 = 0x40;
}

impl KeyspaceOptions {
    /// Block compression of this keyspace's tables.
    pub fn compression(mut self, c: Compression) -> Self {
        self.compression = Some(c);
        self
    }

    /// Target false-positive rate of this keyspace's bloom filters, in [0, 1) (0: no filter).
    pub fn bloom_false_positive_rate(mut self, rate: f64) -> Self {
        self.bloom_false_positive_rate = Some(rate);
        self
    }

    /// Prefix bloom length (see [`Options::prefix_bloom_length`]).
    pub fn prefix_bloom_length(mut self, len: usize) -> Self {
        self.prefix_bloom_length = Some(len);
        self
    }

    /// Target uncompressed data block size in bytes.
    pub fn block_size(mut self, bytes: usize) -> Self {
        self.block_size = Some(bytes);
        self
    }

    /// How this keyspace's tables are compacted.
    pub fn compaction_strategy(mut self, s: CompactionStrategy) -> Self {
        self.compaction_strategy = Some(s);
        self
    }

    /// Time to live of every write to this keyspace: a value written with a plain `put` expires
    /// `ttl` after it was written (the expiry is stored with the entry, so changing the TTL later
    /// affects new writes only; `put_with_ttl` sets a different one per write). Expired entries
    /// read as absent and compaction drops them.
    pub fn ttl(mut self, ttl: Duration) -> Self {
        self.ttl = Some(ttl);
        self
    }

    /// The keyspace's TTL, if it has one.
    pub fn ttl_value(&self) -> Option<Duration> {
        self.ttl
    }

    /// The compression it sets, if any.
    pub fn compression_value(&self) -> Option<Compression> {
        self.compression
    }

    /// The bloom false-positive rate it sets, if any.
    pub fn bloom_false_positive_rate_value(&self) -> Option<f64> {
        self.bloom_false_positive_rate
    }

    /// The prefix bloom length it sets, if any.
    pub fn prefix_bloom_length_value(&self) -> Option<usize> {
        self.prefix_bloom_length
    }

    /// The block size it sets, if any.
    pub fn block_size_value(&self) -> Option<usize> {
        self.block_size
    }

    /// The compaction strategy it sets, if any.
    pub fn compaction_strategy_value(&self) -> Option<CompactionStrategy> {
        self.compaction_strategy
    }

    /// `db` with this keyspace's overrides applied.
    pub(crate) fn apply_to(&self, db: &Options) -> Options {
        let mut o = db.clone();
        if let Some(c) = self.compression {
            o.compression = c;
        }
        if let Some(r) = self.bloom_false_positive_rate {
            o.bloom_false_positive_rate = r;
        }
        if let Some(n) = self.prefix_bloom_length {
            o.prefix_bloom_length = n;
        }
        if let Some(n) = self.block_size {
            o.block_size = n;
        }
        if let Some(s) = self.compaction_strategy {
            o.compaction_strategy = s;
        }
        o
    }

    /// Checks the values against the same rules as [`Options::validate`].
    pub(crate) fn validate(&self, db: &Options) -> Result<()> {
        self.apply_to(db).validate()
    }

    /// The manifest encoding: fields `tag varint | body_len varint | body`, only those set.
    pub(crate) fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        let mut field = |tag: u64, body: &[u8]| {
            put_varint(&mut out, tag);
            put_length_prefixed(&mut out, body);
        };
        let varint = |v: u64| {
            let mut b = Vec::new();
            put_varint(&mut b, v);
            b
        };
        if let Some(c) = self.compression {
            field(tag::COMPRESSION, &[compression_byte(c)]);
        }
        if let Some(r) = self.bloom_false_positive_rate {
            field(tag::BLOOM_FALSE_POSITIVE_RATE, &r.to_bits().to_le_bytes());
        }
        if let Some(n) = self.prefix_bloom_length {
            field(tag::PREFIX_BLOOM_LENGTH, &varint(n as u64));
        }
        if let Some(n) = self.block_size {
            field(tag::BLOCK_SIZE, &varint(n as u64));
        }
        if let Some(s) = self.compaction_strategy {
            field(tag::COMPACTION_STRATEGY, &[strategy_byte(s)]);
        }
        if let Some(t) = self.ttl {
            let ms = u64::try_from(t.as_millis()).unwrap_or(u64::MAX);
            field(tag::TTL_MILLIS, &varint(ms));
        }
        out
    }

    /// Parses [`Self::encode`]'s output, read from `file` at `offset` (for errors).
    ///
    /// # Errors
    /// [`Error::Corruption`] on truncation, an unknown value, or an unknown tag without the
    /// skippable bit.
    pub(crate) fn decode(buf: &[u8], file: &Path, offset: u64) -> Result<KeyspaceOptions> {
        let mut c = Cursor::new(buf, file, offset);
        let mut o = KeyspaceOptions::default();
        while !c.is_empty() {
            let t = c.varint()?;
            let body = c.length_prefixed()?;
            let mut b = Cursor::new(body, file, c.offset().saturating_sub(body.len() as u64));
            let size = |b: &mut Cursor<'_>| -> Result<usize> {
                let v = b.varint()?;
                usize::try_from(v).map_err(|_| b.error("size out of range"))
            };
            match t {
                tag::COMPRESSION => {
                    let v = b.u8()?;
                    o.compression =
                        Some(compression_from(v).ok_or_else(|| b.error("unknown compression"))?);
                }
                tag::BLOOM_FALSE_POSITIVE_RATE => {
                    o.bloom_false_positive_rate = Some(f64::from_bits(u64::from_le_bytes(
                        b.array::<8>()?,
                    )));
                }
                tag::PREFIX_BLOOM_LENGTH => o.prefix_bloom_length = Some(size(&mut b)?),
                tag::BLOCK_SIZE => o.block_size = Some(size(&mut b)?),
                tag::COMPACTION_STRATEGY => {
                    let v = b.u8()?;
                    o.compaction_strategy = Some(
                        strategy_from(v).ok_or_else(|| b.error("unknown compaction strategy"))?,
                    );
                }
                tag::TTL_MILLIS => o.ttl = Some(Duration::from_millis(b.varint()?)),
                t if t & tag::SKIPPABLE_BIT != 0 => continue,
                t => return Err(b.error(format!("unknown keyspace option tag {t}"))),
            }
            if !b.is_empty() {
                return Err(b.error("bytes left in a keyspace option field"));
            }
        }
        Ok(o)
    }
}

fn compression_byte(c: Compression) -> u8 {
    match c {
        Compression::None => 0,
        Compression::Lz4 => 1,
    }
}

fn compression_from(b: u8) -> Option<Compression> {
    match b {
        0 => Some(Compression::None),
        1 => Some(Compression::Lz4),
        _ => None,
    }
}

fn strategy_byte(s: CompactionStrategy) -> u8 {
    match s {
        CompactionStrategy::Leveled => 0,
        CompactionStrategy::Tiered => 1,
        CompactionStrategy::LazyLeveling => 2,
    }
}

fn strategy_from(b: u8) -> Option<CompactionStrategy> {
    match b {
        0 => Some(CompactionStrategy::Leveled),
        1 => Some(CompactionStrategy::Tiered),
        2 => Some(CompactionStrategy::LazyLeveling),
        _ => None,
    }
}

impl KeyspaceOptions {
    /// [`Self::encode`], for the fuzz targets.
    #[cfg(any(test, feature = "internal"))]
    pub fn encode_for_fuzz(&self) -> Vec<u8> {
        self.encode()
    }
}

/// Parses keyspace options from a manifest; used by inspection tools and fuzzing.
#[cfg(any(test, feature = "internal"))]
pub fn decode_options(buf: &[u8]) -> Result<KeyspaceOptions> {
    KeyspaceOptions::decode(buf, Path::new("<keyspace options>"), 0)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn options_round_trip_and_apply() {
        let all = KeyspaceOptions::default()
            .compression(Compression::None)
            .bloom_false_positive_rate(0.05)
            .prefix_bloom_length(4)
            .block_size(8192)
            .compaction_strategy(CompactionStrategy::Tiered)
            .ttl(Duration::from_millis(1500));
        for o in [KeyspaceOptions::default(), all.clone()] {
            let enc = o.encode();
            assert_eq!(decode_options(&enc).unwrap(), o);
        }
        let db = Options::default();
        let eff = all.apply_to(&db);
        assert_eq!(eff.compression, Compression::None);
        assert_eq!(eff.block_size, 8192);
        assert_eq!(eff.compaction_strategy, CompactionStrategy::Tiered);
        assert_eq!(eff.sync_mode, db.sync_mode);
    }

    #[test]
    fn damaged_encodings_are_errors_not_panics() {
        let enc = KeyspaceOptions::default()
            .compression(Compression::Lz4)
            .ttl(Duration::from_secs(9))
            .encode();
        for cut in 0..enc.len() {
            let _ = decode_options(&enc[..cut]);
        }
        assert!(decode_options(&[1, 1, 9]).is_err(), "unknown compression");
        assert!(decode_options(&[9, 0]).is_err(), "unknown tag");
        assert!(decode_options(&[0x49, 1, 0]).is_ok(), "skippable tag");
    }
}
