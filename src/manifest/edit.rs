//! [`VersionEdit`]: one change to the set of live tables, and its tagged encoding (the payload of a
//! manifest record). See `format-spec/manifest.md`, "Edit encoding".
//!
//! An edit is a sequence of fields `tag (varint) | body_len (varint) | body`. Tag values are
//! explicit and never renumbered or reused ([`tag`]). Every field carries its length, so a reader
//! can step over a field it does not know; it may do so only when the tag has
//! [`tag::SKIPPABLE_BIT`] set, otherwise an unknown tag is corruption (it may change meaning).

use std::cmp::Ordering;
use std::ops::Deref;
use std::path::Path;

use crate::error::{Error, Result};
use crate::format::MAX_KEY_SIZE;
use crate::format::codec::{Cursor, put_length_prefixed, put_varint};
use crate::key::{MAX_SEQNO, cmp_internal, decode_internal};
use crate::sstable::TableSummary;

use crate::format::manifest::{MAX_KEYSPACE_NAME, MAX_LEVELS};

pub use crate::format::manifest::tag;

/// Metadata of one live SSTable: where it is (`number`, `level`) and what its builder reported
/// about it ([`TableSummary`]: size, entry counts, key and seqno range). The summary's fields read
/// directly through `Deref` (`meta.file_size`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileMeta {
    /// File number: the table is `files::sst_name(number)`.
    pub number: u64,
    /// The keyspace the table belongs to (0: `default`).
    pub keyspace: u32,
    /// LSM level, below [`MAX_LEVELS`].
    pub level: u32,
    /// Size, entry counts, internal-key range and seqno range of the table.
    pub summary: TableSummary,
}

impl Deref for FileMeta {
    type Target = TableSummary;
    fn deref(&self) -> &TableSummary {
        &self.summary
    }
}

impl FileMeta {
    /// Checks the invariants of a live table's metadata; `Err` says what is wrong.
    ///
    /// Requires: level < [`MAX_LEVELS`]; both keys are internal keys (8-byte trailer, user key at
    /// most `MAX_KEY_SIZE`); smallest <= largest in internal-key order;
    /// min_seqno <= max_seqno <= `MAX_SEQNO`; tombstones <= entries.
    pub fn check(&self) -> std::result::Result<(), String> {
        if self.level >= MAX_LEVELS {
            return Err(format!("level {} is not below {MAX_LEVELS}", self.level));
        }
        let (small_key, small_trailer) = check_internal_key(&self.smallest_key, "smallest")?;
        let (large_key, large_trailer) = check_internal_key(&self.largest_key, "largest")?;
        if cmp_internal(small_key, small_trailer, large_key, large_trailer) == Ordering::Greater {
            return Err("smallest key sorts after largest key".into());
        }
        if self.min_seqno > self.max_seqno {
            return Err(format!(
                "min_seqno {} exceeds max_seqno {}",
                self.min_seqno, self.max_seqno
            ));
        }
        if self.max_seqno > MAX_SEQNO {
            return Err(format!("max_seqno {} exceeds 56 bits", self.max_seqno));
        }
        if self.tombstones > self.entries {
            return Err(format!(
                "{} tombstones exceed {} entries",
                self.tombstones, self.entries
            ));
        }
        Ok(())
    }

    fn encode_body(&self, out: &mut Vec<u8>) {
        put_varint(out, u64::from(self.level));
        put_varint(out, self.number);
        put_varint(out, self.file_size);
        put_length_prefixed(out, &self.smallest_key);
        put_length_prefixed(out, &self.largest_key);
        put_varint(out, self.min_seqno);
        put_varint(out, self.max_seqno);
        put_varint(out, self.entries);
        put_varint(out, self.tombstones);
    }

