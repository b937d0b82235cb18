//! Keyspaces: independent trees sharing one WAL and manifest. Isolation, atomic batches across
//! keyspaces (also across a crash), snapshots over all of them, independent flushes with shared
//! WAL segments retired only when every keyspace with data in them has flushed, options that
//! persist, drops that are all-or-nothing, checkpoints and read-only opens that see every
//! keyspace, and a model-based property test.
//!
//! Replay: `LSMKV_SEED=<n>` changes the crash test's seed; proptest prints failing cases.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use common::{crash, dir, model, opts, rng};
use lsmkv::{Compression, Db, Error, Keyspace, KeyspaceOptions, Options, SyncMode, WriteBatch};
use proptest::prelude::*;

fn get(ks: &Keyspace, k: &str) -> Option<String> {
    ks.get(k.as_bytes())
        .unwrap()
        .map(|v| String::from_utf8(v.to_vec()).unwrap())
}

#[test]
fn keyspaces_are_isolated_and_default_is_the_db() {
    let d = dir::tempdir();
    let db = Db::open(d.path(), opts::no_sync()).unwrap();
    assert_eq!(db.keyspaces().unwrap(), vec!["default"]);
    let users = db.keyspace("users").unwrap();
    let orders = db.keyspace("orders").unwrap();
    assert_eq!(db.keyspaces().unwrap(), vec!["default", "orders", "users"]);
    users.put("k", "u").unwrap();
    orders.put("k", "o").unwrap();
    db.put("k", "d").unwrap();
    assert_eq!(get(&users, "k").as_deref(), Some("u"));
    assert_eq!(get(&orders, "k").as_deref(), Some("o"));
    assert_eq!(db.get("k").unwrap().as_deref(), Some(&b"d"[..]));
    let default = db.keyspace("default").unwrap();
    assert_eq!(get(&default, "k").as_deref(), Some("d"));
    // Same handle twice is the same keyspace; lookups never create.
    assert_eq!(db.keyspace("users").unwrap().id(), users.id());
    assert_eq!(db.existing_keyspace("users").unwrap().id(), users.id());
    assert!(db.keyspace_exists("orders"));
    assert!(!db.keyspace_exists("typo"));
    assert!(matches!(
        db.existing_keyspace("typo"),
        Err(Error::KeyspaceNotFound { .. })
    ));
    assert!(!db.keyspace_exists("typo"));
    let v = users.put_versioned("versioned", "x").unwrap();
    assert_eq!(users.get_versioned("versioned").unwrap().unwrap().1, v);
    users.delete("k").unwrap();
    assert_eq!(get(&users, "k"), None);
    assert_eq!(get(&orders, "k").as_deref(), Some("o"));
    // Iteration stays inside the keyspace, both directions.
    for i in 0..20 {
        users.put(format!("u{i:02}"), "x").unwrap();
    }
    let fwd: Vec<_> = users.prefix("u").map(|r| r.unwrap().0.to_vec()).collect();
    let back: Vec<_> = users
        .prefix("u")
        .rev()
        .map(|r| r.unwrap().0.to_vec())
        .collect();
    assert_eq!(fwd.len(), 20);
    assert_eq!(fwd.iter().rev().cloned().collect::<Vec<_>>(), back);
    assert_eq!(orders.range::<&[u8], _>(..).count(), 1);
    // Names and the default keyspace's rules.
    assert!(matches!(db.keyspace(""), Err(Error::InvalidArgument(_))));
    assert!(matches!(
        db.keyspace(&"x".repeat(256)),
        Err(Error::InvalidArgument(_))
    ));
    assert!(db.drop_keyspace("default").is_err());
    assert!(
        db.keyspace_with("default", KeyspaceOptions::default())
            .is_err()
    );
    assert!(matches!(
        db.drop_keyspace("nope"),
        Err(Error::KeyspaceNotFound { .. })
    ));
}

