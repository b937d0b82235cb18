//! Read-path model test: random writes (range and prefix deletes included), flushes, compactions
//! and reopens, with snapshots taken at random points
//! and iterators with random bounds, direction and prefixes, all compared to a versioned
//! `BTreeMap` model (visible seqno -> state).
//!
//! What it pins down:
//! - a snapshot (and `Db::range`/`Db::prefix`, which are snapshots) sees exactly the state at its
//!   seqno, also when read long after it was taken, after later writes and flushes moved the data
//!   it sees from memtables into SSTables;
//! - an iterator opened, partly consumed, and finished after later writes and flushes yields the
//!   view at its creation;
//! - forward, reverse and alternating (`next`, `next_ref`, `next_back`) traversal agree with the
//!   model, for included / excluded / unbounded bounds and prefixes;
//! - `Snapshot::seqno` is a batch boundary the model knows (batches are atomic for readers).
//!
//! Replay: `LSMKV_SEED=<n>` picks another seed (printed at start), `PROPTEST_CASES=<n>` more cases.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::ops::Bound;

use common::model::{self, Model, Pairs, Read, State, Write};
use common::opts;
use common::rng::{ok, run_proptest};
use lsmkv::{Compression, Db, DbIter, Key, Options, Snapshot, Value};
use proptest::prelude::*;
use proptest::test_runner::TestCaseError;

const DEFAULT_SEED: u64 = 0x7265_6164_7061_7468;
const DEFAULT_CASES: u32 = 24;

/// A read to check against the model.
#[derive(Debug, Clone)]
enum Query {
    Get(Vec<u8>),
    Range {
        lo: Bound<Vec<u8>>,
        hi: Bound<Vec<u8>>,
        /// The steps to take, repeated cyclically; all-forward is a forward scan.
        pattern: Vec<Step>,
    },
    Prefix {
        prefix: Vec<u8>,
        pattern: Vec<Step>,
    },
}

/// One step of an iteration.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Step {
    /// `Iterator::next`: owned key and value.
    Next,
    /// `DbIter::next_ref`: the same front, borrowed key and value.
    NextRef,
    /// `DoubleEndedIterator::next_back`.
    Back,
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![Just(Step::Next), Just(Step::NextRef), Just(Step::Back)]
}

#[derive(Debug, Clone)]
enum Op {
    Write(Write),
    Flush,
    /// Full compaction, with snapshots and iterators open.
    Compact,
    Reopen,
    Snapshot,
    /// Drops the n-th live snapshot (modulo their number).
    DropSnapshot(usize),
    /// Reads through the n-th live snapshot (modulo their number).
    ReadSnapshot(usize, Query),
    /// Reads the current state.
    Read(Query),
    /// Opens an iterator and takes up to `n` items now; the rest is taken by `FinishIter`.
    OpenIter(Query, usize),
    FinishIter(usize),
}

/// Keys: strings of length 0..=3 over {a, b}, plus a binary key.
fn alphabet() -> Vec<Vec<u8>> {
    model::tiny_keys()
}

fn key() -> impl Strategy<Value = Vec<u8>> {
    prop::sample::select(alphabet())
}

/// Bound keys: the alphabet plus keys between and around its members.
fn bound_key() -> impl Strategy<Value = Vec<u8>> {
    let mut extra = alphabet();
    extra.extend([
        b"ab\x00".to_vec(),
        b"a\xff".to_vec(),
        b"c".to_vec(),
        b"\x00".to_vec(),
        b"\xff\xff".to_vec(),
    ]);
    prop::sample::select(extra)
}

fn bound() -> impl Strategy<Value = Bound<Vec<u8>>> {
    prop_oneof![
        2 => bound_key().prop_map(Bound::Included),
        2 => bound_key().prop_map(Bound::Excluded),
        1 => Just(Bound::Unbounded),
    ]
}

fn value() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        3 => prop::collection::vec(any::<u8>(), 0..40),
        1 => Just(Vec::new()),
        // Compressible and larger than a block: exercises LZ4 blocks and the block cache.
        2 => (any::<u8>(), 100..700usize).prop_map(|(b, n)| vec![b; n]),
        1 => prop::collection::vec(any::<u8>(), 200..900),
    ]
}

