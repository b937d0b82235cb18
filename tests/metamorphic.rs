//! Metamorphic test (in the manner of Pebble's `metamorphic` package): one seeded sequence of
//! operations (puts, deletes, batches, range and prefix deletes, gets, range and prefix scans forward and backward,
//! snapshots, flushes, syncs, reopens) is run under many option sets (block size, bloom rate,
//! compression, memtable size, cache size, restart interval, sync mode, paranoid checks,
//! compaction strategy). Every configuration must give identical answers, and the answers must
//! match a `BTreeMap` model.
//!
//! Short in `cargo test`. Long run:
//! `LSMKV_METAMORPHIC_OPS=1000000 cargo test --release --test metamorphic -- --nocapture`;
//! `LSMKV_SEED=<n>` replays a seed (printed on failure), `LSMKV_METAMORPHIC_RUNS=<n>` runs n seeds.

mod common;

use std::ops::Bound;
use std::path::Path;

use common::model::{self, Bounds, Model, Pairs};
use common::rng::{self, Rng};
use lsmkv::{CompactionStrategy, Compression, Db, Options, Snapshot, SyncMode};

#[derive(Debug, Clone)]
enum Op {
    Put(Vec<u8>, Vec<u8>),
    Delete(Vec<u8>),
    Batch(Vec<(Vec<u8>, Option<Vec<u8>>)>),
    /// `delete_range(lo..hi)` (`None`: unbounded).
    DeleteRange(Option<Vec<u8>>, Option<Vec<u8>>),
    DeletePrefix(Vec<u8>),
    Get(Vec<u8>),
    Range {
        lo: Option<Vec<u8>>,
        hi: Option<Vec<u8>>,
        rev: bool,
        limit: usize,
        snapshot: Option<usize>,
    },
    Prefix(Vec<u8>, bool),
    TakeSnapshot,
    DropSnapshot(usize),
    SnapshotGet(usize, Vec<u8>),
    Flush,
    Sync,
    Reopen,
    Compact,
    CompactRange(Vec<u8>, Vec<u8>),
    /// The same kinds of operation in a second keyspace, `side`.
    SidePut(Vec<u8>, Vec<u8>),
    SideDeletePrefix(Vec<u8>),
    SideRange {
        rev: bool,
        snapshot: Option<usize>,
    },
    SideFlush,
    /// One batch across both keyspaces (`true`: `side`).
    CrossBatch(Vec<(bool, Vec<u8>, Option<Vec<u8>>)>),
}

fn gen_key(r: &mut Rng) -> Vec<u8> {
    // Mostly a small key space (overwrites, deletes of live keys), sometimes a wider one.
    if r.below(8) == 0 {
        format!("wide{:05}", r.below(5000)).into_bytes()
    } else {
        format!("k{:03}", r.below(300)).into_bytes()
    }
}

fn gen_value(r: &mut Rng) -> Vec<u8> {
    let len = match r.below(20) {
        0 => 0,
        1 => 2000 + r.below(3000) as usize,
        _ => r.below(64) as usize,
    };
    let seed = r.next_u64() as u8;
    (0..len)
        .map(|i| seed.wrapping_add((i % 13) as u8))
        .collect()
}

fn gen_op(r: &mut Rng) -> Op {
    match r.below(100) {
        0..=26 => Op::Put(gen_key(r), gen_value(r)),
        27..=29 => Op::SidePut(gen_key(r), gen_value(r)),
        30 => Op::SideDeletePrefix(format!("k{:02}", r.below(30)).into_bytes()),
        31 => Op::CrossBatch(
            (0..1 + r.below(6))
                .map(|_| {
                    let side = r.below(2) == 0;
                    let k = gen_key(r);
                    let v = (r.below(3) != 0).then(|| gen_value(r));
                    (side, k, v)
                })
                .collect(),
        ),
        32 => Op::SideRange {
            rev: r.below(2) == 0,
            snapshot: (r.below(2) == 0).then(|| r.below(4) as usize),
        },
        33 => {
            // Mostly short ranges; rarely an open end.
            let lo = gen_key(r);
            let hi = (r.below(10) != 0).then(|| {
                let mut hi = lo.clone();
                hi.extend_from_slice(format!("{}", r.below(10)).as_bytes());
                if r.below(2) == 0 { gen_key(r) } else { hi }
            });
            Op::DeleteRange((r.below(20) != 0).then_some(lo), hi)
        }
        34 => Op::DeletePrefix(format!("k{:02}", r.below(30)).into_bytes()),
        35..=44 => Op::Delete(gen_key(r)),
        45..=52 => Op::Batch(
            (0..1 + r.below(8))
                .map(|_| {
                    let k = gen_key(r);
                    let v = (r.below(3) != 0).then(|| gen_value(r));
                    (k, v)
                })
                .collect(),
        ),
        53..=69 => Op::Get(gen_key(r)),
        70..=79 => {
            let lo = (r.below(4) != 0).then(|| gen_key(r));
            let hi = (r.below(4) != 0).then(|| gen_key(r));
            Op::Range {
                lo,
                hi,
                rev: r.below(2) == 0,
                limit: 1 + r.below(40) as usize,
                snapshot: (r.below(3) == 0).then(|| r.below(4) as usize),
            }
        }
        80..=83 => Op::Prefix(format!("k{}", r.below(3)).into_bytes(), r.below(2) == 0),
        84..=87 => Op::TakeSnapshot,
        88..=89 => Op::DropSnapshot(r.below(4) as usize),
        90..=93 => Op::SnapshotGet(r.below(4) as usize, gen_key(r)),
        94 => Op::Flush,
        95 => Op::SideFlush,
        96 => {
            if r.below(3) == 0 {
                Op::Compact
            } else {
                let (a, b) = (gen_key(r), gen_key(r));
                Op::CompactRange(a.clone().min(b.clone()), a.max(b))
            }
        }
        97..=98 => Op::Sync,
        _ => Op::Reopen,
    }
}

