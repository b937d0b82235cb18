//! Bytes RocksDB wrote into each level, from its MANIFEST.
//!
//! RocksDB's own per-level compaction table (`rocksdb.cfstats`, column `Write(GB)`) rounds to
//! 0.1 GB, and its exact per-level map is not in the C API. The MANIFEST is exact and always
//! current (RocksDB syncs it before a new version is used): a log of version edits, each adding
//! files (level, number, size) and deleting (level, number). A file number seen for the first
//! time is a new table written into that level (by a flush: level 0, or by a compaction: its
//! output level); a number seen again is a trivial move, which writes nothing. So the bytes
//! written into level L are the sizes of the files first added at L, the same count as lsmkv's
//! `LevelStats::bytes_written`.
//!
//! Format (RocksDB 7.8, `db/log_format.h` and `db/version_edit.cc`): 32 KiB blocks of records,
//! each `crc32c (4) | length (2, LE) | type (1) | payload`; types 1 full, 2 first, 3 middle, 4
//! last; a block's tail shorter than a header is zero padding, and a zero type ends the log
//! (preallocated space). A record is a version edit: varint32 tags, each followed by its fields.
//! Checksums are not verified: the file is read while RocksDB may be appending to it, so a record
//! cut short at the end is ignored rather than an error.

use std::collections::HashMap;

const BLOCK: usize = 32 * 1024;
const HEADER: usize = 7;

/// What the edits added up to.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ManifestLevels {
    /// Bytes of new files per level (index = level).
    pub written: Vec<u64>,
    /// Live files: number -> (level, size).
    pub live: HashMap<u64, (u32, u64)>,
    /// Edits read.
    pub edits: u64,
}

impl ManifestLevels {
    /// Live files and their bytes per level (index = level).
    pub fn live_by_level(&self) -> Vec<(u64, u64)> {
        let mut v: Vec<(u64, u64)> = Vec::new();
        for &(level, size) in self.live.values() {
            let l = level as usize;
            if v.len() <= l {
                v.resize(l + 1, (0, 0));
            }
            v[l].0 += 1;
            v[l].1 += size;
        }
        v
    }
}

/// The records of a log (payloads of complete records only).
pub fn records(log: &[u8]) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut partial: Option<Vec<u8>> = None;
    let mut pos = 0;
    while pos < log.len() {
        let left_in_block = BLOCK - pos % BLOCK;
        if left_in_block < HEADER {
            pos += left_in_block;
            continue;
        }
        let Some(h) = log.get(pos..pos + HEADER) else {
            break;
        };
        let len = usize::from(u16::from_le_bytes([h[4], h[5]]));
        let kind = h[6];
        let Some(payload) = log.get(pos + HEADER..pos + HEADER + len) else {
            break; // cut short: being written
        };
        pos += HEADER + len;
        match kind {
            0 => break, // zeroes: preallocated space after the last record
            1 => out.push(payload.to_vec()),
            2 => partial = Some(payload.to_vec()),
            3 => {
                if let Some(p) = partial.as_mut() {
                    p.extend_from_slice(payload);
                }
            }
            4 => {
                if let Some(mut p) = partial.take() {
                    p.extend_from_slice(payload);
                    out.push(p);
                }
            }
            _ => break,
        }
    }
    out
}

/// Reads one field after another out of an edit.
struct Fields<'a>(&'a [u8]);

impl Fields<'_> {
    fn varint(&mut self) -> Result<u64, String> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let (&b, rest) = self.0.split_first().ok_or("varint cut short")?;
            self.0 = rest;
            v |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err("varint too long".into())
    }

    fn u32(&mut self) -> Result<u32, String> {
        u32::try_from(self.varint()?).map_err(|_| "varint32 out of range".into())
    }

    fn slice(&mut self) -> Result<&[u8], String> {
        let n = usize::try_from(self.varint()?).map_err(|e| e.to_string())?;
        if n > self.0.len() {
            return Err("slice cut short".into());
        }
        let (s, rest) = self.0.split_at(n);
        self.0 = rest;
        Ok(s)
    }
}

/// Tags of `db/version_edit.h`.
mod tag {
    pub const COMPARATOR: u32 = 1;
    pub const LOG_NUMBER: u32 = 2;
    pub const NEXT_FILE_NUMBER: u32 = 3;
    pub const LAST_SEQUENCE: u32 = 4;
    pub const COMPACT_CURSOR: u32 = 5;
    pub const DELETED_FILE: u32 = 6;
    pub const NEW_FILE: u32 = 7;
    pub const PREV_LOG_NUMBER: u32 = 9;
    pub const MIN_LOG_NUMBER_TO_KEEP: u32 = 10;
    pub const NEW_FILE2: u32 = 100;
    pub const NEW_FILE3: u32 = 102;
    pub const NEW_FILE4: u32 = 103;
    pub const COLUMN_FAMILY: u32 = 200;
    pub const COLUMN_FAMILY_ADD: u32 = 201;
    pub const COLUMN_FAMILY_DROP: u32 = 202;
    pub const MAX_COLUMN_FAMILY: u32 = 203;
    pub const IN_ATOMIC_GROUP: u32 = 300;
    /// A tag with this bit is followed by one length-prefixed field and may be skipped.
    pub const SAFE_IGNORE_MASK: u32 = 1 << 13;
    /// Ends the custom fields of a `NEW_FILE4`.
    pub const TERMINATE: u32 = 1;
}

