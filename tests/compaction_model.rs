//! Compaction against a model, for each strategy: tiny memtables and levels so background
//! compactions run constantly, with snapshots held across them, manual `compact`/`compact_range`,
//! range and prefix deletes (carried, clipped and garbage-collected by compactions), and reopen. Every read (point, range, reverse, snapshot) is compared with a `BTreeMap` model.
//!
//! Replay: `LSMKV_SEED=<n>`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::model::{self, Model, State};
use common::{opts, rng};
use std::ops::Bound;

use lsmkv::{CompactionStrategy, Db, Options, Snapshot};

fn opts(strategy: CompactionStrategy) -> Options {
    opts::compaction_heavy(strategy)
}

fn check_all(db: &Db, state: &State, ctx: &str) {
    model::assert_matches(db, state, ctx);
}

fn check_snapshot(snap: &Snapshot, state: &State, ctx: &str) {
    model::assert_matches(snap, state, &format!("{ctx}: snapshot view changed"));
    model::assert_gets(snap, state, state.keys().take(20).map(Vec::as_slice), ctx);
}

fn run(strategy: CompactionStrategy, salt: u64) {
    let seed = rng::seed(&format!("compaction_model[{strategy:?}]"), 0x5eed_c0de);
    let mut rng = seed.rng(salt);
    let dir = common::dir::tempdir();
    let mut db = Db::open(dir.path(), opts(strategy)).unwrap();
    let mut model = Model::new();
    // Snapshots with the model seqno they must show.
    let mut snaps: Vec<(Snapshot, u64)> = Vec::new();
    // Counters restart at each open: sum them over the handles.
    let (mut compactions, mut flushes) = (0, 0);
    for step in 0..4000u32 {
        let k = format!("key{:05}", rng.below(1500)).into_bytes();
        match rng.below(100) {
            0..=64 => {
                let v = format!("v{step}-{}", "x".repeat(rng.below(60) as usize)).into_bytes();
                db.put(&k, &v).unwrap();
                model.put(&k, &v);
            }
            65..=82 => {
                db.delete(&k).unwrap();
                model.delete(&k);
            }
            83 => {
                // A range delete over up to ~60 keys, from memtables through every level.
                let start = rng.below(1500);
                let end = start + rng.below(60);
                let w = model::Write::DeleteRange((
                    Bound::Included(format!("key{start:05}").into_bytes()),
                    Bound::Excluded(format!("key{end:05}").into_bytes()),
                ));
                w.apply(&db).unwrap();
                model.apply(&w);
            }
            84 => {
                // 100 keys ("key001xx"), or 10 ("key0012x").
                let p = if rng.one_in(2) {
                    format!("key{:03}", rng.below(15))
                } else {
                    format!("key{:04}", rng.below(150))
                };
                let w = model::Write::DeletePrefix(p.into_bytes());
                w.apply(&db).unwrap();
                model.apply(&w);
            }
            85..=89 => {
                let got = db.get(&k).unwrap();
                assert_eq!(got.as_deref(), model.get(&k), "step {step}");
            }
            90 => {
                if snaps.len() < 3 {
                    snaps.push((db.snapshot(), model.seqno()));
                } else {
                    let (s, m) = snaps.remove(0);
                    check_snapshot(&s, &model.at(m), &format!("step {step}"));
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
                    check_snapshot(&s, &model.at(m), &format!("step {step} before reopen"));
                }
                compactions += db.stats().compactions;
                flushes += db.stats().flushes;
                drop(db);
                db = Db::open(dir.path(), opts(strategy)).unwrap();
            }
            _ => {
                let entries: Vec<model::Entry> = (0..rng.below(8))
                    .map(|_| {
                        let k = format!("key{:05}", rng.below(1500)).into_bytes();
                        if rng.one_in(3) {
                            (k, None)
                        } else {
                            (k, Some(format!("b{step}").into_bytes()))
                        }
                    })
                    .collect();
                db.write(model::batch(&entries)).unwrap();
                model.write(&entries);
            }
        }
        if step % 1000 == 999 {
            check_all(&db, model.latest(), &format!("{strategy:?} step {step}"));
        }
    }
    for (s, m) in snaps.drain(..) {
        check_snapshot(&s, &model.at(m), "end");
    }
    check_all(&db, model.latest(), "end");
    let st = db.stats();
    assert!(
        st.compactions + compactions > 0,
        "no compaction ran: {st:?}"
    );
    assert!(st.flushes + flushes > 0);
    // A full compaction leaves one sorted run at the last level and no garbage.
    db.compact().unwrap();
    check_all(&db, model.latest(), "after full compaction");
    let tables = db.tables();
    assert!(tables.iter().all(|t| t.level == 3), "{tables:?}");
    assert!(
        tables
            .iter()
            .all(|t| t.tombstones == 0 && t.range_tombstones == 0),
        "tombstones survived a full compaction"
    );
    let entries: u64 = tables.iter().map(|t| t.entries).sum();
    assert_eq!(
        entries,
        model.latest().len() as u64,
        "old versions survived a full compaction"
    );
    drop(db);
    let db = Db::open(dir.path(), opts(strategy)).unwrap();
    check_all(&db, model.latest(), "after final reopen");
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
        let dir = common::dir::tempdir();
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
