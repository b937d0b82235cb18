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

mod common;

use common::model::{self, Model, Write};
use common::opts;
use common::rng::{ok, run_proptest};
use lsmkv::Db;
use proptest::prelude::*;
use proptest::test_runner::TestCaseError;

const DEFAULT_SEED: u64 = 0x6c73_6d6b_7621;
const DEFAULT_CASES: u32 = 24;

#[derive(Debug, Clone)]
enum Op {
    Write(Write),
    Flush,
    Reopen,
}

/// Every key the test uses: strings of length 0..=3 over {a, b}, plus one binary key.
fn alphabet() -> Vec<Vec<u8>> {
    model::tiny_keys()
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
        17 => Write::strategy(key, value).prop_map(Op::Write),
        1 => Just(Op::Flush),
        1 => Just(Op::Reopen),
    ]
}

fn check(db: &Db, model: &Model, step: usize, op: &Op) -> Result<(), TestCaseError> {
    for k in alphabet() {
        let got = ok(db.get(&k), || format!("step {step} ({op:?}): get {k:?}"))?;
        let want = model.get(&k);
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
    let dir = common::dir::tempdir();
    let open = || ok(Db::open(dir.path(), opts::tiny()), || "open".to_string());
    let mut db = Some(open()?);
    let mut model = Model::new();
    for (step, op) in ops.iter().enumerate() {
        let d = db.as_ref().unwrap();
        let what = || format!("step {step} ({op:?})");
        match op {
            Op::Write(w) => {
                ok(w.apply(d), what)?;
                model.apply(w);
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
    run_proptest(
        "model_proptest",
        DEFAULT_SEED,
        DEFAULT_CASES,
        &prop::collection::vec(op(), 1..60),
        |ops| run_case(&ops),
    );
}

#[test]
fn alphabet_has_empty_and_overlapping_keys() {
    let a = alphabet();
    assert!(a.contains(&Vec::new()));
    assert_eq!(a.len(), 1 + 2 + 4 + 8 + 1);
}
