//! File lifetime: a `Value`, an iterator or a snapshot keeps reading correct data while the tables
//! it reads from are superseded (later writes, flushes, compaction) and after the database handle is
//! gone; a table file is unlinked only when nothing holds it.
//!
//! The assertions about replaced tables only apply when a table really was replaced.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::collections::BTreeSet;

use common::{dir, opts};
use lsmkv::{Compression, Db, Options, Value};

fn options(compression: Compression) -> Options {
    Options {
        compression,
        ..opts::small(32 << 10)
    }
}

fn key(i: u64) -> Vec<u8> {
    format!("key{i:05}").into_bytes()
}

fn value(generation: u64, i: u64) -> Vec<u8> {
    format!("gen{generation}-value{i}-").repeat(6).into_bytes()
}

const N: u64 = 1500;

fn run(compression: Compression) {
    let dir = dir::tempdir();
    let db = Db::open(dir.path(), options(compression)).unwrap();
    for i in 0..N {
        db.put(key(i), value(0, i)).unwrap();
    }
    db.flush().unwrap();
    let gen0_tables: BTreeSet<u64> = db.tables().iter().map(|t| t.number).collect();

    // Holders of generation 0: values read from SSTables, a half-consumed iterator each way,
    // and a snapshot.
    let held: Vec<(u64, Value)> = (0..N)
        .step_by(101)
        .map(|i| (i, db.get(key(i)).unwrap().unwrap()))
        .collect();
    let mut fwd = db.range::<&[u8], _>(..);
    for i in 0..N / 2 {
        let (k, v) = fwd.next().unwrap().unwrap();
        assert_eq!((&k[..], &v[..]), (&key(i)[..], &value(0, i)[..]));
    }
    let mut back = db.prefix(b"key").rev();
    for i in (N / 2..N).rev() {
        let (k, _) = back.next().unwrap().unwrap();
        assert_eq!(&k[..], &key(i)[..]);
    }
    let snap = db.snapshot();

    // Supersede everything: overwrite every key, delete some, flush, compact.
    for i in 0..N {
        if i % 5 == 0 {
            db.delete(key(i)).unwrap();
        } else {
            db.put(key(i), value(1, i)).unwrap();
        }
    }
    db.flush().unwrap();
    db.compact().unwrap();
    let now_tables: BTreeSet<u64> = db.tables().iter().map(|t| t.number).collect();
    let replaced: Vec<u64> = gen0_tables.difference(&now_tables).copied().collect();

    // Everything held still shows generation 0.
    for (i, v) in &held {
        assert_eq!(&v[..], &value(0, *i)[..]);
    }
    for i in N / 2..N {
        let (k, v) = fwd.next().unwrap().unwrap();
        assert_eq!((&k[..], &v[..]), (&key(i)[..], &value(0, i)[..]));
    }
    assert!(fwd.next().is_none());
    for i in (0..N / 2).rev() {
        let (k, v) = back.next().unwrap().unwrap();
        assert_eq!((&k[..], &v[..]), (&key(i)[..], &value(0, i)[..]));
    }
    assert!(back.next().is_none());
    assert_eq!(snap.get(key(0)).unwrap().unwrap(), value(0, 0).as_slice());
    assert_eq!(snap.range::<&[u8], _>(..).count() as u64, N);
    // The database itself shows generation 1.
    assert_eq!(db.get(key(0)).unwrap(), None);
    assert_eq!(db.get(key(1)).unwrap().unwrap(), value(1, 1).as_slice());

    // A snapshot and an iterator outlive every `Db` handle.
    let mut late = snap.range(key(10)..key(20));
    drop(db);
    let (k, v) = late.next().unwrap().unwrap();
    assert_eq!((&k[..], &v[..]), (&key(10)[..], &value(0, 10)[..]));
    assert_eq!(late.count(), 9);
    assert_eq!(snap.get(key(5)).unwrap().unwrap(), value(0, 5).as_slice());
    drop((fwd, back, snap));

    // With every reader gone the directory can be reopened; values still held keep working.
    let db = Db::open(dir.path(), options(compression)).unwrap();
    assert_eq!(db.get(key(3)).unwrap().unwrap(), value(1, 3).as_slice());
    for (i, v) in &held {
        assert_eq!(&v[..], &value(0, *i)[..]);
    }
    drop(held);
    if !replaced.is_empty() {
        // Tables replaced by compaction are gone once nothing holds them.
        let on_disk = dir::names_with_ext(dir.path(), "sst");
        for n in replaced {
            let name = lsmkv::format::files::sst_name(n);
            assert!(!on_disk.contains(&name), "{name} outlived its last holder");
        }
    }
}

#[test]
fn holders_survive_supersession_raw_blocks() {
    // Raw blocks: values point into the file mapping.
    run(Compression::None);
}

#[test]
fn holders_survive_supersession_lz4_blocks() {
    // LZ4 blocks: values point into decompressed, cached (and later evicted) buffers.
    run(Compression::Lz4);
}
