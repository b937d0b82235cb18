//! Injected I/O failures (EIO, ENOSPC) in the WAL, flush, compaction, manifest and directory
//! syncs: the failing operation returns an error, the database turns read-only (`Poisoned`)
//! instead of retrying, reads keep working, and a reopen recovers every acknowledged write and
//! leaves no stray files.
//!
//! Each database runs on its own `FaultFs` (chosen through `Options`), so the tests run in
//! parallel without seeing each other's faults.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::Arc;

use lsmkv::fs::{FaultFs, FaultOp, FaultRule, default_fs};
use lsmkv::{Db, Error, Options, SyncMode};

const EIO: i32 = 5;
const ENOSPC: i32 = 28;

fn opts(mode: SyncMode) -> Options {
    Options {
        sync_mode: mode,
        // Keep tables apart so that compaction has work only when asked.
        l0_compaction_trigger: 16,
        l0_slowdown_writes_trigger: 32,
        l0_stop_writes_trigger: 40,
        ..Options::default()
    }
}

/// A rule for paths in `dir` ending with `suffix`.
fn rule(dir: &Path, op: FaultOp, suffix: &str, errno: i32) -> FaultRule {
    FaultRule {
        op: Some(op),
        path_contains: dir.canonicalize().unwrap().display().to_string(),
        path_ends_with: suffix.into(),
        after: 0,
        errno,
        sticky: true,
    }
}

/// A database on its own fault-injecting file system over the real one.
fn open_faulty(dir: &Path, o: Options) -> (Db, Arc<FaultFs>) {
    let fs = FaultFs::new(default_fs());
    let db = Db::open(dir, o.with_file_system(fs.clone())).unwrap();
    (db, fs)
}

/// Writes 300 keys, lets `fault` (a rule for the database directory) fire during `flush()`, and
/// checks that the flush fails cleanly and the database recovers.
fn flush_fails_cleanly(fault: impl Fn(&Path) -> FaultRule) {
    let d = tempfile::tempdir().unwrap();
    let (db, fs) = open_faulty(d.path(), opts(SyncMode::AsyncBatch));
    put_keys(&db, 0..300);
    let g = fs.inject(fault(d.path()));
    let e = db.flush().unwrap_err();
    assert!(is_io(&e), "{e:?}");
    assert!(g.fired() > 0);
    drop(g);
    after_fault(d.path(), db, 0..300, SyncMode::AsyncBatch);
}

fn put_keys(db: &Db, range: std::ops::Range<u32>) {
    for i in range {
        db.put(format!("k{i:04}"), format!("v{i}")).unwrap();
    }
}

fn check_keys(db: &Db, range: std::ops::Range<u32>) {
    for i in range {
        assert_eq!(
            db.get(format!("k{i:04}")).unwrap().as_deref(),
            Some(format!("v{i}").as_bytes()),
            "k{i:04}"
        );
    }
}

fn is_io(e: &Error) -> bool {
    matches!(e, Error::Io { .. } | Error::Poisoned { .. })
}

/// After the fault: writes are refused, reads work, and a reopen has everything acknowledged and
/// no file the manifest does not name.
fn after_fault(dir: &Path, db: Db, acked: std::ops::Range<u32>, mode: SyncMode) {
    assert!(matches!(db.put("later", "x"), Err(Error::Poisoned { .. })));
    assert!(db.flush().is_err());
    check_keys(&db, acked.clone());
    drop(db);
    let db = Db::open(dir, opts(mode)).unwrap();
    check_keys(&db, acked);
    db.verify().unwrap();
    db.put("after-reopen", "ok").unwrap();
    let live: BTreeSet<u64> = db.tables().iter().map(|t| t.number).collect();
    db.close().unwrap();
    let on_disk: BTreeSet<u64> = std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| {
            let n = e.unwrap().file_name().to_string_lossy().into_owned();
            assert!(!n.ends_with(".tmp"), "temporary file {n} left");
            n.strip_suffix(".sst").map(|s| s.parse().unwrap())
        })
        .collect();
    assert!(on_disk.is_superset(&live));
}

