//! WAL damage in the newest segment: `strict` recovery refuses to open and names the file and
//! offset; `point_in_time` recovers every record before the damage, drops the rest and says what
//! it dropped in `Db::recovery_report`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::path::PathBuf;

use common::{dir, opts};
use lsmkv::{Db, Error, Options, WalRecoveryMode};

fn opts(mode: WalRecoveryMode) -> Options {
    Options {
        wal_recovery_mode: mode,
        ..opts::no_sync()
    }
}

/// Writes 100 keys (one WAL record each), closes, and flips a byte inside record 50's payload.
/// Returns the damaged segment and record 50's offset.
fn damaged_db(dir: &std::path::Path) -> (PathBuf, u64) {
    let db = Db::open(dir, opts(WalRecoveryMode::Strict)).unwrap();
    for i in 0..100u32 {
        db.put(format!("k{i:03}"), format!("v{i}")).unwrap();
    }
    db.close().unwrap();
    let wal = dir::files_with_ext(dir, "wal").pop().unwrap();
    let mut data = std::fs::read(&wal).unwrap();
    let seg = lsmkv::wal::read_segment(&data, &wal).unwrap();
    assert_eq!(seg.records.len(), 100);
    let damaged = seg.records[50].offset;
    let at = seg.records[50].payload_offset() as usize + 3;
    data[at] ^= 0x55;
    std::fs::write(&wal, &data).unwrap();
    (wal, damaged)
}

#[test]
fn strict_mode_reports_corruption_with_file_and_offset() {
    let dir = dir::tempdir();
    let (wal, _) = damaged_db(dir.path());
    let err = Db::open(dir.path(), opts(WalRecoveryMode::Strict)).unwrap_err();
    match err {
        Error::Corruption { file, offset, .. } => {
            assert_eq!(file.file_name(), wal.file_name());
            assert!(offset > 0);
        }
        other => panic!("expected corruption, got {other:?}"),
    }
}

#[test]
fn point_in_time_mode_keeps_the_prefix() {
    let dir = dir::tempdir();
    damaged_db(dir.path());
    let db = Db::open(dir.path(), opts(WalRecoveryMode::PointInTime)).unwrap();
    for i in 0..50u32 {
        assert_eq!(
            db.get(format!("k{i:03}")).unwrap().as_deref(),
            Some(format!("v{i}").as_bytes()),
            "k{i:03} was before the damage"
        );
    }
    for i in 50..100u32 {
        assert!(db.get(format!("k{i:03}")).unwrap().is_none(), "k{i:03}");
    }
    // The database is consistent and writable afterwards, also across another reopen.
    db.put("after", "1").unwrap();
    drop(db);
    let db = Db::open(dir.path(), opts(WalRecoveryMode::Strict)).unwrap();
    assert_eq!(db.get("after").unwrap().as_deref(), Some(&b"1"[..]));
    assert_eq!(db.get("k049").unwrap().as_deref(), Some(&b"v49"[..]));
}

#[test]
fn point_in_time_mode_reports_what_it_dropped() {
    let dir = dir::tempdir();
    let (wal, damaged_at) = damaged_db(dir.path());
    // Where the data ends: a segment may be followed by preallocated zero fill.
    let data = std::fs::read(&wal).unwrap();
    let end = data.iter().rposition(|&b| b != 0).unwrap() as u64 + 1;
    let db = Db::open(dir.path(), opts(WalRecoveryMode::PointInTime)).unwrap();
    let report = db.recovery_report();
    assert_eq!(report.wal_segments_replayed, 1);
    assert_eq!(report.wal_records_replayed, 50);
    assert!(report.dropped_anything());
    assert_eq!(report.dropped.len(), 1, "{report:?}");
    let d = &report.dropped[0];
    assert_eq!(Some(std::ffi::OsStr::new(&d.file)), wal.file_name());
    assert_eq!(d.offset, damaged_at);
    assert_eq!(d.bytes, end - damaged_at);
    // Records 51..100 are intact; record 50's framing is damaged and not counted.
    assert_eq!(d.records, 49);
    assert!(d.corruption);
    assert!(d.reason.contains("checksum"), "{}", d.reason);
    let line = d.to_string();
    assert!(
        line.starts_with(&format!(
            "{} bytes (49 records) of {} at offset {damaged_at}: ",
            d.bytes, d.file
        )),
        "{line}"
    );
    drop(db);
    // The next open replays a fresh log: nothing more to report.
    let db = Db::open(dir.path(), opts(WalRecoveryMode::Strict)).unwrap();
    assert!(!db.recovery_report().dropped_anything());
}

#[test]
fn torn_tail_is_reported_and_a_clean_log_is_not() {
    let dir = dir::tempdir();
    let db = Db::open(dir.path(), opts(WalRecoveryMode::Strict)).unwrap();
    for i in 0..10u32 {
        db.put(format!("k{i}"), "v").unwrap();
    }
    db.close().unwrap();
    let wal = dir::files_with_ext(dir.path(), "wal").pop().unwrap();
    // Cut the last record short (and any zero fill after it), as a crash in the middle of an
    // append does.
    let data = std::fs::read(&wal).unwrap();
    let len = data.iter().rposition(|&b| b != 0).unwrap() as u64 + 1;
    let file = std::fs::OpenOptions::new().write(true).open(&wal).unwrap();
    file.set_len(len - 3).unwrap();
    drop(file);
    let db = Db::open(dir.path(), opts(WalRecoveryMode::Strict)).unwrap();
    let report = db.recovery_report();
    assert_eq!(report.wal_records_replayed, 9);
    assert_eq!(report.dropped.len(), 1, "{report:?}");
    let d = &report.dropped[0];
    assert!(!d.corruption);
    assert_eq!(d.records, 0);
    // The dropped bytes run to the last non-zero byte of what is left.
    assert!(d.bytes > 0 && d.offset + d.bytes <= len - 3, "{d:?} {len}");
    db.close().unwrap();
    let db = Db::open(dir.path(), opts(WalRecoveryMode::Strict)).unwrap();
    assert_eq!(db.recovery_report().dropped, vec![]);
}
