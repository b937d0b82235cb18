//! `Db::write_with_ticket`: the write is visible at once; its `DurabilityTicket` resolves only
//! when the WAL fsync covering it is done (checked with the power-loss recorder: every batch whose
//! ticket resolved before a simulated power cut is in the image), in every sync mode, through
//! `wait`, `is_durable` and `on_durable`; a failed fsync resolves tickets with the error, never as
//! durable.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use lsmkv::fs::{FaultFs, FaultOp, FaultRule, PowerLossFs, default_fs};
use lsmkv::{Db, Error, Options, SyncMode, WriteBatch};

/// Generous bound for a callback on a slow, loaded machine (a hang, not a timing assert).
const HANG: Duration = Duration::from_secs(60);

fn opts(mode: SyncMode) -> Options {
    Options {
        sync_mode: mode,
        // Keep the interval thread out of the way: tickets must not wait for it.
        wal_sync_interval_ms: 3_600_000,
        ..Options::default()
    }
}

fn batch(k: &str) -> WriteBatch {
    let mut b = WriteBatch::new();
    b.put(k, value(k));
    b
}

fn value(k: &str) -> Vec<u8> {
    k.as_bytes().iter().copied().cycle().take(64).collect()
}

const MODES: [SyncMode; 3] = [SyncMode::Always, SyncMode::AsyncBatch, SyncMode::None];

#[test]
fn tickets_resolve_in_every_sync_mode() {
    for mode in MODES {
        let dir = common::dir::tempdir();
        let db = Db::open(dir.path(), opts(mode)).unwrap();
        let t = db.write_with_ticket(batch("a")).unwrap();
        // Visible before durable is known.
        assert_eq!(db.get("a").unwrap().as_deref(), Some(value("a").as_slice()));
        t.wait().unwrap();
        assert!(t.is_durable(), "{mode:?}");
        // Callbacks, from several threads at once.
        let (tx, rx) = mpsc::channel();
        let writers: Vec<_> = (0..4)
            .map(|w| {
                let (db, tx) = (db.clone(), tx.clone());
                std::thread::spawn(move || {
                    for i in 0..50 {
                        let k = format!("w{w}-{i}");
                        let t = db.write_with_ticket(batch(&k)).unwrap();
                        let tx = tx.clone();
                        t.on_durable(move |r| tx.send((k, r)).unwrap());
                    }
                })
            })
            .collect();
        for w in writers {
            w.join().unwrap();
        }
        for _ in 0..200 {
            let (k, r) = rx.recv_timeout(HANG).expect("a ticket callback never ran");
            r.unwrap_or_else(|e| panic!("{mode:?}: {k}: {e}"));
        }
        // An empty batch's ticket covers every write before it.
        let t = db.write_with_ticket(WriteBatch::new()).unwrap();
        t.wait().unwrap();
        db.close().unwrap();
    }
}

/// A callback may write (and take a ticket) itself: it runs under no engine lock.
#[test]
fn a_callback_can_write() {
    let dir = common::dir::tempdir();
    let db = Db::open(dir.path(), opts(SyncMode::None)).unwrap();
    let (tx, rx) = mpsc::channel();
    let db2 = db.clone();
    db.write_with_ticket(batch("first"))
        .unwrap()
        .on_durable(move |r| {
            r.unwrap();
            let t = db2.write_with_ticket(batch("second")).unwrap();
            t.on_durable(move |r| tx.send(r).unwrap());
        });
    rx.recv_timeout(HANG).unwrap().unwrap();
    assert!(db.get("second").unwrap().is_some());
}

/// A callback may hold the last handle: the close then runs on the durability thread, which
/// cannot join itself, and still syncs what the callback wrote.
#[test]
fn a_callback_may_hold_the_last_handle() {
    let dir = common::dir::tempdir();
    let mut on_thread = 0;
    for i in 0..50 {
        let db = Db::open(dir.path(), opts(SyncMode::None)).unwrap();
        let (tx, rx) = mpsc::channel();
        let t = db.write_with_ticket(batch(&format!("k{i}"))).unwrap();
        t.on_durable(move |r| {
            let last = db;
            // Buffered under `none`: only the close's final sync makes it durable.
            last.put(format!("after{i}"), "x").unwrap();
            let name = std::thread::current().name().map(str::to_string);
            drop(last);
            tx.send((r, name)).unwrap();
        });
        let (r, name) = rx.recv_timeout(HANG).unwrap();
        r.unwrap();
        if name.as_deref() == Some("lsmkv-durability") {
            on_thread += 1;
        }
        // The database closed and its lock is released (once that thread is done).
        let deadline = std::time::Instant::now() + HANG;
        let db = loop {
            match Db::open(dir.path(), opts(SyncMode::None)) {
                Ok(db) => break db,
                Err(Error::Locked { .. }) if std::time::Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(5));
                }
                Err(e) => panic!("reopen: {e}"),
            }
        };
        assert!(db.get(format!("k{i}")).unwrap().is_some());
        assert!(db.get(format!("after{i}")).unwrap().is_some(), "round {i}");
    }
    eprintln!("{on_thread} of 50 callbacks ran on the durability thread");
}

