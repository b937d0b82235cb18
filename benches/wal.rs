//! WAL micro-benchmarks: framing only (crc + copy into the buffer), and append + flush of 100-byte
//! records to a real file (no fsync; fsync cost is the device's, not the code's).

use std::hint::black_box;

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use lsmkv::wal::{WalWriter, frame_record};

const RECORD: usize = 100;
const PER_ITER: usize = 1000;

fn framing(c: &mut Criterion) {
    let payload = vec![0xabu8; RECORD];
    let mut g = c.benchmark_group("wal");
    g.throughput(Throughput::Elements(PER_ITER as u64));
    let mut buf = Vec::with_capacity(PER_ITER * (RECORD + 16));
    g.bench_function("frame_100b_x1000", |b| {
        b.iter(|| {
            buf.clear();
            let mut offset = 24u64;
            for _ in 0..PER_ITER {
                frame_record(&mut buf, 1, offset, black_box(&payload));
                offset += (RECORD + 16) as u64;
            }
            black_box(buf.len())
        })
    });
    g.finish();
}

fn append_flush(c: &mut Criterion) {
    let payload = vec![0xcdu8; RECORD];
    let dir = tempfile::tempdir().expect("tempdir");
    let mut g = c.benchmark_group("wal");
    g.throughput(Throughput::Elements(PER_ITER as u64));
    let mut number = 0u64;
    for per_flush in [1usize, 100] {
        g.bench_function(format!("append_100b_x1000_flush_every_{per_flush}"), |b| {
            b.iter_batched_ref(
                || {
                    number += 1;
                    WalWriter::create(dir.path(), number, 0).expect("create")
                },
                |w| {
                    for i in 0..PER_ITER {
                        w.add_record(black_box(&payload));
                        if (i + 1) % per_flush == 0 {
                            w.flush().expect("flush");
                        }
                    }
                    w.flush().expect("flush");
                },
                BatchSize::PerIteration,
            )
        });
    }
    g.finish();
}

criterion_group!(benches, framing, append_flush);
criterion_main!(benches);
