//! The adapter beyond openraft's suite: the log, vote and state machine survive a reopen; a
//! (client, seq) applied twice takes effect once and answers the stored response; user keyspaces
//! stay apart from each other and from the adapter's own; a snapshot built on one node installs on
//! another (replacing its state) and survives a reopen there; a group of requests in one entry
//! applies each with its own deduplication.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;

use lsmkv::{Db, Options, SyncMode};
use lsmkv_raft::openraft::storage::{
    RaftLogReaderExt, RaftLogStorage, RaftLogStorageExt, RaftSnapshotBuilder, RaftStateMachine,
};
use lsmkv_raft::openraft::{
    CommittedLeaderId, EntryPayload, LogId, Membership, RaftLogReader, Vote,
};
use lsmkv_raft::{Entry, LogStore, Node, Op, Request, Response, StateMachineStore};

fn open(dir: &std::path::Path) -> (Db, LogStore, StateMachineStore) {
    let opts = Options {
        sync_mode: SyncMode::AsyncBatch,
        ..Options::default()
    };
    let db = Db::open(dir, opts).unwrap();
    let (log, sm) = lsmkv_raft::open(&db).unwrap();
    (db, log, sm)
}

fn log_id(term: u64, index: u64) -> LogId<u64> {
    LogId::new(CommittedLeaderId::new(term, 1), index)
}

fn put(ks: Option<&str>, k: &str, v: &str) -> Op {
    Op::Put {
        keyspace: ks.map(str::to_string),
        key: k.into(),
        value: v.into(),
        ttl_ms: None,
    }
}

fn entry(index: u64, req: Request) -> Entry {
    Entry {
        log_id: log_id(1, index),
        payload: EntryPayload::Normal(req),
    }
}

fn membership_entry(index: u64) -> Entry {
    let nodes: BTreeMap<u64, Node> = [(1, Node::new("127.0.0.1:8081"))].into_iter().collect();
    Entry {
        log_id: log_id(1, index),
        payload: EntryPayload::Membership(Membership::new(vec![[1].into()], nodes)),
    }
}

fn get(sm: &StateMachineStore, ks: Option<&str>, k: &str) -> Option<String> {
    sm.data()
        .get(ks, k)
        .unwrap()
        .map(|v| String::from_utf8(v.to_vec()).unwrap())
}

#[tokio::test]
async fn log_vote_and_state_machine_survive_reopen() {
    let dir = tempfile::tempdir().unwrap();
    {
        let (db, mut log, mut sm) = open(dir.path());
        assert!(!log.has_state().unwrap());
        let vote = Vote::new(3, 1);
        log.save_vote(&vote).await.unwrap();
        let entries: Vec<Entry> = std::iter::once(membership_entry(1))
            .chain((2..=10).map(|i| {
                entry(
                    i,
                    Request::new("", 0, vec![put(None, &format!("k{i}"), "v")]),
                )
            }))
            .collect();
        log.blocking_append(entries.clone()).await.unwrap();
        sm.apply(entries[..6].to_vec()).await.unwrap();
        log.save_committed(Some(log_id(1, 6))).await.unwrap();
        drop((log, sm));
        db.close().unwrap();
    }
    let (_db, mut log, mut sm) = open(dir.path());
    assert!(log.has_state().unwrap());
    assert_eq!(log.read_vote().await.unwrap(), Some(Vote::new(3, 1)));
    assert_eq!(log.read_committed().await.unwrap(), Some(log_id(1, 6)));
    let state = log.get_log_state().await.unwrap();
    assert_eq!(state.last_log_id, Some(log_id(1, 10)));
    let got = log.try_get_log_entries(1..=10).await.unwrap();
    assert_eq!(got.len(), 10);
    assert_eq!(got[4].log_id, log_id(1, 5));
    let (applied, membership) = sm.applied_state().await.unwrap();
    assert_eq!(applied, Some(log_id(1, 6)));
    assert_eq!(membership.log_id(), &Some(log_id(1, 1)));
    assert_eq!(get(&sm, None, "k6").as_deref(), Some("v"));
    assert_eq!(get(&sm, None, "k7"), None);
    // Purge and truncate are range deletes of the log.
    log.purge(log_id(1, 3)).await.unwrap();
    log.truncate(log_id(1, 8)).await.unwrap();
    let state = log.get_log_state().await.unwrap();
    assert_eq!(state.last_purged_log_id, Some(log_id(1, 3)));
    assert_eq!(state.last_log_id, Some(log_id(1, 7)));
    let mut reader = log.get_log_reader().await;
    let left: Vec<u64> = reader
        .try_get_log_entries(0..100)
        .await
        .unwrap()
        .iter()
        .map(|e| e.log_id.index)
        .collect();
    assert_eq!(left, vec![4, 5, 6, 7]);
    assert!(reader.try_get_log_entry(3).await.unwrap().is_none());
}

