//! The footer: the fixed-size last 52 bytes of every SSTable.
//!
//! | offset | size | field |
//! |---|---|---|
//! | 0 | 12 | filter handle (offset u64, len u32) |
//! | 12 | 12 | index handle |
//! | 24 | 12 | meta handle |
//! | 36 | 4 | format_version u32 |
//! | 40 | 4 | crc32c of bytes 0..40 |
//! | 44 | 8 | magic u64 |
//!
//! Checks in order: magic (else corruption: not an SSTable or truncated), format version (else
//! [`crate::Error::UnsupportedVersion`]: a newer format may lay out the footer differently, so its
//! crc is not checked), crc (else corruption). See `format-spec/sstable.md` ("Footer").

use std::path::Path;

use zerocopy::little_endian::{U32, U64};
use zerocopy::{FromBytes, IntoBytes};

use crate::error::{Error, Result};
use crate::format::crc::crc32c;
use crate::format::sst::{
    BLOCK_TRAILER_SIZE, FOOTER_SIZE, TABLE_FORMAT_VERSION, TABLE_MAGIC, TABLE_MIN_READ_VERSION,
};

pub use crate::format::sst::{FOOTER_CRC_COVERAGE, Footer, Handle};

impl Handle {
    pub fn new(offset: u64, len: u32) -> Handle {
        Handle {
            offset: U64::new(offset),
            len: U32::new(len),
        }
    }
}

impl Footer {
    /// A version-1 footer with its crc filled in.
    pub fn new(filter: Handle, index: Handle, meta: Handle) -> Footer {
        let mut f = Footer {
            filter,
            index,
            meta,
            format_version: U32::new(TABLE_FORMAT_VERSION),
            crc: U32::new(0),
            magic: U64::new(TABLE_MAGIC),
        };
        f.crc = U32::new(f.compute_crc());
        f
    }

    fn compute_crc(&self) -> u32 {
        crc32c(
            self.as_bytes()
                .get(..FOOTER_CRC_COVERAGE)
                .unwrap_or_default(),
        )
    }

    /// Reads and checks the footer at the end of `file`. Errors name `path` and absolute offsets.
    pub fn decode(file: &[u8], path: &Path) -> Result<Footer> {
        let start = file.len().saturating_sub(FOOTER_SIZE) as u64;
        let (_, f) = Footer::ref_from_suffix(file)
            .map_err(|_| Error::corruption(path, 0, "file shorter than an SSTable footer"))?;
        if f.magic.get() != TABLE_MAGIC {
            return Err(Error::corruption(
                path,
                start + std::mem::offset_of!(Footer, magic) as u64,
                "bad SSTable magic",
            ));
        }
        if !(TABLE_MIN_READ_VERSION..=TABLE_FORMAT_VERSION).contains(&f.format_version.get()) {
            return Err(Error::UnsupportedVersion {
                file: path.to_path_buf(),
                found: f.format_version.get(),
                supported: TABLE_FORMAT_VERSION,
            });
        }
        if f.crc.get() != f.compute_crc() {
            return Err(Error::corruption(
                path,
                start + FOOTER_CRC_COVERAGE as u64,
                "footer checksum mismatch",
            ));
        }
        Ok(*f)
    }
}

/// The rule for the blocks the footer points to (meta, index and filter lie in this order before
/// the footer): a block at `offset` of on-disk length `len` must hold at least its trailer and end
/// at or before `limit` (the start of the next one, or of the footer). Returns its end. Shared by
/// [`crate::sstable::Table`] and `lsmkv::debug::sst`.
pub fn aux_block_end(offset: u64, len: u64, limit: u64) -> Option<u64> {
    // checked_add: a hostile offset near u64::MAX must not wrap below `limit`.
    offset
        .checked_add(len)
        .filter(|&end| end <= limit && len >= BLOCK_TRAILER_SIZE as u64)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)]
    use super::*;

    #[test]
    fn round_trip_and_checks() {
        let f = Footer::new(Handle::new(1, 2), Handle::new(3, 4), Handle::new(5, 6));
        let mut file = vec![0xAAu8; 10];
        file.extend_from_slice(f.as_bytes());
        let p = Path::new("t.sst");
        let g = Footer::decode(&file, p).unwrap();
        assert_eq!(g.meta, Handle::new(5, 6));
        for i in 10..file.len() {
            let mut d = file.clone();
            d[i] ^= 1;
            let e = Footer::decode(&d, p).unwrap_err();
            if (46..50).contains(&i) {
                assert!(matches!(e, Error::UnsupportedVersion { .. }), "{i}: {e}");
            } else {
                assert!(e.is_corruption(), "{i}: {e}");
            }
        }
        let mut d = file.clone();
        d[10 + 36..10 + 40].copy_from_slice(&3u32.to_le_bytes());
        assert!(matches!(
            Footer::decode(&d, p).unwrap_err(),
            Error::UnsupportedVersion {
                found: 3,
                supported: 2,
                ..
            }
        ));
        // Version 1 footers (the same layout) are read; 0 is not a version.
        for (version, readable) in [(0u32, false), (1, true)] {
            let mut f1 = f;
            f1.format_version = U32::new(version);
            f1.crc = U32::new(f1.compute_crc());
            assert_eq!(Footer::decode(f1.as_bytes(), p).is_ok(), readable, "{version}");
        }
        assert!(Footer::decode(&file[..40], p).unwrap_err().is_corruption());
    }
}
