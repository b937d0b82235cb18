//! `Db::open_read_only`: reads next to a live writer (same process and another process) without
//! a lock conflict, writes nothing to the directory, refuses writes with `Error::ReadOnly`, and
//! `refresh()` catches up, also while the writer flushes and compacts.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use lsmkv::{Db, Error, Options};

fn opts() -> Options {
    Options {
        memtable_max_size: 16 << 10,
        target_file_size: 16 << 10,
        level_base_size: 64 << 10,
        l0_compaction_trigger: 2,
        max_levels: 4,
        ..Options::default()
    }
}

fn key(i: u64) -> String {
    format!("k{i:06}")
}

fn value(i: u64) -> String {
    format!("value-{i}-").repeat(6)
}

/// Every file of `dir` with its bytes.
fn image(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            let name = e.file_name().into_string().unwrap();
            (name, std::fs::read(e.path()).unwrap())
        })
        .collect()
}

#[test]
fn read_only_next_to_a_writer_in_the_same_process() {
    let dir = tempfile::tempdir().unwrap();
    let w = Db::open(dir.path(), opts()).unwrap();
    for i in 0..1000 {
        w.put(key(i), value(i)).unwrap();
    }
    w.flush().unwrap();
    for i in 1000..1200 {
        w.put(key(i), value(i)).unwrap();
    }
    w.delete(key(5)).unwrap();

    // The writer holds the lock; a read-only open does not conflict with it.
    let r = Db::open_read_only(dir.path(), opts()).unwrap();
    assert!(r.is_read_only());
    assert_eq!(
        r.get(key(999)).unwrap().as_deref(),
        Some(value(999).as_bytes())
    );
    assert_eq!(
        r.get(key(1199)).unwrap().as_deref(),
        Some(value(1199).as_bytes())
    );
    assert!(r.get(key(5)).unwrap().is_none());
    assert_eq!(r.range::<&[u8], _>(..).count(), 1199);

    // Writes of every kind fail with ReadOnly.
    assert!(matches!(r.put("x", "y"), Err(Error::ReadOnly)));
    assert!(matches!(r.delete(key(1)), Err(Error::ReadOnly)));
    assert!(matches!(
        r.write(lsmkv::WriteBatch::default()),
        Err(Error::ReadOnly)
    ));
    assert!(matches!(r.flush(), Err(Error::ReadOnly)));
    assert!(matches!(r.compact(), Err(Error::ReadOnly)));
    assert!(matches!(r.sync(), Err(Error::ReadOnly)));
    assert!(matches!(
        r.compare_and_swap(key(1), None, "v"),
        Err(Error::ReadOnly)
    ));
    assert!(matches!(r.put_if_absent("new", "v"), Err(Error::ReadOnly)));
    assert!(matches!(r.put_versioned("x", "y"), Err(Error::ReadOnly)));
    assert!(r.get_versioned(key(1)).unwrap().is_some());
    let ckpt = tempfile::tempdir().unwrap();
    assert!(matches!(
        r.checkpoint(ckpt.path().join("c")),
        Err(Error::ReadOnly)
    ));
    let _ = r.stats();

    // Newer writes appear after refresh(), also across flushes and compactions that delete the
    // tables and WAL segments the read-only view was built from.
    for i in 1200..1500 {
        w.put(key(i), value(i)).unwrap();
    }
    w.compact().unwrap();
    w.put("late", "1").unwrap();
    assert!(r.get("late").unwrap().is_none());
    assert!(r.get(key(1499)).unwrap().is_none());
    // Old files were deleted by the writer; the view built from them still reads.
    assert_eq!(
        r.get(key(10)).unwrap().as_deref(),
        Some(value(10).as_bytes())
    );
    r.refresh().unwrap();
    assert_eq!(r.get("late").unwrap().as_deref(), Some(&b"1"[..]));
    assert_eq!(
        r.get(key(1499)).unwrap().as_deref(),
        Some(value(1499).as_bytes())
    );
    assert_eq!(r.range::<&[u8], _>(..).count(), 1500);
    drop(r);
    // The writer is unaffected.
    w.put("after", "x").unwrap();
    w.close().unwrap();
    let w = Db::open(dir.path(), opts()).unwrap();
    assert_eq!(
        w.get(key(1499)).unwrap().as_deref(),
        Some(value(1499).as_bytes())
    );
}

