//! The change feed: every committed change reaches every matching subscriber, in commit order,
//! with increasing seqnos and each batch's entries together; prefix and keyspace filters; nothing
//! of a failed commit (transaction conflict, I/O error); a subscriber that never reads does not
//! stall writers and later sees `Lagged` and then newer events; dropping a subscription, closing
//! the database and dropping a keyspace end subscriptions; a snapshot taken after subscribing
//! plus the events above its seqno rebuild the database; range deletes, expiring puts and index
//! keyspaces.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::collections::BTreeMap;
use std::sync::mpsc::{RecvTimeoutError, TryRecvError};
use std::sync::{Arc, Barrier};
use std::time::Duration;

use common::{dir, opts};
use lsmkv::fs::{FaultFs, FaultOp, FaultRule, default_fs};
use lsmkv::{
    Change, Db, Error, Event, KeyspaceOptions, Options, Subscription, SyncMode, WriteBatch,
};

/// Every event queued now. A write's events are queued before the write returns.
fn drain(sub: &Subscription) -> Vec<Event> {
    let mut out = Vec::new();
    loop {
        match sub.try_recv() {
            Ok(e) => out.push(e),
            Err(TryRecvError::Empty) => return out,
            Err(TryRecvError::Disconnected) => panic!("disconnected"),
        }
    }
}

fn changes(events: Vec<Event>) -> Vec<Change> {
    events
        .into_iter()
        .map(|e| match e {
            Event::Change(c) => c,
            other => panic!("expected a change, got {other:?}"),
        })
        .collect()
}

fn text(b: &[u8]) -> String {
    String::from_utf8(b.to_vec()).unwrap()
}

/// (keyspace, key, value) of a change, as text.
fn kv(c: &Change) -> (String, String, Option<String>) {
    (
        c.keyspace.clone(),
        text(&c.key),
        c.value.as_deref().map(text),
    )
}

const BIG: usize = 1 << 20;

#[test]
fn every_commit_reaches_every_subscriber_in_commit_order() {
    let d = dir::tmpfs_tempdir();
    let db = Db::open(d.path(), opts::tiny()).unwrap();
    let a = db.keyspace("a").unwrap();
    let b = db.keyspace("b").unwrap();
    let all: Vec<Subscription> = (0..3)
        .map(|_| db.subscribe_all().with_capacity(BIG))
        .collect();
    let default = db.subscribe("").with_capacity(BIG);
    let in_a = a.subscribe("").with_capacity(BIG);
    assert_eq!(db.subscriber_count(), 5);

    const THREADS: usize = 4;
    const BATCHES: usize = 300;
    std::thread::scope(|s| {
        for t in 0..THREADS {
            let (db, a, b) = (&db, &a, &b);
            s.spawn(move || {
                for i in 0..BATCHES {
                    // One batch over three keyspaces: put, put, delete (and a plain put).
                    let mut batch = WriteBatch::new();
                    batch.put(format!("t{t}:{i:04}:0"), format!("v{i}"));
                    batch.put_in(a, format!("t{t}:{i:04}:1"), format!("v{i}"));
                    batch.delete_in(b, format!("t{t}:{i:04}:2"));
                    db.write(batch).unwrap();
                    db.put(format!("t{t}:{i:04}:3"), "solo").unwrap();
                }
            });
        }
    });

    let events = drain(&all[0]);
    for other in &all[1..] {
        assert_eq!(
            drain(other),
            events,
            "every subscriber sees the same stream"
        );
    }
    let events = changes(events);
    assert_eq!(events.len(), THREADS * BATCHES * 4);
    assert!(
        events.windows(2).all(|w| w[0].seqno < w[1].seqno),
        "seqnos increase"
    );
    // Each batch's entries arrive together, in order, with consecutive seqnos; each writer's
    // commits arrive in its program order.
    let mut next_per_thread = [0usize; THREADS];
    let mut i = 0;
    while i < events.len() {
        let key = text(&events[i].key);
        let parts: Vec<&str> = key.split(':').collect();
        let t: usize = parts[0][1..].parse().unwrap();
        let n: usize = parts[1].parse().unwrap();
        assert_eq!(n, next_per_thread[t] / 2, "writer {t} out of order");
        if parts[2] == "3" {
            assert_eq!(next_per_thread[t] % 2, 1);
            assert_eq!(
                kv(&events[i]),
                ("default".into(), key.clone(), Some("solo".into()))
            );
            i += 1;
        } else {
            assert_eq!(next_per_thread[t] % 2, 0);
            let want = [
                ("default", format!("t{t}:{n:04}:0"), Some(format!("v{n}"))),
                ("a", format!("t{t}:{n:04}:1"), Some(format!("v{n}"))),
                ("b", format!("t{t}:{n:04}:2"), None),
            ];
            for (j, (ks, k, v)) in want.into_iter().enumerate() {
                let e = &events[i + j];
                assert_eq!(kv(e), (ks.to_string(), k, v));
                assert_eq!(e.seqno, events[i].seqno + j as u64);
            }
            i += 3;
        }
        next_per_thread[t] += 1;
    }
    assert_eq!(next_per_thread, [BATCHES * 2; THREADS]);

    // The keyspace subscriptions see exactly their part of the stream.
    let only = |ks: &str| -> Vec<Change> {
        events
            .iter()
            .filter(|c| c.keyspace == ks)
            .cloned()
            .collect()
    };
    assert_eq!(changes(drain(&default)), only("default"));
    assert_eq!(changes(drain(&in_a)), only("a"));
    // Each event's seqno is the key's version.
    for c in only("default").iter().step_by(97) {
        assert_eq!(db.get_versioned(&c.key).unwrap().unwrap().1, c.seqno);
    }
}

