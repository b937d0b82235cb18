//! A panic in a background thread (flush or compaction) poisons the database instead of leaving
//! writers waiting for a thread that is gone: `flush()` returns an error and does not hang, later
//! writes fail with `Error::Poisoned` naming the thread and the panic message, gets and scans keep
//! working and see every acknowledged write, and a reopen with the normal file system recovers them
//! all.
//!
//! The panic comes from a `FileSystem` wrapper that panics when a chosen background thread creates
//! a table file: the same place a bug in the table builder or the picker would surface.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::collections::BTreeMap;
use std::io;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use lsmkv::fs::{CreateMode, DirLock, FileSystem, Mapping, WritableFile, default_fs};
use lsmkv::{Db, Error, Options};

const PANIC_MESSAGE: &str = "injected table-creation panic";

/// The real file system, except that creating a table file from a thread whose name starts with
/// `thread_prefix` panics once `armed` is set.
#[derive(Debug)]
struct PanicFs {
    inner: Arc<dyn FileSystem>,
    thread_prefix: &'static str,
    armed: AtomicBool,
}

impl PanicFs {
    fn new(thread_prefix: &'static str) -> Arc<PanicFs> {
        Arc::new(PanicFs {
            inner: default_fs(),
            thread_prefix,
            armed: AtomicBool::new(false),
        })
    }

    fn arm(&self) {
        self.armed.store(true, Ordering::SeqCst);
    }
}

impl FileSystem for PanicFs {
    fn create_dir_all(&self, dir: &Path) -> io::Result<()> {
        self.inner.create_dir_all(dir)
    }

    fn create(&self, path: &Path, mode: CreateMode) -> io::Result<Box<dyn WritableFile>> {
        let table = path.to_string_lossy().contains(".sst");
        let on_thread = std::thread::current()
            .name()
            .is_some_and(|n| n.starts_with(self.thread_prefix));
        if table && on_thread && self.armed.load(Ordering::SeqCst) {
            panic!("{PANIC_MESSAGE}");
        }
        self.inner.create(path, mode)
    }

    fn open_append(&self, path: &Path) -> io::Result<Box<dyn WritableFile>> {
        self.inner.open_append(path)
    }

    fn read(&self, path: &Path) -> io::Result<Vec<u8>> {
        self.inner.read(path)
    }

    fn list_dir(&self, dir: &Path) -> io::Result<Vec<String>> {
        self.inner.list_dir(dir)
    }

    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        self.inner.rename(from, to)
    }

    fn remove(&self, path: &Path) -> io::Result<()> {
        self.inner.remove(path)
    }

    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        self.inner.sync_dir(dir)
    }

    fn lock_dir(&self, dir: &Path) -> lsmkv::Result<DirLock> {
        self.inner.lock_dir(dir)
    }

    fn map(&self, path: &Path) -> io::Result<Mapping> {
        self.inner.map(path)
    }
}

/// Large memtables (flushes happen only when asked), one compaction thread starting at two
/// level-0 tables.
fn opts() -> Options {
    Options {
        memtable_max_size: 64 << 20,
        l0_compaction_trigger: 2,
        compaction_threads: 1,
        ..common::opts::no_sync()
    }
}

/// Puts `count` keys starting at `first`, recording each acknowledged one in `model`.
fn put_range(db: &Db, model: &mut BTreeMap<Vec<u8>, Vec<u8>>, first: u32, count: u32) {
    for i in first..first + count {
        let (k, v) = (format!("key{i:06}"), format!("value-{i}"));
        db.put(&k, &v).unwrap();
        model.insert(k.into_bytes(), v.into_bytes());
    }
}