#[test]
fn wal_write_failure() {
    let d = tempfile::tempdir().unwrap();
    let (db, fs) = open_faulty(d.path(), opts(SyncMode::Always));
    put_keys(&db, 0..50);
    let g = fs.inject(rule(d.path(), FaultOp::Write, ".wal", ENOSPC));
    let e = db.put("bad", "x").unwrap_err();
    assert!(is_io(&e), "{e:?}");
    assert!(g.fired() > 0);
    drop(g);
    assert_eq!(
        db.get("bad").unwrap(),
        None,
        "a failed write must not be visible"
    );
    after_fault(d.path(), db, 0..50, SyncMode::Always);
    // The failed write never reached the file.
    let db = Db::open(d.path(), opts(SyncMode::Always)).unwrap();
    assert_eq!(db.get("bad").unwrap(), None);
}

#[test]
fn wal_fsync_failure() {
    let d = tempfile::tempdir().unwrap();
    let (db, fs) = open_faulty(d.path(), opts(SyncMode::Always));
    put_keys(&db, 0..50);
    let g = fs.inject(rule(d.path(), FaultOp::Sync, ".wal", EIO));
    let e = db.put("bad", "x").unwrap_err();
    assert!(is_io(&e), "{e:?}");
    drop(g);
    after_fault(d.path(), db, 0..50, SyncMode::Always);
}

#[test]
fn flush_table_sync_failure() {
    flush_fails_cleanly(|dir| rule(dir, FaultOp::Sync, ".sst.tmp", EIO));
}

#[test]
fn flush_manifest_write_failure() {
    flush_fails_cleanly(|dir| {
        let mut r = rule(dir, FaultOp::Write, "", ENOSPC);
        r.path_contains.push_str("/MANIFEST-");
        r
    });
}

#[test]
fn flush_directory_sync_failure() {
    flush_fails_cleanly(|dir| rule(dir, FaultOp::SyncDir, "", EIO));
}

#[test]
fn compaction_rename_failure() {
    let d = tempfile::tempdir().unwrap();
    let (db, fs) = open_faulty(d.path(), opts(SyncMode::AsyncBatch));
    for round in 0..4u32 {
        put_keys(&db, round * 100..(round + 1) * 100);
        db.flush().unwrap();
    }
    let g = fs.inject(rule(d.path(), FaultOp::Rename, ".sst.tmp", ENOSPC));
    let e = db.compact().unwrap_err();
    assert!(is_io(&e), "{e:?}");
    drop(g);
    after_fault(d.path(), db, 0..400, SyncMode::AsyncBatch);
}

#[test]
fn wal_rotation_failure() {
    let d = tempfile::tempdir().unwrap();
    let small_memtable = Options {
        memtable_max_size: 16 << 10,
        ..opts(SyncMode::AsyncBatch)
    };
    let (db, fs) = open_faulty(d.path(), small_memtable);
    put_keys(&db, 0..50);
    // Creating the next WAL segment fails: the write that needed room is refused.
    let g = fs.inject(rule(d.path(), FaultOp::Write, ".wal", ENOSPC));
    let mut acked = 50;
    let mut failed = false;
    for i in 50..2000u32 {
        match db.put(format!("k{i:04}"), format!("v{i}")) {
            Ok(()) => acked = i + 1,
            Err(e) => {
                assert!(is_io(&e), "{e:?}");
                failed = true;
                break;
            }
        }
    }
    assert!(failed);
    drop(g);
    after_fault(d.path(), db, 0..acked, SyncMode::AsyncBatch);
}

/// Faults belong to one database: a sticky WAL fault in one leaves another in the same process,
/// on the real file system, untouched.
#[test]
fn faults_belong_to_one_database() {
    let (d1, d2) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (faulty, fs) = open_faulty(d1.path(), opts(SyncMode::Always));
    let healthy = Db::open(d2.path(), opts(SyncMode::Always)).unwrap();
    let g = fs.inject(FaultRule {
        path_contains: String::new(),
        ..rule(d1.path(), FaultOp::Sync, "", EIO)
    });
    assert!(is_io(&faulty.put("x", "1").unwrap_err()));
    put_keys(&healthy, 0..20);
    healthy.flush().unwrap();
    check_keys(&healthy, 0..20);
    assert!(g.fired() > 0);
    drop(g);
    assert!(matches!(faulty.put("y", "2"), Err(Error::Poisoned { .. })));
}
