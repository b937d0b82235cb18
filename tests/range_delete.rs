//! Range deletes (`Db::delete_range`, `Db::delete_prefix`, `WriteBatch::delete_range`): one range
//! tombstone per call, honoured by every read (point, forward and reverse scans, snapshots), kept
//! across flush, WAL replay, reopen, read-only opens and checkpoints, and garbage-collected by
//! compaction (covered versions, whole covered tables, the tombstone itself at the bottom).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::ops::Bound;

use common::model::{self, Model, State};
use common::opts;
use lsmkv::{Db, Error, MAX_KEY_SIZE, Options, WriteBatch};

fn key(i: u32) -> Vec<u8> {
    format!("k{i:04}").into_bytes()
}

/// `db` holding `k0000..k{n-1}` = `v{i}`, and the model of it.
fn filled(db: &Db, n: u32) -> Model {
    let mut m = Model::new();
    for i in 0..n {
        let v = format!("v{i}");
        db.put(key(i), &v).unwrap();
        m.put(&key(i), v.as_bytes());
    }
    m
}

/// Deletes the model's keys in `bounds` at one seqno (the engine writes one tombstone).
fn model_delete(m: &mut Model, bounds: &model::Bounds) {
    let doomed: Vec<model::Entry> = model::range(m.latest(), bounds)
        .into_iter()
        .map(|(k, _)| (k, None))
        .collect();
    m.write(&doomed);
}

fn check(db: &Db, state: &State, ctx: &str) {
    model::assert_matches(db, state, ctx);
    let probes: Vec<Vec<u8>> = (0..210).map(key).collect();
    model::assert_gets(db, state, probes.iter().map(Vec::as_slice), ctx);
}

fn bounds(lo: Bound<&[u8]>, hi: Bound<&[u8]>) -> model::Bounds {
    (lo.map(<[u8]>::to_vec), hi.map(<[u8]>::to_vec))
}

#[test]
fn every_kind_of_bound_deletes_exactly_its_keys() {
    use Bound::*;
    let k = key;
    let cases: Vec<model::Bounds> = vec![
        bounds(Included(&k(10)), Excluded(&k(20))),
        bounds(Excluded(&k(30)), Included(&k(40))),
        bounds(Included(&k(50)), Included(&k(50))),
        bounds(Excluded(&k(60)), Excluded(b"k0060\0")), // empty: nothing between
        bounds(Excluded(&k(60)), Excluded(&k(62))),
        bounds(Included(&k(80)), Excluded(&k(70))), // inverted: empty
        bounds(Included(b"k0195"), Unbounded),
        bounds(Unbounded, Excluded(b"k0003")),
    ];
    let dir = common::dir::tempdir();
    let db = Db::open(dir.path(), opts::no_sync()).unwrap();
    let mut m = filled(&db, 200);
    for (i, b) in cases.iter().enumerate() {
        db.delete_range(b.clone()).unwrap();
        model_delete(&mut m, b);
        check(&db, m.latest(), &format!("case {i}"));
    }
    // An empty or inverted range wrote nothing; the others one tombstone each.
    assert_eq!(db.stats().range_deletes, 6);
    assert_eq!(db.stats().memtable_range_tombstones, 6);
    db.flush().unwrap();
    check(&db, m.latest(), "after flush");
    assert_eq!(db.stats().sst_range_tombstones, 6);
}

#[test]
fn prefixes_including_the_empty_and_the_all_ff_prefix() {
    let dir = common::dir::tempdir();
    let db = Db::open(dir.path(), opts::no_sync()).unwrap();
    for k in [
        &b"a"[..],
        b"ab",
        b"abc",
        b"ac",
        b"b",
        b"\xff",
        b"\xff\xff",
        b"\xff\x00",
        b"",
    ] {
        db.put(k, b"v").unwrap();
    }
    let keys = |db: &Db| -> Vec<Vec<u8>> {
        db.range::<&[u8], _>(..)
            .map(|r| r.unwrap().0.to_vec())
            .collect()
    };
    db.delete_prefix(b"ab").unwrap();
    assert_eq!(
        keys(&db),
        [
            &b""[..],
            b"a",
            b"ac",
            b"b",
            b"\xff",
            b"\xff\x00",
            b"\xff\xff"
        ]
    );
    db.delete_prefix(b"\xff").unwrap(); // no end
    assert_eq!(keys(&db), [&b""[..], b"a", b"ac", b"b"]);
    assert_eq!(db.prefix(b"a").rev().count(), 2);
    db.put(b"\xff\xff\xff", b"after").unwrap();
    assert_eq!(
        db.get(b"\xff\xff\xff").unwrap().as_deref(),
        Some(&b"after"[..])
    );
    db.delete_prefix(b"").unwrap();
    assert!(keys(&db).is_empty());
    assert_eq!(db.get(b"").unwrap(), None);
}

