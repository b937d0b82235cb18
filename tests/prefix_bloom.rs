//! PREFIX_BLOOM_LENGTH: tables whose filter rules a prefix out are skipped by prefix scans, and
//! prefix scans return exactly the model's keys whatever the filters say.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::model::{self, Pairs, State};
use common::{dir, opts};
use lsmkv::{Db, Options};

fn scan(db: &Db, p: &[u8], rev: bool) -> Pairs {
    let it = db.prefix(p);
    if rev {
        model::collect(it.rev())
    } else {
        model::collect(it)
    }
}

/// Four tables; table t holds the even tenants `t{2j}` with j = t mod 4 .. so every table's key
/// range spans almost all tenants but holds only some of them.
/// Options that keep the four flushed tables apart (no compaction merges them).
fn opts(prefix_len: usize) -> Options {
    Options {
        prefix_bloom_length: prefix_len,
        l0_compaction_trigger: 16,
        l0_slowdown_writes_trigger: 32,
        l0_stop_writes_trigger: 40,
        ..opts::no_sync()
    }
}

fn build(prefix_len: usize) -> (tempfile::TempDir, Db, State) {
    let dir = dir::tempdir();
    let db = Db::open(dir.path(), opts(prefix_len)).unwrap();
    let mut model = State::new();
    for table in 0..4u32 {
        for tenant in (table..40).step_by(4) {
            for i in 0..20u32 {
                let k = format!("t{:03}:{i:03}", tenant * 2).into_bytes();
                let v = format!("v{table}-{i}").into_bytes();
                db.put(&k, &v).unwrap();
                model.insert(k, v);
            }
        }
        db.flush().unwrap();
    }
    assert_eq!(db.tables().len(), 4);
    (dir, db, model)
}

fn check_all_prefixes(db: &Db, model: &State) {
    // Present tenants (even), absent ones (odd), longer and shorter prefixes.
    let mut prefixes: Vec<Vec<u8>> = (0..82u32)
        .map(|t| format!("t{t:03}").into_bytes())
        .collect();
    prefixes.push(b"t004:01".to_vec());
    prefixes.push(b"t005:01".to_vec());
    prefixes.push(b"t0".to_vec());
    prefixes.push(b"".to_vec());
    for p in &prefixes {
        let want = model::prefix(model, p);
        assert_eq!(
            scan(db, p, false),
            want,
            "prefix {:?}",
            String::from_utf8_lossy(p)
        );
        assert_eq!(
            scan(db, p, true),
            model::reversed(want),
            "prefix {:?} reversed",
            String::from_utf8_lossy(p)
        );
    }
}

#[test]
fn prefix_filters_skip_tables_and_keep_answers_exact() {
    let (_dir, db, model) = build(4);
    check_all_prefixes(&db, &model);
    let skips = db.stats().prefix_filter_skips;
    // A present tenant lives in one of the four tables: the three others are skipped (up to
    // false positives); an absent tenant skips (nearly) all four.
    assert!(skips > 200, "only {skips} tables skipped");
    // Reopen (with the same sizes, so that no compaction merges the four tables meanwhile):
    // filters are read back from the files.
    let dir = _dir;
    drop(db);
    let db = Db::open(dir.path(), opts(4)).unwrap();
    check_all_prefixes(&db, &model);
    assert!(db.stats().prefix_filter_skips > 200);
}

#[test]
fn without_prefix_filters_nothing_is_skipped() {
    let (_dir, db, model) = build(0);
    check_all_prefixes(&db, &model);
    assert_eq!(db.stats().prefix_filter_skips, 0);
}