#[test]
fn a_batch_across_keyspaces_is_atomic_and_a_snapshot_covers_all() {
    let d = dir::tempdir();
    let db = Db::open(d.path(), opts::tiny()).unwrap();
    let a = db.keyspace("a").unwrap();
    let b = db.keyspace("b").unwrap();
    let mut batch = WriteBatch::new();
    batch.put_in(&a, "x", "1");
    batch.put_in(&b, "x", "2");
    batch.put("x", "3");
    db.write(batch).unwrap();
    let snap = db.snapshot();
    let mut batch = WriteBatch::new();
    batch.delete_in(&a, "x");
    batch.put_in(&b, "x", "22");
    db.write(batch).unwrap();
    assert_eq!(snap.get_in(&a, "x").unwrap().as_deref(), Some(&b"1"[..]));
    assert_eq!(snap.get_in(&b, "x").unwrap().as_deref(), Some(&b"2"[..]));
    assert_eq!(snap.get("x").unwrap().as_deref(), Some(&b"3"[..]));
    assert_eq!(snap.range_in::<&[u8], _>(&b, ..).count(), 1);
    assert_eq!(snap.prefix_in(&a, "x").count(), 1);
    assert_eq!(get(&a, "x"), None);
    assert_eq!(get(&b, "x").as_deref(), Some("22"));
    // A batch naming a dropped keyspace fails whole.
    let c = db.keyspace("c").unwrap();
    db.drop_keyspace("c").unwrap();
    let mut batch = WriteBatch::new();
    batch.put_in(&a, "y", "1");
    batch.put_in(&c, "y", "1");
    assert!(matches!(
        db.write(batch),
        Err(Error::KeyspaceNotFound { .. })
    ));
    assert_eq!(get(&a, "y"), None);
}

#[test]
fn flushing_one_keyspace_leaves_the_others_in_memory_and_wal_is_kept_for_them() {
    let d = dir::tempdir();
    let o = Options {
        sync_mode: SyncMode::Always,
        ..opts::tiny()
    };
    {
        let db = Db::open(d.path(), o.clone()).unwrap();
        let quiet = db.keyspace("quiet").unwrap();
        let busy = db.keyspace("busy").unwrap();
        quiet.put("only", "write").unwrap();
        // Many flushes of `busy` (4 KiB memtables) rotate the WAL many times.
        for i in 0..2000 {
            busy.put(format!("k{i:05}"), [b'v'; 64]).unwrap();
        }
        busy.flush().unwrap();
        let stats = db.stats();
        let q = stats.keyspaces.iter().find(|k| k.name == "quiet").unwrap();
        let b = stats.keyspaces.iter().find(|k| k.name == "busy").unwrap();
        assert_eq!(q.sst_files, 0, "quiet was never flushed");
        assert_eq!(q.memtable_entries, 1);
        assert!(b.sst_files > 0);
        // The segment holding `quiet`'s write is still there.
        assert!(stats.wal_segments > 1, "{stats:?}");
        db.close().unwrap();
    }
    // `quiet`'s only write lives in an old WAL segment: it must have been kept.
    let db = Db::open(d.path(), o).unwrap();
    let quiet = db.keyspace("quiet").unwrap();
    assert_eq!(get(&quiet, "only").as_deref(), Some("write"));
    let busy = db.keyspace("busy").unwrap();
    assert_eq!(busy.range::<&[u8], _>(..).count(), 2000);
}

#[test]
fn max_wal_size_forces_out_the_keyspace_holding_the_oldest_segment() {
    let d = dir::tempdir();
    let o = Options {
        max_wal_size: 64 << 10,
        ..opts::tiny()
    };
    let db = Db::open(d.path(), o).unwrap();
    let quiet = db.keyspace("quiet").unwrap();
    let busy = db.keyspace("busy").unwrap();
    quiet.put("only", "write").unwrap();
    for i in 0..5000 {
        busy.put(format!("k{i:05}"), [b'v'; 64]).unwrap();
    }
    busy.flush().unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while db.stats().wal_bytes > 4 * (64 << 10) {
        assert!(std::time::Instant::now() < deadline, "WAL never shrank");
        std::thread::sleep(Duration::from_millis(20));
    }
    let q = db
        .stats()
        .keyspaces
        .into_iter()
        .find(|k| k.name == "quiet")
        .unwrap();
    assert_eq!(q.sst_files, 1, "quiet was flushed to let the WAL go");
    assert_eq!(get(&quiet, "only").as_deref(), Some("write"));
}

