//! `Db::get_versioned`: a key's version is the seqno of its newest write, and it changes only when
//! the key is written: flushes, full compactions (which write the bottom level) and reopening keep
//! it. Deleted keys read as absent.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{dir, opts};
use lsmkv::Db;

fn versioned(db: &Db, key: &str) -> Option<(Vec<u8>, u64)> {
    db.get_versioned(key)
        .unwrap()
        .map(|(v, ver)| (v.to_vec(), ver))
}

#[test]
fn absent_put_overwrite_delete() {
    let d = dir::tempdir();
    let db = Db::open(d.path(), opts::tiny()).unwrap();
    assert_eq!(versioned(&db, "k"), None);
    let v1 = db.put_versioned("k", "one").unwrap();
    assert!(v1 > 0);
    assert_eq!(versioned(&db, "k"), Some((b"one".to_vec(), v1)));
    db.put("other", "x").unwrap();
    // Writing another key does not change this key's version.
    assert_eq!(versioned(&db, "k"), Some((b"one".to_vec(), v1)));
    db.put("k", "two").unwrap();
    let (_, v2) = versioned(&db, "k").unwrap();
    assert!(v2 > v1);
    db.delete("k").unwrap();
    assert_eq!(versioned(&db, "k"), None);
    assert_eq!(db.get("k").unwrap(), None);
}

#[test]
fn version_is_the_seqno_of_the_batch_entry() {
    let d = dir::tempdir();
    let db = Db::open(d.path(), opts::no_sync()).unwrap();
    let mut b = lsmkv::WriteBatch::new();
    b.put("a", "1");
    b.put("b", "2");
    db.write(b).unwrap();
    let (_, va) = versioned(&db, "a").unwrap();
    let (_, vb) = versioned(&db, "b").unwrap();
    assert_eq!(vb, va + 1);
}

/// The version read before a flush, a full compaction (bottom level) and a reopen is the one
/// read after each of them.
#[test]
fn version_survives_flush_compaction_and_reopen() {
    let d = dir::tempdir();
    let mut expected = Vec::new();
    {
        let db = Db::open(d.path(), opts::tiny()).unwrap();
        for i in 0..300u32 {
            let k = format!("key{:04}", i % 120);
            db.put(&k, format!("value-{i}")).unwrap();
        }
        for i in 0..120u32 {
            let k = format!("key{i:04}");
            expected.push((k.clone(), versioned(&db, &k).unwrap()));
        }
        let check = |db: &Db, when: &str| {
            for (k, want) in &expected {
                assert_eq!(versioned(db, k).as_ref(), Some(want), "{k} after {when}");
            }
        };
        db.flush().unwrap();
        check(&db, "flush");
        db.compact().unwrap();
        assert!(!db.tables().is_empty());
        // Everything is at the bottom level, where seqnos used to be zeroed.
        assert!(
            db.tables().iter().all(|t| t.min_seqno > 0),
            "{:?}",
            db.tables()
        );
        check(&db, "full compaction");
        db.close().unwrap();
    }
    let db = Db::open(d.path(), opts::tiny()).unwrap();
    for (k, want) in &expected {
        assert_eq!(versioned(&db, k).as_ref(), Some(want), "{k} after reopen");
    }
    db.compact().unwrap();
    for (k, want) in &expected {
        assert_eq!(
            versioned(&db, k).as_ref(),
            Some(want),
            "{k} after reopen + compaction"
        );
    }
}

/// Two different values of one key, each compacted to the bottom level, never share a version
/// (with zeroed seqnos both read as version 0, and a compare-and-swap expecting the first would
/// overwrite the second).
#[test]
fn two_values_compacted_to_the_bottom_have_different_versions() {
    let d = dir::tempdir();
    let db = Db::open(d.path(), opts::tiny()).unwrap();
    db.put("k", "first").unwrap();
    db.compact().unwrap();
    let (_, v1) = versioned(&db, "k").unwrap();
    db.put("k", "second").unwrap();
    db.compact().unwrap();
    let (value, v2) = versioned(&db, "k").unwrap();
    assert_eq!(value, b"second");
    assert_ne!(v1, v2);
    assert!(!db.compare_and_swap("k", Some(v1), "third").unwrap());
    assert_eq!(db.get("k").unwrap().as_deref(), Some(&b"second"[..]));
}

#[test]
fn snapshot_get_versioned_sees_the_old_version() {
    let d = dir::tempdir();
    let db = Db::open(d.path(), opts::tiny()).unwrap();
    let v1 = db.put_versioned("k", "one").unwrap();
    let snap = db.snapshot();
    let v2 = db.put_versioned("k", "two").unwrap();
    assert!(v2 > v1);
    db.compact().unwrap();
    let (v, ver) = snap.get_versioned("k").unwrap().unwrap();
    assert_eq!((&v[..], ver), (&b"one"[..], v1));
    assert_eq!(versioned(&db, "k"), Some((b"two".to_vec(), v2)));
}
