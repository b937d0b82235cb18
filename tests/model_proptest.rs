//! Model test: random sequences of put / delete / batch / flush / reopen against a `BTreeMap`.
//!
//! Small `memtable_max_size` and `block_size` make automatic flushes and multi-block tables happen
//! within a few operations; keys come from a tiny alphabet (including the empty key) so overwrites
//! and deletes of live keys are common. After every step every key of the alphabet is read back and
//! compared with the model.
//!
//! Replay: the run is deterministic. `LSMKV_SEED=<n>` picks another seed (printed at the start of
//! each run), `PROPTEST_CASES=<n>` changes the number of cases. A failure prints the shrunk op
//! sequence; turn it into a named regression test whose doc comment says what broke.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
// `drop(db)` is the point of several tests (dropping the last handle closes the database); the
// lint only fires while `Db` has no drop glue.
#![allow(clippy::drop_non_drop)]

use std::collections::BTreeMap;

use lsmkv::{Db, Options, SyncMode, WriteBatch};
use proptest::prelude::*;
use proptest::test_runner::{Config, RngSeed, TestCaseError, TestRunner};

const DEFAULT_SEED: u64 = 0x6c73_6d6b_7621;
const DEFAULT_CASES: u32 = 24;

#[derive(Debug, Clone)]
enum Op {
    Put(Vec<u8>, Vec<u8>),
    Delete(Vec<u8>),
    /// Entries: `Some(v)` = put, `None` = delete. May name a key twice; the later entry wins.
    Batch(Vec<(Vec<u8>, Option<Vec<u8>>)>),
    Flush,
    Reopen,
}

/// Every key the test uses: strings of length 0..=3 over {a, b}, plus one binary key.
fn alphabet() -> Vec<Vec<u8>> {
    let mut keys = vec![Vec::new()];
    let mut frontier = vec![Vec::new()];
    for _ in 0..3 {
        let mut next = Vec::new();
        for k in &frontier {
            for c in [b'a', b'b'] {
                let mut k2: Vec<u8> = k.clone();
                k2.push(c);
                next.push(k2);
            }
        }
        keys.extend(next.iter().cloned());
        frontier = next;
    }
    keys.push(vec![0x00, 0xff]);
    keys
}

fn key() -> impl Strategy<Value = Vec<u8>> {
    prop::sample::select(alphabet())
}

fn value() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        3 => prop::collection::vec(any::<u8>(), 0..40),
        1 => Just(Vec::new()),
        // Larger than a block (256 bytes) and a good share of the memtable.
        1 => prop::collection::vec(any::<u8>(), 200..1200),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        10 => (key(), value()).prop_map(|(k, v)| Op::Put(k, v)),
        4 => key().prop_map(Op::Delete),
        3 => prop::collection::vec((key(), prop::option::weighted(0.7, value())), 0..8)
            .prop_map(Op::Batch),
        1 => Just(Op::Flush),
        1 => Just(Op::Reopen),
    ]
}

fn options() -> Options {
    Options {
        memtable_max_size: 4096,
        block_size: 256,
        sparse_index_interval: 4,
        sync_mode: SyncMode::None,
        ..Options::default()
    }
}

/// Fails the case (without a panic, so shrinking stays quiet) with `what` and the error.
fn ok<T>(r: lsmkv::Result<T>, what: impl FnOnce() -> String) -> Result<T, TestCaseError> {
    r.map_err(|e| TestCaseError::fail(format!("{}: {e}", what())))
}

fn check(
    db: &Db,
    model: &BTreeMap<Vec<u8>, Vec<u8>>,
    step: usize,
    op: &Op,
) -> Result<(), TestCaseError> {
    for k in alphabet() {
        let got = ok(db.get(&k), || format!("step {step} ({op:?}): get {k:?}"))?;
        let want = model.get(&k).map(Vec::as_slice);
        prop_assert_eq!(
            got.as_deref(),
            want,
            "step {} after {:?}: key {:?}",
            step,
            op,
            k
        );
    }
    Ok(())
}

fn run_case(ops: &[Op]) -> Result<(), TestCaseError> {
    let dir = tempfile::tempdir().unwrap();
    let open = || ok(Db::open(dir.path(), options()), || "open".to_string());
    let mut db = Some(open()?);
    let mut model: BTreeMap<Vec<u8>, Vec<u8>> = BTreeMap::new();
    for (step, op) in ops.iter().enumerate() {
        let d = db.as_ref().unwrap();
        let what = || format!("step {step} ({op:?})");
        match op {
            Op::Put(k, v) => {
                ok(d.put(k, v), what)?;
                model.insert(k.clone(), v.clone());
            }
            Op::Delete(k) => {
                ok(d.delete(k), what)?;
                model.remove(k);
            }
            Op::Batch(entries) => {
                let mut b = WriteBatch::new();
                for (k, v) in entries {
                    match v {
                        Some(v) => b.put(k, v),
                        None => b.delete(k),
                    }
                }
                ok(d.write(b), what)?;
                for (k, v) in entries {
                    match v {
                        Some(v) => model.insert(k.clone(), v.clone()),
                        None => model.remove(k),
                    };
                }
            }
            Op::Flush => ok(d.flush(), what)?,
            Op::Reopen => {
                // Drop (not close) the only handle: that must release the lock and keep the data.
                drop(db.take());
                db = Some(open()?);
            }
        }
        check(db.as_ref().unwrap(), &model, step, op)?;
    }
    // Finally a clean close and reopen.
    ok(db.take().unwrap().close(), || "final close".to_string())?;
    let d = open()?;
    check(&d, &model, ops.len(), &Op::Reopen)
}

#[test]
fn db_matches_btreemap_model() {
    let seed = std::env::var("LSMKV_SEED")
        .ok()
        .map(|s| s.trim().parse::<u64>().expect("LSMKV_SEED must be a u64"))
        .unwrap_or(DEFAULT_SEED);
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(DEFAULT_CASES);
    eprintln!("model_proptest: LSMKV_SEED={seed} PROPTEST_CASES={cases}");
    let config = Config {
        cases,
        rng_seed: RngSeed::Fixed(seed),
        // Shrinking re-runs whole databases; bound it so a failure reports in reasonable time.
        max_shrink_iters: 2000,
        // The seed is fixed, so replaying is by seed; no regression files.
        failure_persistence: None,
        ..Config::default()
    };
    let mut runner = TestRunner::new(config);
    let result = runner.run(&prop::collection::vec(op(), 1..60), |ops| run_case(&ops));
    if let Err(e) = result {
        panic!("{e}\nreplay with LSMKV_SEED={seed}");
    }
}

#[test]
fn alphabet_has_empty_and_overlapping_keys() {
    let a = alphabet();
    assert!(a.contains(&Vec::new()));
    assert_eq!(a.len(), 1 + 2 + 4 + 8 + 1);
}
