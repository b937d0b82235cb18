//! `Db::compare_and_swap`, `Db::put_if_absent` and `Db::compare_and_write`: a write applied only
//! when the key's version is the expected one, atomically with respect to every other write.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{dir, opts};
use lsmkv::{CasOutcome, Db, Options, SyncMode};

fn get(db: &Db, key: &str) -> Option<Vec<u8>> {
    db.get(key).unwrap().map(|v| v.to_vec())
}

fn version(db: &Db, key: &str) -> Option<u64> {
    db.get_versioned(key).unwrap().map(|(_, v)| v)
}

#[test]
fn cas_matching_version_writes() {
    let d = dir::tempdir();
    let db = Db::open(d.path(), opts::tiny()).unwrap();
    db.put("k", "a").unwrap();
    let v = version(&db, "k");
    assert!(db.compare_and_swap("k", v, "b").unwrap());
    assert_eq!(get(&db, "k").as_deref(), Some(&b"b"[..]));
    let v2 = version(&db, "k");
    assert!(v2 > v);
}

#[test]
fn cas_stale_version_does_not_write() {
    let d = dir::tempdir();
    let db = Db::open(d.path(), opts::tiny()).unwrap();
    db.put("k", "a").unwrap();
    let stale = version(&db, "k");
    db.put("k", "b").unwrap();
    assert!(!db.compare_and_swap("k", stale, "c").unwrap());
    assert_eq!(get(&db, "k").as_deref(), Some(&b"b"[..]));
    // A version the key never had, and "absent" for a present key.
    assert!(!db.compare_and_swap("k", Some(u64::MAX), "c").unwrap());
    assert!(!db.compare_and_swap("k", None, "c").unwrap());
    assert_eq!(get(&db, "k").as_deref(), Some(&b"b"[..]));
}

#[test]
fn cas_absent_expectations() {
    let d = dir::tempdir();
    let db = Db::open(d.path(), opts::tiny()).unwrap();
    // Expecting a version of an absent key fails; expecting absence writes.
    assert!(!db.compare_and_swap("k", Some(1), "x").unwrap());
    assert_eq!(get(&db, "k"), None);
    assert!(db.compare_and_swap("k", None, "x").unwrap());
    assert_eq!(get(&db, "k").as_deref(), Some(&b"x"[..]));
    assert!(!db.compare_and_swap("k", None, "y").unwrap());
    assert_eq!(get(&db, "k").as_deref(), Some(&b"x"[..]));
}

#[test]
fn delete_then_cas_absent() {
    let d = dir::tempdir();
    let db = Db::open(d.path(), opts::tiny()).unwrap();
    db.put("k", "a").unwrap();
    let old = version(&db, "k");
    db.delete("k").unwrap();
    assert!(!db.compare_and_swap("k", old, "b").unwrap());
    assert!(db.compare_and_swap("k", None, "b").unwrap());
    assert_eq!(get(&db, "k").as_deref(), Some(&b"b"[..]));
    // The same after the tombstone went through a flush and a full compaction.
    db.delete("k").unwrap();
    db.compact().unwrap();
    assert!(db.compare_and_swap("k", None, "c").unwrap());
    assert_eq!(get(&db, "k").as_deref(), Some(&b"c"[..]));
}

#[test]
fn put_if_absent_writes_once() {
    let d = dir::tempdir();
    let db = Db::open(d.path(), opts::tiny()).unwrap();
    assert!(db.put_if_absent("k", "first").unwrap());
    assert!(!db.put_if_absent("k", "second").unwrap());
    assert_eq!(get(&db, "k").as_deref(), Some(&b"first"[..]));
    db.flush().unwrap();
    assert!(!db.put_if_absent("k", "third").unwrap());
    db.delete("k").unwrap();
    assert!(db.put_if_absent("k", "fourth").unwrap());
    assert_eq!(get(&db, "k").as_deref(), Some(&b"fourth"[..]));
}

