//! Crash recovery: a write that returned `Ok` survives the writer process being killed (SIGKILL)
//! with `always` and `async_batch`; with `none` (WAL buffered in the process) what survives is a
//! consistent prefix of each writer's sequence.
//!
//! The test re-executes its own binary as a child (`crash_child`, selected by `--exact` and the
//! `LSMKV_CRASH_CHILD` variable). The child writes from 4 threads and prints `@@ACK@@ <key>` after
//! each acknowledged put. The parent kills it after a seeded random number of acks, reopens the
//! database and checks every acknowledged key, then starts the next round on the same directory.
//! A tiny memtable makes kills land during flushes too.
//!
//! Replay: `LSMKV_SEED=<n>` changes the seed (printed at the start).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use lsmkv::{Db, Options, SyncMode};

const ROUNDS: u32 = 6;
const WRITER_THREADS: usize = 4;
/// A child that stops printing acks for this long is considered hung.
const HANG_TIMEOUT: Duration = Duration::from_secs(120);
const ACK: &str = "@@ACK@@ ";

fn options(mode: SyncMode) -> Options {
    Options {
        sync_mode: mode,
        memtable_max_size: 4096,
        block_size: 256,
        wal_sync_interval_ms: 5,
        ..Options::default()
    }
}

fn key(round: u32, thread: usize, i: u64) -> String {
    format!("r{round:02}-t{thread}-{i:07}")
}

/// The value written for `key`: derived from it, ~100 bytes, so the parent can check it.
fn value_of(key: &str) -> Vec<u8> {
    key.as_bytes().iter().copied().cycle().take(100).collect()
}

fn parse_mode(s: &str) -> SyncMode {
    s.parse().unwrap()
}

struct XorShift(u64);
impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

/// The child: writes until killed. Does nothing unless run by a parent.
#[test]
#[ignore = "child process of the crash tests; runs only when LSMKV_CRASH_CHILD is set"]
fn crash_child() {
    let Ok(dir) = std::env::var("LSMKV_CRASH_CHILD") else {
        return;
    };
    let mode = parse_mode(&std::env::var("LSMKV_CRASH_MODE").unwrap());
    let round: u32 = std::env::var("LSMKV_CRASH_ROUND").unwrap().parse().unwrap();
    let db = Db::open(&dir, options(mode)).unwrap();
    std::thread::scope(|s| {
        for t in 0..WRITER_THREADS {
            let db = db.clone();
            s.spawn(move || {
                // Bounded, so an orphaned child ends by itself.
                for i in 0..200_000u64 {
                    let k = key(round, t, i);
                    db.put(k.as_bytes(), value_of(&k)).unwrap();
                    let mut out = std::io::stdout().lock();
                    // A closed pipe means the parent is gone: stop.
                    if writeln!(out, "{ACK}{k}")
                        .and_then(|()| out.flush())
                        .is_err()
                    {
                        return;
                    }
                }
            });
        }
    });
}

/// Spawns the child for `round`, waits for `kill_after` acks, kills it and returns the acked keys.
fn run_child(dir: &Path, mode: &str, round: u32, kill_after: usize) -> Vec<String> {
    let exe = std::env::current_exe().unwrap();
    let mut child = Command::new(exe)
        .args([
            "--exact",
            "crash_child",
            "--nocapture",
            "--ignored",
            "--test-threads=1",
        ])
        .env("LSMKV_CRASH_CHILD", dir)
        .env("LSMKV_CRASH_MODE", mode)
        .env("LSMKV_CRASH_ROUND", round.to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    // Read on a thread so a hung child cannot hang the test.
    let (tx, rx) = mpsc::channel::<String>();
    let reader = std::thread::spawn(move || {
        let mut stdout = BufReader::new(stdout);
        let mut line = String::new();
        loop {
            line.clear();
            match stdout.read_line(&mut line) {
                Ok(0) | Err(_) => break,
                Ok(_) => {}
            }
            // Only whole lines count (a kill cannot cut a pipe write this small, but be strict).
            // The ack may follow libtest's "test crash_child ... " on the same line.
            let Some(l) = line.strip_suffix('\n') else {
                break;
            };
            if let Some(pos) = l.find(ACK)
                && let Some(k) = l.get(pos + ACK.len()..)
                && tx.send(k.to_string()).is_err()
            {
                break;
            }
        }
    });
    let mut acked = Vec::new();
    while acked.len() < kill_after {
        match rx.recv_timeout(HANG_TIMEOUT) {
            Ok(k) => acked.push(k),
            Err(mpsc::RecvTimeoutError::Timeout) => {
                let _ = child.kill();
                panic!("round {round}: child printed no ack for {HANG_TIMEOUT:?}");
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                let status = child.wait().unwrap();
                panic!(
                    "round {round}: child exited ({status}) after {} acks, before the kill",
                    acked.len()
                );
            }
        }
    }
    child.kill().unwrap();
    child.wait().unwrap();
    // Acks printed before the kill took effect count too: they were acknowledged.
    reader.join().unwrap();
    acked.extend(rx.try_iter());
    acked
}

fn crash_rounds(mode: &str, salt: u64) {
    let base = std::env::var("LSMKV_SEED")
        .ok()
        .and_then(|s| s.trim().parse::<u64>().ok())
        .unwrap_or(0x0c4a_5e00);
    eprintln!("crash_recovery[{mode}]: LSMKV_SEED={base}");
    let mut rng = XorShift((base ^ salt.wrapping_mul(0x9e37_79b9_7f4a_7c15)) | 1);
    let dir = tempfile::tempdir().unwrap();
    let mut expected: BTreeMap<String, Vec<u8>> = BTreeMap::new();
    for round in 0..ROUNDS {
        let kill_after = 20 + (rng.next() % 300) as usize;
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