fn pattern() -> impl Strategy<Value = Vec<Step>> {
    prop_oneof![
        2 => Just(vec![Step::Next]),
        1 => Just(vec![Step::NextRef]),
        2 => Just(vec![Step::Back]),
        2 => prop::collection::vec(step(), 1..6),
    ]
}

fn query() -> impl Strategy<Value = Query> {
    prop_oneof![
        2 => key().prop_map(Query::Get),
        4 => (bound(), bound(), pattern()).prop_map(|(lo, hi, pattern)| Query::Range { lo, hi, pattern }),
        2 => (prop::sample::select(vec![
                b"".to_vec(), b"a".to_vec(), b"b".to_vec(), b"ab".to_vec(),
                b"bb".to_vec(), b"\x00".to_vec(), b"c".to_vec(),
             ]), pattern())
            .prop_map(|(prefix, pattern)| Query::Prefix { prefix, pattern }),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        17 => Write::strategy_with_ranges(key, value).prop_map(Op::Write),
        2 => Just(Op::Flush),
        1 => Just(Op::Compact),
        1 => Just(Op::Reopen),
        3 => Just(Op::Snapshot),
        1 => any::<usize>().prop_map(Op::DropSnapshot),
        4 => (any::<usize>(), query()).prop_map(|(i, q)| Op::ReadSnapshot(i, q)),
        3 => query().prop_map(Op::Read),
        2 => (query(), 0..4usize).prop_map(|(q, n)| Op::OpenIter(q, n)),
        2 => any::<usize>().prop_map(Op::FinishIter),
    ]
}

fn options(compression: Compression) -> Options {
    Options {
        compression,
        block_cache_size_mb: 1,
        ..opts::tiny()
    }
}

/// The pairs a query selects from `state`, in key order.
fn expected(state: &State, q: &Query) -> Pairs {
    match q {
        Query::Get(k) => state
            .get(k)
            .map(|v| vec![(k.clone(), v.clone())])
            .unwrap_or_default(),
        Query::Range { lo, hi, .. } => model::range(state, &(lo.clone(), hi.clone())),
        Query::Prefix { prefix, .. } => model::prefix(state, prefix),
    }
}

/// The iterator of a range or prefix query on the database or a snapshot.
fn iter(src: &dyn Read, q: &Query) -> DbIter {
    match q {
        Query::Range { lo, hi, .. } => src.range((lo.clone(), hi.clone())),
        Query::Prefix { prefix, .. } => src.prefix(prefix),
        Query::Get(_) => unreachable!("gets do not iterate"),
    }
}

fn pattern_of(q: &Query) -> &[Step] {
    match q {
        Query::Range { pattern, .. } | Query::Prefix { pattern, .. } => pattern,
        Query::Get(_) => &[Step::Next],
    }
}

/// An iterator being consumed following a front/back pattern; `front` and `back` collect what
/// each end yielded.
struct Walk {
    it: DbIter,
    pattern: Vec<Step>,
    step: usize,
    front: Vec<(Key, Value)>,
    back: Vec<(Key, Value)>,
    done: bool,
}

impl Walk {
    fn new(it: DbIter, pattern: &[Step]) -> Walk {
        Walk {
            it,
            pattern: if pattern.is_empty() {
                vec![Step::Next]
            } else {
                pattern.to_vec()
            },
            step: 0,
            front: Vec::new(),
            back: Vec::new(),
            done: false,
        }
    }

    /// Takes up to `n` items; false when the iterator ended.
    fn take(&mut self, n: usize) -> lsmkv::Result<()> {
        for _ in 0..n {
            if self.done {
                return Ok(());
            }
            let step = self.pattern[self.step % self.pattern.len()];
            self.step += 1;
            let fwd = step != Step::Back;
            let item = match step {
                Step::Next => self.it.next(),
                Step::NextRef => self
                    .it
                    .next_ref()
                    .map(|r| r.map(|(k, v)| (Key::copy_from_slice(k), Value::copy_from_slice(v)))),
                Step::Back => self.it.next_back(),
            };
            match item {
                None => self.done = true,
                Some(r) => {
                    let kv = r?;
                    if fwd {
                        self.front.push(kv);
                    } else {
                        self.back.push(kv);
                    }
                }
            }
        }
        Ok(())
    }

