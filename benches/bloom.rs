//! Criterion: bloom filter probes (present and absent keys) at 1% false positives, and building a
//! filter for 100,000 keys. A point lookup probes one filter per table it passes.
//!
//! `cargo bench --bench bloom`

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use lsmkv::sstable::bloom::{Filter, FilterBuilder};
use lsmkv::sstable::key_hash;

const KEYS: u64 = 100_000;

fn key(i: u64) -> Vec<u8> {
    format!("{i:016}").into_bytes()
}

fn bench(c: &mut Criterion) {
    let hashes: Vec<u64> = (0..KEYS).map(|i| key_hash(&key(i))).collect();
    let mut fb = FilterBuilder::new(0.01, KEYS as usize);
    for &h in &hashes {
        fb.add_hash(h);
    }
    let filter = Filter::decode(&bytes::Bytes::from(fb.finish().to_vec())).unwrap();
    let absent: Vec<u64> = (KEYS..2 * KEYS).map(|i| key_hash(&key(i))).collect();
    let mut g = c.benchmark_group("bloom");
    g.measurement_time(Duration::from_secs(2))
        .warm_up_time(Duration::from_millis(500));
    g.bench_function("hash_16b_key", |b| {
        let k = key(12345);
        b.iter(|| black_box(key_hash(black_box(&k))))
    });
    g.bench_function("probe_present", |b| {
        let mut i = 0;
        b.iter(|| {
            i = (i + 7919) % hashes.len();
            black_box(filter.may_contain_hash(hashes[i]))
        })
    });
    g.bench_function("probe_absent", |b| {
        let mut i = 0;
        b.iter(|| {
            i = (i + 7919) % absent.len();
            black_box(filter.may_contain_hash(absent[i]))
        })
    });
    g.bench_function("build_100k", |b| {
        b.iter(|| {
            let mut fb = FilterBuilder::new(0.01, KEYS as usize);
            for &h in &hashes {
                fb.add_hash(h);
            }
            black_box(fb.finish().len())
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