#[test]
fn keyspaces_and_their_options_survive_reopen() {
    let d = dir::tempdir();
    let ko = KeyspaceOptions::default()
        .compression(Compression::None)
        .block_size(1024);
    {
        let db = Db::open(d.path(), opts::tiny()).unwrap();
        let raw = db.keyspace_with("raw", ko.clone()).unwrap();
        let other = db.keyspace("other").unwrap();
        for i in 0..300 {
            raw.put(format!("r{i:03}"), "v").unwrap();
            other.put(format!("o{i:03}"), "w").unwrap();
        }
        raw.flush().unwrap();
        other.put("unflushed", "yes").unwrap();
        // Handles keep the database open: drop them before closing.
        drop((raw, other));
        db.close().unwrap();
    }
    let db = Db::open(d.path(), opts::tiny()).unwrap();
    assert_eq!(db.keyspaces().unwrap(), vec!["default", "other", "raw"]);
    let raw = db.keyspace("raw").unwrap();
    assert_eq!(raw.options(), ko);
    assert_eq!(raw.range::<&[u8], _>(..).count(), 300);
    let other = db.keyspace("other").unwrap();
    assert_eq!(get(&other, "unflushed").as_deref(), Some("yes"));
    assert_eq!(db.range::<&[u8], _>(..).count(), 0);
    // New options are logged and survive too.
    let ko2 = ko.clone().block_size(2048);
    db.keyspace_with("raw", ko2.clone()).unwrap();
    drop((raw, other));
    db.close().unwrap();
    let db = Db::open(d.path(), opts::tiny()).unwrap();
    assert_eq!(db.keyspace("raw").unwrap().options(), ko2);
    // Tables say which keyspace they belong to.
    assert!(db.tables().iter().any(|t| t.keyspace == "raw"));
    db.keyspace("raw").unwrap().compact().unwrap();
    assert!(
        db.tables()
            .iter()
            .all(|t| t.keyspace != "raw" || t.level > 0)
    );
}

#[test]
fn a_dropped_keyspace_is_gone_with_its_files_and_its_name_is_free() {
    let d = dir::tempdir();
    let db = Db::open(d.path(), opts::tiny()).unwrap();
    let tmp = db.keyspace("tmp").unwrap();
    for i in 0..500 {
        tmp.put(format!("t{i:03}"), [b'x'; 40]).unwrap();
    }
    tmp.flush().unwrap();
    tmp.put("in-wal", "only").unwrap();
    let reader = tmp.range::<&[u8], _>(..);
    db.drop_keyspace("tmp").unwrap();
    assert!(matches!(
        tmp.get("t000"),
        Err(Error::KeyspaceNotFound { .. })
    ));
    assert!(matches!(
        tmp.put("a", "b"),
        Err(Error::KeyspaceNotFound { .. })
    ));
    assert!(matches!(tmp.flush(), Err(Error::KeyspaceNotFound { .. })));
    // An iterator made before the drop still reads its files.
    assert_eq!(reader.count(), 501);
    assert_eq!(db.keyspaces().unwrap(), vec!["default"]);
    assert!(db.tables().is_empty());
    // The name is free; the new keyspace has a new id and none of the old data, also after a
    // reopen that replays the WAL holding the old keyspace's writes.
    let again = db.keyspace("tmp").unwrap();
    assert_ne!(again.id(), tmp.id());
    assert_eq!(get(&again, "in-wal"), None);
    drop((tmp, again));
    db.close().unwrap();
    let db = Db::open(d.path(), opts::tiny()).unwrap();
    let again = db.keyspace("tmp").unwrap();
    assert_eq!(again.range::<&[u8], _>(..).count(), 0);
    assert!(dir::files_with_ext(d.path(), "sst").is_empty());
}

