//! Criterion: the memtable (arena skiplist of internal keys): insert, a batch of 1000 with
//! `insert_many` against 1000 single inserts, a sorted batch of 1000 (linked without searching
//! when each key follows the last), point get, and a cursor walk, on 100,000 entries with
//! 16-byte keys and 100-byte values; filling a fresh memtable with
//! 10,000 entries (allocation included). Before the timings it prints the anonymous memory per
//! entry of a memtable of 1,000,000 entries (RssAnon of `/proc/self/status`, Linux).
//!
//! Group `memtable_key_filter`: a memtable of 400,000 entries (what a 64 MiB memtable holds of
//! them) with and without its key filter: a get of an absent key, a get of a present one, an
//! insert.
//!
//! Group `memtable_range_tombstones`: a fresh memtable takes 1,000 range tombstones, each
//! followed by a point read that must consult them (the read after a write of a queue that
//! deletes what it consumed).
//!
//! `cargo bench --bench memtable`

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;
use std::time::Duration;

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use lsmkv::format::ValueKind;
use lsmkv::memtable::Memtable;

const KEYS: u64 = 100_000;
const VALUE: [u8; 100] = [0x5a; 100];

fn key(i: u64) -> Vec<u8> {
    format!("{i:016}").into_bytes()
}

fn filled() -> Memtable {
    let m = Memtable::new(1);
    for i in 0..KEYS {
        // Scattered insertion order.
        let k = (i * 7919) % KEYS;
        m.insert(&key(k), i + 1, ValueKind::Put, &VALUE);
    }
    m
}

/// RssAnon of this process, in bytes (0 where `/proc` is missing).
fn rss_anon() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("RssAnon:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map_or(0, |kb| kb * 1024)
}

/// Prints the anonymous memory a memtable of 1,000,000 entries takes per entry, against what it
/// counts (`approximate_size`).
fn report_memory() {
    const N: u64 = 1_000_000;
    let before = rss_anon();
    let m = Memtable::new(1);
    for i in 0..N {
        m.insert(&key((i * 7919) % N), i + 1, ValueKind::Put, &VALUE);
    }
    let used = rss_anon().saturating_sub(before);
    eprintln!(
        "memtable of {N} entries (16 + 100 bytes): {} bytes of anonymous memory per entry, {} \
         counted",
        used / N,
        m.approximate_size() as u64 / N
    );
}

fn bench(c: &mut Criterion) {
    report_memory();
    let m = filled();
    let mut g = c.benchmark_group("memtable");
    g.measurement_time(Duration::from_secs(2))
        .warm_up_time(Duration::from_millis(500));
    g.bench_function("insert_into_100k", |b| {
        let mut seq = KEYS + 1;
        b.iter_batched(
            || {
                seq += 1;
                (key(seq % (2 * KEYS)), seq)
            },
            |(k, s)| m.insert(&k, s, ValueKind::Put, &VALUE),
            BatchSize::SmallInput,
        )
    });
    // A write batch of 1000 random keys goes in with one `insert_many` (one writer lock, one
    // update of the size counters); per-entry `insert` for comparison.
    let batch: Vec<Vec<u8>> = (0..1000u64)
        .map(|i| key((i * 7919 + 13) % (2 * KEYS)))
        .collect();
    let mut seq = 10 * KEYS;
    g.bench_function("insert_many_1000_into_100k", |b| {
        b.iter(|| {
            seq += 1000;
            let first = seq;
            m.insert_many(
                (first..)
                    .zip(&batch)
                    .map(|(s, k)| (&k[..], s, ValueKind::Put, &VALUE[..])),
            );
        })
    });
    let mut sorted = batch.clone();
    sorted.sort();
    g.bench_function("insert_many_sorted_1000_into_100k", |b| {
        b.iter(|| {
            seq += 1000;
            let first = seq;
            m.insert_many(
                (first..)
                    .zip(&sorted)
                    .map(|(s, k)| (&k[..], s, ValueKind::Put, &VALUE[..])),
            );
        })
    });
    g.bench_function("insert_1000_one_by_one_into_100k", |b| {
        b.iter(|| {
            seq += 1000;
            for (s, k) in (seq..).zip(&batch) {
                m.insert(k, s, ValueKind::Put, &VALUE);
            }
        })
    });
    g.bench_function("get_hit", |b| {
        let mut i = 0;
        b.iter(|| {
            i = (i + 7919) % KEYS;
            black_box(m.get(&key(i), u64::MAX >> 8).is_some())
        })
    });
    g.bench_function("cursor_next_x1000", |b| {
        b.iter(|| {
            let mut c = m.cursor();
            c.seek_to_first();
            let (mut n, mut bytes) = (0, 0);
            while c.valid() && n < 1000 {
                bytes += c.user_key().len();
                n += 1;
                c.next();
            }
            black_box(bytes);
            black_box(n)
        })
    });
    g.bench_function("fill_fresh_10k", |b| {
        b.iter(|| {
            let m = Memtable::new(1);
            for i in 0..10_000u64 {
                m.insert(&key((i * 7919) % 10_000), i + 1, ValueKind::Put, &VALUE);
            }
            black_box(m.approximate_size())
        })
    });
    g.finish();
}