/// A ticket still pending at close resolves with the close's final sync.
#[test]
fn close_resolves_pending_tickets() {
    let dir = common::dir::tempdir();
    let db = Db::open(dir.path(), opts(SyncMode::None)).unwrap();
    let tickets: Vec<_> = (0..20)
        .map(|i| db.write_with_ticket(batch(&format!("k{i}"))).unwrap())
        .collect();
    db.close().unwrap();
    for t in tickets {
        t.wait().unwrap();
        assert!(t.is_durable());
    }
}

/// Writers on `db` record each key once its ticket resolved (through `on_durable` or `wait`);
/// returns what was resolved before the image of `rec` was taken.
fn resolved_before_cut(db: &Db, rec: &PowerLossFs, image: &Path, round: u64) -> Vec<String> {
    let resolved: Arc<Mutex<Vec<String>>> = Arc::default();
    let stop = Arc::new(AtomicBool::new(false));
    let writers: Vec<_> = (0..3u64)
        .map(|t| {
            let (db, resolved, stop) = (db.clone(), resolved.clone(), stop.clone());
            std::thread::spawn(move || {
                let mut i = 0u64;
                while !stop.load(Ordering::Relaxed) && i < 5_000 {
                    let k = format!("r{round}-t{t}-{i:06}");
                    let ticket = db.write_with_ticket(batch(&k)).unwrap();
                    if t == 0 {
                        // Blocking waiter.
                        if ticket.wait().is_ok() {
                            resolved.lock().unwrap().push(k);
                        }
                    } else {
                        let resolved = resolved.clone();
                        ticket.on_durable(move |r| {
                            if r.is_ok() {
                                resolved.lock().unwrap().push(k);
                            }
                        });
                    }
                    i += 1;
                }
            })
        })
        .collect();
    let cut_after = 100 + (round as usize * 97) % 400;
    while resolved.lock().unwrap().len() < cut_after {
        std::thread::yield_now();
    }
    // What resolved first, then the image: a ticket resolved before the cut must be in it.
    let before = resolved.lock().unwrap().clone();
    rec.crash_image(image).unwrap();
    stop.store(true, Ordering::Relaxed);
    for w in writers {
        w.join().unwrap();
    }
    before
}

#[test]
fn no_ticket_resolves_before_its_fsync() {
    let seed = common::rng::seed("durability_ticket", 0x71c4).value();
    for (round, mode) in [SyncMode::None, SyncMode::AsyncBatch, SyncMode::Always]
        .into_iter()
        .enumerate()
    {
        let round = round as u64 + seed % 7;
        let dir = common::dir::tempdir();
        let rec = PowerLossFs::new(default_fs(), dir.path()).unwrap();
        let db = Db::open(dir.path(), opts(mode).with_file_system(rec.clone())).unwrap();
        let image = common::dir::tempdir();
        let resolved = resolved_before_cut(&db, &rec, image.path(), round);
        drop(db);
        drop(rec);
        let opened = Options {
            wal_recovery_mode: lsmkv::WalRecoveryMode::PointInTime,
            ..opts(mode)
        };
        let db = Db::open(image.path(), opened)
            .unwrap_or_else(|e| panic!("{mode:?}: the crash image does not open: {e}"));
        for k in &resolved {
            assert_eq!(
                db.get(k).unwrap().as_deref(),
                Some(value(k).as_slice()),
                "{mode:?}: {k}'s ticket resolved before the power cut but the write is lost"
            );
        }
    }
}

fn wal_sync_rule() -> FaultRule {
    FaultRule {
        path_ends_with: ".wal".into(),
        ..FaultRule::new(FaultOp::Sync, 5)
    }
}

#[test]
fn a_failed_fsync_resolves_tickets_with_the_error() {
    for mode in [SyncMode::None, SyncMode::AsyncBatch] {
        let dir = common::dir::tempdir();
        let fs = FaultFs::new(default_fs());
        let db = Db::open(dir.path(), opts(mode).with_file_system(fs.clone())).unwrap();
        db.write_with_ticket(batch("before"))
            .unwrap()
            .wait()
            .unwrap();
        let guard = fs.inject(wal_sync_rule());
        let t = db.write_with_ticket(batch("doomed")).unwrap();
        let (tx, rx) = mpsc::channel();
        t.clone().on_durable(move |r| tx.send(r).unwrap());
        let err = t.wait().unwrap_err();
        assert!(
            matches!(err, Error::Poisoned { .. } | Error::Io { .. }),
            "{err}"
        );
        assert!(!t.is_durable());
        assert!(rx.recv_timeout(HANG).unwrap().is_err());
        assert!(guard.fired() > 0);
        // A ticket asked for after the failure fails too, or the write is refused.
        match db.write_with_ticket(batch("after")) {
            Ok(t) => assert!(t.wait().is_err()),
            Err(e) => assert!(matches!(e, Error::Poisoned { .. }), "{e}"),
        }
    }
    // Under `always` the fsync is in the write path: the write fails and hands out no ticket.
    let dir = common::dir::tempdir();
    let fs = FaultFs::new(default_fs());
    let db = Db::open(
        dir.path(),
        opts(SyncMode::Always).with_file_system(fs.clone()),
    )
    .unwrap();
    let _guard = fs.inject(wal_sync_rule());
    assert!(db.write_with_ticket(batch("doomed")).is_err());
}