#[test]
fn snapshots_and_iterators_taken_before_still_see_the_keys() {
    let dir = common::dir::tempdir();
    let db = Db::open(dir.path(), opts::no_sync()).unwrap();
    let m = filled(&db, 100);
    let before = db.snapshot();
    let it = db.range::<&[u8], _>(..);
    db.delete_range(key(10)..key(90)).unwrap();
    db.put(key(50), b"new").unwrap();
    let mut now = m.latest().clone();
    now.retain(|k, _| !(key(10)..key(90)).contains(k));
    now.insert(key(50), b"new".to_vec());
    for round in ["memtable", "flushed", "compacted", "reopened"] {
        match round {
            "flushed" => db.flush().unwrap(),
            "compacted" => db.compact().unwrap(),
            _ => {}
        }
        if round == "reopened" {
            break;
        }
        model::assert_matches(&before, m.latest(), round);
        model::assert_gets(
            &before,
            m.latest(),
            [&key(10)[..], &key(50), &key(89)],
            round,
        );
        check(&db, &now, round);
    }
    assert_eq!(
        model::collect(it).len(),
        100,
        "an iterator is a snapshot too"
    );
    drop(before);
    db.compact().unwrap();
    check(&db, &now, "compacted without snapshot");
    let path = db.path().to_path_buf();
    db.close().unwrap();
    let db = Db::open(&path, opts::no_sync()).unwrap();
    check(&db, &now, "reopened");
}

#[test]
fn wal_replay_read_only_open_and_checkpoint_keep_range_deletes() {
    let dir = common::dir::tempdir();
    let db = Db::open(dir.path(), opts::no_sync()).unwrap();
    let mut m = filled(&db, 60);
    db.flush().unwrap();
    let b = bounds(Bound::Included(&key(5)), Bound::Excluded(&key(25)));
    db.delete_range(b.clone()).unwrap();
    model_delete(&mut m, &b);
    let mut batch = WriteBatch::new();
    batch.put(key(30), b"x");
    batch.delete_prefix(b"k003");
    batch.put(key(35), b"kept");
    db.write(batch).unwrap();
    let mut entries: Vec<model::Entry> = (30..40).map(|i| (key(i), None)).collect();
    entries.push((key(35), Some(b"kept".to_vec())));
    m.write(&entries);
    check(&db, m.latest(), "live");
    db.sync().unwrap();

    let ro = Db::open_read_only(dir.path(), Options::default()).unwrap();
    check(&ro, m.latest(), "read-only open (WAL replay)");
    let cp = common::dir::tempdir();
    let target = cp.path().join("copy");
    db.checkpoint(&target).unwrap();
    let copy = Db::open(&target, opts::no_sync()).unwrap();
    check(&copy, m.latest(), "checkpoint");
    drop(copy);

    // A crash-like close: drop without flushing; reopen replays the WAL.
    drop(ro);
    drop(db);
    let db = Db::open(dir.path(), opts::no_sync()).unwrap();
    check(&db, m.latest(), "reopened (WAL replay)");
    assert!(
        db.stats().sst_range_tombstones >= 2,
        "recovery writes them to a table"
    );
}

#[test]
fn bounds_longer_than_a_key_are_refused() {
    let dir = common::dir::tempdir();
    let db = Db::open(dir.path(), opts::no_sync()).unwrap();
    let max = vec![b'z'; MAX_KEY_SIZE];
    let long = vec![b'z'; MAX_KEY_SIZE + 1];
    db.put(&max, b"v").unwrap();
    db.put(b"a", b"v").unwrap();
    // The end of an inclusive range over a maximal key is one byte longer than a key: fine.
    db.delete_range(&b"b"[..]..=&max[..]).unwrap();
    assert_eq!(db.get(&max).unwrap(), None);
    db.put(&max, b"v").unwrap();
    // Starting after a maximal key.
    db.delete_range::<&[u8], _>((Bound::Excluded(&max[..]), Bound::Unbounded))
        .unwrap();
    assert!(db.get(&max).unwrap().is_some());
    for r in [
        db.delete_range(&long[..]..),
        db.delete_range(&b"a"[..]..=&long[..]),
        db.delete_prefix(&long),
    ] {
        assert!(matches!(r, Err(Error::KeyTooLarge { .. })), "{r:?}");
    }
    assert!(db.get(b"a").unwrap().is_some());
    db.flush().unwrap();
    db.compact().unwrap();
    assert!(db.get(&max).unwrap().is_some());
    assert_eq!(db.range::<&[u8], _>(..).count(), 2);
}

