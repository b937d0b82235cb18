//! Model test: random sequences of put / delete / batch / put with a time to live / clock advance
//! / flush / compaction / reopen against a `BTreeMap`.
//!
//! Small `memtable_max_size` and `block_size` make automatic flushes and multi-block tables happen
//! within a few operations; keys come from a tiny alphabet (including the empty key) so overwrites
//! and deletes of live keys are common. The database runs on a manual clock; the model keeps each
//! key's expiry beside the `BTreeMap` (an expired key is absent; a later write of the key drops
//! its expiry). After every step every key of the alphabet is read back, and the whole database is
//! scanned forward and backward, and compared with the model.
//!
//! Replay: the run is deterministic. `LSMKV_SEED=<n>` picks another seed (printed at the start of
//! each run), `PROPTEST_CASES=<n>` changes the number of cases. A failure prints the shrunk op
//! sequence; turn it into a named regression test whose doc comment says what broke.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
// `drop(db)` is the point of several tests (dropping the last handle closes the database); the
// lint only fires while `Db` has no drop glue.
#![allow(clippy::drop_non_drop)]

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use common::model::{self, Model, State, Write};
use common::opts;
use common::rng::{ok, run_proptest};
use lsmkv::Db;
use lsmkv::ttl::Clock;
use proptest::prelude::*;
use proptest::test_runner::TestCaseError;

const DEFAULT_SEED: u64 = 0x6c73_6d6b_7621;
const DEFAULT_CASES: u32 = 24;

#[derive(Debug, Clone)]
enum Op {
    Write(Write),
    /// `put_with_ttl(key, value, ttl_ms)`.
    PutTtl(Vec<u8>, Vec<u8>, u64),
    /// Moves the clock forward by this many milliseconds.
    Advance(u64),
    Flush,
    Compact,
    Reopen,
}

/// The model: the latest state, plus the expiry (ms) of each key whose latest write had a TTL.
#[derive(Default)]
struct Expiring {
    model: Model,
    expiry: BTreeMap<Vec<u8>, u64>,
}

impl Expiring {
    fn apply(&mut self, w: &Write) {
        for (k, _) in w.entries() {
            self.expiry.remove(&k);
        }
        self.model.apply(w);
    }

    fn put_with_ttl(&mut self, k: &[u8], v: &[u8], expires_at: u64) {
        self.model.put(k, v);
        self.expiry.insert(k.to_vec(), expires_at);
    }

    /// What the database must hold at `now_ms`.
    fn state(&self, now_ms: u64) -> State {
        let mut s = self.model.latest().clone();
        s.retain(|k, _| self.expiry.get(k).is_none_or(|&at| at > now_ms));
        s
    }
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
        5 => (key(), value(), 0..3000u64).prop_map(|(k, v, ttl)| Op::PutTtl(k, v, ttl)),
        3 => (1..2000u64).prop_map(Op::Advance),
        1 => Just(Op::Flush),
        1 => Just(Op::Compact),
        1 => Just(Op::Reopen),
    ]
}

fn check(db: &Db, want: &State, step: usize, op: &Op) -> Result<(), TestCaseError> {
    for k in alphabet() {
        let got = ok(db.get(&k), || format!("step {step} ({op:?}): get {k:?}"))?;
        prop_assert_eq!(
            got.as_deref(),
            want.get(&k).map(Vec::as_slice),
            "step {} after {:?}: key {:?}",
            step,
            op,
            k
        );
    }
    let pairs = model::pairs(want);
    let scanned = ok(model::try_collect(db.range::<&[u8], _>(..)), || {
        format!("step {step} ({op:?}): scan")
    })?;
    prop_assert_eq!(&scanned, &pairs, "step {} after {:?}: scan", step, op);
    let reversed = ok(model::try_collect(db.range::<&[u8], _>(..).rev()), || {
        format!("step {step} ({op:?}): reverse scan")
    })?;
    prop_assert_eq!(
        reversed,
        model::reversed(pairs),
        "step {} after {:?}: reverse scan",
        step,
        op
    );
    Ok(())
}

fn run_case(ops: &[Op]) -> Result<(), TestCaseError> {
    let dir = common::dir::tempdir();
    let (o, clock) = opts::with_manual_clock(opts::tiny());
    let open = || ok(Db::open(dir.path(), o.clone()), || "open".to_string());
    let mut db = Some(open()?);
    let mut model = Expiring::default();
    for (step, op) in ops.iter().enumerate() {
        let d = db.as_ref().unwrap();
        let what = || format!("step {step} ({op:?})");
        match op {
            Op::Write(w) => {
                ok(w.apply(d), what)?;
                model.apply(w);
            }
            Op::PutTtl(k, v, ttl) => {
                ok(d.put_with_ttl(k, v, Duration::from_millis(*ttl)), what)?;
                model.put_with_ttl(k, v, clock.now_millis() + ttl);
            }
            Op::Advance(ms) => clock.advance(Duration::from_millis(*ms)),
            Op::Flush => ok(d.flush(), what)?,
            Op::Compact => ok(d.compact(), what)?,
            Op::Reopen => {
                // Drop (not close) the only handle: that must release the lock and keep the data.
                drop(db.take());
                db = Some(open()?);
            }
        }
        let want = model.state(clock.now_millis());
        check(db.as_ref().unwrap(), &want, step, op)?;
    }
    // Finally a clean close and reopen.
    ok(db.take().unwrap().close(), || "final close".to_string())?;
    let d = open()?;
    let want = model.state(clock.now_millis());
    check(&d, &want, ops.len(), &Op::Reopen)
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
