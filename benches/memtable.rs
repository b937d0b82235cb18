//! Criterion: the memtable (concurrent skiplist of internal keys): insert, point get, and a cursor
//! walk, on 100,000 entries with 16-byte keys and 100-byte values.
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

fn bench(c: &mut Criterion) {
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
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