#[test]
fn read_only_open_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    {
        let w = Db::open(dir.path(), opts()).unwrap();
        for i in 0..800 {
            w.put(key(i), value(i)).unwrap();
        }
        w.flush().unwrap();
        for i in 800..900 {
            w.put(key(i), value(i)).unwrap();
        }
        // Dropped without close: the WAL holds the memtable's writes.
    }
    let before = image(dir.path());
    {
        let r = Db::open_read_only(dir.path(), opts()).unwrap();
        assert_eq!(
            r.get(key(850)).unwrap().as_deref(),
            Some(value(850).as_bytes())
        );
        assert_eq!(r.range::<&[u8], _>(..).count(), 900);
        assert_eq!(r.prefix("k0001").count(), 100);
        let _ = r.stats();
        let _ = r.tables();
        r.refresh().unwrap();
        assert!(r.put("x", "y").is_err());
        r.close().unwrap();
    }
    assert_eq!(
        image(dir.path()),
        before,
        "a read-only open changed the directory"
    );
}

#[test]
fn read_only_open_of_a_directory_without_a_database_fails() {
    let dir = tempfile::tempdir().unwrap();
    let err = Db::open_read_only(dir.path(), opts()).unwrap_err();
    assert!(matches!(err, Error::InvalidArgument(_)), "{err}");
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    let err = Db::open_read_only(dir.path().join("absent"), opts()).unwrap_err();
    assert!(matches!(err, Error::Io { .. }), "{err}");
}

/// Read-only opens and refreshes while a writer writes, flushes and compacts: every one
/// succeeds (retrying when a file vanished under it) and sees a prefix of the writer's puts.
#[test]
fn read_only_opens_during_flushes_and_compactions() {
    let dir = tempfile::tempdir().unwrap();
    let w = Db::open(dir.path(), opts()).unwrap();
    w.put(key(0), value(0)).unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let acked = Arc::new(AtomicU64::new(1));
    let writer = {
        let (w, stop, acked) = (w.clone(), stop.clone(), acked.clone());
        std::thread::spawn(move || {
            let mut i = 1;
            while !stop.load(Ordering::Relaxed) && i < 40_000 {
                w.put(key(i), value(i)).unwrap();
                i += 1;
                acked.store(i, Ordering::Release);
            }
        })
    };
    let check = |r: &Db, at_least: u64| {
        let n = r.range::<&[u8], _>(..).count() as u64;
        assert!(n >= at_least, "{n} < {at_least}");
        // A prefix: the n-th put and nothing after it.
        assert!(r.get(key(n - 1)).unwrap().is_some());
        assert!(r.get(key(n)).unwrap().is_none());
    };
    let r = Db::open_read_only(dir.path(), opts()).unwrap();
    let mut rounds = 0;
    // At least 30 rounds, and on until the writer has flushed a few times (or is done).
    while rounds < 30 || (w.stats().flushes < 4 && acked.load(Ordering::Acquire) < 40_000) {
        rounds += 1;
        let at_least = acked.load(Ordering::Acquire);
        let fresh = Db::open_read_only(dir.path(), opts()).unwrap();
        check(&fresh, at_least);
        let at_least = acked.load(Ordering::Acquire);
        r.refresh().unwrap();
        check(&r, at_least);
    }
    stop.store(true, Ordering::Relaxed);
    writer.join().unwrap();
    assert!(w.stats().flushes >= 4);
}

/// The reader side of `read_only_in_another_process`: runs only when that test starts this
/// binary with `LSMKV_RO_CHILD_DIR` set.
#[test]
fn child_process_reader() {
    let Ok(dir) = std::env::var("LSMKV_RO_CHILD_DIR") else {
        return;
    };
    let r = Db::open_read_only(&dir, opts()).unwrap();
    let n = r.range::<&[u8], _>(..).count();
    let v = r.get(key(1234)).unwrap();
    assert!(matches!(r.put("x", "y"), Err(Error::ReadOnly)));
    println!("LSMKV_RO_CHILD keys={n} v1234={}", v.is_some());
}

#[test]
fn read_only_in_another_process() {
    let dir = tempfile::tempdir().unwrap();
    let w = Db::open(dir.path(), opts()).unwrap();
    for i in 0..2000 {
        w.put(key(i), value(i)).unwrap();
    }
    // Still open (and locked) by this process while the child reads.
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "child_process_reader",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("LSMKV_RO_CHILD_DIR", dir.path())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("LSMKV_RO_CHILD keys=2000 v1234=true"),
        "{stdout}"
    );
    w.put("still", "writable").unwrap();
}
