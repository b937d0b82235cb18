//! `kill -9` of a process using the adapter (the engine's crash kit re-executes this test binary
//! as the child): during appends and applies the applied log id and the data stay consistent and
//! nothing acknowledged is lost; during snapshot installs the state is always one whole snapshot,
//! never a mix.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

// The engine's crash kit (std only), shared with the engine's own crash tests.
#[path = "../../../tests/common/crash.rs"]
#[allow(dead_code)]
mod crash;

use std::path::Path;

use lsmkv::{Db, Options, SyncMode};
use lsmkv_raft::openraft::storage::{
    RaftLogStorage, RaftLogStorageExt, RaftSnapshotBuilder, RaftStateMachine,
};
use lsmkv_raft::openraft::{CommittedLeaderId, EntryPayload, LogId, RaftLogReader, Snapshot};
use lsmkv_raft::{Entry, Op, Request, StateMachineStore, TypeConfig};

fn opts() -> Options {
    Options {
        sync_mode: SyncMode::AsyncBatch,
        // Small memtables: flushes and WAL rotations happen during the run.
        memtable_max_size: 256 << 10,
        ..Options::default()
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
}

fn put(k: String, v: String) -> Op {
    Op::Put {
        keyspace: None,
        key: k.into_bytes(),
        value: v.into_bytes(),
        ttl_ms: None,
    }
}

fn entry(index: u64) -> Entry {
    let ops = vec![
        put(format!("k{index:08}"), format!("v{index}")),
        put("last".into(), index.to_string()),
    ];
    Entry {
        log_id: LogId::new(CommittedLeaderId::new(1, 1), index),
        payload: EntryPayload::Normal(Request::new("writer", index, ops)),
    }
}

fn get(sm: &StateMachineStore, k: &str) -> Option<String> {
    let v = sm.data().get(None, k).unwrap()?;
    Some(String::from_utf8(v.to_vec()).unwrap())
}

#[test]
#[ignore = "child process of the crash tests"]
fn apply_child() {
    let Some(child) = crash::child() else { return };
    let db = Db::open(child.dir(), opts()).unwrap();
    let (mut log, mut sm) = lsmkv_raft::open(&db).unwrap();
    runtime().block_on(async {
        let start = sm
            .applied_state()
            .await
            .unwrap()
            .0
            .map_or(1, |id| id.index + 1);
        for index in start..start + 200_000 {
            // As a follower does: the entry is made durable in the log, then applied.
            log.blocking_append([entry(index)]).await.unwrap();
            sm.apply([entry(index)]).await.unwrap();
            if !crash::ack(index) {
                return;
            }
        }
    });
}

/// After a kill: the log holds every acknowledged entry, the applied id `A` covers every
/// acknowledged apply, and the data is exactly entries `1..=A`.
fn check_after_kill(dir: &Path, acked: &[String]) -> u64 {
    let max_acked: u64 = acked
        .iter()
        .map(|a| a.parse::<u64>().unwrap())
        .max()
        .unwrap();
    let db = Db::open(dir, opts()).unwrap();
    let (mut log, mut sm) = lsmkv_raft::open(&db).unwrap();
    runtime().block_on(async {
        let applied = sm.applied_state().await.unwrap().0.unwrap().index;
        assert!(
            applied >= max_acked,
            "applied {applied} < acknowledged {max_acked}"
        );
        let last_log = log
            .get_log_state()
            .await
            .unwrap()
            .last_log_id
            .unwrap()
            .index;
        assert!(
            last_log >= applied,
            "log ends at {last_log}, applied {applied}"
        );
        let entries = log.try_get_log_entries(1..=applied).await.unwrap();
        assert_eq!(entries.len() as u64, applied, "log entries missing");
        assert_eq!(get(&sm, "last"), Some(applied.to_string()));
        for i in 1..=applied {
            assert_eq!(
                get(&sm, &format!("k{i:08}")),
                Some(format!("v{i}")),
                "entry {i}"
            );
        }
        assert_eq!(get(&sm, &format!("k{:08}", applied + 1)), None);
        applied
    })
}

#[test]
fn kill_during_apply_keeps_applied_id_and_data_consistent() {
    let dir = tempfile::tempdir().unwrap();
    let mut last = 0;
    for (round, kill_after) in [150usize, 400, 60].into_iter().enumerate() {
        let acked = crash::run_until_killed("apply_child", dir.path(), &[], kill_after);
        let applied = check_after_kill(dir.path(), &acked);
        assert!(applied > last, "round {round}: no progress");
        last = applied;
    }
}

const SNAPSHOT_KEYS: u64 = 20_000;

/// A state machine holding `SNAPSHOT_KEYS` keys valued `<tag><i>...`, applied up to `index`, and
/// its snapshot.
async fn make_snapshot(dir: &Path, tag: &str, index: u64) -> Snapshot<TypeConfig> {
    let db = Db::open(dir, opts()).unwrap();
    let (_log, mut sm) = lsmkv_raft::open(&db).unwrap();
    let pad = "x".repeat(200);
    let ops: Vec<Op> = (0..SNAPSHOT_KEYS)
        .map(|i| put(format!("s{i:06}"), format!("{tag}{i}{pad}")))
        .collect();
    let e = Entry {
        log_id: LogId::new(CommittedLeaderId::new(1, 1), index),
        payload: EntryPayload::Normal(Request::new(tag, 1, ops)),
    };
    sm.apply([e]).await.unwrap();
    sm.get_snapshot_builder()
        .await
        .build_snapshot()
        .await
        .unwrap()
}

#[test]
#[ignore = "child process of the crash tests"]
fn install_child() {
    let Some(child) = crash::child() else { return };
    runtime().block_on(async {
        let tmp = tempfile::tempdir().unwrap();
        let a = make_snapshot(&tmp.path().join("a"), "a", 1_000).await;
        let b = make_snapshot(&tmp.path().join("b"), "b", 2_000).await;
        let db = Db::open(child.dir(), opts()).unwrap();
        let (_log, mut sm) = lsmkv_raft::open(&db).unwrap();
        for round in 0..1_000u64 {
            let snap = if round % 2 == 0 { &a } else { &b };
            // "start" right before the install: the parent kills after one of these.
            if !crash::ack(format!("start {round}")) {
                return;
            }
            let mut rx = sm.begin_receiving_snapshot().await.unwrap();
            rx.get_mut().extend_from_slice(snap.snapshot.get_ref());
            sm.install_snapshot(&snap.meta, rx).await.unwrap();
            if !crash::ack(format!("done {round}")) {
                return;
            }
        }
    });
}

/// The generations whose keyspaces are in the database at `dir` (more than one: the kill
/// interrupted an install, whose partial generation the adapter's open drops).
fn generations_on_disk(dir: &Path) -> std::collections::BTreeSet<String> {
    let db = Db::open(dir, opts()).unwrap();
    let names = db.keyspaces().unwrap();
    db.close().unwrap();
    names
        .into_iter()
        .filter(|n| n.starts_with("raft.g"))
        .map(|n| n.split('.').nth(1).unwrap_or_default().to_string())
        .collect()
}

/// The state after a kill is nothing (no install finished), all of snapshot `a` or all of `b`.
fn check_whole_snapshot(dir: &Path) -> u64 {
    let db = Db::open(dir, opts()).unwrap();
    let (_log, mut sm) = lsmkv_raft::open(&db).unwrap();
    // Only the live generation is left.
    let generations: Vec<String> = db
        .keyspaces()
        .unwrap()
        .into_iter()
        .filter(|n| n.starts_with("raft.g"))
        .map(|n| n.split('.').nth(1).unwrap_or_default().to_string())
        .collect();
    assert!(
        generations.windows(2).all(|w| w[0] == w[1]),
        "{generations:?}"
    );
    let applied = runtime()
        .block_on(sm.applied_state())
        .unwrap()
        .0
        .map(|id| id.index);
    let tag = match applied {
        None => None,
        Some(1_000) => Some("a"),
        Some(2_000) => Some("b"),
        Some(other) => panic!("applied {other}: from no snapshot"),
    };
    for i in (0..SNAPSHOT_KEYS).step_by(7).chain([SNAPSHOT_KEYS - 1]) {
        let got = get(&sm, &format!("s{i:06}"));
        match tag {
            None => assert_eq!(got, None),
            Some(t) => {
                let got = got.unwrap_or_else(|| panic!("s{i:06} missing from snapshot {t}"));
                assert!(
                    got.starts_with(&format!("{t}{i}x")),
                    "s{i:06} = {got:.20} in {t}"
                );
            }
        }
    }
    applied.unwrap_or(0)
}

#[test]
fn kill_during_snapshot_install_leaves_a_whole_state() {
    let dir = tempfile::tempdir().unwrap();
    // Kill right after the "start" ack of an install (acks alternate start, done: the odd ones
    // are starts).
    for kill_after in [3usize, 5, 7] {
        let acked = crash::run_until_killed("install_child", dir.path(), &[], kill_after);
        assert!(acked[kill_after - 1].starts_with("start"), "{acked:?}");
        let before = generations_on_disk(dir.path());
        let applied = check_whole_snapshot(dir.path());
        eprintln!(
            "killed after {kill_after} acks: generations on disk {before:?}, state of the snapshot applied at {applied}"
        );
    }
}
