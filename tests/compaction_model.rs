//! Compaction against a model, for each strategy: tiny memtables and levels so background
//! compactions run constantly, with snapshots held across them, manual `compact`/`compact_range`,
//! and reopen. Every read (point, range, reverse, snapshot) is compared with a `BTreeMap` model.
//!
//! Replay: `LSMKV_SEED=<n>`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;

use lsmkv::{CompactionStrategy, Db, Options, Snapshot, SyncMode};

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn opts(strategy: CompactionStrategy) -> Options {
    Options {
        sync_mode: SyncMode::None,
        memtable_max_size: 8 << 10,
        block_size: 512,
        target_file_size: 8 << 10,
        level_base_size: 32 << 10,
        l0_compaction_trigger: 2,
        l0_slowdown_writes_trigger: 6,
        l0_stop_writes_trigger: 10,
        max_levels: 4,
        tiered_min_merge_width: 2,
        level_size_ratio: 4,
        compaction_threads: 2,
        compaction_strategy: strategy,
        ..Options::default()
    }
}

type Model = BTreeMap<Vec<u8>, Vec<u8>>;

fn check_all(db: &Db, model: &Model, ctx: &str) {
    let got: Vec<(Vec<u8>, Vec<u8>)> = db
        .range::<&[u8], _>(..)
        .map(|r| {
            let (k, v) = r.unwrap();
            (k.to_vec(), v.to_vec())
        })
        .collect();
    let want: Vec<(Vec<u8>, Vec<u8>)> = model.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
    assert_eq!(got.len(), want.len(), "{ctx}: scan length");
    assert!(got == want, "{ctx}: scan differs");
    let mut rev: Vec<(Vec<u8>, Vec<u8>)> = db
        .range::<&[u8], _>(..)
        .rev()
        .map(|r| {
            let (k, v) = r.unwrap();
            (k.to_vec(), v.to_vec())
        })
        .collect();
    rev.reverse();
    assert!(rev == want, "{ctx}: reverse scan differs");
}

fn check_snapshot(snap: &Snapshot, model: &Model, ctx: &str) {
    let got: Vec<(Vec<u8>, Vec<u8>)> = snap
        .range::<&[u8], _>(..)
        .map(|r| {
            let (k, v) = r.unwrap();
            (k.to_vec(), v.to_vec())
        })
        .collect();
    let want: Vec<(Vec<u8>, Vec<u8>)> = model.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
    assert!(got == want, "{ctx}: snapshot view changed");
    for (k, v) in model.iter().take(20) {
        assert_eq!(snap.get(k).unwrap().as_deref(), Some(v.as_slice()), "{ctx}");
    }
}

