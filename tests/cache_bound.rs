//! Block cache bound and buffer recycling: reading a database many times larger than the block
//! cache (by point reads and by full scans both ways) never makes the cache hold more than its
//! capacity, as reported by `stats()`; the cache is used (hits, misses, entries), and the buffers
//! of evicted blocks go back to the decompression buffer pool.
//!
//! This file has one test on purpose: it checks the process-wide buffer pool, which another test
//! in the same binary could be using at the same time.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{dir, opts, rng};
use lsmkv::cache::pool::BufferPool;
use lsmkv::{Compression, Db, Options};

const KEYS: u64 = 24_000;
const VALUE_BYTES: usize = 400;

fn options() -> Options {
    Options {
        memtable_max_size: 1 << 20,
        block_cache_size_mb: 1,
        compression: Compression::Lz4,
        ..opts::no_sync()
    }
}

fn key(i: u64) -> Vec<u8> {
    format!("key{i:08}").into_bytes()
}

/// Compressible (so blocks are stored LZ4 and go through the cache) and distinct per key.
fn value(i: u64) -> Vec<u8> {
    let mut v = format!("{i:08}-").repeat(VALUE_BYTES / 9 + 1).into_bytes();
    v.truncate(VALUE_BYTES);
    v
}

fn assert_bounded(db: &Db, when: &str) {
    let c = db.stats().block_cache;
    assert!(
        c.used_bytes <= c.capacity_bytes,
        "{when}: cache holds {} bytes, capacity {}",
        c.used_bytes,
        c.capacity_bytes
    );
}

#[test]
fn cache_stays_within_capacity_while_reading_a_larger_database() {
    let seed = rng::seed("cache_bound", 0x9e37_79b9_7f4a_7c15);
    let dir = dir::tempdir();
    let db = Db::open(dir.path(), options()).unwrap();
    for i in 0..KEYS {
        db.put(key(i), value(i)).unwrap();
    }
    db.flush().unwrap();
    let s = db.stats();
    let capacity = s.block_cache.capacity_bytes;
    assert_eq!(capacity, 1 << 20);
    let raw = KEYS * (VALUE_BYTES as u64 + 11);
    assert!(
        raw >= 8 * capacity,
        "the data ({raw} B uncompressed) must be many times the cache ({capacity} B)"
    );
    assert!(s.sst_files >= 4, "{} tables", s.sst_files);

    // Point reads in a scattered order.
    let mut rng = seed.rng(0);
    for n in 0..KEYS {
        let i = rng.below(KEYS);
        assert_eq!(db.get(key(i)).unwrap().as_deref(), Some(&value(i)[..]));
        if n.is_multiple_of(2000) {
            assert_bounded(&db, "during point reads");
        }
    }
    assert_bounded(&db, "after point reads");

    // Full scans both ways, holding on to some values from early blocks while scanning on.
    let mut held = Vec::new();
    let mut n = 0;
    for kv in db.range::<&[u8], _>(..) {
        let (k, v) = kv.unwrap();
        assert_eq!(&v[..], &value(n)[..], "key {k:?}");
        if n.is_multiple_of(3000) {
            held.push((n, v));
            assert_bounded(&db, "during forward scan");
        }
        n += 1;
    }
    assert_eq!(n, KEYS);
    let mut n = KEYS;
    for kv in db.range::<&[u8], _>(..).rev() {
        n -= 1;
        let (_, v) = kv.unwrap();
        assert_eq!(&v[..], &value(n)[..]);
        if n.is_multiple_of(3000) {
            assert_bounded(&db, "during reverse scan");
        }
    }
    assert_eq!(n, 0);
    // Values whose blocks were evicted long ago still read correctly (they own their buffer).
    for (i, v) in &held {
        assert_eq!(&v[..], &value(*i)[..]);
    }
    drop(held);

    let c = db.stats().block_cache;
    assert!(c.entries > 0 && c.used_bytes > capacity / 2, "{c:?}");
    assert!(c.hits > 0, "{c:?}");
    assert!(
        c.misses > 10 * c.entries,
        "blocks were evicted and reloaded: {c:?}"
    );
    // Evicted blocks handed their buffers back (the free list would be empty otherwise: every
    // miss takes one).
    assert!(BufferPool::global().free_buffers() > 0);
    // Closing drops the cache: its blocks' buffers return to the pool.
    db.close().unwrap();
    assert!(
        BufferPool::global().free_buffers() >= 16,
        "{} free buffers after close",
        BufferPool::global().free_buffers()
    );
}
