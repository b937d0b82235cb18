//! Values written with a time to live read as absent from their expiry on, everywhere: `get`,
//! `get_versioned`, compare-and-swap, iterators in both directions (range, prefix, reverse,
//! borrowed with `next_ref`), snapshots (expiry is by time, also for a snapshot taken before it),
//! read-only handles, and after a reopen, from the WAL or from tables. The expired newest version
//! hides the older ones. Time is a `ManualClock`: no sleeping.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::Duration;

use common::dir;
use common::model::{collect, collect_lent, scan, scan_rev};
use common::opts;
use lsmkv::{Db, Error, Options, WriteBatch};

const TEN_S: Duration = Duration::from_secs(10);

fn pairs(kv: &[(&str, &str)]) -> Vec<(Vec<u8>, Vec<u8>)> {
    kv.iter()
        .map(|(k, v)| (k.as_bytes().to_vec(), v.as_bytes().to_vec()))
        .collect()
}

fn get(db: &Db, k: &str) -> Option<Vec<u8>> {
    db.get(k).unwrap().map(|v| v.to_vec())
}

/// Every read path at once: point reads, forward and reverse scans, ranges and prefixes.
fn assert_reads(db: &Db, want: &[(&str, &str)], ctx: &str) {
    let want = pairs(want);
    assert_eq!(scan(db), want, "{ctx}: scan");
    assert_eq!(
        collect_lent(db.range::<&[u8], _>(..)),
        want,
        "{ctx}: lent scan"
    );
    let mut rev = want.clone();
    rev.reverse();
    assert_eq!(scan_rev(db), rev, "{ctx}: reverse scan");
    for k in ["a", "b", "c", "d", "e"] {
        let expect = want
            .iter()
            .find(|(wk, _)| wk == k.as_bytes())
            .map(|(_, v)| v.clone());
        assert_eq!(get(db, k), expect, "{ctx}: get {k}");
        assert_eq!(
            db.get_versioned(k).unwrap().map(|(v, _)| v.to_vec()),
            expect,
            "{ctx}: get_versioned {k}"
        );
    }
    let ranged: Vec<_> = want
        .iter()
        .filter(|(k, _)| k.as_slice() >= b"b".as_slice() && k.as_slice() < b"d".as_slice())
        .cloned()
        .collect();
    assert_eq!(collect(db.range("b".."d")), ranged, "{ctx}: range");
    let mut ranged_rev = ranged.clone();
    ranged_rev.reverse();
    assert_eq!(
        collect(db.range("b".."d").rev()),
        ranged_rev,
        "{ctx}: reverse range"
    );
    let prefixed: Vec<_> = want.iter().filter(|(k, _)| k == b"c").cloned().collect();
    assert_eq!(collect(db.prefix("c")), prefixed, "{ctx}: prefix");
}

/// The same reads before and after the clock passes the expiry: from the memtable, from L0
/// tables, from the last level, and after a reopen.
#[test]
fn expired_values_read_as_absent_in_every_read_path() {
    for stage in ["memtable", "flushed", "compacted", "reopened"] {
        let d = dir::tempdir();
        let (o, clock) = opts::with_manual_clock(opts::no_sync());
        let db = Db::open(d.path(), o.clone()).unwrap();
        db.put("a", "plain").unwrap();
        db.put("b", "old-b").unwrap();
        db.put_with_ttl("b", "new-b", TEN_S).unwrap();
        db.put_with_ttl("c", "c", Duration::from_secs(20)).unwrap();
        db.put_with_ttl("d", "old-d", TEN_S).unwrap();
        db.put("d", "plain-d").unwrap(); // a plain put removes the expiry
        match stage {
            "flushed" => db.flush().unwrap(),
            "compacted" => db.compact().unwrap(),
            _ => {}
        }
        let db = if stage == "reopened" {
            db.close().unwrap();
            Db::open(d.path(), o.clone()).unwrap()
        } else {
            db
        };
        let all = [("a", "plain"), ("b", "new-b"), ("c", "c"), ("d", "plain-d")];
        assert_reads(&db, &all, &format!("{stage}: before expiry"));
        clock.advance(TEN_S - Duration::from_millis(1));
        assert_reads(&db, &all, &format!("{stage}: 1 ms before expiry"));
        clock.advance(Duration::from_millis(1));
        // b's older value "old-b" must not come back.
        let later = [("a", "plain"), ("c", "c"), ("d", "plain-d")];
        assert_reads(&db, &later, &format!("{stage}: at b's expiry"));
        clock.advance(TEN_S);
        assert_reads(
            &db,
            &[("a", "plain"), ("d", "plain-d")],
            &format!("{stage}: after"),
        );
        db.verify().unwrap();
        db.close().unwrap();
    }
}

