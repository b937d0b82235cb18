//! WAL damage in the newest segment: `strict` recovery refuses to open and names the file and
//! offset; `point_in_time` recovers every record before the damage and drops the rest.

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
/// Returns the damaged segment.
fn damaged_db(dir: &std::path::Path) -> PathBuf {
    let db = Db::open(dir, opts(WalRecoveryMode::Strict)).unwrap();
    for i in 0..100u32 {
        db.put(format!("k{i:03}"), format!("v{i}")).unwrap();
    }
    db.close().unwrap();
    let wal = dir::files_with_ext(dir, "wal").pop().unwrap();
    let mut data = std::fs::read(&wal).unwrap();
    let seg = lsmkv::wal::read_segment(&data, &wal).unwrap();
    assert_eq!(seg.records.len(), 100);
    let at = seg.records[50].payload_offset() as usize + 3;
    data[at] ^= 0x55;
    std::fs::write(&wal, &data).unwrap();
    wal
}

#[test]
fn strict_mode_reports_corruption_with_file_and_offset() {
    let dir = dir::tempdir();
    let wal = damaged_db(dir.path());
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
