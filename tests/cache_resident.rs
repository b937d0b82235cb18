//! Index and filter stay resident: they are decoded once when a table is opened and held by the
//! table, never put in the block cache, so a full cache (or evicting every block of the table)
//! never costs a lookup its index or filter. Only data blocks go through the cache.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::sync::Arc;

use lsmkv::cache::BlockCache;
use lsmkv::format::ValueKind;
use lsmkv::key::pack_trailer;
use lsmkv::sstable::{Table, TableBuilder, TableOptions, key_hash};
use lsmkv::{Compression, Options};

fn key(i: u64) -> Vec<u8> {
    format!("key{i:06}").into_bytes()
}

fn value(i: u64) -> Vec<u8> {
    format!("value-{i}-").repeat(10).into_bytes()
}

#[test]
fn index_and_filter_are_held_by_the_table_not_the_cache() {
    let dir = common::dir::tempdir();
    let path = dir.path().join("000001.sst");
    let opts = Options {
        compression: Compression::Lz4,
        block_size: 1024,
        ..Options::default()
    };
    let mut b = TableBuilder::create(&path, TableOptions::from(&opts)).unwrap();
    const N: u64 = 2000;
    for i in 0..N {
        b.add(&key(i), pack_trailer(i + 1, ValueKind::Put), &value(i))
            .unwrap();
    }
    b.finish().unwrap();

    let cache = Arc::new(BlockCache::new(1 << 20));
    let t = Table::open(&path, 1, Some(cache.clone())).unwrap();
    assert!(t.num_blocks() > 50, "{} blocks", t.num_blocks());
    assert!(t.has_filter());
    // Opening read index, filter and meta, and put none of them in the cache.
    let s = cache.stats();
    assert_eq!((s.entries, s.hits, s.misses), (0, 0, 0), "{s:?}");

    // A present key: one data block is loaded and cached.
    let k = key(7);
    let (_, v) = t.get(&k, key_hash(&k), u64::MAX >> 8).unwrap().unwrap();
    assert_eq!(&v[..], &value(7)[..]);
    let s = cache.stats();
    assert_eq!((s.entries, s.misses), (1, 1), "{s:?}");

    // Absent keys the filter rules out touch no block at all.
    let mut ruled_out = 0;
    for i in N..N + 500 {
        let k = key(i);
        if !t.may_contain_hash(key_hash(&k)) {
            ruled_out += 1;
            assert!(t.get(&k, key_hash(&k), u64::MAX >> 8).unwrap().is_none());
        }
    }
    assert!(ruled_out > 400, "the filter ruled out {ruled_out} of 500");
    let s = cache.stats();
    assert_eq!((s.entries, s.misses), (1, 1), "{s:?}");

    // With every block of the table evicted, lookups still work: index and filter are resident.
    cache.evict_file(1);
    assert_eq!(cache.stats().entries, 0);
    for i in (0..N).step_by(97) {
        let k = key(i);
        let (_, v) = t.get(&k, key_hash(&k), u64::MAX >> 8).unwrap().unwrap();
        assert_eq!(&v[..], &value(i)[..]);
    }
    let s = cache.stats();
    // Every cache entry is a data block: at most one per lookup.
    assert!(s.entries <= (N / 97 + 1), "{s:?}");
}