#[test]
fn batches_stamp_the_expiry_when_written() {
    let d = dir::tempdir();
    let (o, clock) = opts::with_manual_clock(opts::no_sync());
    let db = Db::open(d.path(), o).unwrap();
    let mut b = WriteBatch::new();
    b.put_with_ttl("a", "1", TEN_S);
    b.put("b", "2");
    b.put_with_ttl("c", "3", Duration::ZERO); // already expired when written
    // The TTL counts from the write, not from building the batch.
    clock.advance(Duration::from_secs(5));
    db.write(b).unwrap();
    assert_reads(&db, &[("a", "1"), ("b", "2")], "after the batch");
    clock.advance(Duration::from_millis(9_999));
    assert_eq!(get(&db, "a").as_deref(), Some(&b"1"[..]));
    clock.advance(Duration::from_millis(1));
    assert_reads(&db, &[("b", "2")], "at a's expiry");
}

/// A snapshot and an iterator taken before the expiry: the snapshot's later reads decide expiry
/// by the time of the read; an iterator by the time it was created (both ends agree).
#[test]
fn snapshots_expire_by_time() {
    let d = dir::tempdir();
    let (o, clock) = opts::with_manual_clock(opts::no_sync());
    let db = Db::open(d.path(), o).unwrap();
    db.put("k", "old").unwrap();
    db.put_with_ttl("k", "v", TEN_S).unwrap();
    db.put("z", "z").unwrap();
    let snap = db.snapshot();
    let early_iter = snap.range::<&str, _>(..);
    db.put("k", "overwritten").unwrap();
    db.flush().unwrap();
    assert_eq!(snap.get("k").unwrap().as_deref(), Some(&b"v"[..]));
    clock.advance(TEN_S);
    assert_eq!(snap.get("k").unwrap(), None, "expired in the snapshot too");
    assert_eq!(snap.get_versioned("k").unwrap(), None);
    assert_eq!(scan(&snap), pairs(&[("z", "z")]));
    assert_eq!(scan_rev(&snap), pairs(&[("z", "z")]));
    // The iterator created before the expiry still yields the value (it is one view).
    assert_eq!(collect(early_iter), pairs(&[("k", "v"), ("z", "z")]));
    // The latest state has the plain overwrite.
    assert_eq!(get(&db, "k").as_deref(), Some(&b"overwritten"[..]));
}

/// Compare-and-swap and put_if_absent see an expired key as absent.
#[test]
fn conditional_writes_see_expired_keys_as_absent() {
    let d = dir::tempdir();
    let (o, clock) = opts::with_manual_clock(opts::no_sync());
    let db = Db::open(d.path(), o).unwrap();
    db.put_with_ttl("lock", "alice", TEN_S).unwrap();
    let (v, version) = db.get_versioned("lock").unwrap().unwrap();
    assert_eq!(&v[..], b"alice");
    assert!(!db.put_if_absent("lock", "bob").unwrap(), "still held");
    clock.advance(TEN_S);
    assert_eq!(db.get_versioned("lock").unwrap(), None);
    // The old version no longer matches: the key is absent.
    assert_eq!(
        db.compare_and_write("lock", Some(version), Some(b"x"))
            .unwrap(),
        lsmkv::CasOutcome::Mismatch { current: None }
    );
    assert!(db.put_if_absent("lock", "bob").unwrap(), "expired: free");
    assert_eq!(get(&db, "lock").as_deref(), Some(&b"bob"[..]));
    // Flushed and compacted, the same.
    db.put_with_ttl("lease", "1", TEN_S).unwrap();
    db.compact().unwrap();
    assert!(!db.compare_and_swap("lease", None, "2").unwrap());
    clock.advance(TEN_S);
    assert!(db.compare_and_swap("lease", None, "2").unwrap());
}