#[tokio::test]
async fn a_request_applied_twice_takes_effect_once() {
    let dir = tempfile::tempdir().unwrap();
    let (_db, _log, mut sm) = open(dir.path());
    let first = Request::new("client-a", 1, vec![put(None, "k", "from a")]);
    let other = Request::new("client-b", 1, vec![put(None, "k", "from b")]);
    let r = sm
        .apply(vec![entry(1, first.clone()), entry(2, other)])
        .await
        .unwrap();
    assert_eq!(
        r[0],
        Response {
            log_index: 1,
            ..Response::default()
        }
    );
    // The retry of a's request, committed again at index 3 (e.g. resent after a leader change).
    let again = sm.apply(vec![entry(3, first.clone())]).await.unwrap();
    assert_eq!(again[0], r[0], "the duplicate answers the stored response");
    assert_eq!(
        get(&sm, None, "k").as_deref(),
        Some("from b"),
        "applied once"
    );
    // In one apply call too.
    let both = sm
        .apply(vec![
            entry(4, Request::new("client-a", 2, vec![put(None, "n", "1")])),
            entry(5, Request::new("client-b", 2, vec![put(None, "n", "2")])),
            entry(6, Request::new("client-a", 2, vec![put(None, "n", "3")])),
        ])
        .await
        .unwrap();
    assert_eq!(both[2], both[0]);
    assert_eq!(get(&sm, None, "n").as_deref(), Some("2"));
    // An older sequence number is refused; the applied id still moves.
    let stale = sm.apply(vec![entry(7, first)]).await.unwrap();
    assert!(stale[0].error.as_deref().unwrap().contains("stale"));
    assert_eq!(get(&sm, None, "k").as_deref(), Some("from b"));
    assert_eq!(sm.applied_state().await.unwrap().0, Some(log_id(1, 7)));
    // Requests without a client id are never deduplicated.
    let anon = Request::new("", 0, vec![put(None, "anon", "x")]);
    sm.apply(vec![entry(8, anon.clone()), entry(9, anon)])
        .await
        .unwrap();
    assert_eq!(get(&sm, None, "anon").as_deref(), Some("x"));
}

#[tokio::test]
async fn ops_keyspaces_and_refusals() {
    let dir = tempfile::tempdir().unwrap();
    let (db, _log, mut sm) = open(dir.path());
    let ops = vec![
        put(None, "a/1", "1"),
        put(None, "a/2", "2"),
        put(None, "b/1", "3"),
        put(None, "c", "4"),
        put(Some("flags"), "a/1", "flag"),
        put(Some("raft.log"), "x", "not the log"),
    ];
    sm.apply(vec![entry(1, Request::new("", 0, ops))])
        .await
        .unwrap();
    let deletes = vec![
        Op::DeletePrefix {
            keyspace: None,
            prefix: b"a/".to_vec(),
        },
        Op::DeleteRange {
            keyspace: None,
            start: b"b".to_vec(),
            end: Some(b"c".to_vec()),
        },
        Op::Delete {
            keyspace: Some("flags".into()),
            key: b"nothing".to_vec(),
        },
    ];
    sm.apply(vec![entry(2, Request::new("", 0, deletes))])
        .await
        .unwrap();
    assert_eq!(get(&sm, None, "a/1"), None);
    assert_eq!(get(&sm, None, "b/1"), None);
    assert_eq!(get(&sm, None, "c").as_deref(), Some("4"));
    assert_eq!(get(&sm, Some("flags"), "a/1").as_deref(), Some("flag"));
    assert_eq!(get(&sm, Some("nope"), "a/1"), None);
    // A user keyspace named like an adapter keyspace is only a user keyspace.
    assert_eq!(
        get(&sm, Some("raft.log"), "x").as_deref(),
        Some("not the log")
    );
    assert!(db.keyspace("raft.log").unwrap().get("x").unwrap().is_none());
    let mut names = sm.data().keyspaces().unwrap();
    names.sort();
    assert_eq!(names, vec!["default", "flags", "raft.log"]);
    // An op the engine would refuse is refused alone, the same way on every node.
    let big = vec![
        put(None, "ok", "1"),
        Op::Put {
            keyspace: None,
            key: vec![b'k'; lsmkv::MAX_KEY_SIZE + 1],
            value: vec![],
            ttl_ms: None,
        },
    ];
    let r = sm
        .apply(vec![
            entry(3, Request::new("c", 1, big)),
            entry(4, Request::new("", 0, vec![put(None, "after", "1")])),
        ])
        .await
        .unwrap();
    assert!(r[0].error.is_some());
    assert_eq!(r[1].error, None);
    assert_eq!(
        get(&sm, None, "ok"),
        None,
        "a refused request writes nothing"
    );
    assert_eq!(get(&sm, None, "after").as_deref(), Some("1"));
}