#[test]
fn checkpoints_and_read_only_opens_see_every_keyspace() {
    let d = dir::tempdir();
    // Writes reach the OS at once (a read-only handle reads the WAL from the file).
    let o = Options {
        sync_mode: SyncMode::AsyncBatch,
        ..opts::tiny()
    };
    let db = Db::open(d.path(), o).unwrap();
    let a = db
        .keyspace_with("a", KeyspaceOptions::default().block_size(512))
        .unwrap();
    for i in 0..200 {
        a.put(format!("a{i:03}"), "1").unwrap();
    }
    a.flush().unwrap();
    a.put("tail", "in memtable").unwrap();
    db.put("d", "default").unwrap();
    let cp = dir::tempdir();
    let target = cp.path().join("copy");
    db.checkpoint(&target).unwrap();
    let ro = Db::open_read_only(d.path(), opts::tiny()).unwrap();
    assert_eq!(ro.keyspaces().unwrap(), vec!["a", "default"]);
    assert_eq!(ro.keyspace("a").unwrap().range::<&[u8], _>(..).count(), 201);
    assert!(matches!(
        ro.keyspace("new"),
        Err(Error::KeyspaceNotFound { .. })
    ));
    let b = db.keyspace("b").unwrap();
    b.put("x", "y").unwrap();
    ro.refresh().unwrap();
    assert_eq!(get(&ro.keyspace("b").unwrap(), "x").as_deref(), Some("y"));
    drop((a, b));
    db.close().unwrap();
    let copy = Db::open(&target, opts::tiny()).unwrap();
    assert_eq!(copy.keyspaces().unwrap(), vec!["a", "default"]);
    let ca = copy.keyspace("a").unwrap();
    assert_eq!(ca.range::<&[u8], _>(..).count(), 201);
    assert_eq!(get(&ca, "tail").as_deref(), Some("in memtable"));
    assert_eq!(ca.options(), KeyspaceOptions::default().block_size(512));
    assert_eq!(copy.get("d").unwrap().as_deref(), Some(&b"default"[..]));
}

// ---------------------------------------------------------------------------------------------
// Crash: batches across three keyspaces are all or nothing.

const CRASH_KEYSPACES: [&str; 3] = ["alpha", "beta", "gamma"];

#[test]
#[ignore = "child process of the crash test; runs only when started by one"]
fn keyspace_crash_child() {
    let Some(child) = crash::child() else {
        return;
    };
    let round: u32 = child.parse("round");
    let db = Db::open(child.dir(), crash_options()).unwrap();
    let ks: Vec<Keyspace> = CRASH_KEYSPACES
        .iter()
        .map(|n| db.keyspace(n).unwrap())
        .collect();
    crash::write_and_ack(3, 0..100_000, |t, i| {
        let k = format!("r{round:02}-t{t}-{i:06}");
        let mut b = WriteBatch::new();
        for (j, ks) in ks.iter().enumerate() {
            b.put_in(ks, &k, format!("{k}/{j}"));
        }
        db.write(b).unwrap();
        if i % 97 == 0 {
            // Flush one keyspace now and then: the others keep their data in the WAL.
            ks[(i as usize / 97) % ks.len()].flush().unwrap();
        }
        k
    });
}

fn crash_options() -> Options {
    Options {
        sync_mode: SyncMode::Always,
        ..opts::tiny()
    }
}

#[test]
fn cross_keyspace_batches_are_all_or_nothing_across_kill() {
    let seed = rng::seed("keyspaces_crash", 0x6b5_c4a5);
    let mut r = seed.rng(1);
    let d = dir::tempdir();
    let mut acked_all: Vec<String> = Vec::new();
    for round in 0..4u32 {
        let kill_after = 30 + r.below(200) as usize;
        let params = [("round", round.to_string())];
        let acked = crash::run_until_killed("keyspace_crash_child", d.path(), &params, kill_after);
        acked_all.extend(acked);
        let db = Db::open(d.path(), crash_options()).unwrap();
        let ks: Vec<Keyspace> = CRASH_KEYSPACES
            .iter()
            .map(|n| db.keyspace(n).unwrap())
            .collect();
        for k in &acked_all {
            for (j, ks) in ks.iter().enumerate() {
                assert_eq!(
                    get(ks, k).as_deref(),
                    Some(format!("{k}/{j}").as_str()),
                    "round {round}: acknowledged {k} lost in {}",
                    ks.name()
                );
            }
        }
        // No partial batch: every key is in all three keyspaces or in none.
        let sets: Vec<Vec<Vec<u8>>> = ks
            .iter()
            .map(|ks| {
                ks.range::<&[u8], _>(..)
                    .map(|r| r.unwrap().0.to_vec())
                    .collect()
            })
            .collect();
        assert_eq!(sets[0], sets[1], "round {round}: alpha and beta differ");
        assert_eq!(sets[1], sets[2], "round {round}: beta and gamma differ");
        db.close().unwrap();
    }
}