    fn decode_body(c: &mut Cursor<'_>) -> Result<FileMeta> {
        // Field by field in encoding order (struct fields evaluate in source order).
        let level = c.varint32()?;
        let number = c.varint()?;
        Ok(FileMeta {
            level,
            number,
            keyspace: 0,
            summary: TableSummary {
                file_size: c.varint()?,
                smallest_key: c.length_prefixed()?.to_vec(),
                largest_key: c.length_prefixed()?.to_vec(),
                min_seqno: c.varint()?,
                max_seqno: c.varint()?,
                entries: c.varint()?,
                tombstones: c.varint()?,
            },
        })
    }
}

fn check_internal_key<'a>(
    encoded: &'a [u8],
    which: &str,
) -> std::result::Result<(&'a [u8], u64), String> {
    let (user_key, trailer) = decode_internal(encoded)
        .ok_or_else(|| format!("{which} key is shorter than its 8-byte trailer"))?;
    if user_key.len() > MAX_KEY_SIZE {
        return Err(format!(
            "{which} key of {} bytes exceeds the maximum of {MAX_KEY_SIZE}",
            user_key.len()
        ));
    }
    Ok((user_key, trailer))
}

/// A keyspace as the manifest records it: id, name and its options in their own encoding
/// (`crate::options::KeyspaceOptions::encode`; opaque here).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct KeyspaceDef {
    pub id: u32,
    pub name: String,
    pub options: Vec<u8>,
}

/// One change to the manifest state. `None` fields leave the state's value as it is.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct VersionEdit {
    /// Keyspaces created (or, for a live id of the same name, given new options). Applied first.
    pub keyspaces: Vec<KeyspaceDef>,
    /// Keyspaces dropped; every table of theirs must be in `deleted` of the same edit.
    pub dropped_keyspaces: Vec<u32>,
    /// Raises a keyspace's flushed seqno: (keyspace id, seqno).
    pub flushed: Vec<(u32, u64)>,
    /// Raises the next unallocated keyspace id.
    pub next_keyspace_id: Option<u32>,
    /// Tables that become live.
    pub added: Vec<FileMeta>,
    /// Tables that stop being live, as (level, number). Applied before `added`, so an edit may move
    /// a table between levels by deleting and re-adding its number.
    pub deleted: Vec<(u32, u64)>,
    /// Raises the next unallocated file number to at least this.
    pub next_file_number: Option<u64>,
    /// Raises the last durable sequence number to at least this.
    pub last_seqno: Option<u64>,
    /// Raises the WAL number below which segments are no longer needed to at least this.
    pub log_number: Option<u64>,
}

fn put_field(out: &mut Vec<u8>, tag: u64, body: &[u8]) {
    put_varint(out, tag);
    put_length_prefixed(out, body);
}

fn put_varint_field(out: &mut Vec<u8>, tag: u64, value: u64) {
    let mut body = Vec::with_capacity(10);
    put_varint(&mut body, value);
    put_field(out, tag, &body);
}

impl VersionEdit {
    /// Appends the encoding: next_file_number, last_seqno, log_number (each if set), then every
    /// deleted file, then every added file, in the order they are held.
    pub fn encode(&self, out: &mut Vec<u8>) {
        if let Some(n) = self.next_file_number {
            put_varint_field(out, tag::NEXT_FILE_NUMBER, n);
        }
        if let Some(s) = self.last_seqno {
            put_varint_field(out, tag::LAST_SEQNO, s);
        }
        if let Some(n) = self.log_number {
            put_varint_field(out, tag::LOG_NUMBER, n);
        }
        if let Some(n) = self.next_keyspace_id {
            put_varint_field(out, tag::NEXT_KEYSPACE_ID, u64::from(n));
        }
        let mut body = Vec::new();
        for k in &self.keyspaces {
            body.clear();
            put_varint(&mut body, u64::from(k.id));
            put_length_prefixed(&mut body, k.name.as_bytes());
            put_length_prefixed(&mut body, &k.options);
            put_field(out, tag::KEYSPACE, &body);
        }
        for &id in &self.dropped_keyspaces {
            put_varint_field(out, tag::DROP_KEYSPACE, u64::from(id));
        }
        for &(id, seqno) in &self.flushed {
            body.clear();
            put_varint(&mut body, u64::from(id));
            put_varint(&mut body, seqno);
            put_field(out, tag::FLUSHED_SEQNO, &body);
        }
        for &(level, number) in &self.deleted {
            body.clear();
            put_varint(&mut body, u64::from(level));
            put_varint(&mut body, number);
            put_field(out, tag::DELETED_FILE, &body);
        }
        for f in &self.added {
            body.clear();
            if f.keyspace == 0 {
                f.encode_body(&mut body);
                put_field(out, tag::ADDED_FILE, &body);
            } else {
                put_varint(&mut body, u64::from(f.keyspace));
                f.encode_body(&mut body);
                put_field(out, tag::ADDED_FILE_IN_KEYSPACE, &body);
            }
        }
    }

