//! Compaction and expired values: their space comes back, an expired value above an older version
//! becomes a tombstone in a compaction that does not reach the bottom (so the older version never
//! reappears), and versions that snapshots read are kept. Time is a `ManualClock`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use common::model::scan;
use common::{dir, opts};
use lsmkv::{Compression, Db, Options, TableInfo};

const TEN_S: Duration = Duration::from_secs(10);

fn get(db: &Db, k: &str) -> Option<Vec<u8>> {
    db.get(k).unwrap().map(|v| v.to_vec())
}

fn keys(db: &Db) -> Vec<String> {
    scan(db)
        .into_iter()
        .map(|(k, _)| String::from_utf8(k).unwrap())
        .collect()
}

#[test]
fn compaction_removes_expired_values_and_the_space_comes_back() {
    let d = dir::tempdir();
    let raw = Options {
        compression: Compression::None,
        ..opts::no_sync()
    };
    let (o, clock) = opts::with_manual_clock(raw);
    let db = Db::open(d.path(), o).unwrap();
    for i in 0..300 {
        db.put_with_ttl(format!("ttl{i:04}"), vec![b'x'; 1000], TEN_S)
            .unwrap();
    }
    for i in 0..10 {
        db.put(format!("keep{i}"), "v").unwrap();
    }
    db.compact().unwrap();
    let before = db.stats();
    assert!(before.sst_bytes > 300_000 / 4, "{}", before.sst_bytes);
    assert_eq!(before.entries_expired, 0, "nothing had expired yet");
    clock.advance(TEN_S);
    db.compact().unwrap();
    let after = db.stats();
    assert_eq!(after.entries_expired, 300);
    assert!(after.compaction_entries_dropped >= 300);
    assert!(
        after.sst_bytes * 10 < before.sst_bytes,
        "{} -> {}",
        before.sst_bytes,
        after.sst_bytes
    );
    let tables = db.tables();
    assert_eq!(tables.iter().map(|t| t.entries).sum::<u64>(), 10);
    assert_eq!(tables.iter().map(|t| t.tombstones).sum::<u64>(), 0);
    assert_eq!(keys(&db).len(), 10);
    assert_eq!(get(&db, "ttl0000"), None);
}

/// A tree of three levels whose last level is big enough for level 1 to be the base level, so that
/// level 0 compacts into level 1, above the data in level 2. Writes stop at 3 level-0 tables,
/// which lets a test wait for a level-0 compaction without sleeping.
fn three_levels() -> Options {
    Options {
        max_levels: 3,
        level_base_size: 4096,
        level_size_ratio: 2,
        l0_compaction_trigger: 2,
        l0_slowdown_writes_trigger: 2,
        l0_stop_writes_trigger: 3,
        compaction_threads: 1,
        // Sizes as written: the level sizes decide the base level.
        compression: Compression::None,
        ..opts::no_sync()
    }
}

fn numbers_at(tables: &[TableInfo], level: u32) -> BTreeSet<u64> {
    tables
        .iter()
        .filter(|t| t.level == level)
        .map(|t| t.number)
        .collect()
}

/// The old version of `k` lies in the last level; its expired newer version goes through a
/// level-0 compaction into level 1 (not the bottom: level 2 overlaps). There it must become a
/// tombstone, not vanish, or "old" would be read again.
#[test]
fn an_expired_value_above_an_older_version_becomes_a_tombstone() {
    let d = dir::tempdir();
    let (o, clock) = opts::with_manual_clock(three_levels());
    let db = Db::open(d.path(), o.clone()).unwrap();
    for i in 0..200 {
        db.put(format!("f{i:04}"), vec![b'f'; 200]).unwrap();
    }
    db.put("k", "old").unwrap();
    db.compact().unwrap();
    let bottom = numbers_at(&db.tables(), 2);
    assert!(!bottom.is_empty());
    assert_eq!(db.tables().len(), bottom.len(), "everything in level 2");

    db.put_with_ttl("k", "new", TEN_S).unwrap();
    db.flush().unwrap();
    assert_eq!(get(&db, "k").as_deref(), Some(&b"new"[..]));
    clock.advance(TEN_S);
    assert_eq!(get(&db, "k"), None);
    // A second level-0 table starts a level-0 compaction; a third one would stop writes, so the
    // put after it returns only once that compaction is installed.
    db.put("x1", "1").unwrap();
    db.flush().unwrap();
    db.put("x2", "2").unwrap();
    db.flush().unwrap();
    db.put("x3", "3").unwrap();

    let tables = db.tables();
    assert_eq!(numbers_at(&tables, 2), bottom, "level 2 was not compacted");
    let l1: Vec<&TableInfo> = tables.iter().filter(|t| t.level == 1).collect();
    assert!(
        l1.iter()
            .any(|t| t.smallest_key.as_slice() <= b"k".as_slice() && t.tombstones == 1),
        "the expired value is a tombstone in level 1: {tables:?}"
    );
    assert_eq!(db.stats().entries_expired, 1);
    assert_eq!(get(&db, "k"), None, "the older version must not reappear");
    assert!(!keys(&db).contains(&"k".to_string()));

    // Reopened, and after the tombstone reached the bottom (where it and "old" are dropped).
    db.close().unwrap();
    let db = Db::open(d.path(), o).unwrap();
    assert_eq!(get(&db, "k"), None);
    db.compact().unwrap();
    assert_eq!(get(&db, "k"), None);
    let tables = db.tables();
    assert_eq!(tables.iter().map(|t| t.tombstones).sum::<u64>(), 0);
    assert_eq!(tables.iter().map(|t| t.entries).sum::<u64>(), 203);
}

/// Expiry is by time, so no snapshot sees an expired value; but a snapshot taken before the
/// expiring write still reads the older value, which compaction must keep while it lives.
#[test]
fn snapshots_keep_the_older_versions_they_read() {
    let d = dir::tempdir();
    let (o, clock) = opts::with_manual_clock(opts::no_sync());
    let db = Db::open(d.path(), o).unwrap();
    db.put("k", "old").unwrap();
    db.put("z", "z").unwrap();
    let snap = db.snapshot();
    db.put_with_ttl("k", "new", TEN_S).unwrap();
    clock.advance(TEN_S);
    db.compact().unwrap();
    assert_eq!(get(&db, "k"), None);
    assert_eq!(snap.get("k").unwrap().as_deref(), Some(&b"old"[..]));
    assert_eq!(db.stats().entries_expired, 1);
    // Both versions are still on disk: the tombstone the expired value became, and "old".
    let entries: u64 = db.tables().iter().map(|t| t.entries).sum();
    assert_eq!(entries, 3);
    drop(snap);
    db.compact().unwrap();
    assert_eq!(get(&db, "k"), None);
    let tables = db.tables();
    assert_eq!(
        tables.iter().map(|t| t.entries).sum::<u64>(),
        1,
        "only z is left"
    );
    // A tombstone is not counted as expired again.
    assert_eq!(db.stats().entries_expired, 1);
}