#[test]
fn prefixes_and_keyspaces_filter() {
    let d = dir::tempdir();
    let db = Db::open(d.path(), opts::no_sync()).unwrap();
    let users = db.keyspace("users").unwrap();
    let by_prefix = db.subscribe("user:");
    let everything_default = db.subscribe(b"");
    let ks_prefix = users.subscribe("user:");
    let all = db.subscribe_all();

    db.put("user:1", "a").unwrap();
    db.put("user", "no").unwrap();
    db.put("order:1", "no").unwrap();
    db.put("", "empty key").unwrap();
    users.put("user:2", "b").unwrap();
    users.put("other", "no").unwrap();
    db.delete("user:1").unwrap();
    users.delete("user:2").unwrap();

    let keys = |sub: &Subscription| -> Vec<(String, String, Option<String>)> {
        changes(drain(sub)).iter().map(kv).collect()
    };
    let s = |x: &str| x.to_string();
    assert_eq!(
        keys(&by_prefix),
        [
            (s("default"), s("user:1"), Some(s("a"))),
            (s("default"), s("user:1"), None)
        ]
    );
    assert_eq!(
        keys(&everything_default)
            .iter()
            .map(|k| k.1.clone())
            .collect::<Vec<_>>(),
        ["user:1", "user", "order:1", "", "user:1"]
    );
    assert_eq!(
        keys(&ks_prefix),
        [
            (s("users"), s("user:2"), Some(s("b"))),
            (s("users"), s("user:2"), None)
        ]
    );
    let everything = keys(&all);
    assert_eq!(everything.len(), 8);
    assert_eq!(everything[4], (s("users"), s("user:2"), Some(s("b"))));
}

#[test]
fn an_event_is_visible_to_reads_when_it_arrives() {
    let d = dir::tmpfs_tempdir();
    let db = Db::open(d.path(), opts::tiny()).unwrap();
    let sub = db.subscribe("k");
    let reader = {
        let db = db.clone();
        std::thread::spawn(move || {
            for e in sub.take(2000) {
                let Event::Change(c) = e else { panic!("{e:?}") };
                assert_eq!(db.get(&c.key).unwrap(), c.value, "{c:?}");
            }
        })
    };
    for i in 0..2000 {
        db.put(format!("k{i:05}"), format!("v{i}")).unwrap();
    }
    reader.join().unwrap();
}