// ---------------------------------------------------------------------------------------------
// Model-based: three keyspaces, batches across them, flushes, compactions, snapshots, reopen.

#[derive(Debug, Clone)]
enum Op {
    Put(usize, u8, u8),
    Delete(usize, u8),
    Batch(Vec<(usize, u8, Option<u8>)>),
    Flush(usize),
    Compact(usize),
    Snapshot,
    Reopen,
}

fn op() -> impl Strategy<Value = Op> {
    let ks = 0usize..3;
    prop_oneof![
        6 => (ks.clone(), 0u8..24, any::<u8>()).prop_map(|(k, key, v)| Op::Put(k, key, v)),
        2 => (ks.clone(), 0u8..24).prop_map(|(k, key)| Op::Delete(k, key)),
        3 => proptest::collection::vec(
            (ks.clone(), 0u8..24, proptest::option::of(any::<u8>())),
            1..6
        )
        .prop_map(Op::Batch),
        1 => ks.clone().prop_map(Op::Flush),
        1 => ks.prop_map(Op::Compact),
        1 => Just(Op::Snapshot),
        1 => Just(Op::Reopen),
    ]
}

type Models = Vec<BTreeMap<Vec<u8>, Vec<u8>>>;

fn open_all(path: &Path) -> (Db, Vec<Keyspace>) {
    let db = Db::open(path, opts::tiny()).unwrap();
    let ks = vec![
        db.keyspace("default").unwrap(),
        db.keyspace("one").unwrap(),
        db.keyspace_with(
            "two",
            KeyspaceOptions::default().compression(Compression::None),
        )
        .unwrap(),
    ];
    (db, ks)
}