fn run(strategy: CompactionStrategy, salt: u64) {
    let seed = std::env::var("LSMKV_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x5eed_c0de_u64)
        ^ salt;
    eprintln!("compaction_model[{strategy:?}]: LSMKV_SEED={seed}");
    let mut rng = Rng(seed | 1);
    let dir = tempfile::tempdir().unwrap();
    let mut db = Db::open(dir.path(), opts(strategy)).unwrap();
    let mut model: Model = BTreeMap::new();
    let mut snaps: Vec<(Snapshot, Model)> = Vec::new();
    // Counters restart at each open: sum them over the handles.
    let (mut compactions, mut flushes) = (0, 0);
    for step in 0..4000u32 {
        let k = format!("key{:05}", rng.below(1500)).into_bytes();
        match rng.below(100) {
            0..=64 => {
                let v = format!("v{step}-{}", "x".repeat(rng.below(60) as usize)).into_bytes();
                db.put(&k, &v).unwrap();
                model.insert(k, v);
            }
            65..=84 => {
                db.delete(&k).unwrap();
                model.remove(&k);
            }
            85..=89 => {
                let got = db.get(&k).unwrap();
                assert_eq!(
                    got.as_deref(),
                    model.get(&k).map(|v| v.as_slice()),
                    "step {step}"
                );
            }
            90 => {
                if snaps.len() < 3 {
                    snaps.push((db.snapshot(), model.clone()));
                } else {
                    let (s, m) = snaps.remove(0);
                    check_snapshot(&s, &m, &format!("step {step}"));
                }
            }
            91 => db.flush().unwrap(),
            92 => {
                if rng.below(4) == 0 {
                    db.compact().unwrap();
                } else {
                    let a = format!("key{:05}", rng.below(1500));
                    let b = format!("key{:05}", rng.below(1500));
                    let (a, b) = if a <= b { (a, b) } else { (b, a) };
                    db.compact_range(a.as_bytes()..=b.as_bytes()).unwrap();
                }
            }
            93 => {
                // Reopen (snapshots are tied to the old handle: check and drop them first).
                for (s, m) in snaps.drain(..) {
                    check_snapshot(&s, &m, &format!("step {step} before reopen"));
                }
                compactions += db.stats().compactions;
                flushes += db.stats().flushes;
                drop(db);
                db = Db::open(dir.path(), opts(strategy)).unwrap();
            }
            _ => {
                let mut b = lsmkv::WriteBatch::new();
                for _ in 0..rng.below(8) {
                    let k = format!("key{:05}", rng.below(1500)).into_bytes();
                    if rng.below(3) == 0 {
                        b.delete(&k);
                        model.remove(&k);
                    } else {
                        let v = format!("b{step}").into_bytes();
                        b.put(&k, &v);
                        model.insert(k, v);
                    }
                }
                db.write(b).unwrap();
            }
        }
        if step % 1000 == 999 {
            check_all(&db, &model, &format!("{strategy:?} step {step}"));
        }
    }
    for (s, m) in snaps.drain(..) {
        check_snapshot(&s, &m, "end");
    }
    check_all(&db, &model, "end");
    let st = db.stats();
    assert!(
        st.compactions + compactions > 0,
        "no compaction ran: {st:?}"
    );
    assert!(st.flushes + flushes > 0);
    // A full compaction leaves one sorted run at the last level and no garbage.
    db.compact().unwrap();
    check_all(&db, &model, "after full compaction");
    let tables = db.tables();
    assert!(tables.iter().all(|t| t.level == 3), "{tables:?}");
    assert!(
        tables.iter().all(|t| t.tombstones == 0),
        "tombstones survived a full compaction"
    );
    let entries: u64 = tables.iter().map(|t| t.entries).sum();
    assert_eq!(
        entries,
        model.len() as u64,
        "old versions survived a full compaction"
    );
    drop(db);
    let db = Db::open(dir.path(), opts(strategy)).unwrap();
    check_all(&db, &model, "after final reopen");
    db.verify().unwrap();
}

#[test]
fn leveled_matches_model() {
    run(CompactionStrategy::Leveled, 1);
}

#[test]
fn tiered_matches_model() {
    run(CompactionStrategy::Tiered, 2);
}

#[test]
fn lazy_leveling_matches_model() {
    run(CompactionStrategy::LazyLeveling, 3);
}

/// Sustained writes: L0 stays under its hard limit and space stays within a bound of live data.
#[test]
fn sustained_writes_keep_l0_and_space_bounded() {
    for strategy in [
        CompactionStrategy::Leveled,
        CompactionStrategy::Tiered,
        CompactionStrategy::LazyLeveling,
    ] {
        let dir = tempfile::tempdir().unwrap();
        let o = opts(strategy);
        let db = Db::open(dir.path(), o.clone()).unwrap();
        let mut max_l0 = 0;
        for round in 0..8u32 {
            for i in 0..800u32 {
                let k = format!("k{:04}", i);
                db.put(k.as_bytes(), format!("{round}-{}", "v".repeat(90)))
                    .unwrap();
            }
            let l0 = db.tables().iter().filter(|t| t.level == 0).count();
            max_l0 = max_l0.max(l0);
        }
        assert!(
            max_l0 <= o.l0_stop_writes_trigger,
            "{strategy:?}: L0 reached {max_l0}"
        );
        db.flush().unwrap();
        db.compact().unwrap();
        let bytes: u64 = db.tables().iter().map(|t| t.file_size).sum();
        // 800 live keys of ~100 bytes: after compaction the tables hold about that, not 8 rounds.
        assert!(
            bytes < 800 * 110 * 2,
            "{strategy:?}: {bytes} bytes on disk for ~88 KB live"
        );
        assert!(db.stats().write_amplification > 0.0);
    }
}
