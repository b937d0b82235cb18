//! Dump of one WAL segment (`format-spec/wal.md`): its records, the write batch in each, and how
//! the segment ends (clean, a torn tail, or damage followed by valid records).

use std::path::{Path, PathBuf};

use serde::Serialize;

use super::{Problem, kind_name, read_file, show, show_truncated, shown_value};
use crate::batch::{BatchEntry, decode_batch};
use crate::format::{RangeEnd, ValueKind};
use crate::wal::{Record, Tail, scan_segment};

/// What to include.
#[derive(Debug, Clone, Copy)]
pub struct WalOptions {
    /// List each batch's entries (else only record summaries).
    pub entries: bool,
    /// Longest value preview, in bytes.
    pub value_preview_bytes: usize,
}

impl Default for WalOptions {
    fn default() -> Self {
        WalOptions {
            entries: true,
            value_preview_bytes: 64,
        }
    }
}

/// One entry of a batch.
#[derive(Debug, Clone, Serialize)]
pub struct WalEntry {
    /// Sequence number of the entry.
    pub seqno: u64,
    /// `put`, `delete`, `put-expiring` or `range-delete`.
    pub kind: String,
    /// Key, escaped (for a range delete, the inclusive start of the range).
    pub key: String,
    /// For a range delete: its exclusive end, escaped, or `null` when the range has no end.
    /// Absent for other kinds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub range_end: Option<Option<String>>,
    /// Value length in bytes (0 for a delete; for `put-expiring`, the user's value, without the
    /// 8-byte expiry).
    pub value_len: u64,
    /// Value preview, escaped, cut after [`WalOptions::value_preview_bytes`].
    pub value: String,
    /// Whether the preview was cut.
    pub value_truncated: bool,
    /// `put-expiring`: when the value expires, as an RFC 3339 UTC time.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<String>,
    /// `put-expiring`: when the value expires, in milliseconds since the Unix epoch.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires_at_ms: Option<u64>,
}

/// One record (one write batch).
#[derive(Debug, Clone, Serialize)]
pub struct WalRecordInfo {
    /// File offset of the record header.
    pub offset: u64,
    /// Length of the record payload (the encoded batch).
    pub payload_bytes: u64,
    /// Sequence number of the batch's first entry, when the batch decoded.
    pub base_seqno: Option<u64>,
    /// Number of entries the batch header declares, when it decoded.
    pub count: Option<u32>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    /// The batch's entries (with [`WalOptions::entries`]).
    pub entries: Vec<WalEntry>,
    /// Set when the record's checksum passed but its batch does not decode.
    pub error: Option<String>,
}

/// How the segment ends.
#[derive(Debug, Clone, Serialize)]
pub struct TailInfo {
    /// `clean` (end of file or zero fill), `sealed` (the seal record of a finished segment,
    /// format version 3 on; it matched the records), `torn` (an incomplete last write, dropped by
    /// recovery) or `corrupt` (damage followed by valid data, or a seal that does not match:
    /// recovery refuses the database).
    pub kind: String,
    /// Where the seal, the torn tail or the damage starts.
    pub offset: Option<u64>,
    /// Bytes from `offset` to the end of the file.
    pub bytes_after: Option<u64>,
}

/// Everything read from one segment.
#[derive(Debug, Clone, Serialize)]
pub struct WalDump {
    /// The file read.
    pub file: PathBuf,
    /// File size in bytes (0 when it could not be read).
    pub file_size: u64,
    /// The segment number from its header (or its name when the header is missing).
    pub number: Option<u64>,
    /// The format version from its header, when the header is intact.
    pub format_version: Option<u32>,
    /// Every record read, in file order.
    pub records: Vec<WalRecordInfo>,
    /// Number of records read.
    pub record_count: u64,
    /// Number of batch entries in them.
    pub entry_count: u64,
    /// Smallest sequence number in the segment.
    pub min_seqno: Option<u64>,
    /// Largest sequence number in the segment.
    pub max_seqno: Option<u64>,
    /// How the segment ends.
    pub tail: TailInfo,
    /// Every problem found; empty for a healthy segment.
    pub problems: Vec<Problem>,
}

/// Reads and checks the segment at `path`. Never fails: problems are collected in the dump.
pub fn dump_wal(path: &Path, opts: WalOptions) -> WalDump {
    match read_file(path) {
        Ok(data) => dump_wal_bytes(path, &data, opts),
        Err(p) => WalDump {
            file: path.to_path_buf(),
            file_size: 0,
            number: None,
            format_version: None,
            records: Vec::new(),
            record_count: 0,
            entry_count: 0,
            min_seqno: None,
            max_seqno: None,
            tail: TailInfo::new("unreadable", None, 0),
            problems: vec![p],
        },
    }
}

