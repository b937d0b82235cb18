//! The one owner of on-disk facts: every magic number, format version, record tag, enumerated
//! value, size and fixed-layout (zerocopy) struct of every file type, plus the checked byte cursor
//! used by all parsers.
//!
//! - this module: values shared by every file type (internal-key trailer, key/value limits,
//!   [`ValueKind`]);
//! - [`wal`]: WAL segment and record headers (`format-spec/wal.md`);
//! - [`sst`]: SSTable footer, block trailer, entry header, index entry, meta block, filter headers
//!   (`format-spec/sstable.md`);
//! - [`manifest`]: manifest file and record headers, edit tags, CURRENT limits
//!   (`format-spec/manifest.md`);
//! - [`files`]: file names (`format-spec/files.md`); [`codec`], [`crc`]: varints, cursor, crc32c.
//!
//! The encoders and decoders live beside the engine code (`wal/`, `sstable/`, `manifest/`), and
//! `debug/` (inspect, verify) and `fuzz/` call the same ones. Everything here is part of the file
//! format described in `format-spec/` (history: `format-spec/versions.md`);
//! `tests/format_spec.rs` holds the two together. Never renumber an enumerated value and never
//! reuse a retired one.

// On-disk integers have fixed widths: outside tests, a narrowing `as` must be a checked
// conversion.
#![cfg_attr(not(test), warn(clippy::cast_possible_truncation))]

pub mod codec;
pub mod crc;
pub mod manifest;
pub mod sst;
pub mod wal;

/// `n` as an on-disk `u32` length or count. Every caller holds `n` below 4 GiB by construction
/// (keys are at most [`MAX_KEY_SIZE`], values at most [`MAX_VALUE_SIZE_LIMIT`], blocks at most
/// [`MAX_BLOCK_SIZE`]); a larger `n` means a limit was not enforced, a bug that must stop the
/// write rather than store a wrong length.
///
/// # Panics
/// If `n > u32::MAX`.
#[inline]
pub fn len_u32(n: usize) -> u32 {
    let v = u32::try_from(n);
    assert!(v.is_ok(), "on-disk length {n} does not fit in u32");
    v.unwrap_or(u32::MAX)
}

/// Size of the trailer after the user key of an internal key: `(seqno << 8) | kind`, u64 LE.
/// Spec: `format-spec/sstable.md` ("Internal keys").
pub const TRAILER_SIZE: usize = 8;

/// Largest sequence number that fits in a trailer (56 bits).
pub const MAX_SEQNO: u64 = (1 << 56) - 1;

/// Largest user key the engine accepts, in bytes.
pub const MAX_KEY_SIZE: usize = 64 * 1024;

/// Hard upper bound for a value, whatever `Options::max_value_size` says: lengths on disk are
/// 32-bit, and a record must fit in one WAL record.
pub const MAX_VALUE_SIZE_LIMIT: usize = 1 << 30;

/// Largest uncompressed block the reader will allocate for. A block holding a single huge entry
/// may be this large (the 64 bytes cover the entry header, an expiring put's 8-byte expiry and
/// the restart array); anything claiming more is corruption.
pub const MAX_BLOCK_SIZE: usize = MAX_VALUE_SIZE_LIMIT + MAX_KEY_SIZE + 64;

/// Kind of an internal entry. Stored in the low byte of the 8-byte trailer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[repr(u8)]
pub enum ValueKind {
    /// A tombstone: the key is deleted as of this seqno.
    Delete = 0,
    /// A value.
    Put = 1,
    /// A range tombstone: every key in `[key, end)` is deleted as of this seqno. In a batch the
    /// value holds the end bound ([`RangeEnd`] encoding); it never appears among a table's or a
    /// memtable's point entries.
    RangeDelete = 2,
    /// A value with an expiry: the stored value is `expires_at` (u64 LE, milliseconds since the
    /// Unix epoch) followed by the user's value. At or after `expires_at` the key reads as absent.
    PutExpiring = 3,
}

impl ValueKind {
    /// The largest kind value; used when seeking so that all kinds of a seqno sort after the seek key.
    pub const MAX: u8 = 3;

    /// Parses the on-disk byte.
    pub fn from_u8(b: u8) -> Option<ValueKind> {
        match b {
            0 => Some(ValueKind::Delete),
            1 => Some(ValueKind::Put),
            2 => Some(ValueKind::RangeDelete),
            3 => Some(ValueKind::PutExpiring),
            _ => None,
        }
    }

    /// Whether an entry of this kind carries a value (puts, and the end bound of a range delete).
    pub fn has_value(self) -> bool {
        !matches!(self, ValueKind::Delete)
    }

    /// Whether this is a point value (a put, expiring or not).
    pub fn is_put(self) -> bool {
        matches!(self, ValueKind::Put | ValueKind::PutExpiring)
    }
}

/// Size of the `expires_at` prefix of a [`ValueKind::PutExpiring`] value.
pub const EXPIRY_SIZE: usize = 8;

/// The longest value an entry with `trailer` may store: [`MAX_VALUE_SIZE_LIMIT`], plus the
/// 8-byte expiry for an expiring put (value size limits apply to the user's value).
pub fn max_stored_value_len(trailer: u64) -> usize {
    if trailer & 0xff == ValueKind::PutExpiring as u64 {
        MAX_VALUE_SIZE_LIMIT + EXPIRY_SIZE
    } else {
        MAX_VALUE_SIZE_LIMIT
    }
}

/// Splits a [`ValueKind::PutExpiring`] stored value into `(expires_at_ms, user_value)`; `None`
/// when it is shorter than its 8-byte prefix (corruption).
pub fn split_expiring(stored: &[u8]) -> Option<(u64, &[u8])> {
    let (head, rest) = stored.split_first_chunk::<EXPIRY_SIZE>()?;
    Some((u64::from_le_bytes(*head), rest))
}