/// A file an edit adds: (level, number, size).
type Added = (u32, u64, u64);
/// A file an edit deletes: (level, number).
type Deleted = (u32, u64);

/// The files one edit adds and deletes.
fn decode_edit(edit: &[u8]) -> Result<(Vec<Added>, Vec<Deleted>), String> {
    let mut f = Fields(edit);
    let (mut added, mut deleted) = (Vec::new(), Vec::new());
    while !f.0.is_empty() {
        let t = f.u32()?;
        match t {
            tag::COMPARATOR | tag::COLUMN_FAMILY_ADD => {
                f.slice()?;
            }
            tag::LOG_NUMBER
            | tag::NEXT_FILE_NUMBER
            | tag::LAST_SEQUENCE
            | tag::PREV_LOG_NUMBER
            | tag::MIN_LOG_NUMBER_TO_KEEP
            | tag::COLUMN_FAMILY
            | tag::MAX_COLUMN_FAMILY
            | tag::IN_ATOMIC_GROUP => {
                f.varint()?;
            }
            tag::COLUMN_FAMILY_DROP => {}
            tag::COMPACT_CURSOR => {
                f.u32()?;
                f.slice()?;
            }
            tag::DELETED_FILE => deleted.push((f.u32()?, f.varint()?)),
            tag::NEW_FILE | tag::NEW_FILE2 | tag::NEW_FILE3 | tag::NEW_FILE4 => {
                let level = f.u32()?;
                let number = f.varint()?;
                if t == tag::NEW_FILE3 {
                    f.u32()?; // path id
                }
                let size = f.varint()?;
                f.slice()?; // smallest internal key
                f.slice()?; // largest
                if t != tag::NEW_FILE {
                    f.varint()?; // smallest seqno
                    f.varint()?; // largest seqno
                }
                if t == tag::NEW_FILE4 {
                    loop {
                        let custom = f.u32()?;
                        if custom == tag::TERMINATE {
                            break;
                        }
                        f.slice()?;
                    }
                }
                added.push((level, number, size));
            }
            t if t & tag::SAFE_IGNORE_MASK != 0 => {
                f.slice()?;
            }
            t => return Err(format!("version edit tag {t} not understood")),
        }
    }
    Ok((added, deleted))
}

/// Replays a MANIFEST: the bytes written per level and the live files. An edit this parser does
/// not understand is an error (blob files, for one), not a silent miscount.
pub fn replay(log: &[u8]) -> Result<ManifestLevels, String> {
    let mut m = ManifestLevels::default();
    let mut seen = std::collections::HashSet::new();
    for (i, rec) in records(log).iter().enumerate() {
        let (added, deleted) = decode_edit(rec).map_err(|e| format!("MANIFEST edit {i}: {e}"))?;
        for (level, number) in deleted {
            if m.live.get(&number).is_some_and(|&(l, _)| l == level) {
                m.live.remove(&number);
            }
        }
        for (level, number, size) in added {
            if seen.insert(number) {
                let l = level as usize;
                if m.written.len() <= l {
                    m.written.resize(l + 1, 0);
                }
                m.written[l] += size;
            }
            m.live.insert(number, (level, size));
        }
        m.edits += 1;
    }
    Ok(m)
}

