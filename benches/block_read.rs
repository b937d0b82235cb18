//! Criterion: a point read that misses the block cache, by `BLOCK_READ` mode: `pread` (the
//! compressed block copied from the page cache into a pooled buffer, then checked and
//! decompressed) against `mmap` (checked and decompressed straight from the mapping). The table
//! (50,000 entries, 4 KiB LZ4 blocks, 16-byte keys, 100-byte half-compressible values) is warm in
//! the page cache; a zero-capacity block cache makes every get a miss. The `hit` case is the
//! same get served from a cache that holds the whole table.
//!
//! `cargo bench --bench block_read`

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use lsmkv::cache::BlockCache;
use lsmkv::format::ValueKind;
use lsmkv::key::pack_trailer;
use lsmkv::sstable::{Table, TableBuilder, TableOptions, key_hash};
use lsmkv::{BlockRead, Compression, Options};

const N: u64 = 50_000;

fn key(i: u64) -> Vec<u8> {
    format!("{i:016}").into_bytes()
}

fn value(i: u64) -> Vec<u8> {
    let half: Vec<u8> = (0..50u64).map(|j| (i * 31 + j * 7) as u8).collect();
    [half.clone(), half].concat()
}

fn bench(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("000001.sst");
    let opts = Options {
        compression: Compression::Lz4,
        ..Options::default()
    };
    let mut b = TableBuilder::create(&path, TableOptions::from(&opts)).unwrap();
    for i in 0..N {
        b.add(&key(i), pack_trailer(i + 1, ValueKind::Put), &value(i))
            .unwrap();
    }
    b.finish().unwrap();
    let keys: Vec<(Vec<u8>, u64)> = (0..N)
        .map(|i| (i * 7919) % N)
        .map(|i| (key(i), key_hash(&key(i))))
        .collect();

    let mut g = c.benchmark_group("block_read");
    g.measurement_time(Duration::from_secs(2))
        .warm_up_time(Duration::from_millis(500));
    for (name, mode, cache_bytes) in [
        ("miss_pread", BlockRead::Pread, 0),
        ("miss_mmap", BlockRead::Mmap, 0),
        ("hit_pread", BlockRead::Pread, 64 << 20),
    ] {
        let t = Table::open(&path, 1, Some(Arc::new(BlockCache::new(cache_bytes)))).unwrap();
        t.set_block_read(mode);
        g.bench_function(name, |bch| {
            let mut n = 0usize;
            bch.iter(|| {
                n = (n + 1) % keys.len();
                let (k, h) = &keys[n];
                black_box(t.get(k, *h, u64::MAX >> 8).unwrap().is_some())
            })
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
