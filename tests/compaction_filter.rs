//! `CompactionFilter`: Keep, Drop and Replace applied by compaction to the newest version of each
//! key that every reader sees; versions that snapshots read are untouched; Drop above the bottom
//! leaves a tombstone so older versions stay hidden; Replace keeps the version and the expiry; a
//! panicking filter poisons the database instead of losing data.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::model::scan;
use common::{dir, opts};
use lsmkv::{CompactionFilter, Compression, Db, Error, FilterDecision, Options};

/// The (key, value) pairs a filter was called with.
#[derive(Default)]
struct Seen(Mutex<Vec<(Vec<u8>, Vec<u8>)>>);

impl Seen {
    fn push(&self, k: &[u8], v: &[u8]) {
        self.0.lock().unwrap().push((k.to_vec(), v.to_vec()));
    }

    fn take(&self) -> Vec<(Vec<u8>, Vec<u8>)> {
        std::mem::take(&mut *self.0.lock().unwrap())
    }
}

/// Drops `drop/*`, replaces `up/*` by its value upper-cased, panics on `panic/*`, keeps the rest;
/// records every call.
#[derive(Default)]
struct ByPrefix {
    seen: Seen,
    calls: AtomicU64,
}

impl CompactionFilter for ByPrefix {
    fn filter(&self, key: &[u8], value: &[u8]) -> FilterDecision {
        self.calls.fetch_add(1, Ordering::Relaxed);
        self.seen.push(key, value);
        if key.starts_with(b"drop/") {
            FilterDecision::Drop
        } else if key.starts_with(b"up/") {
            FilterDecision::Replace(value.to_ascii_uppercase())
        } else if key.starts_with(b"panic/") {
            panic!("filter failure on purpose");
        } else {
            FilterDecision::Keep
        }
    }
}

fn open_with(dir: &std::path::Path, base: Options) -> (Db, Arc<ByPrefix>) {
    let f = Arc::new(ByPrefix::default());
    let db = Db::open(dir, base.with_compaction_filter(f.clone())).unwrap();
    (db, f)
}

fn get(db: &Db, k: &str) -> Option<Vec<u8>> {
    db.get(k).unwrap().map(|v| v.to_vec())
}

#[test]
fn keep_drop_and_replace() {
    let d = dir::tempdir();
    let (db, f) = open_with(d.path(), opts::no_sync());
    db.put("keep/a", "a").unwrap();
    db.put("drop/b", "b").unwrap();
    db.put("up/c", "old").unwrap();
    db.put("up/c", "value").unwrap();
    db.delete("up/gone").unwrap();
    let (_, version) = db.get_versioned("up/c").unwrap().unwrap();
    // Until a compaction reaches them, keys read as written: flushes do not filter.
    db.flush().unwrap();
    assert_eq!(get(&db, "drop/b").as_deref(), Some(&b"b"[..]));
    assert_eq!(f.calls.load(Ordering::Relaxed), 0);
    db.compact().unwrap();
    // One call per key, with the newest value only; tombstones are not shown.
    let mut seen = f.seen.take();
    seen.sort();
    let want: Vec<(Vec<u8>, Vec<u8>)> = [("drop/b", "b"), ("keep/a", "a"), ("up/c", "value")]
        .iter()
        .map(|(k, v)| (k.as_bytes().to_vec(), v.as_bytes().to_vec()))
        .collect();
    assert_eq!(seen, want);
    assert_eq!(get(&db, "keep/a").as_deref(), Some(&b"a"[..]));
    assert_eq!(get(&db, "drop/b"), None);
    assert_eq!(
        db.get_versioned("up/c")
            .unwrap()
            .map(|(v, ver)| (v.to_vec(), ver)),
        Some((b"VALUE".to_vec(), version)),
        "a replacement keeps the version"
    );
    let s = db.stats();
    assert_eq!(
        (s.entries_filter_dropped, s.entries_filter_replaced),
        (1, 1)
    );
    // At the bottom nothing is left of the dropped key.
    assert_eq!(db.tables().iter().map(|t| t.tombstones).sum::<u64>(), 0);
    assert_eq!(scan(&db).len(), 2);
}

/// A version a snapshot reads is never shown to the filter: only versions that every reader
/// sees are. Once the snapshot is gone, the next compaction filters the key.
#[test]
fn snapshots_protect_the_versions_they_read() {
    let d = dir::tempdir();
    let (db, f) = open_with(d.path(), opts::no_sync());
    db.put("drop/k", "v1").unwrap();
    let snap = db.snapshot();
    db.put("drop/k", "v2").unwrap();
    db.compact().unwrap();
    assert_eq!(
        f.calls.load(Ordering::Relaxed),
        0,
        "v2 is newer than the snapshot"
    );
    assert_eq!(snap.get("drop/k").unwrap().as_deref(), Some(&b"v1"[..]));
    assert_eq!(get(&db, "drop/k").as_deref(), Some(&b"v2"[..]));
    drop(snap);
    db.compact().unwrap();
    assert_eq!(f.seen.take(), vec![(b"drop/k".to_vec(), b"v2".to_vec())]);
    assert_eq!(get(&db, "drop/k"), None);
    assert!(db.tables().is_empty(), "{:?}", db.tables());
}