fn check(ks: &[Keyspace], models: &Models) {
    for (k, m) in ks.iter().zip(models) {
        let want: Vec<(Vec<u8>, Vec<u8>)> = m.clone().into_iter().collect();
        model::assert_pairs_eq(&model::collect(k.range::<&[u8], _>(..)), &want, k.name());
        let mut rev = want.clone();
        rev.reverse();
        model::assert_pairs_eq(
            &model::collect(k.range::<&[u8], _>(..).rev()),
            &rev,
            k.name(),
        );
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn keyspaces_match_a_model_per_keyspace(ops in proptest::collection::vec(op(), 1..120)) {
        let d = dir::tempdir();
        let (mut db, mut ks) = open_all(d.path());
        let mut models: Models = vec![BTreeMap::new(); 3];
        let mut snaps: Vec<(lsmkv::Snapshot, Models)> = Vec::new();
        for op in ops {
            match op {
                Op::Put(k, key, v) => {
                    ks[k].put([key], [v]).unwrap();
                    models[k].insert(vec![key], vec![v]);
                }
                Op::Delete(k, key) => {
                    ks[k].delete([key]).unwrap();
                    models[k].remove(&vec![key]);
                }
                Op::Batch(entries) => {
                    let mut b = WriteBatch::new();
                    for (k, key, v) in &entries {
                        match v {
                            Some(v) => b.put_in(&ks[*k], [*key], [*v]),
                            None => b.delete_in(&ks[*k], [*key]),
                        }
                    }
                    db.write(b).unwrap();
                    for (k, key, v) in entries {
                        match v {
                            Some(v) => { models[k].insert(vec![key], vec![v]); }
                            None => { models[k].remove(&vec![key]); }
                        }
                    }
                }
                Op::Flush(k) => ks[k].flush().unwrap(),
                Op::Compact(k) => ks[k].compact().unwrap(),
                Op::Snapshot => snaps.push((db.snapshot(), models.clone())),
                Op::Reopen => {
                    snaps.clear();
                    drop(ks);
                    db.close().unwrap();
                    (db, ks) = open_all(d.path());
                }
            }
            for (snap, m) in &snaps {
                for (k, keyspace) in ks.iter().enumerate() {
                    let got = model::collect(snap.range_in::<&[u8], _>(keyspace, ..));
                    let want: Vec<_> = m[k].clone().into_iter().collect();
                    model::assert_pairs_eq(&got, &want, "snapshot");
                }
            }
        }
        check(&ks, &models);
        // Snapshots and handles keep the database open.
        snaps.clear();
        drop(ks);
        db.close().unwrap();
        let (_db, ks) = open_all(d.path());
        check(&ks, &models);
    }
}

#[test]
fn a_keyspace_ttl_applies_to_every_kind_of_put_in_it() {
    use lsmkv::ttl::ManualClock;
    use std::sync::Arc;
    let d = dir::tempdir();
    let clock = Arc::new(ManualClock::new(1_000_000));
    let o = opts::tiny().with_clock(clock.clone());
    let db = Db::open(d.path(), o.clone()).unwrap();
    let ttl = Duration::from_secs(10);
    let sessions = db
        .keyspace_with("sessions", KeyspaceOptions::default().ttl(ttl))
        .unwrap();
    sessions.put("plain", "1").unwrap();
    let mut b = WriteBatch::new();
    b.put_in(&sessions, "batch", "2");
    b.put("no-ttl-in-default", "3");
    db.write(b).unwrap();
    let mut tx = db.transaction();
    tx.put_in(&sessions, "txn", "4");
    tx.commit().unwrap();
    assert!(sessions.put_if_absent("cas", "5").unwrap());
    sessions
        .put_with_ttl("longer", "6", Duration::from_secs(60))
        .unwrap();
    clock.advance(Duration::from_millis(9_999));
    for k in ["plain", "batch", "txn", "cas", "longer"] {
        assert!(get(&sessions, k).is_some(), "{k} expired early");
    }
    clock.advance(Duration::from_millis(1));
    for k in ["plain", "batch", "txn", "cas"] {
        assert_eq!(get(&sessions, k), None, "{k} outlived the keyspace TTL");
    }
    assert!(
        get(&sessions, "longer").is_some(),
        "put_with_ttl overrides it"
    );
    assert!(db.get("no-ttl-in-default").unwrap().is_some());
    // The TTL is part of the keyspace's persisted options.
    drop(sessions);
    db.close().unwrap();
    let db = Db::open(d.path(), o).unwrap();
    let sessions = db.keyspace("sessions").unwrap();
    assert_eq!(sessions.options().ttl_value(), Some(ttl));
    sessions.put("after-reopen", "7").unwrap();
    clock.advance(ttl);
    assert_eq!(get(&sessions, "after-reopen"), None);
}

#[test]
fn range_deletes_stay_inside_their_keyspace() {
    let d = dir::tempdir();
    let db = Db::open(d.path(), opts::tiny()).unwrap();
    let a = db.keyspace("a").unwrap();
    let b = db.keyspace("b").unwrap();
    for i in 0..200 {
        let k = format!("k{i:03}");
        a.put(&k, "1").unwrap();
        b.put(&k, "2").unwrap();
        db.put(&k, "0").unwrap();
    }
    a.flush().unwrap();
    a.delete_prefix("k1").unwrap();
    let mut batch = WriteBatch::new();
    batch.delete_range_in(&b, "k000".."k050");
    db.write(batch).unwrap();
    assert_eq!(a.range::<&[u8], _>(..).count(), 100);
    assert_eq!(b.range::<&[u8], _>(..).count(), 150);
    assert_eq!(db.range::<&[u8], _>(..).count(), 200);
    a.compact().unwrap();
    drop((a, b));
    db.close().unwrap();
    let db = Db::open(d.path(), opts::tiny()).unwrap();
    assert_eq!(db.keyspace("a").unwrap().range::<&[u8], _>(..).count(), 100);
    assert_eq!(db.keyspace("b").unwrap().range::<&[u8], _>(..).count(), 150);
}
