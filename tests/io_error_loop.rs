//! SQLite's I/O-error loop: a fixed workload (open, single puts with `SyncMode::Always`, a batch,
//! a flush, more puts, a second flush, a compaction, close) runs once under a counting
//! `FaultFs` to learn how many file operations it makes (M); then, for every N in 1..=M and for
//! EIO and ENOSPC, it runs again with the N-th operation failing. Each run either completes or
//! gets an error; after the first error every further write fails (the database is read-only)
//! while reads keep working. A reopen on the plain file system then has every acknowledged write
//! with its value, and no write that was never attempted.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use lsmkv::fs::{FaultFs, FileSystem, default_fs};
use lsmkv::{Db, Error, Options, WriteBatch};

const EIO: i32 = 5;
const ENOSPC: i32 = 28;

fn opts() -> Options {
    common::opts::deterministic_always()
}

/// One step of the workload.
enum Step {
    Put(&'static str, &'static str),
    Batch(&'static [(&'static str, &'static str)]),
    Delete(&'static str),
    Flush,
    Compact,
}

const WORKLOAD: &[Step] = &[
    Step::Put("a", "1"),
    Step::Put("b", "2"),
    Step::Put("c", "3"),
    Step::Batch(&[("d", "4"), ("e", "5"), ("f", "6")]),
    Step::Flush,
    Step::Put("g", "7"),
    Step::Put("a", "1b"),
    Step::Delete("b"),
    Step::Flush,
    Step::Put("h", "8"),
    Step::Compact,
    Step::Put("i", "9"),
];

/// What a run acknowledged and attempted.
#[derive(Default)]
struct Outcome {
    /// Expected state after every acknowledged write: key -> value (None = deleted).
    acked: BTreeMap<&'static str, Option<&'static str>>,
    /// Keys of writes that returned an error: absent, or at the value that failed.
    failed: BTreeMap<&'static str, Option<&'static str>>,
    /// The first error, if any.
    error: Option<String>,
}

/// An error the database may return after an injected I/O failure.
fn is_io(e: &Error) -> bool {
    matches!(e, Error::Io { .. } | Error::Poisoned { .. })
}

/// Every write after the first error fails; reads of acknowledged writes still work.
fn check_read_only(db: &Db, out: &Outcome, label: &str) {
    let e = db.put("never", "x").unwrap_err();
    assert!(is_io(&e), "{label}: a write after the failure: {e:?}");
    let mut b = WriteBatch::new();
    b.put("never", "y");
    let e = db.write(b).unwrap_err();
    assert!(is_io(&e), "{label}: a batch after the failure: {e:?}");
    for (k, v) in &out.acked {
        let got = db.get(k).unwrap();
        assert_eq!(
            got.as_deref(),
            v.map(str::as_bytes),
            "{label}: read of {k} after the failure"
        );
    }
}

/// Runs the workload on `fs`; stops at the first error.
fn run(dir: &Path, fs: Arc<dyn FileSystem>, label: &str) -> Outcome {
    let mut out = Outcome::default();
    let db = match Db::open(dir, opts().with_file_system(fs)) {
        Ok(db) => db,
        Err(e) => {
            assert!(is_io(&e), "{label}: open: {e:?}");
            out.error = Some(e.to_string());
            return out;
        }
    };
    for step in WORKLOAD {
        let (r, writes): (_, Vec<(&'static str, Option<&'static str>)>) = match step {
            Step::Put(k, v) => (db.put(k, v), vec![(k, Some(v))]),
            Step::Delete(k) => (db.delete(k), vec![(k, None)]),
            Step::Batch(kvs) => {
                let mut b = WriteBatch::new();
                for (k, v) in *kvs {
                    b.put(k, v);
                }
                (
                    db.write(b),
                    kvs.iter().map(|(k, v)| (*k, Some(*v))).collect(),
                )
            }
            Step::Flush => (db.flush(), vec![]),
            Step::Compact => (db.compact(), vec![]),
        };
        match r {
            Ok(()) => out.acked.extend(writes),
            Err(e) => {
                assert!(is_io(&e), "{label}: {e:?}");
                out.failed.extend(writes);
                out.error = Some(e.to_string());
                check_read_only(&db, &out, label);
                return out;
            }
        }
    }
    if let Err(e) = db.close() {
        assert!(is_io(&e), "{label}: close: {e:?}");
        out.error = Some(e.to_string());
    }
    out
}

/// Reopens `dir` on the real file system and checks that it holds every acknowledged write and
/// nothing that was never attempted.
fn check_reopen(dir: &Path, out: &Outcome, label: &str) {
    let db = Db::open(dir, opts())
        .unwrap_or_else(|e| panic!("{label}: reopen after {:?}: {e}", out.error));
    for (k, v) in &out.acked {
        if let Some(fv) = out.failed.get(k) {
            // A failed write of this key after an acknowledged one: either may be there.
            let got = db.get(k).unwrap();
            assert!(
                got.as_deref() == v.map(str::as_bytes) || got.as_deref() == fv.map(str::as_bytes),
                "{label}: {k} = {got:?} after reopen"
            );
            continue;
        }
        assert_eq!(
            db.get(k).unwrap().as_deref(),
            v.map(str::as_bytes),
            "{label}: acknowledged write of {k} after reopen (first error: {:?})",
            out.error
        );
    }
    // Keys never written, or only by writes never attempted: absent. Keys whose only write
    // failed: absent or at the failed value.
    let all_keys = ["a", "b", "c", "d", "e", "f", "g", "h", "i", "never"];
    for k in all_keys {
        if out.acked.contains_key(k) {
            continue;
        }
        let got = db.get(k).unwrap();
        match out.failed.get(k) {
            Some(fv) => assert!(
                got.is_none() || got.as_deref() == fv.map(str::as_bytes),
                "{label}: {k} = {got:?} after reopen"
            ),
            None => assert_eq!(got, None, "{label}: {k} was never written but is present"),
        }
    }
    db.verify()
        .unwrap_or_else(|e| panic!("{label}: verify after reopen: {e}"));
    db.close().unwrap();
}

#[test]
fn every_failing_operation_is_clean() {
    // The fault-free run: learn M, the number of file operations of the workload.
    let d = tempfile::tempdir().unwrap();
    let counter = FaultFs::new(default_fs());
    let out = run(d.path(), counter.clone(), "no fault");
    assert!(out.error.is_none(), "{:?}", out.error);
    check_reopen(d.path(), &out, "no fault");
    let m = counter.ops();
    assert!(m > 20, "the workload makes only {m} file operations");
    eprintln!("io_error_loop: the workload makes {m} file operations");

    // A few past M: background work (an unlink after the last reference to a table goes away)
    // may shift the count by a little between runs.
    let cases: Vec<(u64, i32)> = (1..=m + 3).flat_map(|n| [(n, EIO), (n, ENOSPC)]).collect();
    // Each run has its own directory and file system, so runs go in parallel (mostly waiting
    // for fsyncs).
    let failed_runs = AtomicU64::new(0);
    let next = AtomicUsize::new(0);
    std::thread::scope(|s| {
        for _ in 0..4 {
            s.spawn(|| {
                while let Some(&(n, errno)) = cases.get(next.fetch_add(1, Ordering::Relaxed)) {
                    let label = format!("op {n}/{m} errno {errno}");
                    let d = tempfile::tempdir().unwrap();
                    let fs = FaultFs::new(default_fs());
                    let guard = fs.fail_nth(n, errno);
                    let out = run(d.path(), fs.clone(), &label);
                    let fired = guard.fired() > 0;
                    drop(guard);
                    if out.error.is_some() {
                        assert!(fired, "{label}: an error without an injected fault");
                        failed_runs.fetch_add(1, Ordering::Relaxed);
                    }
                    check_reopen(d.path(), &out, &label);
                }
            });
        }
    });
    let failed_runs = failed_runs.into_inner();
    eprintln!(
        "io_error_loop: {failed_runs} of {} runs failed cleanly",
        cases.len()
    );
    // Most failures must reach the caller (some operations, such as deleting obsolete files,
    // are best effort and may fail silently).
    assert!(
        failed_runs > m,
        "only {failed_runs} of {} runs failed",
        cases.len()
    );
}