/// Checks that a poisoned database refuses writes with a cause naming `thread` and the panic, and
/// that gets and a full scan (forward and backward) see exactly `model`.
fn check_poisoned(db: &Db, thread: &str, model: &BTreeMap<Vec<u8>, Vec<u8>>) {
    let err = db.put("after", "panic").unwrap_err();
    let Error::Poisoned { cause } = &err else {
        panic!("expected Error::Poisoned, got {err:?}");
    };
    assert!(cause.contains(thread), "cause {cause:?} names no {thread}");
    assert_eq!(
        db.stats().poisoned.as_ref(),
        Some(cause),
        "stats().poisoned reports the cause"
    );
    assert!(
        cause.contains(PANIC_MESSAGE),
        "cause {cause:?} lacks the panic"
    );
    assert!(matches!(
        db.delete("key000000"),
        Err(Error::Poisoned { .. })
    ));
    assert!(matches!(db.flush(), Err(Error::Poisoned { .. })));

    for (k, v) in model {
        assert_eq!(db.get(k).unwrap().as_deref(), Some(v.as_slice()));
    }
    assert_eq!(db.get("after").unwrap(), None);
    let scanned: Vec<(Vec<u8>, Vec<u8>)> = db
        .range::<&[u8], _>(..)
        .map(|r| {
            let (k, v) = r.unwrap();
            (k.to_vec(), v.to_vec())
        })
        .collect();
    let expected: Vec<(Vec<u8>, Vec<u8>)> =
        model.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
    assert_eq!(scanned, expected);
    let backward = db.range::<&[u8], _>(..).rev().count();
    assert_eq!(backward, model.len());
}

/// Reopens `dir` on the real file system and checks that it holds exactly `model`.
fn check_reopen(dir: &Path, model: &BTreeMap<Vec<u8>, Vec<u8>>) {
    let db = Db::open(dir, opts()).unwrap();
    for (k, v) in model {
        assert_eq!(db.get(k).unwrap().as_deref(), Some(v.as_slice()));
    }
    assert_eq!(db.range::<&[u8], _>(..).count(), model.len());
    db.put("after", "reopen").unwrap();
    db.flush().unwrap();
    db.close().unwrap();
}

#[test]
fn flush_thread_panic_poisons_and_keeps_reads() {
    let dir = common::dir::tempdir();
    let fs = PanicFs::new("lsmkv-flush");
    let db = Db::open(dir.path(), opts().with_file_system(fs.clone())).unwrap();
    let mut model = BTreeMap::new();
    put_range(&db, &mut model, 0, 300);
    db.flush().unwrap();
    put_range(&db, &mut model, 300, 300);

    // `Db::flush` flushes in the caller's thread; the flush thread takes over when writes fill
    // the memtable. Write (64 KiB memtables) until its panic poisons the database.
    db.close().unwrap();
    let small = Options {
        memtable_max_size: 64 << 10,
        ..opts()
    };
    let db = Db::open(dir.path(), small.with_file_system(fs.clone())).unwrap();
    fs.arm();
    let mut i = 600u32;
    let err = loop {
        assert!(i < 2_000_000, "the flush thread never ran");
        let (k, v) = (format!("key{i:06}"), format!("value-{i}"));
        match db.put(&k, &v) {
            Ok(()) => {
                model.insert(k.into_bytes(), v.into_bytes());
            }
            Err(e) => break e,
        }
        i += 1;
    };
    let Error::Poisoned { cause } = &err else {
        panic!("write after the panic: expected Error::Poisoned, got {err:?}");
    };
    assert!(cause.contains("lsmkv-flush"), "cause: {cause}");
    check_poisoned(&db, "lsmkv-flush", &model);
    // Closing a poisoned database still syncs the WAL that holds the unflushed writes.
    db.close().unwrap();

    check_reopen(dir.path(), &model);
}

#[test]
fn compaction_thread_panic_poisons_and_keeps_reads() {
    let dir = common::dir::tempdir();
    let fs = PanicFs::new("lsmkv-compact");
    let db = Db::open(dir.path(), opts().with_file_system(fs.clone())).unwrap();
    let mut model = BTreeMap::new();
    fs.arm();
    // Each flush adds a level-0 table; from the second on the compaction thread has work and
    // panics creating its output. Writing and flushing go on until that poisons the database.
    let mut i = 0u32;
    let err = loop {
        assert!(i < 10_000, "the compaction thread never ran");
        let (k, v) = (format!("key{i:06}"), format!("value-{i}"));
        if let Err(e) = db.put(&k, &v) {
            break e;
        }
        model.insert(k.into_bytes(), v.into_bytes());
        i += 1;
        if i.is_multiple_of(100)
            && let Err(e) = db.flush()
        {
            break e;
        }
    };
    assert!(
        matches!(err, Error::Poisoned { .. }),
        "flush after the panic: expected Error::Poisoned, got {err:?}"
    );
    check_poisoned(&db, "lsmkv-compact-0", &model);
    assert!(matches!(db.compact(), Err(Error::Poisoned { .. })));
    drop(db);

    check_reopen(dir.path(), &model);
}