#[test]
fn compare_and_write_reports_versions_and_deletes() {
    let d = dir::tempdir();
    let db = Db::open(d.path(), opts::tiny()).unwrap();
    let CasOutcome::Written { version: v1 } = db.compare_and_write("k", None, Some(b"a")).unwrap()
    else {
        panic!("expected a write");
    };
    assert_eq!(version(&db, "k"), Some(v1));
    assert_eq!(
        db.compare_and_write("k", None, Some(b"b")).unwrap(),
        CasOutcome::Mismatch { current: Some(v1) }
    );
    // A conditional delete.
    assert_eq!(
        db.compare_and_write("k", Some(v1 + 100), None).unwrap(),
        CasOutcome::Mismatch { current: Some(v1) }
    );
    assert!(
        db.compare_and_write("k", Some(v1), None)
            .unwrap()
            .is_written()
    );
    assert_eq!(get(&db, "k"), None);
    assert_eq!(
        db.compare_and_write("k", Some(v1), None).unwrap(),
        CasOutcome::Mismatch { current: None }
    );
}

/// Versions and conditional writes survive a reopen: the WAL replay assigns the same seqnos.
#[test]
fn cas_after_reopen() {
    let d = dir::tempdir();
    let v = {
        let db = Db::open(d.path(), opts::tiny()).unwrap();
        db.put_versioned("k", "a").unwrap()
    };
    let db = Db::open(d.path(), opts::tiny()).unwrap();
    assert_eq!(version(&db, "k"), Some(v));
    assert!(db.compare_and_swap("k", Some(v), "b").unwrap());
}

/// N threads increment one counter with read + compare-and-swap retry loops, while plain writers
/// write other keys (so conditional writes interleave with group commits) and memtables flush.
/// No increment is lost: the final value is the total number of increments, and of several
/// swaps expecting the same version exactly one won each time.
#[test]
fn concurrent_cas_increments_lose_nothing() {
    const THREADS: u64 = 4;
    const PER_THREAD: u64 = 300;
    let d = dir::tempdir();
    let opts = Options {
        sync_mode: SyncMode::None,
        ..opts::small(8 << 10)
    };
    let db = Db::open(d.path(), opts).unwrap();
    assert!(db.put_if_absent("counter", 0u64.to_le_bytes()).unwrap());
    let stop = std::sync::atomic::AtomicBool::new(false);
    let failures = std::sync::atomic::AtomicU64::new(0);
    std::thread::scope(|s| {
        let noise = s.spawn(|| {
            let mut i = 0u64;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                db.put(format!("noise{:05}", i % 5000), i.to_le_bytes())
                    .unwrap();
                i += 1;
            }
        });
        let workers: Vec<_> = (0..THREADS)
            .map(|_| {
                s.spawn(|| {
                    for _ in 0..PER_THREAD {
                        loop {
                            let (v, ver) = db.get_versioned("counter").unwrap().unwrap();
                            let n = u64::from_le_bytes(v[..].try_into().unwrap());
                            if db
                                .compare_and_swap("counter", Some(ver), (n + 1).to_le_bytes())
                                .unwrap()
                            {
                                break;
                            }
                            failures.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        }
                    }
                })
            })
            .collect();
        for w in workers {
            w.join().unwrap();
        }
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        noise.join().unwrap();
    });
    let v = db.get("counter").unwrap().unwrap();
    assert_eq!(
        u64::from_le_bytes(v[..].try_into().unwrap()),
        THREADS * PER_THREAD
    );
    eprintln!(
        "{} failed swaps retried",
        failures.load(std::sync::atomic::Ordering::Relaxed)
    );
}

/// Many threads try to swap the same version at once: exactly one wins.
#[test]
fn racing_cas_on_one_version_has_one_winner() {
    const THREADS: usize = 8;
    let d = dir::tempdir();
    let db = Db::open(d.path(), opts::no_sync()).unwrap();
    for round in 0..50u32 {
        let ver = db.put_versioned("k", format!("start{round}")).unwrap();
        let barrier = std::sync::Barrier::new(THREADS);
        let wins: usize = std::thread::scope(|s| {
            let hs: Vec<_> = (0..THREADS)
                .map(|t| {
                    let (db, barrier) = (&db, &barrier);
                    s.spawn(move || {
                        barrier.wait();
                        db.compare_and_swap("k", Some(ver), format!("t{t}"))
                            .unwrap()
                    })
                })
                .collect();
            hs.into_iter().map(|h| usize::from(h.join().unwrap())).sum()
        });
        assert_eq!(wins, 1, "round {round}");
    }
}