    /// Decodes an edit from `buf`, which starts at byte `offset` of `file` (used in errors).
    ///
    /// # Errors
    /// [`Error::Corruption`] on truncation, tag 0, an unknown tag without
    /// [`tag::SKIPPABLE_BIT`], a repeated singular field, a field body with bytes left over, or
    /// table metadata failing [`FileMeta::check`].
    pub fn decode(buf: &[u8], file: &Path, offset: u64) -> Result<VersionEdit> {
        let mut c = Cursor::new(buf, file, offset);
        let mut edit = VersionEdit::default();
        while !c.is_empty() {
            let field_offset = c.offset();
            let bad = |reason: String| Error::corruption(file, field_offset, reason);
            let t = c.varint()?;
            let body = c.length_prefixed()?;
            // The body ends at the cursor, so it starts `body.len()` bytes before it.
            let body_offset = c.offset().saturating_sub(body.len() as u64);
            let mut b = Cursor::new(body, file, body_offset);
            match t {
                tag::NEXT_FILE_NUMBER => set_once(&mut edit.next_file_number, b.varint()?)
                    .map_err(|()| bad("next_file_number given twice".into()))?,
                tag::LAST_SEQNO => {
                    let seqno = b.varint()?;
                    if seqno > MAX_SEQNO {
                        return Err(bad(format!("last_seqno {seqno} exceeds 56 bits")));
                    }
                    set_once(&mut edit.last_seqno, seqno)
                        .map_err(|()| bad("last_seqno given twice".into()))?;
                }
                tag::LOG_NUMBER => set_once(&mut edit.log_number, b.varint()?)
                    .map_err(|()| bad("log_number given twice".into()))?,
                tag::ADDED_FILE | tag::ADDED_FILE_IN_KEYSPACE => {
                    let keyspace = if t == tag::ADDED_FILE_IN_KEYSPACE {
                        b.varint32()?
                    } else {
                        0
                    };
                    let mut meta = FileMeta::decode_body(&mut b)?;
                    meta.keyspace = keyspace;
                    meta.check()
                        .map_err(|r| bad(format!("added file {}: {r}", meta.number)))?;
                    edit.added.push(meta);
                }
                tag::DELETED_FILE => {
                    let level = b.varint32()?;
                    let number = b.varint()?;
                    if level >= MAX_LEVELS {
                        return Err(bad(format!(
                            "deleted file {number}: level {level} is not below {MAX_LEVELS}"
                        )));
                    }
                    edit.deleted.push((level, number));
                }
                tag::KEYSPACE
                | tag::DROP_KEYSPACE
                | tag::FLUSHED_SEQNO
                | tag::NEXT_KEYSPACE_ID => decode_keyspace_field(t, &mut b, &mut edit, &bad)?,
                0 => return Err(bad("tag 0 is invalid".into())),
                t if t & tag::SKIPPABLE_BIT != 0 => continue,
                t => return Err(bad(format!("unknown tag {t} is not marked skippable"))),
            }
            if !b.is_empty() {
                return Err(b.error(format!(
                    "{} unexpected bytes at the end of a tag {t} field",
                    b.remaining()
                )));
            }
        }
        Ok(edit)
    }
}