/// Forward or reverse, at most `limit` pairs.
fn limited(pairs: Pairs, rev: bool, limit: usize) -> Pairs {
    let it = pairs.into_iter();
    if rev {
        it.rev().take(limit).collect()
    } else {
        it.take(limit).collect()
    }
}

fn collect(it: lsmkv::DbIter, rev: bool, limit: usize) -> Pairs {
    if rev {
        model::collect(it.rev().take(limit))
    } else {
        model::collect(it.take(limit))
    }
}

/// `lo..hi`, either end open when `None`.
fn bounds(lo: &Option<Vec<u8>>, hi: &Option<Vec<u8>>) -> Bounds {
    (
        lo.as_ref()
            .map_or(Bound::Unbounded, |k| Bound::Included(k.clone())),
        hi.as_ref()
            .map_or(Bound::Unbounded, |k| Bound::Excluded(k.clone())),
    )
}

/// A short digest of an answer, so traces stay small in long runs.
fn digest(rows: &[(Vec<u8>, Vec<u8>)]) -> u64 {
    let mut h = 0xcbf2_9ce4_8422_2325u64;
    for (k, v) in rows {
        for b in k.iter().chain([&0xffu8]).chain(v.iter()).chain([&0xfeu8]) {
            h = (h ^ u64::from(*b)).wrapping_mul(0x100_0000_01b3);
        }
    }
    h ^ rows.len() as u64
}