#[test]
fn a_failed_transaction_sends_nothing() {
    let d = dir::tempdir();
    let db = Db::open(d.path(), opts::no_sync()).unwrap();
    db.put("counter", "0").unwrap();
    let sub = db.subscribe("");
    let mut t1 = db.transaction();
    let mut t2 = db.transaction();
    t1.get("counter").unwrap();
    t2.get("counter").unwrap();
    t1.put("counter", "1");
    t2.put("counter", "2");
    t2.put("other", "2");
    t1.commit().unwrap();
    assert!(matches!(t2.commit(), Err(Error::Conflict)));
    db.put("after", "x").unwrap();
    let got: Vec<_> = changes(drain(&sub)).iter().map(kv).collect();
    assert_eq!(
        got,
        [
            ("default".into(), "counter".into(), Some("1".into())),
            ("default".into(), "after".into(), Some("x".into())),
        ]
    );
}

#[test]
fn a_failed_wal_write_sends_nothing() {
    let d = dir::tempdir();
    let fs = FaultFs::new(default_fs());
    let o = Options {
        sync_mode: SyncMode::Always,
        ..Options::default()
    };
    let db = Db::open(d.path(), o.with_file_system(fs.clone())).unwrap();
    let sub = db.subscribe("");
    db.put("good", "1").unwrap();
    let g = fs.inject(FaultRule {
        op: Some(FaultOp::Write),
        path_contains: d.path().canonicalize().unwrap().display().to_string(),
        path_ends_with: ".wal".into(),
        after: 0,
        errno: 28, // ENOSPC
        sticky: true,
    });
    assert!(db.put("bad", "x").is_err());
    assert!(g.fired() > 0);
    drop(g);
    let got = changes(drain(&sub));
    assert_eq!(got.len(), 1);
    assert_eq!(kv(&got[0]).1, "good");
}

#[test]
fn a_subscriber_that_never_reads_does_not_stall_writers() {
    let d = dir::tmpfs_tempdir();
    let db = Db::open(d.path(), opts::small(64 << 10)).unwrap();
    const CAPACITY: usize = 64;
    let slow = db.subscribe("").with_capacity(CAPACITY);
    let keeping_up = db.subscribe("").with_capacity(BIG);
    let first = db.put_versioned("start", "x").unwrap();

    const THREADS: usize = 4;
    const WRITES: usize = 10_000;
    std::thread::scope(|s| {
        for t in 0..THREADS {
            let db = &db;
            s.spawn(move || {
                for i in 0..WRITES {
                    db.put(format!("t{t}:{i}"), "v").unwrap();
                }
            });
        }
    });
    let total = (1 + THREADS * WRITES) as u64;
    assert_eq!(drain(&keeping_up).len() as u64, total);

    // The slow one kept the oldest events, then one notice for everything after them.
    let events = drain(&slow);
    assert_eq!(events.len(), CAPACITY + 1);
    assert_eq!(events[0].seqno(), Some(first));
    assert!(
        events[..CAPACITY]
            .windows(2)
            .all(|w| w[0].seqno() < w[1].seqno())
    );
    assert_eq!(
        events[CAPACITY],
        Event::Lagged {
            missed: total - CAPACITY as u64
        }
    );
    // Then it continues with newer events.
    let later = db.put_versioned("later", "y").unwrap();
    let next = changes(drain(&slow));
    assert_eq!(next.len(), 1);
    assert_eq!((next[0].seqno, text(&next[0].key)), (later, "later".into()));
    assert!(matches!(slow.try_recv(), Err(TryRecvError::Empty)));
    assert!(matches!(
        slow.recv_timeout(Duration::from_millis(1)),
        Err(RecvTimeoutError::Timeout)
    ));
}

#[test]
fn dropping_a_subscription_unsubscribes() {
    let d = dir::tempdir();
    let db = Db::open(d.path(), opts::no_sync()).unwrap();
    let ks = db.keyspace("ks").unwrap();
    assert_eq!(db.subscriber_count(), 0);
    let subs = vec![db.subscribe("a"), ks.subscribe(""), db.subscribe_all()];
    assert_eq!(db.subscriber_count(), 3);
    let mut subs = subs.into_iter();
    drop(subs.next());
    assert_eq!(db.subscriber_count(), 2);
    drop(subs);
    assert_eq!(db.subscriber_count(), 0);
    // Many short-lived subscriptions leave nothing behind.
    for i in 0..1000 {
        let sub = db.subscribe("");
        db.put("k", format!("{i}")).unwrap();
        assert_eq!(
            sub.try_recv().unwrap().seqno(),
            db.get_versioned("k").unwrap().map(|v| v.1)
        );
    }
    assert_eq!(db.subscriber_count(), 0);
    db.put("k", "no subscribers").unwrap();
}

