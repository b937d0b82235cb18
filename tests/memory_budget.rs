//! `MEMORY_BUDGET`: a database filled to several times the budget (writes, then point reads and
//! a scan that fill the block cache) keeps the process's anonymous memory within the budget plus
//! a stated allowance, and `stats().memory` reports each part within its share.
//!
//! The allowance ([`ALLOWANCE`]) covers what the budget does not: a compaction's output builder
//! (its filter hashes, index and block buffers), the WAL buffer, the decompression buffer pool,
//! iterators, the allocator's free lists and per-thread arenas, and the test's own data.
//!
//! This file has one test on purpose: it reads the whole process's memory
//! (`/proc/self/smaps_rollup`), which another test in the same binary would disturb.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{dir, opts, rng};
use lsmkv::{Compression, Db, Options, WriteBatch};

const BUDGET: u64 = 8 << 20;
/// Anonymous memory allowed beyond the budget (see the module documentation).
const ALLOWANCE: u64 = 16 << 20;
const KEYS: u64 = 250_000;
const VALUE_BYTES: usize = 200;

fn options() -> Options {
    Options {
        memory_budget: BUDGET,
        compression: Compression::Lz4,
        ..opts::no_sync()
    }
}

fn key(i: u64) -> Vec<u8> {
    format!("key{i:012}").into_bytes()
}

/// Half compressible: a per-key pattern, then bytes from the key's own generator.
fn value(i: u64) -> Vec<u8> {
    let mut v = format!("{i:012}").repeat(VALUE_BYTES / 24).into_bytes();
    let mut r = rng::Rng::new(i);
    while v.len() < VALUE_BYTES {
        v.extend_from_slice(&r.next_u64().to_le_bytes());
    }
    v.truncate(VALUE_BYTES);
    v
}

/// The process's anonymous memory now (`Anonymous` of `/proc/self/smaps_rollup`), in bytes.
fn anon_bytes() -> u64 {
    let text = std::fs::read_to_string("/proc/self/smaps_rollup").expect("smaps_rollup");
    let line = text
        .lines()
        .find(|l| l.starts_with("Anonymous:"))
        .expect("an Anonymous line");
    let kib: u64 = line
        .split_whitespace()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .expect("a number of kB");
    kib * 1024
}

/// Tracks the peak of [`anon_bytes`] and checks the budget's parts in `stats()`.
struct Watch {
    baseline: u64,
    peak: u64,
}

impl Watch {
    fn sample(&mut self, db: &Db, when: &str) {
        self.peak = self.peak.max(anon_bytes());
        let m = db.stats().memory;
        assert_eq!(m.budget_bytes, BUDGET);
        assert_eq!(m.write_buffer_bytes, BUDGET / 2);
        // Memtables may pass their share by the batch that crossed it.
        assert!(
            m.memtable_bytes <= m.write_buffer_bytes + (1 << 20),
            "{when}: {m:?}"
        );
        assert!(
            m.block_cache_bytes <= m.block_cache_capacity_bytes,
            "{when}: {m:?}"
        );
        assert!(
            m.block_cache_capacity_bytes + m.index_filter_pinned_bytes <= BUDGET / 2,
            "{when}: {m:?}"
        );
        assert_eq!(
            m.total_bytes,
            m.memtable_bytes + m.block_cache_bytes + m.index_filter_pinned_bytes
        );
    }
}

#[test]
fn anonymous_memory_stays_within_the_budget() {
    let seed = rng::seed("memory_budget", 0x5eed_b0d9);
    let dir = dir::tempdir();
    let mut w = Watch {
        baseline: anon_bytes(),
        peak: 0,
    };
    let db = Db::open(dir.path(), options()).unwrap();
    let mut batch = WriteBatch::new();
    for i in 0..KEYS {
        // Scattered keys: every flush overlaps the tables below it, so compactions rewrite.
        let k = (i * 7_919) % KEYS;
        batch.put(key(k), value(k));
        if batch.len() == 100 {
            db.write(std::mem::take(&mut batch)).unwrap();
        }
        if i.is_multiple_of(10_000) {
            w.sample(&db, "filling");
        }
    }
    db.write(batch).unwrap();
    let s = db.stats();
    let raw = KEYS * (key(0).len() + VALUE_BYTES) as u64;
    assert!(
        raw >= 4 * BUDGET,
        "{raw} bytes is not several times the budget"
    );
    assert!(s.flushes >= 4, "{s:?}");
    assert!(s.compactions >= 1, "{s:?}");

    let mut r = seed.rng(0);
    for n in 0..50_000u64 {
        let k = r.below(KEYS);
        assert_eq!(db.get(key(k)).unwrap().as_deref(), Some(&value(k)[..]));
        if n.is_multiple_of(5_000) {
            w.sample(&db, "reading");
        }
    }
    let m = db.stats().memory;
    assert!(m.block_cache_bytes > 0, "the reads used the cache: {m:?}");
    let mut seen = 0u64;
    for item in db.range::<&[u8], _>(..) {
        item.unwrap();
        seen += 1;
        if seen.is_multiple_of(50_000) {
            w.sample(&db, "scanning");
        }
    }
    assert_eq!(seen, KEYS);
    w.sample(&db, "end");
    let used = w.peak.saturating_sub(w.baseline);
    eprintln!(
        "memory_budget: peak anonymous memory {} KiB above the {} KiB baseline; budget {} KiB + \
         allowance {} KiB",
        used >> 10,
        w.baseline >> 10,
        BUDGET >> 10,
        ALLOWANCE >> 10
    );
    assert!(
        used <= BUDGET + ALLOWANCE,
        "anonymous memory grew by {used} bytes: more than the budget ({BUDGET}) plus the \
         allowance ({ALLOWANCE})"
    );
}
