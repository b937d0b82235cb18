//! Criterion: the merging read path through the public API: full scans forward and backward and
//! seek + 100 nexts over 8 overlapping level-0 tables plus a memtable (every `next` merges 9
//! sources, hides older versions and tombstones). The merging cursor itself is crate-private.
//!
//! `cargo bench --bench merge`

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use lsmkv::{Db, Options, SyncMode};

const KEYS: u64 = 40_000;
const TABLES: u64 = 8;

fn key(i: u64) -> Vec<u8> {
    format!("{i:016}").into_bytes()
}

fn bench(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(
        dir.path(),
        Options {
            sync_mode: SyncMode::None,
            ..Options::default()
        },
    )
    .unwrap();
    // Table t holds keys i with i % TABLES == t, plus an overwrite of every 16th key: the tables
    // overlap over the whole key range.
    for t in 0..TABLES {
        for i in (t..KEYS).step_by(TABLES as usize) {
            db.put(key(i), [b'v'; 100]).unwrap();
        }
        for i in (0..KEYS).step_by(16) {
            db.put(key(i), [t as u8; 100]).unwrap();
        }
        db.flush().unwrap();
    }
    for i in (0..KEYS).step_by(32) {
        db.delete(key(i)).unwrap();
    }
    let mut g = c.benchmark_group("merge");
    g.measurement_time(Duration::from_secs(3))
        .warm_up_time(Duration::from_millis(500))
        .sample_size(20);
    g.bench_function("scan_forward_40k_9_sources", |b| {
        b.iter(|| black_box(db.range::<&[u8], _>(..).count()))
    });
    g.bench_function("scan_reverse_40k_9_sources", |b| {
        b.iter(|| black_box(db.range::<&[u8], _>(..).rev().count()))
    });
    g.bench_function("seek_next100_9_sources", |b| {
        let mut i = 0;
        b.iter(|| {
            i = (i + 7919) % KEYS;
            let k = key(i);
            black_box(db.range(k.as_slice()..).take(100).count())
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
