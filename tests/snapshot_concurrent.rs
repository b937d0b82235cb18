//! Snapshots and iterators stay consistent while another thread writes and flushes.
//!
//! One writer applies seeded batches (puts and deletes over a small key space) and flushes now and
//! then, with a tiny memtable so that automatic flushes happen too; after each batch it logs
//! `(visible seqno, batch)`. Reader threads take snapshots (and plain `Db::range` iterators, which
//! are snapshots) at arbitrary moments, read each view forward and backward, read it again after the
//! writer has moved on (more writes, more flushes), and record what they saw.
//!
//! At the end the log is replayed: every observed seqno must be a batch boundary (batches are
//! atomic to readers), and every view must equal the model's state at its seqno. Correctness does
//! not depend on timing; the interleaving only decides which seqnos get checked.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use common::model::{self, Model, Pairs};
use common::opts;
use common::rng::{self, Rng};
use lsmkv::{Db, Options};
use parking_lot::Mutex;

const BATCHES: u64 = 3000;
const KEYS: u64 = 120;
const READERS: usize = 2;

fn options() -> Options {
    Options {
        sparse_index_interval: 4,
        ..opts::small(8 << 10)
    }
}

fn key(i: u64) -> Vec<u8> {
    format!("key{i:04}").into_bytes()
}

/// One batch: (key, Some(value)) puts, (key, None) deletes.
type Batch = Vec<model::Entry>;

fn make_batch(rng: &mut Rng, n: u64) -> Batch {
    let len = 1 + rng.below(4);
    (0..len)
        .map(|j| {
            let k = key(rng.below(KEYS));
            if rng.one_in(4) {
                (k, None)
            } else {
                // The value names the batch and position, and some are long enough to span blocks.
                let reps = 1 + rng.below(20) as usize;
                (k, Some(format!("b{n}.{j};").repeat(reps).into_bytes()))
            }
        })
        .collect()
}

struct Observation {
    seqno: u64,
    /// Full view read right after the snapshot was taken.
    first: Pairs,
    /// The same view read after the writer moved on.
    later: Pairs,
    /// The same view read backward (reversed back to key order).
    reverse: Pairs,
    /// Point reads through the snapshot: (key, value).
    gets: Vec<(Vec<u8>, Option<Vec<u8>>)>,
}

fn collect(it: impl Iterator<Item = lsmkv::Result<(lsmkv::Key, lsmkv::Value)>>) -> Pairs {
    model::collect(it)
}

#[test]
fn snapshots_match_model_while_writer_writes_and_flushes() {
    let seed = rng::seed("snapshot_concurrent", 0x5eed_cafe);
    let dir = common::dir::tempdir();
    let db = Db::open(dir.path(), options()).unwrap();
    let start_seqno = db.snapshot().seqno();
    let log: Mutex<Vec<(u64, Batch)>> = Mutex::new(Vec::new());
    let progress = AtomicU64::new(0);
    let done = AtomicBool::new(false);
    let observations: Mutex<Vec<Observation>> = Mutex::new(Vec::new());

    std::thread::scope(|s| {
        let writer = {
            let (db, log, progress, done) = (db.clone(), &log, &progress, &done);
            let mut rng = seed.rng(0);
            s.spawn(move || {
                for n in 0..BATCHES {
                    let batch = make_batch(&mut rng, n);
                    db.write(model::batch(&batch)).unwrap();
                    // The only writer: the visible seqno now is the end of this batch.
                    let seqno = db.snapshot().seqno();
                    log.lock().push((seqno, batch));
                    if n % 200 == 199 {
                        db.flush().unwrap();
                    }
                    progress.store(n + 1, Ordering::Release);
                }
                done.store(true, Ordering::Release);
            })
        };
        for r in 0..READERS {
            let (db, progress, done, observations) = (db.clone(), &progress, &done, &observations);
            let mut rng = seed.rng(1 + r as u64);
            s.spawn(move || {
                let mut round = 0u64;
                loop {
                    let finished = done.load(Ordering::Acquire);
                    round += 1;
                    // Alternate between explicit snapshots and plain iterators.
                    let (seqno, first, reverse, gets, later) = if round.is_multiple_of(3) {
                        let it = db.range::<&[u8], _>(..);
                        let seqno = it.seqno();
                        let first = collect(it);
                        (seqno, first.clone(), first.clone(), Vec::new(), first)
                    } else {
                        let snap = db.snapshot();
                        let first = collect(snap.range::<&[u8], _>(..));
                        let mut reverse = collect(snap.range::<&[u8], _>(..).rev());
                        reverse.reverse();
                        let gets: Vec<_> = (0..8)
                            .map(|_| {
                                let k = key(rng.below(KEYS));
                                let v = snap.get(&k).unwrap().map(|v| v.to_vec());
                                (k, v)
                            })
                            .collect();
                        // Let the writer move on (including a flush, usually) before reading
                        // again; bounded so a finished writer never blocks us.
                        let target = progress.load(Ordering::Acquire) + 1 + round % 40;
                        while progress.load(Ordering::Acquire) < target
                            && !done.load(Ordering::Acquire)
                        {
                            std::thread::yield_now();
                        }
                        let later = collect(snap.prefix(b"key"));
                        (snap.seqno(), first, reverse, gets, later)
                    };
                    observations.lock().push(Observation {
                        seqno,
                        first,
                        later,
                        reverse,
                        gets,
                    });
                    if finished {
                        break;
                    }
                }
            });
        }
        writer.join().unwrap();
    });

    // Replay the log into the model, then check every observation against its seqno's state.
    let obs = observations.into_inner();
    let mut model = Model::starting_at(start_seqno);
    for (seqno, batch) in log.into_inner() {
        model.write_at(seqno, &batch);
    }
    let mut distinct = std::collections::BTreeSet::new();
    for o in &obs {
        assert!(
            model.is_boundary(o.seqno),
            "a reader saw seqno {}, inside a batch",
            o.seqno
        );
        let want = model::pairs(&model.at(o.seqno));
        assert_eq!(o.first, want, "view at seqno {}", o.seqno);
        assert_eq!(o.later, want, "view at seqno {} read later", o.seqno);
        assert_eq!(o.reverse, want, "reverse view at seqno {}", o.seqno);
        for (k, v) in &o.gets {
            assert_eq!(
                v.as_deref(),
                model.get_at(k, o.seqno),
                "get {k:?} at seqno {}",
                o.seqno
            );
        }
        distinct.insert(o.seqno);
    }
    assert!(!obs.is_empty());
    eprintln!(
        "checked {} observations at {} distinct seqnos",
        obs.len(),
        distinct.len()
    );
    // The final state, also after a reopen.
    let want = model::pairs(model.latest());
    assert_eq!(collect(db.range::<&[u8], _>(..)), want);
    db.close().unwrap();
    let db = Db::open(dir.path(), options()).unwrap();
    assert_eq!(collect(db.range::<&[u8], _>(..)), want);
}