/// The end bound of a range tombstone as stored in a batch entry's value (and in an SSTable's
/// range-tombstone block): one tag byte, `0` followed by the exclusive end key, or `1` alone for
/// "no end" (the tombstone reaches past every key).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum RangeEnd {
    /// Keys below this one (exclusive).
    Before(Vec<u8>),
    /// Every key from the start on.
    Unbounded,
}

/// Tag byte of [`RangeEnd::Before`].
pub const RANGE_END_BEFORE: u8 = 0;
/// Tag byte of [`RangeEnd::Unbounded`].
pub const RANGE_END_UNBOUNDED: u8 = 1;

impl RangeEnd {
    /// Appends the encoding.
    pub fn encode(&self, out: &mut Vec<u8>) {
        match self {
            RangeEnd::Before(k) => {
                out.push(RANGE_END_BEFORE);
                out.extend_from_slice(k);
            }
            RangeEnd::Unbounded => out.push(RANGE_END_UNBOUNDED),
        }
    }

    /// Parses an encoding; `Err` says why it is malformed.
    pub fn decode(b: &[u8]) -> std::result::Result<RangeEnd, &'static str> {
        match b.split_first() {
            Some((&RANGE_END_BEFORE, k)) if k.len() <= MAX_KEY_SIZE + 1 => {
                Ok(RangeEnd::Before(k.to_vec()))
            }
            Some((&RANGE_END_BEFORE, _)) => Err("range end key too long"),
            Some((&RANGE_END_UNBOUNDED, [])) => Ok(RangeEnd::Unbounded),
            Some((&RANGE_END_UNBOUNDED, _)) => Err("bytes after an unbounded range end"),
            Some(_) => Err("unknown range end tag"),
            None => Err("empty range end"),
        }
    }

    /// Whether `key` lies in `[start, self)`.
    pub fn contains(&self, start: &[u8], key: &[u8]) -> bool {
        start <= key && self.is_above(key)
    }

    /// Whether `key` lies below this end.
    pub fn is_above(&self, key: &[u8]) -> bool {
        match self {
            RangeEnd::Before(e) => key < e.as_slice(),
            RangeEnd::Unbounded => true,
        }
    }
}

/// File name helpers. See `format-spec/files.md`.
pub mod files {
    /// Name of an SSTable file.
    pub fn sst_name(number: u64) -> String {
        format!("{number:06}.sst")
    }
    /// Name of a WAL segment.
    pub fn wal_name(number: u64) -> String {
        format!("{number:06}.wal")
    }
    /// Name of a manifest log.
    pub fn manifest_name(number: u64) -> String {
        format!("MANIFEST-{number:06}")
    }
    /// The file naming the live manifest.
    pub const CURRENT: &str = "CURRENT";
    /// The lock file held while a `Db` is open.
    pub const LOCK: &str = "LOCK";

    /// What kind of file a directory entry is, by name.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub enum FileKind {
        Sst(u64),
        Wal(u64),
        Manifest(u64),
        Current,
        Lock,
        /// A temporary file left by an interrupted write (`*.tmp`).
        Temp,
    }

    /// Classifies a file name; `None` for names the engine does not own.
    pub fn parse_name(name: &str) -> Option<FileKind> {
        if name == CURRENT {
            return Some(FileKind::Current);
        }
        if name == LOCK {
            return Some(FileKind::Lock);
        }
        if name.ends_with(".tmp") {
            return Some(FileKind::Temp);
        }
        if let Some(n) = name.strip_prefix("MANIFEST-") {
            return n.parse().ok().map(FileKind::Manifest);
        }
        if let Some(n) = name.strip_suffix(".sst") {
            return n.parse().ok().map(FileKind::Sst);
        }
        if let Some(n) = name.strip_suffix(".wal") {
            return n.parse().ok().map(FileKind::Wal);
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::files::*;

    #[test]
    fn names_round_trip() {
        assert_eq!(parse_name(&sst_name(7)), Some(FileKind::Sst(7)));
        assert_eq!(parse_name(&wal_name(1234567)), Some(FileKind::Wal(1234567)));
        assert_eq!(parse_name(&manifest_name(3)), Some(FileKind::Manifest(3)));
        assert_eq!(parse_name("CURRENT"), Some(FileKind::Current));
        assert_eq!(parse_name("x.tmp"), Some(FileKind::Temp));
        assert_eq!(parse_name("notes.txt"), None);
        assert_eq!(parse_name("abc.sst"), None);
    }

    #[test]
    fn expiring_puts_may_store_their_expiry_on_top_of_the_value_limit() {
        use super::{EXPIRY_SIZE, MAX_BLOCK_SIZE, MAX_KEY_SIZE, MAX_VALUE_SIZE_LIMIT, ValueKind};
        let t = |kind: ValueKind| (9 << 8) | kind as u64;
        assert_eq!(
            super::max_stored_value_len(t(ValueKind::Put)),
            MAX_VALUE_SIZE_LIMIT
        );
        let most = super::max_stored_value_len(t(ValueKind::PutExpiring));
        assert_eq!(most, MAX_VALUE_SIZE_LIMIT + EXPIRY_SIZE);
        // A block holding one such entry (16-byte header, key, value, one restart, the count)
        // is still within what the reader accepts.
        assert!(16 + MAX_KEY_SIZE + most + 4 + 4 <= MAX_BLOCK_SIZE);
        assert_eq!(
            super::split_expiring(&[1, 0, 0, 0, 0, 0, 0, 0, b'v']),
            Some((1, &b"v"[..]))
        );
        assert_eq!(super::split_expiring(&[1; EXPIRY_SIZE - 1]), None);
    }
}