#[test]
fn delete_prefix_is_one_entry_whatever_it_covers() {
    let dir = common::dir::tempdir();
    let db = Db::open(dir.path(), opts::no_sync()).unwrap();
    filled(&db, 5000);
    let before = db.stats();
    db.delete_prefix(b"k").unwrap();
    let after = db.stats();
    assert_eq!(after.memtable_entries, before.memtable_entries);
    assert!(after.wal_bytes_written - before.wal_bytes_written < 64);
    assert_eq!(db.range::<&[u8], _>(..).count(), 0);
}

/// Compaction drops what a range delete covers: whole tables without reading them, versions in
/// the tables it must read, and at the bottom the tombstone itself. The space comes back.
#[test]
fn compaction_reclaims_the_space_of_a_range_delete() {
    let dir = common::dir::tempdir();
    let o = Options {
        memtable_max_size: 64 << 10,
        target_file_size: 32 << 10,
        ..opts::no_sync()
    };
    let db = Db::open(dir.path(), o.clone()).unwrap();
    let mut rng = common::rng::Rng::new(7);
    for i in 0..3000u32 {
        let value = rng.bytes(100);
        db.put(format!("user/{i:05}"), &value).unwrap();
    }
    db.put(b"zzz", b"outside").unwrap();
    db.compact().unwrap();
    let full = db.stats().sst_bytes;
    assert!(db.stats().sst_files > 3, "{:?}", db.tables());
    db.delete_prefix(b"user/").unwrap();
    db.flush().unwrap();
    assert_eq!(db.range::<&[u8], _>(..).count(), 1);
    db.compact().unwrap();
    let s = db.stats();
    assert!(
        s.tables_dropped_by_range_delete >= 2,
        "tables deleted whole: {}",
        s.tables_dropped_by_range_delete
    );
    assert!(
        s.sst_bytes < full / 20,
        "{} bytes left of {full}",
        s.sst_bytes
    );
    assert_eq!(s.sst_range_tombstones, 0, "dropped at the bottom");
    assert_eq!(db.get(b"zzz").unwrap().as_deref(), Some(&b"outside"[..]));
    assert_eq!(db.get(b"user/00001").unwrap(), None);
    drop(db);
    let db = Db::open(dir.path(), o).unwrap();
    assert_eq!(db.range::<&[u8], _>(..).count(), 1);
}

/// Compaction outputs cut inside a range tombstone end with an exclusive bound where the next
/// output starts; a point read of that exact key must go to the next table.
#[test]
fn a_table_ending_at_a_tombstone_bound_does_not_capture_that_key() {
    let dir = common::dir::tempdir();
    let o = Options {
        memtable_max_size: 32 << 10,
        target_file_size: 4 << 10,
        block_size: 512,
        ..opts::no_sync()
    };
    let db = Db::open(dir.path(), o.clone()).unwrap();
    let m = filled(&db, 800);
    let held = db.snapshot();
    db.delete_range(key(100)..key(700)).unwrap();
    // Newer versions inside the range: live again.
    let mut now = m.latest().clone();
    now.retain(|k, _| !(key(100)..key(700)).contains(k));
    for i in (100..700).step_by(7) {
        db.put(key(i), b"again").unwrap();
        now.insert(key(i), b"again".to_vec());
    }
    db.compact().unwrap();
    let tables = db.tables();
    let bottom = tables.iter().map(|t| t.level).max().unwrap();
    let run: Vec<_> = tables.iter().filter(|t| t.level == bottom).collect();
    assert!(run.len() > 3, "{tables:?}");
    let shared_bounds = run
        .windows(2)
        .filter(|w| w[0].largest_key == w[1].smallest_key)
        .count();
    assert!(
        shared_bounds > 0,
        "no output ended at a tombstone bound: {run:?}"
    );
    for w in run.windows(2) {
        assert!(w[0].largest_key <= w[1].smallest_key, "overlap: {w:?}");
    }
    model::assert_matches(&held, m.latest(), "snapshot");
    let all: Vec<&[u8]> = m.latest().keys().map(Vec::as_slice).collect();
    model::assert_gets(&held, m.latest(), all.iter().copied(), "snapshot gets");
    let all_now: Vec<Vec<u8>> = (0..800).map(key).collect();
    model::assert_gets(&db, &now, all_now.iter().map(Vec::as_slice), "gets");
    model::assert_matches(&db, &now, "now");
    drop(held);
    db.compact().unwrap();
    model::assert_matches(&db, &now, "without the snapshot");
    assert_eq!(db.stats().sst_range_tombstones, 0);
}