#[tokio::test]
async fn snapshot_moves_the_state_to_another_node() {
    let (da, db_dir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (_a, _la, mut sm_a) = open(da.path());
    let mut entries = vec![membership_entry(1)];
    for i in 2..200u64 {
        let ks = if i % 3 == 0 { Some("flags") } else { None };
        entries.push(entry(
            i,
            Request::new(
                format!("c{}", i % 5),
                i,
                vec![put(ks, &format!("k{i:03}"), &format!("v{i}"))],
            ),
        ));
    }
    sm_a.apply(entries).await.unwrap();
    let snap = sm_a
        .get_snapshot_builder()
        .await
        .build_snapshot()
        .await
        .unwrap();
    assert_eq!(snap.meta.last_log_id, Some(log_id(1, 199)));
    let current = sm_a.get_current_snapshot().await.unwrap().unwrap();
    assert_eq!(current.meta, snap.meta);
    assert_eq!(current.snapshot.get_ref(), snap.snapshot.get_ref());

    {
        let (b, _lb, mut sm_b) = open(db_dir.path());
        // B had state of its own: the install replaces it.
        sm_b.apply(vec![entry(
            1,
            Request::new("", 0, vec![put(None, "only-on-b", "x")]),
        )])
        .await
        .unwrap();
        let mut rx = sm_b.begin_receiving_snapshot().await.unwrap();
        rx.get_mut().extend_from_slice(snap.snapshot.get_ref());
        sm_b.install_snapshot(&snap.meta, rx).await.unwrap();
        check_installed(&mut sm_b, &snap.meta).await;
        // The replaced generation is gone.
        let gens: Vec<String> = b
            .keyspaces()
            .unwrap()
            .into_iter()
            .filter(|n| n.starts_with("raft.g"))
            .collect();
        assert!(gens.iter().all(|n| n.starts_with("raft.g1.")), "{gens:?}");
        drop(sm_b);
        b.close().unwrap();
    }
    let (_b, _lb, mut sm_b) = open(db_dir.path());
    check_installed(&mut sm_b, &snap.meta).await;
    // Deduplication state travelled with the snapshot.
    let dup = sm_b
        .apply(vec![entry(
            200,
            Request::new("c4", 199, vec![put(None, "k199", "again")]),
        )])
        .await
        .unwrap();
    assert_eq!(dup[0].log_index, 199);
    assert_eq!(get(&sm_b, None, "k199").as_deref(), Some("v199"));
}

async fn check_installed(
    sm: &mut StateMachineStore,
    meta: &lsmkv_raft::openraft::SnapshotMeta<u64, Node>,
) {
    let (applied, membership) = sm.applied_state().await.unwrap();
    assert_eq!(applied, meta.last_log_id);
    assert_eq!(membership, meta.last_membership);
    assert_eq!(get(sm, None, "only-on-b"), None);
    for i in 2..200u64 {
        let ks = if i % 3 == 0 { Some("flags") } else { None };
        assert_eq!(
            get(sm, ks, &format!("k{i:03}")),
            Some(format!("v{i}")),
            "k{i:03}"
        );
    }
    let current = sm.get_current_snapshot().await.unwrap().unwrap();
    assert_eq!(&current.meta, meta);
}

fn put_ttl(k: &str, v: &str, ttl_ms: u64) -> Op {
    Op::Put {
        keyspace: None,
        key: k.into(),
        value: v.into(),
        ttl_ms: Some(ttl_ms),
    }
}

/// A value written with a TTL keeps an expiry through a snapshot (the engine hands out no
/// expiry: the adapter keeps its own record, which follows every write of the key).
#[tokio::test]
async fn snapshots_keep_time_to_live() {
    let (da, dir_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (_a, _la, mut sm_a) = open(da.path());
    let hour = 3_600_000;
    let ops = vec![
        put_ttl("ttl", "1", hour),
        put_ttl("was-ttl", "2", hour),
        put(None, "was-ttl", "3"),
        put_ttl("gone", "4", 1),
        put(None, "plain", "5"),
    ];
    sm_a.apply(vec![entry(1, Request::new("", 0, ops))])
        .await
        .unwrap();
    // "gone" expires (1 ms; the sleep only makes sure of it).
    std::thread::sleep(std::time::Duration::from_millis(20));
    assert_eq!(get(&sm_a, None, "gone"), None);
    let snap = sm_a
        .get_snapshot_builder()
        .await
        .build_snapshot()
        .await
        .unwrap();
    let (b, _lb, mut sm_b) = open(dir_b.path());
    let mut rx = sm_b.begin_receiving_snapshot().await.unwrap();
    rx.get_mut().extend_from_slice(snap.snapshot.get_ref());
    sm_b.install_snapshot(&snap.meta, rx).await.unwrap();
    assert_eq!(get(&sm_b, None, "ttl").as_deref(), Some("1"));
    assert_eq!(get(&sm_b, None, "was-ttl").as_deref(), Some("3"));
    assert_eq!(get(&sm_b, None, "plain").as_deref(), Some("5"));
    assert_eq!(get(&sm_b, None, "gone"), None);
    let expiry = b.existing_keyspace("raft.g1.x.default").unwrap();
    let at = u64::from_be_bytes(
        *expiry
            .get("ttl")
            .unwrap()
            .unwrap()
            .first_chunk::<8>()
            .unwrap(),
    );
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    assert!(at > now && at <= now + hour, "expiry {at}, now {now}");
    assert!(
        expiry.get("was-ttl").unwrap().is_none(),
        "a plain put clears the expiry"
    );
    assert!(expiry.get("plain").unwrap().is_none());
}

#[tokio::test]
async fn a_group_applies_each_request_with_its_own_deduplication() {
    let dir = tempfile::tempdir().unwrap();
    let (_db, _log, mut sm) = open(dir.path());
    let a1 = Request::new("client-a", 1, vec![put(None, "a", "1")]);
    let b1 = Request::new("client-b", 1, vec![put(Some("ks"), "b", "1")]);
    let bad = Request::new("client-c", 1, vec![put(Some(""), "c", "1")]);
    let r = sm
        .apply(vec![entry(
            1,
            Request::group(vec![a1.clone(), b1.clone(), bad]),
        )])
        .await
        .unwrap();
    assert_eq!(r.len(), 1);
    assert_eq!(r[0].batch.len(), 3, "one response per request, in order");
    assert_eq!(r[0].batch[0].error, None);
    assert_eq!(r[0].batch[1].error, None);
    assert!(
        r[0].batch[2].error.is_some(),
        "a refused request refuses alone"
    );
    assert_eq!(get(&sm, None, "a").as_deref(), Some("1"));
    assert_eq!(get(&sm, Some("ks"), "b").as_deref(), Some("1"));
    // A retry of a grouped request alone (or in another group, or twice in one group) takes
    // effect once and answers the stored response.
    let a2 = Request::new("client-a", 2, vec![put(None, "a", "2")]);
    let again = sm
        .apply(vec![
            entry(2, a1),
            entry(3, Request::group(vec![b1, a2.clone(), a2])),
        ])
        .await
        .unwrap();
    assert_eq!(again[0], r[0].batch[0]);
    assert_eq!(again[1].batch[0], r[0].batch[1]);
    assert_eq!(again[1].batch[1], again[1].batch[2]);
    assert_eq!(again[1].batch[1].log_index, 3);
    assert_eq!(get(&sm, None, "a").as_deref(), Some("2"));
    // The JSON of a lone request has no batch field (the log of older nodes reads the same).
    let json = serde_json::to_string(&Request::new("x", 1, vec![])).unwrap();
    assert!(!json.contains("batch"), "{json}");
}
