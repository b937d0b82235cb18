//! Recovery on reopen: from the WAL alone, from many SSTables, with empty WAL files, with a WAL
//! whose tail is torn (ends mid-record), and the directory lock.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
// `drop(db)` is the point of several tests (dropping the last handle closes the database); the
// lint only fires while `Db` has no drop glue.
#![allow(clippy::drop_non_drop)]

mod common;

use std::fs::OpenOptions;
use std::io::Write;
use std::path::Path;

use common::dir::{self, files_with_ext};
use common::model::{self, State};
use common::opts;
use lsmkv::{Db, Error, Options, WriteBatch};

fn options() -> Options {
    Options {
        block_size: 256,
        ..opts::no_sync()
    }
}

fn check(db: &Db, model: &State) {
    model::assert_gets(db, model, model.keys().map(Vec::as_slice), "after reopen");
}

#[test]
fn reopen_with_only_a_wal_and_no_sstables() {
    let dir = dir::tempdir();
    let mut model = State::new();
    {
        let db = Db::open(dir.path(), options()).unwrap();
        for i in 0..200u32 {
            let (k, v) = (
                format!("k{i:04}").into_bytes(),
                format!("v{i}").into_bytes(),
            );
            db.put(&k, &v).unwrap();
            model.insert(k, v);
        }
        db.delete(b"k0007").unwrap();
        model.remove(b"k0007".as_slice());
        db.put(b"", b"empty key").unwrap();
        model.insert(Vec::new(), b"empty key".to_vec());
        db.close().unwrap();
    }
    let db = Db::open(dir.path(), options()).unwrap();
    check(&db, &model);
    assert_eq!(db.get(b"k0007").unwrap(), None);
    // And once more, after writing on top of the recovered state.
    db.put(b"k0000", b"new").unwrap();
    model.insert(b"k0000".to_vec(), b"new".to_vec());
    drop(db);
    let db = Db::open(dir.path(), options()).unwrap();
    check(&db, &model);
}

#[test]
fn reopen_with_thirty_sstables() {
    let dir = dir::tempdir();
    let mut model = State::new();
    {
        let db = Db::open(dir.path(), options()).unwrap();
        for round in 0..30u32 {
            for i in 0..20u32 {
                // Overlapping key ranges across tables: newer tables must shadow older ones.
                let k = format!("key{:03}", (round * 7 + i) % 90).into_bytes();
                let v = format!("round{round}-i{i}").into_bytes();
                db.put(&k, &v).unwrap();
                model.insert(k, v);
            }
            if round % 3 == 0 {
                let k = format!("key{:03}", round % 90).into_bytes();
                db.delete(&k).unwrap();
                model.remove(&k);
            }
            db.flush().unwrap();
        }
        assert!(!files_with_ext(dir.path(), "sst").is_empty());
        check(&db, &model);
        db.close().unwrap();
    }
    let db = Db::open(dir.path(), options()).unwrap();
    check(&db, &model);
    for i in 0..90u32 {
        let k = format!("key{i:03}").into_bytes();
        assert_eq!(
            db.get(&k).unwrap().as_deref(),
            model.get(&k).map(Vec::as_slice)
        );
    }
}

#[test]
fn reopen_fresh_database_with_empty_wal() {
    let dir = dir::tempdir();
    Db::open(dir.path(), options()).unwrap().close().unwrap();
    let db = Db::open(dir.path(), options()).unwrap();
    assert_eq!(db.get(b"anything").unwrap(), None);
    db.put(b"a", b"1").unwrap();
    db.close().unwrap();
    let db = Db::open(dir.path(), options()).unwrap();
    assert_eq!(db.get(b"a").unwrap().as_deref(), Some(&b"1"[..]));
}

/// After a flush every WAL byte is also in an SSTable, so WAL files cut to zero length (as a crash
/// right after creating a segment leaves them) must open and lose nothing.
#[test]
fn reopen_with_zero_length_wal_files_after_flush() {
    let dir = dir::tempdir();
    {
        let db = Db::open(dir.path(), options()).unwrap();
        for i in 0..50u32 {
            db.put(format!("k{i}"), format!("v{i}")).unwrap();
        }
        db.flush().unwrap();
        db.close().unwrap();
    }
    for wal in files_with_ext(dir.path(), "wal") {
        OpenOptions::new()
            .write(true)
            .open(&wal)
            .unwrap()
            .set_len(0)
            .unwrap();
    }
    let db = Db::open(dir.path(), options()).unwrap();
    for i in 0..50u32 {
        assert_eq!(
            db.get(format!("k{i}")).unwrap().as_deref(),
            Some(format!("v{i}").as_bytes())
        );
    }
    db.put(b"after", b"x").unwrap();
    drop(db);
    let db = Db::open(dir.path(), options()).unwrap();
    assert_eq!(db.get(b"after").unwrap().as_deref(), Some(&b"x"[..]));
}

