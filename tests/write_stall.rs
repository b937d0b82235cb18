//! Non-blocking writes: with background work paused, memtables (and level-0 tables) pile up
//! until `try_write` and its conveniences are refused with `Error::WouldStall`, which writes
//! nothing and carries a bounded `retry_after`; once background work continues, retrying after
//! `retry_after` gets the write through.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::Duration;

use common::{dir, opts};
use lsmkv::{Db, Error, Options, WriteBatch};

/// Retries `write` after each `retry_after` until it succeeds (bounded: background work runs,
/// so a few retries are enough; the bound only keeps a bug from hanging the test).
fn retry_until_written(mut write: impl FnMut() -> lsmkv::Result<()>) -> usize {
    for attempt in 0..10_000 {
        match write() {
            Ok(()) => return attempt,
            Err(Error::WouldStall { retry_after }) => std::thread::sleep(retry_after),
            Err(e) => panic!("unexpected error: {e}"),
        }
    }
    panic!("the write was still refused after 10000 retries");
}

fn assert_bounded(retry_after: Duration) {
    assert!(retry_after >= Duration::from_millis(1), "{retry_after:?}");
    assert!(retry_after <= Duration::from_secs(10), "{retry_after:?}");
}

#[test]
fn full_memtables_refuse_try_writes_until_flushed() {
    let d = dir::tempdir();
    let o = Options {
        memtable_max_size: 4096,
        max_immutable_memtables: 1,
        ..opts::no_sync()
    };
    let db = Db::open(d.path(), o).unwrap();
    db.pause_background_work();
    let value = vec![7u8; 200];
    let mut refused = None;
    for i in 0..10_000u32 {
        match db.try_put(format!("k{i:05}"), &value) {
            Ok(()) => {}
            Err(Error::WouldStall { retry_after }) => {
                refused = Some((i, retry_after));
                break;
            }
            Err(e) => panic!("{e}"),
        }
    }
    let (i, retry_after) = refused.expect("a paused database never refused a try_put");
    assert_bounded(retry_after);
    // Enough for one full memtable and one frozen one, no more.
    assert!(i > 10, "refused after only {i} writes");
    let key = format!("k{i:05}");
    assert_eq!(
        db.get(&key).unwrap(),
        None,
        "a refused write wrote something"
    );
    // The other non-blocking entry points are refused too, and write nothing.
    let mut b = WriteBatch::new();
    b.put("batch", "v");
    assert!(matches!(db.try_write(b), Err(Error::WouldStall { .. })));
    assert!(matches!(
        db.try_delete("k00000"),
        Err(Error::WouldStall { .. })
    ));
    let ks = db.keyspace("other").unwrap();
    assert!(matches!(
        ks.try_put("a", "b"),
        Err(Error::WouldStall { .. })
    ));
    assert!(matches!(ks.try_delete("a"), Err(Error::WouldStall { .. })));
    assert_eq!(db.get("batch").unwrap(), None);
    assert!(db.get("k00000").unwrap().is_some());
    let stalls_before = db.stats().write_stalls;
    db.continue_background_work();
    retry_until_written(|| db.try_put(&key, &value));
    assert_eq!(db.get(&key).unwrap().as_deref(), Some(&value[..]));
    ks.try_put("a", "b").unwrap();
    // Refusals are not stalls: nobody waited.
    assert_eq!(db.stats().write_stalls, stalls_before);
}

#[test]
fn level0_stop_refuses_try_writes_until_compacted() {
    let d = dir::tempdir();
    let o = Options {
        l0_compaction_trigger: 2,
        l0_slowdown_writes_trigger: 3,
        l0_stop_writes_trigger: 4,
        ..opts::no_sync()
    };
    let db = Db::open(d.path(), o).unwrap();
    db.pause_background_work();
    // Explicit flushes still run while paused; compaction does not.
    for i in 0..4u32 {
        db.put(format!("k{i}"), "v").unwrap();
        db.flush().unwrap();
    }
    assert_eq!(db.stats().levels[0].files, 4);
    match db.try_put("late", "v") {
        Err(Error::WouldStall { retry_after }) => assert_bounded(retry_after),
        other => panic!("expected WouldStall, got {other:?}"),
    }
    assert_eq!(db.get("late").unwrap(), None);
    db.continue_background_work();
    retry_until_written(|| db.try_put("late", "v"));
    assert_eq!(db.get("late").unwrap().as_deref(), Some(&b"v"[..]));
    assert!(db.stats().levels[0].files < 4);
}

#[test]
fn try_write_is_a_write_when_nothing_stalls() {
    let d = dir::tempdir();
    let db = Db::open(d.path(), opts::tiny()).unwrap();
    for i in 0..500u32 {
        retry_until_written(|| db.try_put(format!("k{i:04}"), "value"));
    }
    retry_until_written(|| db.try_delete("k0000"));
    assert_eq!(db.get("k0000").unwrap(), None);
    assert!(db.get("k0499").unwrap().is_some());
    let empty = WriteBatch::new();
    db.try_write(empty).unwrap();
}

/// Blocking writes between the level-0 slowdown and stop triggers are slowed down, and each
/// slowdown is counted under its cause (level 0), beside the peak level-0 count that caused it.
#[test]
fn level0_slowdowns_are_counted_by_cause() {
    let d = dir::tempdir();
    let o = Options {
        l0_compaction_trigger: 2,
        l0_slowdown_writes_trigger: 3,
        l0_stop_writes_trigger: 10,
        ..opts::no_sync()
    };
    let db = Db::open(d.path(), o).unwrap();
    db.pause_background_work();
    for i in 0..3u32 {
        db.put(format!("k{i}"), "v").unwrap();
        db.flush().unwrap();
    }
    let before = db.stats();
    assert_eq!(before.stalls.l0_slowdowns, 0);
    assert_eq!(before.stalls.peak_l0_files, 3);
    db.put("slowed", "v").unwrap();
    db.put("slowed2", "v").unwrap();
    let s = db.stats();
    assert_eq!(s.stalls.l0_slowdowns, 2, "{:?}", s.stalls);
    assert_eq!(s.write_stalls, before.write_stalls + 2);
    assert_eq!(
        (
            s.stalls.l0_stops,
            s.stalls.memtable_waits,
            s.stalls.pending_slowdowns
        ),
        (0, 0, 0)
    );
    // The slowed writes reach level 0 too (a fourth table) before compaction may run: otherwise
    // whether `compact()`'s flush finds 3 tables or none depends on the compaction thread.
    db.flush().unwrap();
    assert_eq!(db.stats().stalls.peak_l0_files, 4);
    db.continue_background_work();
    db.compact().unwrap();
    // A peak stays a peak after compaction empties level 0.
    let after = db.stats();
    assert_eq!(after.levels[0].files, 0);
    assert_eq!(after.stalls.peak_l0_files, 4);
}