#[test]
fn closing_the_database_or_dropping_the_keyspace_disconnects() {
    let d = dir::tempdir();
    let db = Db::open(d.path(), opts::no_sync()).unwrap();
    let ks = db.keyspace("gone").unwrap();
    let on_ks = ks.subscribe("");
    ks.put("k", "v").unwrap();
    db.drop_keyspace("gone").unwrap();
    assert_eq!(on_ks.recv().unwrap().keyspace(), Some("gone"));
    assert!(
        on_ks.recv().is_err(),
        "disconnected after the queued events"
    );
    assert!(matches!(
        ks.subscribe("").try_recv(),
        Err(TryRecvError::Disconnected)
    ));
    assert_eq!(db.subscriber_count(), 0);
    drop(ks); // a keyspace handle keeps the database open; a subscription does not

    // A reader blocked in the iterator gets the queued events, then the iterator ends.
    let sub = db.subscribe("");
    let started = Arc::new(Barrier::new(2));
    let reader = {
        let started = started.clone();
        std::thread::spawn(move || {
            started.wait();
            sub.count()
        })
    };
    started.wait();
    for i in 0..3 {
        db.put(format!("{i}"), "v").unwrap();
    }
    db.close().unwrap();
    assert_eq!(reader.join().unwrap(), 3);
}

#[test]
fn a_snapshot_after_subscribing_plus_later_events_rebuild_the_database() {
    let d = dir::tmpfs_tempdir();
    let db = Db::open(d.path(), opts::tiny()).unwrap();
    const THREADS: usize = 3;
    const WRITES: usize = 3000;
    let go = Barrier::new(THREADS + 1);
    let (sub, snap) = std::thread::scope(|s| {
        for t in 0..THREADS {
            let (db, go) = (&db, &go);
            s.spawn(move || {
                go.wait();
                for i in 0..WRITES {
                    let key = format!("k{:03}", (i * 7 + t) % 500);
                    if i % 5 == 4 {
                        db.delete(key).unwrap();
                    } else {
                        db.put(key, format!("t{t}i{i}")).unwrap();
                    }
                }
            });
        }
        go.wait();
        // Subscribe while the writers run.
        while db.get_versioned("k000").unwrap().is_none() {
            std::thread::yield_now();
        }
        let sub = db.subscribe("").with_capacity(BIG);
        let snap = db.snapshot();
        (sub, snap)
    });
    let mut mirror: BTreeMap<Vec<u8>, Vec<u8>> = snap
        .range::<&[u8], _>(..)
        .map(|r| {
            let (k, v) = r.unwrap();
            (k.to_vec(), v.to_vec())
        })
        .collect();
    for c in changes(drain(&sub)) {
        if c.seqno <= snap.seqno() {
            continue;
        }
        match c.value {
            Some(v) => mirror.insert(c.key.to_vec(), v.to_vec()),
            None => mirror.remove(&c.key[..]),
        };
    }
    let now: BTreeMap<Vec<u8>, Vec<u8>> = db
        .range::<&[u8], _>(..)
        .map(|r| {
            let (k, v) = r.unwrap();
            (k.to_vec(), v.to_vec())
        })
        .collect();
    assert_eq!(mirror, now);
}

fn range(seqno: u64, keyspace: &str, start: &str, end: Option<&str>) -> Event {
    Event::RangeDelete {
        seqno,
        keyspace: keyspace.into(),
        start: start.as_bytes().into(),
        end: end.map(|e| e.as_bytes().into()),
    }
}

