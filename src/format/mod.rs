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
/// may be this large; anything claiming more is corruption.
pub const MAX_BLOCK_SIZE: usize = MAX_VALUE_SIZE_LIMIT + MAX_KEY_SIZE + 64;

/// Kind of an internal entry. Stored in the low byte of the 8-byte trailer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[repr(u8)]
pub enum ValueKind {
    /// A tombstone: the key is deleted as of this seqno.
    Delete = 0,
    /// A value.
    Put = 1,
}

impl ValueKind {
    /// The largest kind value; used when seeking so that all kinds of a seqno sort after the seek key.
    pub const MAX: u8 = 1;

    /// Parses the on-disk byte.
    pub fn from_u8(b: u8) -> Option<ValueKind> {
        match b {
            0 => Some(ValueKind::Delete),
            1 => Some(ValueKind::Put),
            _ => None,
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
}
