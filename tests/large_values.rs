//! Size limits and large entries: empty, block-sized, 70 KB and 16 MiB values survive flush and
//! reopen byte for byte; the 64 KiB key limit; `max_value_size`; an oversized entry in a batch
//! applies nothing.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::rng::Rng;
use common::{dir, opts};
use lsmkv::format::MAX_KEY_SIZE;
use lsmkv::{Db, Error, Options, WriteBatch};

fn options() -> Options {
    opts::no_sync()
}

/// Deterministic, not very compressible bytes.
fn pattern(len: usize, seed: u64) -> Vec<u8> {
    Rng::new(seed).bytes(len)
}

fn assert_value(db: &Db, key: &[u8], want: &[u8], when: &str) {
    let got = db
        .get(key)
        .unwrap()
        .unwrap_or_else(|| panic!("{when}: key of {} bytes missing", key.len()));
    assert_eq!(got.len(), want.len(), "{when}: length");
    assert!(*got == *want, "{when}: bytes differ");
}

#[test]
fn values_from_empty_to_16_mib_survive_flush_and_reopen() {
    let block = Options::default().block_size;
    let cases: Vec<(Vec<u8>, Vec<u8>)> = vec![
        (b"empty".to_vec(), Vec::new()),
        (b"block+1".to_vec(), pattern(block + 1, 1)),
        (b"70kb".to_vec(), pattern(70_000, 2)),
        (b"16mib".to_vec(), pattern(16 << 20, 3)),
        (Vec::new(), b"value of the empty key".to_vec()),
    ];
    let dir = dir::tempdir();
    let db = Db::open(dir.path(), options()).unwrap();
    for (k, v) in &cases {
        db.put(k, v).unwrap();
    }
    for (k, v) in &cases {
        assert_value(&db, k, v, "memtable");
    }
    db.flush().unwrap();
    for (k, v) in &cases {
        assert_value(&db, k, v, "after flush");
    }
    db.close().unwrap();
    let db = Db::open(dir.path(), options()).unwrap();
    for (k, v) in &cases {
        assert_value(&db, k, v, "after reopen");
    }
    // An empty value is present, not absent.
    assert_eq!(db.get(b"empty").unwrap().map(|v| v.len()), Some(0));
}

#[test]
fn large_values_recovered_from_the_wal() {
    let dir = dir::tempdir();
    let v = pattern(3 << 20, 9);
    {
        let db = Db::open(dir.path(), options()).unwrap();
        db.put(b"big", &v).unwrap();
        db.put(b"small", b"s").unwrap();
        db.close().unwrap();
    }
    let db = Db::open(dir.path(), options()).unwrap();
    assert_value(&db, b"big", &v, "WAL replay");
    assert_value(&db, b"small", b"s", "WAL replay");
}

#[test]
fn key_of_64_kib_works_and_one_more_byte_is_too_large() {
    let dir = dir::tempdir();
    let db = Db::open(dir.path(), options()).unwrap();
    let max_key = pattern(MAX_KEY_SIZE, 4);
    assert_eq!(MAX_KEY_SIZE, 64 * 1024);
    db.put(&max_key, b"v").unwrap();
    assert_value(&db, &max_key, b"v", "memtable");

    let too_long = pattern(MAX_KEY_SIZE + 1, 5);
    assert!(matches!(
        db.put(&too_long, b"v"),
        Err(Error::KeyTooLarge { .. })
    ));
    assert!(matches!(
        db.delete(&too_long),
        Err(Error::KeyTooLarge { .. })
    ));

    db.flush().unwrap();
    assert_value(&db, &max_key, b"v", "after flush");
    db.close().unwrap();
    let db = Db::open(dir.path(), options()).unwrap();
    assert_value(&db, &max_key, b"v", "after reopen");
}

/// A fresh database with `max_value_size`, and its options (for reopening).
fn open_with_max_value_size(max_value_size: usize) -> (tempfile::TempDir, Options, Db) {
    let dir = dir::tempdir();
    let o = Options {
        max_value_size,
        ..options()
    };
    let db = Db::open(dir.path(), o.clone()).unwrap();
    (dir, o, db)
}

#[test]
fn value_over_max_value_size_is_rejected_and_db_keeps_working() {
    let (dir, o, db) = open_with_max_value_size(100_000);
    db.put(b"exact", pattern(100_000, 6)).unwrap();
    let e = db.put(b"over", pattern(100_001, 7));
    assert!(matches!(e, Err(Error::ValueTooLarge { .. })), "{e:?}");
    assert_eq!(db.get(b"over").unwrap(), None);
    // Not poisoned: a rejected argument is not a failed write.
    db.put(b"after", b"ok").unwrap();
    assert_value(&db, b"after", b"ok", "after rejection");
    db.flush().unwrap();
    db.close().unwrap();
    let db = Db::open(dir.path(), o).unwrap();
    assert_value(&db, b"exact", &pattern(100_000, 6), "reopen");
    assert_eq!(db.get(b"over").unwrap(), None);
}

#[test]
fn batch_with_one_oversized_entry_applies_nothing() {
    let (dir, o, db) = open_with_max_value_size(1000);
    db.put(b"pre", b"existing").unwrap();

    let mut b = WriteBatch::new();
    b.put(b"a", b"1");
    b.delete(b"pre");
    b.put(b"big", vec![0u8; 1001]);
    b.put(b"c", b"3");
    assert!(matches!(db.write(b), Err(Error::ValueTooLarge { .. })));

    let mut b = WriteBatch::new();
    b.put(b"a", b"1");
    b.put(vec![b'k'; MAX_KEY_SIZE + 1], b"v");
    assert!(matches!(db.write(b), Err(Error::KeyTooLarge { .. })));

    let mut b = WriteBatch::new();
    b.delete(b"pre");
    b.delete(vec![b'k'; MAX_KEY_SIZE + 1]);
    assert!(matches!(db.write(b), Err(Error::KeyTooLarge { .. })));

    for k in [&b"a"[..], b"big", b"c"] {
        assert_eq!(db.get(k).unwrap(), None, "{k:?} from a rejected batch");
    }
    assert_value(&db, b"pre", b"existing", "delete in a rejected batch");
    db.close().unwrap();
    let db = Db::open(dir.path(), o).unwrap();
    for k in [&b"a"[..], b"big", b"c"] {
        assert_eq!(
            db.get(k).unwrap(),
            None,
            "{k:?} from a rejected batch after reopen"
        );
    }
    assert_value(&db, b"pre", b"existing", "reopen");
}
