//! Crash recovery: a write that returned `Ok` survives the writer process being killed (SIGKILL)
//! with `always` and `async_batch`; with `none` (WAL buffered in the process) what survives is a
//! consistent prefix of each writer's sequence.
//!
//! The test re-executes its own binary as a child (`crash_child`, through the kit's crash harness,
//! `tests/common/crash.rs`). The child writes from 4 threads and acknowledges each put that
//! returned. The parent kills it after a seeded random number of acks, reopens the database and
//! checks every acknowledged key, then starts the next round on the same directory. A tiny
//! memtable makes kills land during flushes too.
//!
//! Replay: `LSMKV_SEED=<n>` changes the seed (printed at the start).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::collections::BTreeMap;
use std::path::Path;

use common::{crash, opts, rng};
use lsmkv::{Db, Options, SyncMode};

const ROUNDS: u32 = 6;
const WRITER_THREADS: u64 = 4;

fn options(mode: SyncMode) -> Options {
    Options {
        sync_mode: mode,
        wal_sync_interval_ms: 5,
        ..opts::tiny()
    }
}

fn key(round: u32, thread: u64, i: u64) -> String {
    format!("r{round:02}-t{thread}-{i:07}")
}

/// The value written for `key`: derived from it, ~100 bytes, so the parent can check it.
fn value_of(key: &str) -> Vec<u8> {
    key.as_bytes().iter().copied().cycle().take(100).collect()
}

fn parse_mode(s: &str) -> SyncMode {
    s.parse().unwrap()
}

/// The child: writes until killed. Does nothing unless run by a parent.
#[test]
#[ignore = "child process of the crash tests; runs only when started by one"]
fn crash_child() {
    let Some(child) = crash::child() else {
        return;
    };
    let mode = parse_mode(&child.param("mode"));
    let round: u32 = child.parse("round");
    let db = Db::open(child.dir(), options(mode)).unwrap();
    crash::write_and_ack(WRITER_THREADS, 0..200_000, |t, i| {
        let k = key(round, t, i);
        db.put(k.as_bytes(), value_of(&k)).unwrap();
        k
    });
}

/// Runs the child for `round` until `kill_after` acks, kills it; returns the acked keys.
fn run_child(dir: &Path, mode: &str, round: u32, kill_after: usize) -> Vec<String> {
    let params = [("mode", mode.to_string()), ("round", round.to_string())];
    crash::run_until_killed("crash_child", dir, &params, kill_after)
}

fn crash_rounds(mode: &str, salt: u64) {
    let seed = rng::seed(&format!("crash_recovery[{mode}]"), 0x0c4a_5e00);
    let mut rng = seed.rng(salt);
    let dir = common::dir::tempdir();
    let mut expected: BTreeMap<String, Vec<u8>> = BTreeMap::new();
    for round in 0..ROUNDS {
        let kill_after = 20 + rng.below(300) as usize;
        let acked = run_child(dir.path(), mode, round, kill_after);
        assert!(acked.len() >= kill_after);
        let db = Db::open(dir.path(), options(parse_mode(mode)))
            .unwrap_or_else(|e| panic!("round {round}: reopen after kill failed: {e}"));
        if mode == "none" {
            // `none` buffers the WAL in the process: a kill may lose the newest acknowledged
            // writes, but what survives is a prefix of each writer's sequence, and everything
            // from earlier rounds (made durable by the clean close below) is still there.
            for t in 0..WRITER_THREADS {
                let present: Vec<bool> = (0..200_000u64)
                    .map(|i| key(round, t, i))
                    .take_while(|k| acked.contains(k) || db.get(k.as_bytes()).unwrap().is_some())
                    .map(|k| db.get(k.as_bytes()).unwrap().is_some())
                    .collect();
                let first_gap = present.iter().position(|p| !p).unwrap_or(present.len());
                assert!(
                    present[first_gap..].iter().all(|p| !p),
                    "round {round} thread {t}: recovered writes are not a prefix"
                );
                for i in 0..first_gap as u64 {
                    let k = key(round, t, i);
                    let v = value_of(&k);
                    expected.insert(k, v);
                }
            }
        } else {
            for k in acked {
                let v = value_of(&k);
                expected.insert(k, v);
            }
        }
        // Check everything acknowledged (or, for `none`, recovered) so far, in all rounds.
        for (k, v) in &expected {
            let got = db
                .get(k.as_bytes())
                .unwrap_or_else(|e| panic!("round {round}: get {k}: {e}"));
            assert_eq!(
                got.as_deref(),
                Some(v.as_slice()),
                "round {round}: acknowledged key {k} lost or wrong after kill"
            );
        }
        db.close().unwrap();
    }
}

#[test]
fn acked_writes_survive_kill_sync_always() {
    crash_rounds("always", 1);
}

#[test]
fn acked_writes_survive_kill_sync_async_batch() {
    crash_rounds("async_batch", 2);
}

#[test]
fn kill_with_sync_none_recovers_a_consistent_prefix() {
    crash_rounds("none", 3);
}
