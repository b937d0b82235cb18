//! Criterion micro-benchmarks of the public `Db` API: puts (memtable only vs. fsync'ed WAL),
//! gets (memtable vs. warm SSTables), a full scan after a range delete over 90% of the keys
//! (the keys in a table or in the memtable with the tombstone), and a full scan with owned and
//! with borrowed items. Kept short: small samples, short measurement windows.
//!
//! `cargo bench --bench db` (add `-- get` to filter). For throughput at scale use
//! `examples/db_bench.rs`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;
use std::time::Duration;

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use lsmkv::{Db, Options, SyncMode};

const KEYS: u64 = 20_000;
const VALUE: [u8; 100] = [0x5a; 100];

fn key(i: u64) -> [u8; 16] {
    let mut k = [b'0'; 16];
    let s = format!("{i:016}");
    k.copy_from_slice(s.as_bytes());
    k
}

struct Rng(u64);
impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

fn open(mode: SyncMode) -> (tempfile::TempDir, Db) {
    let dir = tempfile::tempdir().unwrap();
    let o = Options {
        sync_mode: mode,
        ..Options::default()
    };
    let db = Db::open(dir.path(), o).unwrap();
    (dir, db)
}

fn puts(c: &mut Criterion) {
    let mut g = c.benchmark_group("put");
    g.sample_size(20)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    for (name, mode) in [
        ("memtable_sync_none", SyncMode::None),
        ("wal_sync_always", SyncMode::Always),
    ] {
        let (_dir, db) = open(mode);
        let mut i = 0u64;
        g.bench_function(name, |b| {
            b.iter(|| {
                i += 1;
                db.put(key(i), VALUE).unwrap();
            })
        });
        db.close().unwrap();
    }
    g.finish();
}

/// A database of `KEYS` keys, in the memtable or (`flush`) in a table.
fn filled(flush: bool) -> (tempfile::TempDir, Db) {
    let (dir, db) = open(SyncMode::None);
    for i in 0..KEYS {
        db.put(key(i), VALUE).unwrap();
    }
    if flush {
        db.flush().unwrap();
    }
    (dir, db)
}

fn gets(c: &mut Criterion) {
    let mut g = c.benchmark_group("get");
    g.sample_size(20)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    for (name, flush) in [("memtable", false), ("sstable_warm", true)] {
        let (_dir, db) = filled(flush);
        if flush {
            // Warm the block cache and page cache.
            for i in 0..KEYS {
                black_box(db.get(key(i)).unwrap());
            }
        }
        let mut rng = Rng(0x9e37_79b9);
        g.bench_function(name, |b| {
            b.iter_batched(
                || key(rng.below(KEYS)),
                |k| black_box(db.get(k).unwrap()),
                BatchSize::SmallInput,
            )
        });
        db.close().unwrap();
    }
    g.finish();
}

fn scans(c: &mut Criterion) {
    let mut g = c.benchmark_group("scan_after_range_delete");
    g.sample_size(20)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    for (name, flush) in [("memtable", false), ("sstable_warm", true)] {
        let (_dir, db) = filled(flush);
        db.delete_range(key(KEYS / 20)..key(KEYS - KEYS / 20))
            .unwrap();
        assert_eq!(db.range::<&[u8], _>(..).count() as u64, KEYS / 10);
        g.bench_function(name, |b| {
            b.iter(|| black_box(db.range::<&[u8], _>(..).count()))
        });
        db.close().unwrap();
    }
    g.finish();
}

/// A full forward scan of 20,000 keys, in the memtable or in a warm table, read as owned
/// `(Key, Value)` items (`Iterator::next`) and as borrowed slices (`DbIter::next_ref`).
fn full_scans(c: &mut Criterion) {
    let mut g = c.benchmark_group("scan");
    g.sample_size(20)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    for (place, flush) in [("memtable", false), ("sstable_warm", true)] {
        let (_dir, db) = filled(flush);
        g.bench_function(format!("{place}/next"), |b| {
            b.iter(|| {
                let mut bytes = 0;
                for item in db.range::<&[u8], _>(..) {
                    let (k, v) = item.unwrap();
                    bytes += k.len() + v.len();
                }
                black_box(bytes)
            })
        });
        g.bench_function(format!("{place}/next_ref"), |b| {
            b.iter(|| {
                let mut bytes = 0;
                let mut it = db.range::<&[u8], _>(..);
                while let Some(item) = it.next_ref() {
                    let (k, v) = item.unwrap();
                    bytes += k.len() + v.len();
                }
                black_box(bytes)
            })
        });
        db.close().unwrap();
    }
    g.finish();
}

criterion_group!(benches, puts, gets, scans, full_scans);
criterion_main!(benches);