    fn finish(mut self) -> lsmkv::Result<Pairs> {
        while !self.done {
            self.take(64)?;
        }
        // A finished iterator stays finished from both ends.
        if self.it.next().is_some() || self.it.next_back().is_some() {
            return Err(lsmkv::Error::InvalidArgument(
                "iterator yielded after it ended".into(),
            ));
        }
        let mut out: Pairs = self
            .front
            .into_iter()
            .map(|(k, v)| (k.to_vec(), v.to_vec()))
            .collect();
        out.extend(
            self.back
                .into_iter()
                .rev()
                .map(|(k, v)| (k.to_vec(), v.to_vec())),
        );
        Ok(out)
    }
}

fn check_query(src: &dyn Read, state: &State, q: &Query, ctx: &str) -> Result<(), TestCaseError> {
    let want = expected(state, q);
    let got = match q {
        Query::Get(k) => {
            let v = ok(src.get(k), || format!("{ctx}: get"))?;
            v.map(|v| vec![(k.clone(), v.to_vec())]).unwrap_or_default()
        }
        _ => {
            let walk = Walk::new(iter(src, q), pattern_of(q));
            ok(walk.finish(), || format!("{ctx}: iterate"))?
        }
    };
    prop_assert_eq!(got, want, "{}: {:?}", ctx, q);
    Ok(())
}

/// The model state at `seqno`. Every seqno a reader can see must be a batch boundary the model
/// recorded.
fn state_at(model: &Model, seqno: u64) -> Result<State, TestCaseError> {
    if !model.is_boundary(seqno) {
        return Err(TestCaseError::fail(format!(
            "seqno {seqno} is not a batch boundary the model knows ({:?})",
            model.boundaries()
        )));
    }
    Ok(model.at(seqno))
}

fn visible_seqno(db: &Db) -> u64 {
    db.snapshot().seqno()
}

fn run_case(compression: Compression, ops: &[Op]) -> Result<(), TestCaseError> {
    let dir = common::dir::tempdir();
    let opts = options(compression);
    let open = || ok(Db::open(dir.path(), opts.clone()), || "open".to_string());
    let mut db = Some(open()?);
    let mut model = Model::starting_at(visible_seqno(db.as_ref().unwrap()));
    let mut snaps: Vec<Snapshot> = Vec::new();
    // Open iterators with the state they must show.
    let mut walks: Vec<(Walk, Pairs, String)> = Vec::new();

    for (step, op) in ops.iter().enumerate() {
        let ctx = format!("step {step} ({op:?})");
        let d = db.as_ref().unwrap();
        // What a write applied, to record at the seqno it made visible.
        let mut wrote: Option<Vec<model::Entry>> = None;
        match op {
            Op::Write(w) => {
                ok(w.apply(d), || ctx.clone())?;
                wrote = Some(model.entries_of(w));
            }
            Op::Flush => ok(d.flush(), || ctx.clone())?,
            Op::Compact => ok(d.compact(), || ctx.clone())?,
            Op::Reopen => {
                // Snapshots and iterators keep the database's shared state (and its directory
                // lock) alive; finish the iterators and drop everything before reopening.
                for (w, want, wctx) in walks.drain(..) {
                    let got = ok(w.finish(), || format!("{ctx}: finishing {wctx}"))?;
                    prop_assert_eq!(got, want, "{}: iterator {} before reopen", ctx, wctx);
                }
                snaps.clear();
                let before = visible_seqno(d);
                drop(db.take());
                db = Some(open()?);
                let after = visible_seqno(db.as_ref().unwrap());
                prop_assert!(
                    after >= before,
                    "{}: seqno went back {} -> {}",
                    ctx,
                    before,
                    after
                );
                model.mark(after);
            }
            Op::Snapshot => {
                let s = d.snapshot();
                state_at(&model, s.seqno())?;
                snaps.push(s);
            }
            Op::DropSnapshot(i) => {
                if !snaps.is_empty() {
                    snaps.remove(i % snaps.len());
                }
            }
            Op::ReadSnapshot(i, q) => {
                if !snaps.is_empty() {
                    let s = &snaps[i % snaps.len()];
                    let want = state_at(&model, s.seqno())?;
                    check_query(s, &want, q, &ctx)?;
                }
            }
            Op::Read(q) => check_query(d, model.latest(), q, &ctx)?,
            Op::OpenIter(q, n) => {
                if let Query::Get(k) = q {
                    check_query(d, model.latest(), &Query::Get(k.clone()), &ctx)?;
                } else {
                    let it = iter(d, q);
                    let want_state = state_at(&model, it.seqno())?;
                    let want = expected(&want_state, q);
                    let mut w = Walk::new(it, pattern_of(q));
                    ok(w.take(*n), || ctx.clone())?;
                    walks.push((w, want, ctx.clone()));
                }
            }
            Op::FinishIter(i) => {
                if !walks.is_empty() {
                    let (w, want, wctx) = walks.remove(i % walks.len());
                    let got = ok(w.finish(), || format!("{ctx}: finishing {wctx}"))?;
                    prop_assert_eq!(got, want, "{}: iterator opened at {}", ctx, wctx);
                }
            }
        }
        if let Some(entries) = wrote {
            let s = visible_seqno(db.as_ref().unwrap());
            prop_assert!(
                s >= model.seqno(),
                "{}: seqno went back {} -> {}",
                ctx,
                model.seqno(),
                s
            );
            model.write_at(s, &entries);
        }
    }
    // Everything still open must show its own view, after all the later writes and flushes.
    let d = db.as_ref().unwrap();
    ok(d.flush(), || "final flush".to_string())?;
    for (w, want, wctx) in walks.drain(..) {
        let got = ok(w.finish(), || format!("end: finishing {wctx}"))?;
        prop_assert_eq!(got, want, "end: iterator opened at {}", wctx);
    }
    let all = Query::Range {
        lo: Bound::Unbounded,
        hi: Bound::Unbounded,
        pattern: vec![Step::Next],
    };
    let all_rev = Query::Range {
        lo: Bound::Unbounded,
        hi: Bound::Unbounded,
        pattern: vec![Step::Back],
    };
    for s in &snaps {
        let want = state_at(&model, s.seqno())?;
        check_query(s, &want, &all, "end: snapshot")?;
        check_query(s, &want, &all_rev, "end: snapshot rev")?;
    }
    check_query(d, model.latest(), &all, "end: db")?;
    Ok(())
}

