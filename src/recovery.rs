//! What `Db::open` recovered from the write-ahead log and what it dropped, returned by
//! [`crate::Db::recovery_report`].
//!
//! Recovery drops WAL bytes in two cases only (`format-spec/wal.md`, "Reading a segment"): an
//! incomplete record at the end of a segment (a torn write: the crash cut the last append short),
//! and, with `WalRecoveryMode::PointInTime`, everything from a damaged record on in the newest
//! segment. Both are logged; the report lets front ends show them to the user.

use serde::Serialize;

/// The outcome of WAL replay at open. Fixed for the lifetime of the `Db`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct RecoveryReport {
    /// WAL segments replayed (those the manifest did not already cover).
    pub wal_segments_replayed: u64,
    /// WAL records (one per committed write batch) replayed into the memtable.
    pub wal_records_replayed: u64,
    /// One entry per segment where replay stopped before the end of its data, in replay order.
    /// Empty after a clean shutdown. A segment holding no data at all (a crash while creating
    /// it) has no entry.
    pub dropped: Vec<WalDrop>,
}

impl RecoveryReport {
    /// Whether recovery dropped any bytes of the log.
    pub fn dropped_anything(&self) -> bool {
        !self.dropped.is_empty()
    }
}

/// A region at the end of one WAL segment that recovery did not replay.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct WalDrop {
    /// The segment's file name, e.g. `000012.wal` (it lives in the database directory; recovery
    /// deletes it once the replayed records are in a table).
    pub file: String,
    /// Byte offset in the segment where replay stopped: the first byte dropped.
    pub offset: u64,
    /// Bytes dropped, from `offset` to the last non-zero byte (preallocated zero fill is not
    /// counted).
    pub bytes: u64,
    /// Records in the dropped region whose framing and checksum are intact: writes the log held
    /// but recovery discarded because they follow the damage. A record whose framing is damaged
    /// is not counted (its extent cannot be trusted; one whose framing is intact but whose batch
    /// does not decode is); 0 for a torn write.
    pub records: u64,
    /// Why replay stopped, e.g. the corruption found or "incomplete record at end of segment".
    pub reason: String,
    /// `true` for damage in the middle of the log (`WalRecoveryMode::PointInTime`), `false` for a
    /// torn write at its end.
    pub corruption: bool,
}

impl std::fmt::Display for WalDrop {
    /// `N bytes (R records) of FILE at offset X: REASON`, the wording the shell and server use.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} bytes ({} records) of {} at offset {}: {}",
            self.bytes, self.records, self.file, self.offset, self.reason
        )
    }
}