/// A tombstone without end at a level >= 1 makes its table reach every key: the level stays
/// sorted and disjoint, and reads above the last key go to it.
#[test]
fn a_tombstone_without_end_survives_compaction_below_others() {
    let dir = common::dir::tempdir();
    let o = Options {
        memtable_max_size: 32 << 10,
        target_file_size: 4 << 10,
        ..opts::no_sync()
    };
    let db = Db::open(dir.path(), o).unwrap();
    let m = filled(&db, 400);
    let held = db.snapshot();
    db.delete_range(key(300)..).unwrap();
    db.put(b"zzzz", b"after").unwrap();
    db.compact().unwrap();
    let mut now = m.latest().clone();
    now.retain(|k, _| k < &key(300));
    now.insert(b"zzzz".to_vec(), b"after".to_vec());
    model::assert_matches(&db, &now, "now");
    model::assert_matches(&held, m.latest(), "snapshot");
    model::assert_gets(
        &held,
        m.latest(),
        [&key(350)[..], &key(399)],
        "snapshot gets",
    );
    assert!(db.stats().sst_range_tombstones > 0, "kept for the snapshot");
    drop(held);
    db.compact().unwrap();
    model::assert_matches(&db, &now, "without the snapshot");
    assert_eq!(db.stats().sst_range_tombstones, 0);
}

#[test]
fn read_only_handles_refuse_range_deletes() {
    let dir = common::dir::tempdir();
    drop(Db::open(dir.path(), opts::no_sync()).unwrap());
    let ro = Db::open_read_only(dir.path(), Options::default()).unwrap();
    assert!(matches!(ro.delete_range(&b"a"[..]..), Err(Error::ReadOnly)));
    assert!(matches!(ro.delete_prefix(b"a"), Err(Error::ReadOnly)));
}

/// A key a range delete covers is absent for versioned reads and compare-and-swap too.
#[test]
fn versioned_reads_and_compare_and_swap_see_range_deletes() {
    let dir = common::dir::tempdir();
    let db = Db::open(dir.path(), opts::no_sync()).unwrap();
    db.put(b"user/1", b"a").unwrap();
    let (_, version) = db.get_versioned(b"user/1").unwrap().unwrap();
    db.delete_prefix(b"user/").unwrap();
    for round in 0..2 {
        assert_eq!(db.get_versioned(b"user/1").unwrap(), None, "round {round}");
        assert!(!db.compare_and_swap(b"user/1", Some(version), b"x").unwrap());
        db.flush().unwrap();
    }
    assert!(db.put_if_absent(b"user/1", b"b").unwrap());
    let (v, new_version) = db.get_versioned(b"user/1").unwrap().unwrap();
    assert_eq!((&v[..], new_version > version), (&b"b"[..], true));
    db.compact().unwrap();
    assert_eq!(db.get_versioned(b"user/1").unwrap().unwrap().1, new_version);
}

/// `len_estimate` takes range deletes into account wherever the keys and the tombstone are
/// (memtable, table), counts keys written after a tombstone, and says 0 after every key went:
/// within 25% of the true count, from the skiplist's levels and the tables' indexes.
#[test]
fn len_estimate_subtracts_what_range_deletes_cover() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path(), opts::no_sync()).unwrap();
    let near = |want: u64, ctx: &str| {
        let got = db.len_estimate();
        let slack = want / 4 + 20;
        assert!(
            got.abs_diff(want) <= slack,
            "{ctx}: estimate {got}, {want} live"
        );
    };
    filled(&db, 8000);
    near(8000, "filled");
    db.delete_range(key(1000)..key(7000)).unwrap();
    near(2000, "tombstone and keys in the memtable");
    db.flush().unwrap();
    near(2000, "flushed together");
    for i in (2000..3000).step_by(2) {
        db.put(key(i), b"again").unwrap();
    }
    near(2500, "rewritten after the tombstone");
    db.delete_range::<&[u8], _>(..).unwrap();
    near(0, "everything deleted, in the memtable");
    db.flush().unwrap();
    near(0, "everything deleted, flushed");
    filled(&db, 400);
    near(400, "written again");
}