/// Reads the current MANIFEST of the database in `dir` (named by `CURRENT`) and replays it.
#[cfg(feature = "rocksdb")]
pub fn read(dir: &std::path::Path) -> Result<ManifestLevels, String> {
    let current = std::fs::read_to_string(dir.join("CURRENT"))
        .map_err(|e| format!("{}: {e}", dir.join("CURRENT").display()))?;
    let path = dir.join(current.trim());
    let bytes = std::fs::read(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    replay(&bytes)
}

#[cfg(test)]
pub mod tests {
    use super::*;

    fn varint(mut v: u64, out: &mut Vec<u8>) {
        while v >= 0x80 {
            out.push((v as u8) | 0x80);
            v >>= 7;
        }
        out.push(v as u8);
    }

    fn slice(s: &[u8], out: &mut Vec<u8>) {
        varint(s.len() as u64, out);
        out.extend_from_slice(s);
    }

    /// A `NEW_FILE4` as RocksDB 7.8 writes it (with one custom field before the terminator).
    pub fn new_file4(level: u32, number: u64, size: u64, out: &mut Vec<u8>) {
        varint(103, out);
        varint(u64::from(level), out);
        varint(number, out);
        varint(size, out);
        slice(b"aaaaaaaa\x01\x00\x00\x00\x00\x00\x00\x00", out);
        slice(b"zzzzzzzz\x01\x00\x00\x00\x00\x00\x00\x00", out);
        varint(5, out);
        varint(9, out);
        varint(2, out); // custom field: need compaction
        slice(&[1], out);
        varint(1, out); // terminate
    }

    pub fn deleted(level: u32, number: u64, out: &mut Vec<u8>) {
        varint(6, out);
        varint(u64::from(level), out);
        varint(number, out);
    }

    /// Edits framed as log records, split across blocks as RocksDB's log writer does.
    pub fn log_of(edits: &[Vec<u8>]) -> Vec<u8> {
        let mut log = Vec::new();
        for e in edits {
            let mut rest = &e[..];
            let mut first = true;
            loop {
                let left = BLOCK - log.len() % BLOCK;
                if left < HEADER {
                    log.resize(log.len() + left, 0);
                    continue;
                }
                let n = rest.len().min(left - HEADER);
                let last = n == rest.len();
                let kind = match (first, last) {
                    (true, true) => 1,
                    (true, false) => 2,
                    (false, false) => 3,
                    (false, true) => 4,
                };
                log.extend_from_slice(&[0, 0, 0, 0]);
                log.extend_from_slice(&(n as u16).to_le_bytes());
                log.push(kind);
                log.extend_from_slice(&rest[..n]);
                rest = &rest[n..];
                first = false;
                if last {
                    break;
                }
            }
        }
        log
    }

    #[test]
    fn flushes_compactions_and_moves_are_counted_where_they_wrote() {
        let mut open = Vec::new();
        varint(1, &mut open);
        slice(b"leveldb.BytewiseComparator", &mut open);
        varint(2, &mut open);
        varint(4, &mut open);
        varint(3, &mut open);
        varint(6, &mut open);
        varint(4, &mut open);
        varint(0, &mut open);
        // A forward-compatible field (the DB id) is skipped.
        varint(u64::from(tag::SAFE_IGNORE_MASK) + 1, &mut open);
        slice(b"2f1e4c1a-db-id", &mut open);
        // Two flushes into L0.
        let (mut f1, mut f2) = (Vec::new(), Vec::new());
        new_file4(0, 10, 1000, &mut f1);
        varint(200, &mut f2); // column family 0
        varint(0, &mut f2);
        new_file4(0, 11, 1100, &mut f2);
        // A compaction of both into L3, two outputs.
        let mut c = Vec::new();
        deleted(0, 10, &mut c);
        deleted(0, 11, &mut c);
        new_file4(3, 12, 1500, &mut c);
        new_file4(3, 13, 500, &mut c);
        // A trivial move of #13 to L4: no bytes written.
        let mut mv = Vec::new();
        deleted(3, 13, &mut mv);
        new_file4(4, 13, 500, &mut mv);
        // A compaction cursor and a big edit that spans blocks.
        let mut big = Vec::new();
        varint(5, &mut big);
        varint(3, &mut big);
        slice(&[b'k'; 40_000], &mut big);
        new_file4(0, 14, 700, &mut big);
        let log = log_of(&[open, f1, f2, c, mv, big]);
        assert!(log.len() > BLOCK, "the last edit spans two blocks");
        let m = replay(&log).unwrap();
        assert_eq!(m.edits, 6);
        assert_eq!(m.written, vec![1000 + 1100 + 700, 0, 0, 1500 + 500]);
        let mut live: Vec<_> = m.live.iter().map(|(n, (l, s))| (*n, *l, *s)).collect();
        live.sort_unstable();
        assert_eq!(live, vec![(12, 3, 1500), (13, 4, 500), (14, 0, 700)]);
        assert_eq!(
            m.live_by_level(),
            vec![(1, 700), (0, 0), (0, 0), (1, 1500), (1, 500)]
        );
        // Preallocated zeroes after the log, and a record cut short, end it quietly.
        let mut padded = log.clone();
        padded.resize(log.len() + 5000, 0);
        assert_eq!(replay(&padded).unwrap(), m);
        let cut = &log[..log.len() - 3];
        assert_eq!(replay(cut).unwrap().edits, 5);
    }

    #[test]
    fn edits_it_cannot_read_are_errors() {
        let mut blob = Vec::new();
        varint(400, &mut blob);
        slice(b"blob file", &mut blob);
        let e = replay(&log_of(&[blob])).unwrap_err();
        assert!(e.contains("tag 400"), "{e}");
        let mut short = Vec::new();
        new_file4(1, 5, 10, &mut short);
        short.truncate(short.len() - 4);
        assert!(replay(&log_of(&[short])).is_err());
    }
}