/// Decodes one of the keyspace fields (tags 8, 9, 10, 12) into `edit`.
fn decode_keyspace_field(
    t: u64,
    b: &mut Cursor<'_>,
    edit: &mut VersionEdit,
    bad: &dyn Fn(String) -> Error,
) -> Result<()> {
    match t {
        tag::KEYSPACE => {
            let id = b.varint32()?;
            let name = std::str::from_utf8(b.length_prefixed()?)
                .map_err(|_| bad("keyspace name is not UTF-8".into()))?
                .to_string();
            if name.is_empty() || name.len() > MAX_KEYSPACE_NAME {
                return Err(bad(format!("keyspace name of {} bytes", name.len())));
            }
            let options = b.length_prefixed()?.to_vec();
            edit.keyspaces.push(KeyspaceDef { id, name, options });
        }
        tag::DROP_KEYSPACE => edit.dropped_keyspaces.push(b.varint32()?),
        tag::FLUSHED_SEQNO => {
            let id = b.varint32()?;
            let seqno = b.varint()?;
            if seqno > MAX_SEQNO {
                return Err(bad(format!("flushed seqno {seqno} exceeds 56 bits")));
            }
            edit.flushed.push((id, seqno));
        }
        _ => {
            let n = b.varint32()?;
            if edit.next_keyspace_id.replace(n).is_some() {
                return Err(bad("next_keyspace_id given twice".into()));
            }
        }
    }
    Ok(())
}

fn set_once(slot: &mut Option<u64>, value: u64) -> std::result::Result<(), ()> {
    if slot.is_some() {
        return Err(());
    }
    *slot = Some(value);
    Ok(())
}

/// Metadata of a small valid table, for tests.
#[cfg(test)]
pub(crate) fn test_meta(number: u64, level: u32, lo: &[u8], hi: &[u8]) -> FileMeta {
    use crate::key::{ValueKind, encode_internal, pack_trailer};
    FileMeta {
        number,
        level,
        keyspace: 0,
        summary: TableSummary {
            file_size: 4096 + number,
            smallest_key: encode_internal(lo, pack_trailer(9, ValueKind::Put)),
            largest_key: encode_internal(hi, pack_trailer(3, ValueKind::Delete)),
            min_seqno: 3,
            max_seqno: 9,
            entries: 10,
            tombstones: 2,
        },
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)]
mod tests {
    use super::test_meta as meta;
    use super::*;

    fn round_trip(e: &VersionEdit) {
        let mut buf = Vec::new();
        e.encode(&mut buf);
        let d = VersionEdit::decode(&buf, Path::new("m"), 0).unwrap();
        assert_eq!(&d, e);
    }

    #[test]
    fn edits_round_trip() {
        round_trip(&VersionEdit::default());
        let mut in_ks = meta(301, 2, b"k", b"m");
        in_ks.keyspace = 4;
        round_trip(&VersionEdit {
            added: vec![meta(7, 0, b"a", b"z"), meta(300, 3, b"", b""), in_ks],
            deleted: vec![(1, 5), (0, u64::MAX)],
            next_file_number: Some(301),
            last_seqno: Some(MAX_SEQNO),
            log_number: Some(0),
            keyspaces: vec![KeyspaceDef {
                id: 4,
                name: "users".into(),
                options: vec![6, 1, 9],
            }],
            dropped_keyspaces: vec![2, 3],
            flushed: vec![(0, 17), (4, 9)],
            next_keyspace_id: Some(5),
        });
        round_trip(&VersionEdit {
            last_seqno: Some(12),
            ..VersionEdit::default()
        });
    }