#[test]
fn range_deletes_come_whole_to_the_prefixes_they_overlap() {
    let d = dir::tempdir();
    let db = Db::open(d.path(), opts::no_sync()).unwrap();
    let users = db.subscribe("user:");
    let all = db.subscribe("");
    let first = db.put_versioned("user:1", "a").unwrap();
    db.delete_prefix("user:").unwrap();
    db.delete_range("a".."b").unwrap(); // below the prefix
    db.delete_range("u".."v").unwrap(); // around it
    db.delete_range::<&str, _>("user:5"..).unwrap(); // from inside it, with no end
    let mut b = WriteBatch::new();
    b.put("user:2", "x");
    b.delete_range("user:0".."user:5");
    b.put("user:3", "y");
    db.write(b).unwrap();
    let (s, ks) = (|i: u64| first + i, "default");

    let got = drain(&users);
    let want_ranges = [
        (1, range(s(1), ks, "user:", Some("user;"))),
        (2, range(s(3), ks, "u", Some("v"))),
        (3, range(s(4), ks, "user:5", None)),
        (5, range(s(6), ks, "user:0", Some("user:5"))),
    ];
    assert_eq!(got.len(), 7);
    for (i, want) in want_ranges {
        assert_eq!(got[i], want);
    }
    let puts: Vec<_> = [0, 4, 6]
        .map(|i| changes(vec![got[i].clone()]).remove(0))
        .iter()
        .map(|c| (c.seqno, text(&c.key), c.value.as_deref().map(text)))
        .collect();
    assert_eq!(
        puts,
        [
            (s(0), "user:1".into(), Some("a".into())),
            (s(5), "user:2".into(), Some("x".into())),
            (s(7), "user:3".into(), Some("y".into())),
        ]
    );
    // The keyspace-wide subscriber also gets the one below the prefix.
    let everything = drain(&all);
    assert_eq!(everything.len(), 8);
    assert_eq!(everything[2], range(s(2), ks, "a", Some("b")));
}

#[test]
fn expiring_puts_come_with_their_value_and_expiry() {
    let d = dir::tempdir();
    let (o, _clock) = opts::with_manual_clock(opts::no_sync());
    let db = Db::open(d.path(), o).unwrap();
    let sessions = db
        .keyspace_with(
            "sessions",
            KeyspaceOptions::default().ttl(Duration::from_secs(60)),
        )
        .unwrap();
    let all = db.subscribe_all();
    db.put_with_ttl("k", "v", Duration::from_millis(1500))
        .unwrap();
    db.put("plain", "p").unwrap();
    sessions.put("s1", "alice").unwrap(); // the keyspace's TTL
    let got: Vec<_> = changes(drain(&all))
        .iter()
        .map(|c| (kv(c), c.expires_at))
        .collect();
    let start = opts::CLOCK_START_MS;
    assert_eq!(
        got,
        [
            (
                ("default".into(), "k".into(), Some("v".into())),
                Some(start + 1500)
            ),
            (("default".into(), "plain".into(), Some("p".into())), None),
            (
                ("sessions".into(), "s1".into(), Some("alice".into())),
                Some(start + 60_000)
            ),
        ]
    );
}

#[test]
fn index_keyspaces_are_left_out_of_subscribe_all() {
    let d = dir::tempdir();
    let db = Db::open(d.path(), opts::no_sync()).unwrap();
    let users = db.keyspace("users").unwrap();
    let all = db.subscribe_all();
    let _color = db
        .create_index("color", &users, |_key, value| vec![value.to_vec()])
        .unwrap();
    let index = db.keyspace("__index/color").unwrap();
    let on_index = index.subscribe("");
    users.put("u1", "red").unwrap();
    users.put("u2", "blue").unwrap();
    let got: Vec<_> = changes(drain(&all)).iter().map(kv).collect();
    assert_eq!(
        got,
        [
            ("users".into(), "u1".into(), Some("red".into())),
            ("users".into(), "u2".into(), Some("blue".into())),
        ]
    );
    // A subscription to the index keyspace itself gets its entries (and the builder's mark).
    let index_keys: Vec<Vec<u8>> = changes(drain(&on_index))
        .iter()
        .map(|c| c.key.to_vec())
        .collect();
    assert!(
        index_keys.iter().any(|k| k.ends_with(b"u1")),
        "{index_keys:?}"
    );
    assert!(
        index_keys.iter().any(|k| k.ends_with(b"u2")),
        "{index_keys:?}"
    );
}