#[test]
fn reads_match_versioned_model() {
    let compression = prop_oneof![Just(Compression::Lz4), Just(Compression::None)];
    let strategy = (compression, prop::collection::vec(op(), 1..120));
    run_proptest(
        "read_model_proptest",
        DEFAULT_SEED,
        DEFAULT_CASES,
        &strategy,
        |(c, ops)| run_case(c, &ops),
    );
}

/// Regression-style fixed case: a snapshot taken before a delete and two flushes still sees the
/// deleted key through `get`, `range` and `prefix`, forward and backward.
#[test]
fn old_snapshot_sees_deleted_key_after_flushes() {
    let dir = common::dir::tempdir();
    let db = Db::open(dir.path(), options(Compression::Lz4)).unwrap();
    db.put(b"k1", b"v1").unwrap();
    db.put(b"k2", b"v2").unwrap();
    let snap = db.snapshot();
    db.flush().unwrap();
    db.delete(b"k1").unwrap();
    db.put(b"k2", b"new").unwrap();
    db.put(b"k3", b"v3").unwrap();
    db.flush().unwrap();
    assert_eq!(snap.get(b"k1").unwrap().as_deref(), Some(&b"v1"[..]));
    let fwd: Vec<_> = snap
        .range::<&[u8], _>(..)
        .map(|r| r.unwrap().0.to_vec())
        .collect();
    assert_eq!(fwd, vec![b"k1".to_vec(), b"k2".to_vec()]);
    let rev: Vec<_> = snap
        .prefix(b"k")
        .rev()
        .map(|r| {
            let (k, v) = r.unwrap();
            (k.to_vec(), v.to_vec())
        })
        .collect();
    assert_eq!(
        rev,
        vec![
            (b"k2".to_vec(), b"v2".to_vec()),
            (b"k1".to_vec(), b"v1".to_vec())
        ]
    );
    assert_eq!(db.get(b"k1").unwrap(), None);
    let now: Vec<_> = db.prefix(b"k").map(|r| r.unwrap().0.to_vec()).collect();
    assert_eq!(now, vec![b"k2".to_vec(), b"k3".to_vec()]);
}