/// Writes `n` keys (one write each, so one WAL record each) and closes without flushing.
fn write_unflushed(dir: &Path, prefix: &str, n: u32) -> State {
    let db = Db::open(dir, options()).unwrap();
    let mut model = State::new();
    for i in 0..n {
        let (k, v) = (
            format!("{prefix}{i:03}").into_bytes(),
            vec![b'a' + (i % 26) as u8; 50],
        );
        db.put(&k, &v).unwrap();
        model.insert(k, v);
    }
    let mut b = WriteBatch::new();
    b.put(format!("{prefix}batch1"), b"1");
    b.put(format!("{prefix}batch2"), b"2");
    db.write(b).unwrap();
    model.insert(format!("{prefix}batch1").into_bytes(), b"1".to_vec());
    model.insert(format!("{prefix}batch2").into_bytes(), b"2".to_vec());
    db.close().unwrap();
    model
}

/// Bytes that cannot be a complete record whatever the framing: too short for a header, or a
/// header-sized prefix whose length field (fixed-width or varint) points past the end of the file.
const TORN_TAILS: &[&[u8]] = &[&[0x7f], &[0x7f; 5], &[0x7f; 12]];

#[test]
fn wal_ending_mid_record_keeps_every_complete_record() {
    for (n, tail) in TORN_TAILS.iter().enumerate() {
        let dir = dir::tempdir();
        let mut model = write_unflushed(dir.path(), "k", 40);
        let wals = files_with_ext(dir.path(), "wal");
        let newest = wals.last().expect("a WAL segment after unflushed writes");
        OpenOptions::new()
            .append(true)
            .open(newest)
            .unwrap()
            .write_all(tail)
            .unwrap();

        let db = Db::open(dir.path(), options())
            .unwrap_or_else(|e| panic!("tail #{n}: a torn WAL tail must not fail open: {e}"));
        check(&db, &model);
        // New writes after recovery must not land behind the garbage and get lost.
        db.put(b"after", b"recovery").unwrap();
        model.insert(b"after".to_vec(), b"recovery".to_vec());
        db.close().unwrap();
        let db = Db::open(dir.path(), options()).unwrap();
        check(&db, &model);
    }
}

/// A real record cut in the middle: the records before it survive, the cut one is either gone or
/// (if the engine had made it durable elsewhere, e.g. a flush on close) complete -- never partial.
#[test]
fn wal_with_last_record_cut_short() {
    let dir = dir::tempdir();
    let model = write_unflushed(dir.path(), "k", 20);
    let big = vec![0x5au8; 4000];
    {
        let db = Db::open(dir.path(), options()).unwrap();
        db.put(b"zz-big", &big).unwrap();
        db.close().unwrap();
    }
    let wals = files_with_ext(dir.path(), "wal");
    let newest = wals.last().unwrap();
    let len = std::fs::metadata(newest).unwrap().len();
    if len > 1000 {
        // Cut 100 bytes off: inside the 4000-byte value of the last record.
        OpenOptions::new()
            .write(true)
            .open(newest)
            .unwrap()
            .set_len(len - 100)
            .unwrap();
    }
    let db = Db::open(dir.path(), options()).unwrap();
    check(&db, &model);
    match db.get(b"zz-big").unwrap() {
        None => {}
        Some(v) => assert_eq!(
            &*v,
            big.as_slice(),
            "a torn record must not be half-applied"
        ),
    }
}

#[test]
fn second_open_is_locked_until_close() {
    let dir = dir::tempdir();
    let first = Db::open(dir.path(), options()).unwrap();
    first.put(b"k", b"v").unwrap();
    let second = Db::open(dir.path(), options());
    assert!(
        matches!(second, Err(Error::Locked { .. })),
        "second open must fail with Locked, got {:?}",
        second.as_ref().map(|_| ())
    );
    // A clone is the same database, not a second open, and keeps the lock held.
    let clone = first.clone();
    first.close().unwrap();
    assert!(matches!(
        Db::open(dir.path(), options()),
        Err(Error::Locked { .. })
    ));
    drop(clone);
    let again = Db::open(dir.path(), options()).unwrap();
    assert_eq!(again.get(b"k").unwrap().as_deref(), Some(&b"v"[..]));
}