/// Totals over the batches read so far.
#[derive(Default)]
struct Totals {
    entry_count: u64,
    min_seqno: Option<u64>,
    max_seqno: Option<u64>,
}

/// Checks a segment held in memory (`path` names it in problems and gives the expected number).
pub fn dump_wal_bytes(path: &Path, data: &[u8], opts: WalOptions) -> WalDump {
    let mut records = Vec::new();
    let mut problems = Vec::new();
    let mut totals = Totals::default();
    let scanned = scan_segment(data, path, |r| {
        records.push(record_info(path, &r, opts, &mut totals, &mut problems));
        Ok(())
    });
    let size = data.len() as u64;
    let (number, tail) = match scanned {
        Ok((number, Tail::Clean)) => (Some(number), TailInfo::new("clean", None, size)),
        Ok((number, Tail::Sealed { offset, .. })) => {
            (Some(number), TailInfo::new("sealed", Some(offset), size))
        }
        Ok((number, Tail::Torn { offset })) => {
            (Some(number), TailInfo::new("torn", Some(offset), size))
        }
        Err(e) => {
            let p = Problem::from_error(path, &e);
            let offset = p.offset;
            problems.push(p);
            (None, TailInfo::new("corrupt", offset, size))
        }
    };
    WalDump {
        file: path.to_path_buf(),
        file_size: size,
        number,
        format_version: crate::wal::header_version(data),
        record_count: records.len() as u64,
        records,
        entry_count: totals.entry_count,
        min_seqno: totals.min_seqno,
        max_seqno: totals.max_seqno,
        tail,
        problems,
    }
}

impl TailInfo {
    /// A tail of `kind` starting at `offset` in a file of `size` bytes.
    fn new(kind: &str, offset: Option<u64>, size: u64) -> TailInfo {
        TailInfo {
            kind: kind.into(),
            offset,
            bytes_after: offset.map(|o| size.saturating_sub(o)),
        }
    }
}

/// Decodes the batch in record `r`; its entries (with `opts.entries`) and damage go into the row,
/// counts into `totals`, problems into `problems`.
fn record_info(
    path: &Path,
    r: &Record<'_>,
    opts: WalOptions,
    totals: &mut Totals,
    problems: &mut Vec<Problem>,
) -> WalRecordInfo {
    let mut info = WalRecordInfo {
        offset: r.offset,
        payload_bytes: r.payload.len() as u64,
        base_seqno: None,
        count: None,
        entries: Vec::new(),
        error: None,
    };
    let mut fail = |info: &mut WalRecordInfo, err: &crate::Error| {
        let p = Problem::from_error(path, err);
        info.error = Some(p.to_string());
        problems.push(p);
    };
    let batch = match decode_batch(r.payload, path, r.payload_offset()) {
        Ok(batch) => batch,
        Err(err) => {
            fail(&mut info, &err);
            return info;
        }
    };
    info.base_seqno = Some(batch.base_seqno);
    info.count = Some(batch.count);
    if batch.count > 0 {
        let last = batch.base_seqno + u64::from(batch.count) - 1;
        let first = batch.base_seqno;
        totals.min_seqno = Some(totals.min_seqno.map_or(first, |m| m.min(first)));
        totals.max_seqno = Some(totals.max_seqno.map_or(last, |m| m.max(last)));
    }
    for (i, e) in batch.iter().enumerate() {
        match e {
            Ok(e) => {
                totals.entry_count += 1;
                if opts.entries {
                    info.entries
                        .push(entry_info(batch.base_seqno + i as u64, &e, opts));
                }
            }
            Err(err) => fail(&mut info, &err),
        }
    }
    info
}