/// Runs `ops` on a fresh database with `opts`; returns one answer digest per op. Panics with the
/// op index when an answer differs from the model.
fn run(ops: &[Op], opts: &Options, dir: &Path, label: &str) -> Vec<u64> {
    let open = || {
        let db = Db::open(dir, opts.clone()).expect("open");
        let side = db.keyspace("side").expect("keyspace");
        (db, side)
    };
    let (mut db, mut side) = open();
    let mut model = Model::new();
    let mut side_model = Model::new();
    // Snapshots with the model seqno they must show, in `default` and in `side`.
    let mut snaps: Vec<(Snapshot, u64, u64)> = Vec::new();
    let mut trace = Vec::with_capacity(ops.len());
    for (i, op) in ops.iter().enumerate() {
        let ctx = || format!("[{label}] op {i}: {op:?}");
        let answer: u64 = match op {
            Op::Put(k, v) => {
                db.put(k, v).expect("put");
                model.put(k, v);
                0
            }
            Op::Delete(k) => {
                db.delete(k).expect("delete");
                model.delete(k);
                0
            }
            Op::Batch(entries) => {
                db.write(model::batch(entries)).expect("batch");
                model.write(entries);
                0
            }
            Op::DeleteRange(lo, hi) => {
                let b = (
                    lo.clone().map_or(Bound::Unbounded, Bound::Included),
                    hi.clone().map_or(Bound::Unbounded, Bound::Excluded),
                );
                db.delete_range(b.clone()).expect("delete_range");
                let doomed: Vec<model::Entry> = model::range(model.latest(), &b)
                    .into_iter()
                    .map(|(k, _)| (k, None))
                    .collect();
                model.write(&doomed);
                0
            }
            Op::DeletePrefix(p) => {
                db.delete_prefix(p).expect("delete_prefix");
                let doomed: Vec<model::Entry> = model::prefix(model.latest(), p)
                    .into_iter()
                    .map(|(k, _)| (k, None))
                    .collect();
                model.write(&doomed);
                0
            }
            Op::Get(k) => {
                let got = db.get(k).expect("get").map(|v| v.to_vec());
                assert_eq!(got.as_deref(), model.get(k), "{}", ctx());
                digest(&got.map(|v| (k.clone(), v)).into_iter().collect::<Vec<_>>())
            }
            Op::Range {
                lo,
                hi,
                rev,
                limit,
                snapshot,
            } => {
                let (it, state) = match snapshot.and_then(|s| snaps.get(s)) {
                    Some((s, m, _)) => (s.range(bounds(lo, hi)), model.at(*m)),
                    None => (db.range(bounds(lo, hi)), model.latest().clone()),
                };
                let got = collect(it, *rev, *limit);
                let want = limited(model::range(&state, &bounds(lo, hi)), *rev, *limit);
                assert_eq!(got, want, "{}", ctx());
                digest(&got)
            }
            Op::Prefix(p, rev) => {
                let got = collect(db.prefix(p), *rev, usize::MAX);
                let want = limited(model::prefix(model.latest(), p), *rev, usize::MAX);
                assert_eq!(got, want, "{}", ctx());
                digest(&got)
            }
            Op::TakeSnapshot => {
                if snaps.len() >= 4 {
                    snaps.remove(0);
                }
                snaps.push((db.snapshot(), model.seqno(), side_model.seqno()));
                snaps.len() as u64
            }
            Op::DropSnapshot(s) => {
                if *s < snaps.len() {
                    snaps.remove(*s);
                }
                snaps.len() as u64
            }
            Op::SnapshotGet(s, k) => match snaps.get(*s) {
                Some((snap, m, _)) => {
                    let got = snap.get(k).expect("snapshot get").map(|v| v.to_vec());
                    assert_eq!(got.as_deref(), model.get_at(k, *m), "{}", ctx());
                    digest(&got.map(|v| (k.clone(), v)).into_iter().collect::<Vec<_>>())
                }
                None => u64::MAX,
            },
            Op::Flush => {
                db.flush().expect("flush");
                0
            }
            Op::Sync => {
                db.sync().expect("sync");
                0
            }
            Op::Compact => {
                db.compact().expect("compact");
                0
            }
            Op::CompactRange(lo, hi) => {
                db.compact_range(lo.as_slice()..=hi.as_slice())
                    .expect("compact_range");
                0
            }
            Op::Reopen => {
                // Snapshots and keyspace handles keep the directory locked.
                snaps.clear();
                drop(side);
                db.close().expect("close");
                (db, side) = open();
                0
            }
            Op::SidePut(k, v) => {
                side.put(k, v).expect("side put");
                side_model.put(k, v);
                0
            }
            Op::SideDeletePrefix(p) => {
                side.delete_prefix(p).expect("side delete_prefix");
                let doomed: Vec<model::Entry> = model::prefix(side_model.latest(), p)
                    .into_iter()
                    .map(|(k, _)| (k, None))
                    .collect();
                side_model.write(&doomed);
                0
            }
            Op::SideRange { rev, snapshot } => {
                let all = (Bound::Unbounded, Bound::Unbounded);
                let (it, state) = match snapshot.and_then(|s| snaps.get(s)) {
                    Some((s, _, m)) => (s.range_in::<&[u8], _>(&side, ..), side_model.at(*m)),
                    None => (side.range::<&[u8], _>(..), side_model.latest().clone()),
                };
                let got = collect(it, *rev, usize::MAX);
                let want = limited(model::range(&state, &all), *rev, usize::MAX);
                assert_eq!(got, want, "{}", ctx());
                digest(&got)
            }
            Op::SideFlush => {
                side.flush().expect("side flush");
                0
            }
            Op::CrossBatch(entries) => {
                let mut b = lsmkv::WriteBatch::new();
                let (mut main, mut other): (Vec<model::Entry>, Vec<model::Entry>) =
                    (Vec::new(), Vec::new());
                for (in_side, k, v) in entries {
                    match (in_side, v) {
                        (true, Some(v)) => b.put_in(&side, k, v),
                        (true, None) => b.delete_in(&side, k),
                        (false, Some(v)) => b.put(k, v),
                        (false, None) => b.delete(k),
                    }
                    let e = (k.clone(), v.clone());
                    if *in_side {
                        other.push(e);
                    } else {
                        main.push(e);
                    }
                }
                db.write(b).expect("cross-keyspace batch");
                model.write(&main);
                side_model.write(&other);
                0
            }
        };
        trace.push(answer);
        if i % 4096 == 4095 {
            // Long runs: the model keeps only what the live snapshots still need.
            let oldest = snaps.iter().map(|(_, m, _)| *m).min();
            model.forget_before(oldest.unwrap_or(model.seqno()));
            let oldest = snaps.iter().map(|(_, _, m)| *m).min();
            side_model.forget_before(oldest.unwrap_or(side_model.seqno()));
        }
    }
    let all = model::scan(&db);
    assert_eq!(all, model::pairs(model.latest()), "[{label}] final scan");
    let side_all = model::collect(side.range::<&[u8], _>(..));
    assert_eq!(
        side_all,
        model::pairs(side_model.latest()),
        "[{label}] final scan of side"
    );
    db.verify().expect("verify");
    trace.push(digest(&all));
    trace.push(digest(&side_all));
    snaps.clear();
    drop(side);
    db.close().expect("close");
    trace
}

