//! Model test: random sequences of put / delete / batch / range delete / prefix delete / flush /
//! compact / snapshot / reopen against a `BTreeMap` (`model_proptest.rs` covers expiry).
//!
//! Small `memtable_max_size` and `block_size` make automatic flushes and multi-block tables happen
//! within a few operations; keys come from a tiny alphabet (including the empty key) so overwrites
//! and deletes of live keys are common, and range deletes over it cover keys in memtables and in
//! tables of several levels. After every step every key of the alphabet is read back, and the whole
//! database scanned both ways, and compared with the model; snapshots are checked against the
//! state they were taken in, across later range deletes, flushes and compactions.
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
    Compact,
    Reopen,
    Snapshot,
    /// Checks (and drops) the `n % len`-th snapshot.
    CheckSnapshot(usize),
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
        17 => Write::strategy_with_ranges(key, value).prop_map(Op::Write),
        1 => Just(Op::Flush),
        1 => Just(Op::Compact),
        1 => Just(Op::Reopen),
        1 => Just(Op::Snapshot),
        1 => any::<usize>().prop_map(Op::CheckSnapshot),
    ]
}

/// `r` answers every key of the alphabet, and full scans both ways, as `state`.
fn check_state(r: &impl model::Read, state: &model::State, ctx: &str) -> Result<(), TestCaseError> {
    for k in alphabet() {
        let got = ok(r.get(&k), || format!("{ctx}: get {k:?}"))?;
        prop_assert_eq!(
            got.as_deref(),
            state.get(&k).map(Vec::as_slice),
            "{}: key {:?}",
            ctx,
            k
        );
    }
    let want = model::pairs(state);
    prop_assert_eq!(
        ok(model::try_collect(r.all()), || format!("{ctx}: scan"))?,
        want.clone()
    );
    let rev = ok(model::try_collect(r.all().rev()), || {
        format!("{ctx}: reverse scan")
    })?;
    prop_assert_eq!(rev, model::reversed(want), "{}: reverse scan", ctx);
    Ok(())
}

fn check(db: &Db, model: &Model, step: usize, op: &Op) -> Result<(), TestCaseError> {
    check_state(db, model.latest(), &format!("step {step} after {op:?}"))
}

fn run_case(ops: &[Op]) -> Result<(), TestCaseError> {
    let dir = common::dir::tempdir();
    let open = || ok(Db::open(dir.path(), opts::tiny()), || "open".to_string());
    let mut db = Some(open()?);
    let mut model = Model::new();
    let mut snaps: Vec<(lsmkv::Snapshot, model::State)> = Vec::new();
    for (step, op) in ops.iter().enumerate() {
        let d = db.as_ref().unwrap();
        let what = || format!("step {step} ({op:?})");
        match op {
            Op::Write(w) => {
                ok(w.apply(d), what)?;
                model.apply(w);
            }
            Op::Flush => ok(d.flush(), what)?,
            Op::Compact => ok(d.compact(), what)?,
            Op::Snapshot => snaps.push((d.snapshot(), model.latest().clone())),
            Op::CheckSnapshot(i) => {
                if !snaps.is_empty() {
                    let (s, state) = snaps.remove(i % snaps.len());
                    check_state(&s, &state, &format!("{} snapshot", what()))?;
                }
            }
            Op::Reopen => {
                // Snapshots hold the database open: check and drop them first. Then drop (not
                // close) the only handle: that must release the lock and keep the data.
                for (s, state) in snaps.drain(..) {
                    check_state(&s, &state, &format!("{} snapshot", what()))?;
                }
                drop(db.take());
                db = Some(open()?);
            }
        }
        check(db.as_ref().unwrap(), &model, step, op)?;
    }
    for (s, state) in snaps.drain(..) {
        check_state(&s, &state, "end: snapshot")?;
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