/// The row of one batch entry with sequence number `seqno`.
fn entry_info(seqno: u64, e: &BatchEntry<'_>, opts: WalOptions) -> WalEntry {
    // A decoded expiring put always holds its 8-byte expiry (the batch decoder checks).
    let (shown, expiry) = shown_value(e.kind == ValueKind::PutExpiring, e.value);
    let (value, value_truncated) = show_truncated(shown, opts.value_preview_bytes);
    WalEntry {
        seqno,
        kind: kind_name(Some(e.kind), e.kind as u8),
        key: show(e.key),
        range_end: (e.kind == ValueKind::RangeDelete).then(|| match RangeEnd::decode(e.value) {
            Ok(RangeEnd::Before(end)) => Some(show(&end)),
            // A decoded batch holds only well-formed ends.
            Ok(RangeEnd::Unbounded) | Err(_) => None,
        }),
        value_len: if e.kind.is_put() {
            shown.len() as u64
        } else {
            0
        },
        value,
        value_truncated,
        expires_at: expiry.as_ref().map(|x| x.utc.clone()),
        expires_at_ms: expiry.map(|x| x.millis),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;
    use crate::WriteBatch;
    use crate::format::wal::{RECORD_HEADER_SIZE, SEGMENT_HEADER_SIZE, SegmentHeader};
    use crate::wal::frame_record;
    use zerocopy::IntoBytes;

    fn segment(n: usize) -> Vec<u8> {
        let mut data = SegmentHeader::new(7).as_bytes().to_vec();
        for i in 0..n {
            let mut b = WriteBatch::new();
            b.put(format!("k{i}"), format!("v{i}"));
            b.delete(format!("d{i}"));
            let payload = b.seal(1 + 2 * i as u64).to_vec();
            let offset = data.len() as u64;
            frame_record(&mut data, 7, offset, &payload);
        }
        data
    }

    #[test]
    fn lists_records_and_detects_a_torn_tail() {
        let data = segment(3);
        let d = dump_wal_bytes(Path::new("000007.wal"), &data, WalOptions::default());
        assert!(d.problems.is_empty(), "{:?}", d.problems);
        assert_eq!(d.record_count, 3);
        assert_eq!(d.entry_count, 6);
        assert_eq!(d.tail.kind, "clean");
        assert_eq!(d.records[1].entries[0].key, "k1");
        assert_eq!(d.records[1].entries[1].kind, "delete");
        assert_eq!((d.min_seqno, d.max_seqno), (Some(1), Some(6)));

        let cut = &data[..data.len() - 3];
        let d = dump_wal_bytes(Path::new("000007.wal"), cut, WalOptions::default());
        assert_eq!(d.tail.kind, "torn");
        assert_eq!(d.record_count, 2);
        assert!(d.problems.is_empty());
    }

    #[test]
    fn expiring_puts_show_their_user_value_and_expiry() {
        let mut data = SegmentHeader::new(7).as_bytes().to_vec();
        let mut b = WriteBatch::new();
        b.put_with_ttl("k", "session", std::time::Duration::from_millis(1));
        b.stamp_expiry(1_796_591_223_122);
        b.put("p", "plain");
        let payload = b.seal(1).to_vec();
        let offset = data.len() as u64;
        frame_record(&mut data, 7, offset, &payload);
        let d = dump_wal_bytes(Path::new("000007.wal"), &data, WalOptions::default());
        assert!(d.problems.is_empty(), "{:?}", d.problems);
        let e = &d.records[0].entries;
        assert_eq!(e[0].kind, "put-expiring");
        assert_eq!((e[0].value.as_str(), e[0].value_len), ("session", 7));
        assert_eq!(e[0].expires_at.as_deref(), Some("2026-12-06T21:07:03.123Z"));
        assert_eq!(e[0].expires_at_ms, Some(1_796_591_223_123));
        assert_eq!(
            (e[1].value.as_str(), e[1].expires_at.as_deref()),
            ("plain", None)
        );
    }

    #[test]
    fn range_deletes_show_their_end() {
        let mut data = SegmentHeader::new(7).as_bytes().to_vec();
        let mut b = WriteBatch::new();
        b.delete_range(&b"a"[..]..&b"m"[..]);
        b.delete_prefix(b"");
        b.put(b"k", b"v");
        let payload = b.seal(1).to_vec();
        let offset = data.len() as u64;
        frame_record(&mut data, 7, offset, &payload);
        let d = dump_wal_bytes(Path::new("000007.wal"), &data, WalOptions::default());
        let e = &d.records[0].entries;
        assert_eq!(
            (e[0].kind.as_str(), e[0].key.as_str()),
            ("range-delete", "a")
        );
        assert_eq!(e[0].range_end, Some(Some("m".to_string())));
        assert_eq!(e[1].range_end, Some(None), "no end");
        assert_eq!(e[2].range_end, None, "not a range delete");
    }

    #[test]
    fn damage_before_valid_records_is_a_problem_with_an_offset() {
        let mut data = segment(3);
        let second = d_offsets(&data)[1];
        data[second as usize + RECORD_HEADER_SIZE + 2] ^= 1;
        let d = dump_wal_bytes(Path::new("000007.wal"), &data, WalOptions::default());
        assert_eq!(d.tail.kind, "corrupt");
        assert_eq!(d.record_count, 1, "the record before the damage is shown");
        assert_eq!(d.problems.len(), 1);
        assert_eq!(d.problems[0].offset, Some(second));
        assert!(SEGMENT_HEADER_SIZE as u64 <= second);
    }

    fn d_offsets(data: &[u8]) -> Vec<u64> {
        dump_wal_bytes(Path::new("000007.wal"), data, WalOptions::default())
            .records
            .iter()
            .map(|r| r.offset)
            .collect()
    }
}
