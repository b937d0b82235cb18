//! Criterion: one SSTable data block (4 KiB, restart interval 16): build, seek, full scan, the
//! LZ4 encode every flush and compaction pays per block (with the encoder state reused, as the
//! table builder does, and with a fresh one per block, as before it was reused), and the
//! in-place checksum + LZ4 decode a block read pays on a cache miss.
//!
//! `cargo bench --bench block`

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use lsmkv::Compression;
use lsmkv::format::ValueKind;
use lsmkv::key::pack_trailer;
use lsmkv::sstable::block::{BlockBuilder, BlockView};
use lsmkv::sstable::compress::{Lz4Scratch, encode_block, read_block_owned};

fn key(i: u64) -> Vec<u8> {
    format!("{i:016}").into_bytes()
}

/// Entries of one ~4 KiB block: 16-byte keys, 100-byte half-compressible values.
fn entries() -> Vec<(Vec<u8>, u64, Vec<u8>)> {
    (0..34u64)
        .map(|i| {
            let half: Vec<u8> = (0..50).map(|j| (i * 31 + j * 7) as u8).collect();
            let mut v = half.clone();
            v.extend_from_slice(&half);
            (key(i * 2), pack_trailer(i + 1, ValueKind::Put), v)
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let es = entries();
    let mut b = BlockBuilder::new(16);
    for (k, t, v) in &es {
        b.add(k, *t, v);
    }
    let block = b.finish().to_vec();
    let mut g = c.benchmark_group("block");
    g.measurement_time(Duration::from_secs(2))
        .warm_up_time(Duration::from_millis(500));

    g.bench_function("build_4k", |bch| {
        let mut b = BlockBuilder::new(16);
        bch.iter(|| {
            b.reset();
            for (k, t, v) in &es {
                b.add(k, *t, v);
            }
            black_box(b.finish().len())
        })
    });
    g.bench_function("seek_hit", |bch| {
        let mut i = 0u64;
        bch.iter(|| {
            i = (i + 7) % 34;
            let v = BlockView::new(&block).unwrap();
            black_box(v.seek(&key(i * 2), u64::MAX).unwrap().is_some())
        })
    });
    g.bench_function("scan_all", |bch| {
        bch.iter(|| {
            let v = BlockView::new(&block).unwrap();
            let mut off = 0;
            let mut n = 0;
            while off < v.entries_end() {
                let e = v.entry_at(off).unwrap();
                n += e.value.len();
                off = e.next;
            }
            black_box(n)
        })
    });
    let (mut scratch, mut raw, mut lz4) = (Lz4Scratch::default(), Vec::new(), Vec::new());
    encode_block(&block, Compression::None, &mut scratch, &mut raw);
    encode_block(&block, Compression::Lz4, &mut scratch, &mut lz4);
    g.bench_function("encode_lz4_4k", |bch| {
        let mut out = Vec::new();
        bch.iter(|| {
            out.clear();
            black_box(encode_block(
                &block,
                Compression::Lz4,
                &mut scratch,
                &mut out,
            ))
        })
    });
    g.bench_function("encode_lz4_4k_fresh_scratch", |bch| {
        let mut out = Vec::new();
        bch.iter(|| {
            out.clear();
            let mut fresh = Lz4Scratch::default();
            black_box(encode_block(&block, Compression::Lz4, &mut fresh, &mut out))
        })
    });
    g.bench_function("check_raw", |bch| {
        bch.iter(|| black_box(read_block_owned(&raw).unwrap().len()))
    });
    g.bench_function("check_and_decompress_lz4", |bch| {
        bch.iter(|| black_box(read_block_owned(&lz4).unwrap().len()))
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