#[test]
fn expiry_survives_reopen_from_the_wal_and_read_only_handles_see_it() {
    let d = dir::tempdir();
    let (o, clock) = opts::with_manual_clock(opts::no_sync());
    {
        let db = Db::open(d.path(), o.clone()).unwrap();
        db.put("k", "old").unwrap();
        db.put_with_ttl("k", "v", TEN_S).unwrap();
        db.close().unwrap(); // unflushed: only in the WAL
    }
    let reader = Db::open_read_only(d.path(), o.clone()).unwrap();
    assert_eq!(reader.get("k").unwrap().as_deref(), Some(&b"v"[..]));
    let db = Db::open(d.path(), o).unwrap();
    assert_eq!(get(&db, "k").as_deref(), Some(&b"v"[..]));
    clock.advance(TEN_S);
    assert_eq!(get(&db, "k"), None);
    assert_eq!(reader.get("k").unwrap(), None);
    assert!(scan(&reader).is_empty());
}

/// Size limits apply to the user value; the 8-byte expiry is not counted.
#[test]
fn value_size_limit_applies_to_the_user_value() {
    let d = dir::tempdir();
    let o = Options {
        max_value_size: 100,
        ..opts::no_sync()
    };
    let db = Db::open(d.path(), o).unwrap();
    db.put_with_ttl("k", [7u8; 100], TEN_S).unwrap();
    assert!(matches!(
        db.put_with_ttl("k", [7u8; 101], TEN_S),
        Err(Error::ValueTooLarge { len: 101, max: 100 })
    ));
    assert!(matches!(
        db.put_with_ttl(vec![0u8; lsmkv::MAX_KEY_SIZE + 1], "v", TEN_S),
        Err(Error::KeyTooLarge { .. })
    ));
    db.flush().unwrap();
    assert_eq!(get(&db, "k"), Some(vec![7u8; 100]));
}

/// `lsmkv verify` (the offline check) and `Db::verify` accept tables and WAL segments holding
/// expiring values; `inspect` shows their expiry.
#[test]
fn verify_and_inspect_handle_expiring_values() {
    let d = dir::tempdir();
    let (o, _clock) = opts::with_manual_clock(opts::no_sync());
    let db = Db::open(d.path(), o).unwrap();
    db.put_with_ttl("flushed", "v", TEN_S).unwrap();
    db.flush().unwrap();
    db.put_with_ttl("in-wal", "w", TEN_S).unwrap();
    db.verify().unwrap();
    db.close().unwrap();
    let report = lsmkv::debug::verify::verify_dir(d.path(), &mut |_, _| {});
    assert!(report.problems.is_empty(), "{:?}", report.problems);
    let sst = common::dir::files_with_ext(d.path(), "sst");
    let opts = lsmkv::debug::sst::SstOptions {
        keys: true,
        value_preview_bytes: 64,
        ..Default::default()
    };
    let dump = lsmkv::debug::sst::dump_sst(sst.last().unwrap(), opts);
    let e = &dump.keys[0];
    assert_eq!((e.kind.as_str(), e.value.as_str()), ("put-expiring", "v"));
    assert_eq!(e.expires_at.as_deref(), Some("2026-12-06T00:00:10.000Z"));
}