fn key_filter(c: &mut Criterion) {
    const N: u64 = 400_000;
    let plain = Memtable::new(1);
    let filtered = Memtable::with_key_filter(1, 64 << 20);
    for m in [&plain, &filtered] {
        for i in 0..N {
            // Even keys only: odd ones are absent.
            m.insert(&key(2 * ((i * 7919) % N)), i + 1, ValueKind::Put, &VALUE);
        }
    }
    let mut g = c.benchmark_group("memtable_key_filter");
    g.measurement_time(Duration::from_secs(2))
        .warm_up_time(Duration::from_millis(500));
    for (name, m) in [("plain", &plain), ("filtered", &filtered)] {
        g.bench_function(format!("get_absent_{name}"), |b| {
            let mut i = 0;
            b.iter(|| {
                i = (i + 7919) % N;
                black_box(m.get(&key(2 * i + 1), u64::MAX >> 8).is_some())
            })
        });
        g.bench_function(format!("get_hit_{name}"), |b| {
            let mut i = 0;
            b.iter(|| {
                i = (i + 7919) % N;
                black_box(m.get(&key(2 * i), u64::MAX >> 8).is_some())
            })
        });
        let mut seq = 2 * N;
        g.bench_function(format!("insert_{name}"), |b| {
            b.iter_batched(
                || {
                    seq += 1;
                    (key(seq * 7919 % (4 * N)), seq)
                },
                |(k, s)| m.insert(&k, s, ValueKind::Put, &VALUE),
                BatchSize::SmallInput,
            )
        });
    }
    g.finish();
}

fn range_tombstones(c: &mut Criterion) {
    let mut g = c.benchmark_group("memtable_range_tombstones");
    g.sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3));
    const TOMBSTONES: u64 = 1000;
    let ends: Vec<Vec<u8>> = (0..TOMBSTONES)
        .map(|i| {
            let mut e = Vec::new();
            lsmkv::format::RangeEnd::Before(key(10 * i + 5)).encode(&mut e);
            e
        })
        .collect();
    g.bench_function("1000_each_then_a_read", |b| {
        b.iter_batched(
            || Memtable::new(1),
            |m| {
                for i in 0..TOMBSTONES {
                    m.insert(
                        &key(10 * i),
                        i + 1,
                        ValueKind::RangeDelete,
                        &ends[i as usize],
                    );
                    black_box(m.max_range_tombstone(&key(10 * i + 1), u64::MAX));
                }
                m
            },
            BatchSize::PerIteration,
        )
    });
    g.finish();
}

criterion_group!(benches, bench, key_filter, range_tombstones);
criterion_main!(benches);