    #[test]
    fn skippable_unknown_tags_are_skipped_others_rejected() {
        let mut buf = Vec::new();
        put_field(&mut buf, tag::SKIPPABLE_BIT | 9, b"future stuff");
        put_varint_field(&mut buf, tag::LOG_NUMBER, 4);
        let e = VersionEdit::decode(&buf, Path::new("m"), 0).unwrap();
        assert_eq!(e.log_number, Some(4));

        for t in [
            0,
            tag::RESERVED_COMPARATOR,
            tag::RESERVED_COMPACTION_STRATEGY,
            63,
            128,
        ] {
            let mut buf = Vec::new();
            put_varint_field(&mut buf, tag::LOG_NUMBER, 4);
            put_field(&mut buf, t, b"x");
            let err = VersionEdit::decode(&buf, Path::new("m"), 100).unwrap_err();
            // The bad field starts after the 3-byte log_number field.
            assert!(
                matches!(err, Error::Corruption { offset: 103, .. }),
                "tag {t}: {err}"
            );
        }
    }

    #[test]
    fn semantic_errors_are_corruption() {
        let mut bad = vec![];
        put_varint_field(&mut bad, tag::NEXT_FILE_NUMBER, 1);
        put_varint_field(&mut bad, tag::NEXT_FILE_NUMBER, 2);
        let mut trailing = vec![];
        put_field(&mut trailing, tag::LOG_NUMBER, &[1, 2]);
        let mut big_seqno = vec![];
        put_varint_field(&mut big_seqno, tag::LAST_SEQNO, MAX_SEQNO + 1);
        let mut inverted = vec![];
        VersionEdit {
            added: vec![meta(1, 0, b"z", b"a")],
            ..VersionEdit::default()
        }
        .encode(&mut inverted);
        let mut deep = vec![];
        VersionEdit {
            deleted: vec![(MAX_LEVELS, 1)],
            ..VersionEdit::default()
        }
        .encode(&mut deep);
        for buf in [bad, trailing, big_seqno, inverted, deep] {
            let err = VersionEdit::decode(&buf, Path::new("m"), 0).unwrap_err();
            assert!(err.is_corruption(), "{err}");
        }
    }

    #[test]
    fn meta_check() {
        assert!(meta(1, 0, b"a", b"b").check().is_ok());
        let mut m = meta(1, 0, b"a", b"b");
        m.summary.smallest_key = b"short".to_vec();
        assert!(m.check().is_err());
        let mut m = meta(1, 0, b"a", b"b");
        m.summary.tombstones = 11;
        assert!(m.check().is_err());
        let mut m = meta(1, 0, b"a", b"b");
        m.summary.min_seqno = 10;
        assert!(m.check().is_err());
        assert!(meta(1, MAX_LEVELS, b"a", b"b").check().is_err());
        let big = vec![b'k'; MAX_KEY_SIZE + 1];
        assert!(meta(1, 0, b"a", &big).check().is_err());
    }

    #[test]
    fn every_truncation_and_flip_is_error_or_ok() {
        let e = VersionEdit {
            added: vec![meta(7, 1, b"apple", b"melon")],
            deleted: vec![(0, 4)],
            next_file_number: Some(8),
            last_seqno: Some(99),
            log_number: Some(6),
            keyspaces: vec![KeyspaceDef {
                id: 1,
                name: "ks".into(),
                options: Vec::new(),
            }],
            flushed: vec![(1, 3)],
            ..VersionEdit::default()
        };
        let mut buf = Vec::new();
        e.encode(&mut buf);
        for cut in 0..buf.len() {
            // A cut at a field boundary is a valid shorter edit; elsewhere it must be corruption.
            match VersionEdit::decode(&buf[..cut], Path::new("m"), 0) {
                Ok(_) => {}
                Err(err) => assert!(err.is_corruption()),
            }
        }
        for i in 0..buf.len() {
            for bit in 0..8 {
                let mut b = buf.clone();
                b[i] ^= 1 << bit;
                if let Err(err) = VersionEdit::decode(&b, Path::new("m"), 0) {
                    assert!(err.is_corruption());
                }
            }
        }
    }
}