/// The option sets. Each differs from the base in several knobs at once.
fn option_sets() -> Vec<(&'static str, Options)> {
    let base = Options {
        sync_mode: SyncMode::None,
        memtable_max_size: 16 << 10,
        block_cache_size_mb: 1,
        ..Options::default()
    };
    let o = |f: &dyn Fn(&mut Options)| {
        let mut x = base.clone();
        f(&mut x);
        x
    };
    vec![
        ("base", base.clone()),
        (
            "tiny-blocks-no-bloom-no-cache",
            o(&|x| {
                x.block_size = 64;
                x.bloom_false_positive_rate = 0.0;
                x.block_cache_size_mb = 0;
            }),
        ),
        (
            "raw-blocks-restart1-leaky-bloom",
            o(&|x| {
                x.compression = Compression::None;
                x.sparse_index_interval = 1;
                x.bloom_false_positive_rate = 0.5;
            }),
        ),
        (
            "tiny-memtable-sync-always",
            o(&|x| {
                x.memtable_max_size = 1024;
                x.sync_mode = SyncMode::Always;
                x.max_immutable_memtables = 1;
            }),
        ),
        (
            "big-memtable-big-blocks-tiered",
            o(&|x| {
                x.memtable_max_size = 4 << 20;
                x.block_size = 64 << 10;
                x.compaction_strategy = CompactionStrategy::Tiered;
            }),
        ),
        (
            "async-batch-paranoid-lazy-leveling",
            o(&|x| {
                x.sync_mode = SyncMode::AsyncBatch;
                x.wal_sync_interval_ms = 1;
                x.paranoid_checks = true;
                x.compaction_strategy = CompactionStrategy::LazyLeveling;
            }),
        ),
        (
            "small-blocks-restart-64-no-compression-no-cache",
            o(&|x| {
                x.block_size = 200;
                x.sparse_index_interval = 64;
                x.compression = Compression::None;
                x.block_cache_size_mb = 0;
            }),
        ),
        (
            "small-wal-limit-strict-bloom",
            o(&|x| {
                x.max_wal_size = 8192;
                x.bloom_false_positive_rate = 0.0001;
                x.memtable_max_size = 4096;
            }),
        ),
    ]
}

fn run_seed(seed: u64, n_ops: usize) {
    let mut r = Rng::new(seed);
    let ops: Vec<Op> = (0..n_ops).map(|_| gen_op(&mut r)).collect();
    let sets = option_sets();
    assert!(sets.len() >= 8);
    let mut first: Option<(&str, Vec<u64>)> = None;
    for (label, opts) in &sets {
        let dir = common::dir::tmpfs_tempdir();
        let trace =
            std::panic::catch_unwind(|| run(&ops, opts, dir.path(), label)).unwrap_or_else(|_| {
                panic!("seed {seed} failed under option set {label} (replay: LSMKV_SEED={seed})")
            });
        match &first {
            None => first = Some((label, trace)),
            Some((l0, t0)) => {
                if let Some(i) = t0.iter().zip(&trace).position(|(a, b)| a != b) {
                    panic!(
                        "seed {seed}: option sets {l0} and {label} differ at op {i}: {:?}",
                        ops.get(i)
                    );
                }
                assert_eq!(t0.len(), trace.len());
            }
        }
    }
}

#[test]
fn same_answers_under_every_option_set() {
    let n_ops = rng::env_u64("LSMKV_METAMORPHIC_OPS").unwrap_or(800) as usize;
    let runs = rng::env_u64("LSMKV_METAMORPHIC_RUNS").unwrap_or(1);
    let base = rng::seed("metamorphic", 0x5eed);
    let seed0 = base.value();
    for i in 0..runs {
        let seed = seed0.wrapping_add(i);
        eprintln!(
            "metamorphic: seed {seed}, {n_ops} ops x {} option sets",
            option_sets().len()
        );
        run_seed(seed, n_ops);
    }
}
