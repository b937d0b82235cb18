//! Range deletes across crashes: a child process writes groups of keys (atomic batches) and
//! deletes them again with `delete_prefix` and `delete_range` (whole groups and parts of two),
//! with `SyncMode::Always`, tiny memtables and levels and two compaction threads, so the
//! tombstones move through flushes and compactions while the parent SIGKILLs the child at a seeded
//! random point. After each kill the database must hold exactly the state after the acknowledged
//! operations, or after those and the one in flight; earlier rounds' keys must be unchanged.
//!
//! The child is this binary re-executed (`crash_child`, the kit's crash harness).
//! Replay: `LSMKV_SEED=<n>`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::collections::BTreeMap;

use common::{crash, opts, rng};
use lsmkv::{CompactionStrategy, Db, Options, SyncMode, WriteBatch};

const ROUNDS: u32 = 4;
const GROUP: u32 = 10;

type State = BTreeMap<Vec<u8>, Vec<u8>>;

fn options() -> Options {
    Options {
        sync_mode: SyncMode::Always,
        ..opts::compaction_heavy(CompactionStrategy::Leveled)
    }
}

fn key(round: u32, group: u32, i: u32) -> Vec<u8> {
    format!("r{round}/g{group:05}/{i}").into_bytes()
}

fn value_of(k: &[u8]) -> Vec<u8> {
    k.iter().copied().cycle().take(120).collect()
}

#[derive(Debug, Clone)]
enum Op {
    /// Puts keys 0..GROUP of a group, in one batch.
    Put(u32),
    /// `delete_prefix` of a whole group.
    DeleteGroup(u32),
    /// `delete_range` from key 5 of one group to key 5 of the next (exclusive).
    DeleteAcross(u32),
}

/// Operation `n` of a round: put groups in order; every second group, delete the group two
/// before; every fifth, delete across the boundary of the two groups four and three before.
fn ops() -> impl Iterator<Item = Op> {
    (0..).flat_map(|g: u32| {
        let mut v = vec![Op::Put(g)];
        if g >= 2 && g.is_multiple_of(2) {
            v.push(Op::DeleteGroup(g - 2));
        }
        if g >= 4 && g % 5 == 4 {
            v.push(Op::DeleteAcross(g - 4));
        }
        v
    })
}

fn apply_db(db: &Db, round: u32, op: &Op) {
    match op {
        Op::Put(g) => {
            let mut b = WriteBatch::new();
            for i in 0..GROUP {
                let k = key(round, *g, i);
                b.put(&k, value_of(&k));
            }
            db.write(b).unwrap();
        }
        Op::DeleteGroup(g) => db.delete_prefix(format!("r{round}/g{g:05}/")).unwrap(),
        Op::DeleteAcross(g) => db
            .delete_range(key(round, *g, 5)..key(round, g + 1, 5))
            .unwrap(),
    }
}

fn apply_model(state: &mut State, round: u32, op: &Op) {
    match op {
        Op::Put(g) => {
            for i in 0..GROUP {
                let k = key(round, *g, i);
                state.insert(k.clone(), value_of(&k));
            }
        }
        Op::DeleteGroup(g) => {
            let p = format!("r{round}/g{g:05}/").into_bytes();
            state.retain(|k, _| !k.starts_with(&p));
        }
        Op::DeleteAcross(g) => {
            let (lo, hi) = (key(round, *g, 5), key(round, g + 1, 5));
            state.retain(|k, _| !(lo <= *k && *k < hi));
        }
    }
}

/// The child: runs the round's operations until killed, acking each one's index.
#[test]
#[ignore = "child process of the crash tests; runs only when started by one"]
fn crash_child() {
    let Some(child) = crash::child() else {
        return;
    };
    let round: u32 = child.parse("round");
    let db = Db::open(child.dir(), options()).unwrap();
    for (n, op) in ops().take(100_000).enumerate() {
        apply_db(&db, round, &op);
        if !crash::ack(n) {
            return;
        }
    }
}

fn scan_prefix(db: &Db, p: &str) -> State {
    db.prefix(p)
        .map(|r| {
            let (k, v) = r.unwrap();
            (k.to_vec(), v.to_vec())
        })
        .collect()
}

#[test]
fn range_deletes_survive_kills_during_flushes_and_compactions() {
    let seed = rng::seed("crash_range_delete", 0x7a9e_de1e);
    let mut rng = seed.rng(1);
    let dir = common::dir::tmpfs_tempdir();
    let mut earlier: Vec<(String, State)> = Vec::new();
    for round in 0..ROUNDS {
        let kill_after = 20 + rng.below(400) as usize;
        let params = [("round", round.to_string())];
        let acked = crash::run_until_killed("crash_child", dir.path(), &params, kill_after);
        let done: usize = acked
            .iter()
            .map(|a| a.parse::<usize>().unwrap() + 1)
            .max()
            .unwrap();
        let ops: Vec<Op> = ops().take(done + 1).collect();
        let mut state = State::new();
        for op in &ops[..done] {
            apply_model(&mut state, round, op);
        }
        let mut with_next = state.clone();
        apply_model(&mut with_next, round, &ops[done]);

        let db = Db::open(dir.path(), options())
            .unwrap_or_else(|e| panic!("round {round}: reopen after kill failed: {e}"));
        let prefix = format!("r{round}/");
        let got = scan_prefix(&db, &prefix);
        assert!(
            got == state || got == with_next,
            "round {round} (seed {}): after {done} acked operations the database holds {} keys; \
             expected {} (or {} with {:?})",
            seed.value(),
            got.len(),
            state.len(),
            with_next.len(),
            ops[done]
        );
        for (k, v) in &got {
            assert_eq!(db.get(k).unwrap().as_deref(), Some(v.as_slice()));
        }
        for (p, s) in &earlier {
            assert_eq!(
                &scan_prefix(&db, p),
                s,
                "round {round}: keys of {p} changed"
            );
        }
        earlier.push((prefix, got));
        db.close().unwrap();
    }
    // Everything compacted: the same keys, and no range tombstone left.
    let db = Db::open(dir.path(), options()).unwrap();
    db.compact().unwrap();
    for (p, s) in &earlier {
        assert_eq!(&scan_prefix(&db, p), s, "after a full compaction: {p}");
    }
    assert_eq!(db.stats().sst_range_tombstones, 0);
    db.verify().unwrap();
}