/// Replace keeps an expiring value's expiry; the filter sees the user's value.
#[test]
fn replace_keeps_the_expiry() {
    let d = dir::tempdir();
    let (o, clock) = opts::with_manual_clock(opts::no_sync());
    let (db, f) = open_with(d.path(), o);
    db.put_with_ttl("up/t", "ttl", Duration::from_secs(10))
        .unwrap();
    db.put_with_ttl("drop/t", "ttl", Duration::from_secs(10))
        .unwrap();
    db.compact().unwrap();
    let mut seen = f.seen.take();
    seen.sort();
    assert_eq!(
        seen,
        vec![
            (b"drop/t".to_vec(), b"ttl".to_vec()),
            (b"up/t".to_vec(), b"ttl".to_vec())
        ]
    );
    assert_eq!(get(&db, "up/t").as_deref(), Some(&b"TTL"[..]));
    assert_eq!(get(&db, "drop/t"), None);
    clock.advance(Duration::from_secs(10));
    assert_eq!(get(&db, "up/t"), None, "still expires");
    db.compact().unwrap();
    assert_eq!(
        f.calls.load(Ordering::Relaxed),
        2,
        "expired values are not filtered"
    );
    assert_eq!(db.stats().entries_expired, 1);
}

/// Drop in a compaction above the bottom of the tree leaves a tombstone: the older version of
/// the key in the last level stays hidden. (The same tree as `ttl_compaction.rs`: level 0
/// compacts into level 1 above level 2, and a third level-0 table stops writes until it has.)
#[test]
fn drop_above_the_bottom_leaves_a_tombstone() {
    let d = dir::tempdir();
    let base = Options {
        max_levels: 3,
        level_base_size: 4096,
        level_size_ratio: 2,
        l0_compaction_trigger: 2,
        l0_slowdown_writes_trigger: 2,
        l0_stop_writes_trigger: 3,
        compaction_threads: 1,
        compression: Compression::None,
        ..opts::no_sync()
    };
    // The old version goes to the bottom before the filter exists.
    {
        let db = Db::open(d.path(), base.clone()).unwrap();
        for i in 0..200 {
            db.put(format!("f{i:04}"), vec![b'f'; 200]).unwrap();
        }
        db.put("drop/k", "old").unwrap();
        db.compact().unwrap();
        db.close().unwrap();
    }
    let (db, f) = open_with(d.path(), base);
    let bottom: Vec<u64> = db.tables().iter().map(|t| t.number).collect();
    db.put("drop/k", "new").unwrap();
    db.flush().unwrap();
    db.put("x1", "1").unwrap();
    db.flush().unwrap();
    db.put("x2", "2").unwrap();
    db.flush().unwrap();
    db.put("x3", "3").unwrap(); // returns once level 0 was compacted into level 1
    assert!(
        f.seen
            .take()
            .contains(&(b"drop/k".to_vec(), b"new".to_vec())),
        "the level-0 compaction filtered the key"
    );
    let tables = db.tables();
    let l2: Vec<u64> = tables
        .iter()
        .filter(|t| t.level == 2)
        .map(|t| t.number)
        .collect();
    assert_eq!(l2, bottom, "level 2 was not compacted");
    assert_eq!(
        tables
            .iter()
            .filter(|t| t.level == 1)
            .map(|t| t.tombstones)
            .sum::<u64>(),
        1
    );
    assert_eq!(
        get(&db, "drop/k"),
        None,
        "the old version must not reappear"
    );
    db.compact().unwrap();
    assert_eq!(get(&db, "drop/k"), None);
    assert_eq!(db.tables().iter().map(|t| t.tombstones).sum::<u64>(), 0);
}

/// A panic in the filter fails the compaction: the database is poisoned (writes refused, reads
/// go on) and no data is lost; reopened without the filter, everything is there.
#[test]
fn a_panicking_filter_poisons_instead_of_losing_data() {
    let d = dir::tempdir();
    {
        let (db, _f) = open_with(d.path(), opts::no_sync());
        db.put("panic/k", "v").unwrap();
        db.put("drop/k", "v").unwrap();
        let e = db.compact().unwrap_err();
        assert!(e.to_string().contains("filter failure on purpose"), "{e}");
        assert!(matches!(db.put("a", "b"), Err(Error::Poisoned { .. })));
        assert_eq!(get(&db, "panic/k").as_deref(), Some(&b"v"[..]));
    }
    let db = Db::open(d.path(), opts::no_sync()).unwrap();
    assert_eq!(get(&db, "panic/k").as_deref(), Some(&b"v"[..]));
    assert_eq!(get(&db, "drop/k").as_deref(), Some(&b"v"[..]));
    assert!(common::dir::files_with_ext(d.path(), "tmp").is_empty());
}

#[test]
fn options_show_the_filter_by_name() {
    let o = opts::no_sync().with_compaction_filter(Arc::new(ByPrefix::default()));
    let shown = format!("{o:?}");
    assert!(shown.contains("ByPrefix"), "{shown}");
    fn unwind_safe<T: std::panic::UnwindSafe + std::panic::RefUnwindSafe>(_: &T) {}
    unwind_safe(&o);
}
