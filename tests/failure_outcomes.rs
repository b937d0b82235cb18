//! Each fatal failure has one outcome: the database goes read-only. Writes then fail with
//! `Error::Poisoned { cause }` naming the first failure, `stats().poisoned` reports that cause,
//! reads (gets and scans) go on and see every acknowledged write, and a reopen recovers them.
//! A failed fsync and a full disk (ENOSPC on a write) are injected with `FaultFs`; a panic in a
//! background thread is covered in `tests/background_panic.rs`, which checks the same outcome.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use lsmkv::fs::{FaultFs, FaultOp, FaultRule, default_fs};
use lsmkv::{Db, Error, Options, SyncMode};

const EIO: i32 = 5;
const ENOSPC: i32 = 28;

fn opts() -> Options {
    Options {
        sync_mode: SyncMode::Always,
        block_cache_size_mb: 1,
        ..Options::default()
    }
}

/// Writes until the injected fault surfaces, then checks the read-only outcome and the reopen.
fn check_outcome(op: FaultOp, errno: i32) {
    let dir = common::dir::tmpfs_tempdir();
    let fs = FaultFs::new(default_fs());
    let db = Db::open(dir.path(), opts().with_file_system(fs.clone())).unwrap();
    for i in 0..50 {
        db.put(format!("k{i:03}"), format!("v{i}")).unwrap();
    }
    assert!(db.stats().poisoned.is_none());
    let guard = fs.inject(FaultRule::new(op, errno));
    let err = db.put("k999", "lost").unwrap_err();
    assert!(
        matches!(err, Error::Io { .. } | Error::Poisoned { .. }),
        "{op:?}: {err:?}"
    );
    drop(guard);
    // The fault is gone, but the database stays read-only until reopened.
    let cause = db
        .stats()
        .poisoned
        .expect("stats().poisoned after the failure");
    assert!(
        cause.contains(&format!("os error {errno}")),
        "cause: {cause}"
    );
    match db.put("after", "x") {
        Err(Error::Poisoned { cause: c }) => assert_eq!(c, cause),
        other => panic!("{op:?}: a write after the failure: {other:?}"),
    }
    assert!(matches!(db.flush(), Err(Error::Poisoned { .. })));
    for i in 0..50 {
        let v = db.get(format!("k{i:03}")).unwrap();
        assert_eq!(v.as_deref(), Some(format!("v{i}").as_bytes()));
    }
    let rows: Vec<_> = db.range::<&[u8], _>(..).collect::<Result<_, _>>().unwrap();
    assert_eq!(rows.len(), 50, "a scan after the failure");
    drop(db);
    let db = Db::open(dir.path(), opts()).unwrap();
    assert!(db.stats().poisoned.is_none(), "a reopen is writable");
    for i in 0..50 {
        assert!(db.get(format!("k{i:03}")).unwrap().is_some());
    }
    assert_eq!(db.get("after").unwrap(), None);
    db.put("after-reopen", "ok").unwrap();
    db.verify().unwrap();
}

#[test]
fn failed_fsync_makes_the_database_read_only() {
    check_outcome(FaultOp::Sync, EIO);
}

#[test]
fn full_disk_makes_the_database_read_only() {
    check_outcome(FaultOp::Write, ENOSPC);
}
