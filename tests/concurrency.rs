//! Concurrency: 4 writers on disjoint keys and 2 readers while flushes happen. A write that
//! returned is visible to every later read in any thread; afterwards (and after reopen) every key is
//! present. `Db` is `Send + Sync + Clone`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use common::{dir, opts, rng};
use lsmkv::{Db, Options, WriteBatch};

const _: () = {
    const fn assert_shareable<T: Send + Sync + Clone + 'static>() {}
    assert_shareable::<Db>();
};

const WRITERS: usize = 4;
const READERS: usize = 2;
const PER_WRITER: u64 = 2000;

fn options() -> Options {
    opts::small(16 << 10)
}

fn key(w: usize, i: u64) -> String {
    format!("w{w}-{i:06}")
}

fn value(w: usize, i: u64) -> Vec<u8> {
    format!("value-{w}-{i}-").repeat(4).into_bytes()
}

/// Key `i` of writer `w` reads back its value.
fn assert_written(db: &Db, w: usize, i: u64, ctx: &str) {
    let got = db.get(key(w, i)).unwrap();
    assert_eq!(
        got.as_deref(),
        Some(value(w, i).as_slice()),
        "{ctx}: {}",
        key(w, i)
    );
}

#[test]
fn writers_and_readers_during_flushes() {
    let seed = rng::seed("concurrency", 0x1234_5678);
    let dir = dir::tempdir();
    let db = Db::open(dir.path(), options()).unwrap();
    // progress[w] = number of keys writer w has had acknowledged (0..progress are readable).
    let progress: Vec<AtomicU64> = (0..WRITERS).map(|_| AtomicU64::new(0)).collect();
    let done = AtomicBool::new(false);

    std::thread::scope(|s| {
        let mut writers = Vec::new();
        for w in 0..WRITERS {
            let (db, progress) = (db.clone(), &progress);
            writers.push(s.spawn(move || {
                let mut i = 0;
                while i < PER_WRITER {
                    if i % 10 == 0 && i + 3 <= PER_WRITER {
                        let mut b = WriteBatch::new();
                        for j in i..i + 3 {
                            b.put(key(w, j), value(w, j));
                        }
                        db.write(b).unwrap();
                        i += 3;
                    } else {
                        db.put(key(w, i), value(w, i)).unwrap();
                        i += 1;
                    }
                    progress[w].store(i, Ordering::Release);
                }
            }));
        }
        for r in 0..READERS {
            let (db, progress, done) = (db.clone(), &progress, &done);
            let mut rng = seed.rng(r as u64);
            s.spawn(move || {
                let mut reads = 0u64;
                while !done.load(Ordering::Acquire) || reads < 100 {
                    let w = rng.index(WRITERS);
                    let n = progress[w].load(Ordering::Acquire);
                    if n == 0 {
                        std::thread::yield_now();
                        continue;
                    }
                    let i = rng.below(n);
                    assert_written(
                        &db,
                        w,
                        i,
                        &format!("reader {r}: acknowledged key not visible"),
                    );
                    // A key nobody wrote yet is absent.
                    assert_eq!(db.get(format!("w{w}-zzz")).unwrap(), None);
                    reads += 1;
                }
            });
        }
        {
            // Explicit flushes racing the automatic ones.
            let (db, done) = (db.clone(), &done);
            s.spawn(move || {
                for _ in 0..5 {
                    db.flush().unwrap();
                    if done.load(Ordering::Acquire) {
                        break;
                    }
                    std::thread::yield_now();
                }
            });
        }
        for h in writers {
            h.join().unwrap();
        }
        done.store(true, Ordering::Release);
    });

    let check = |db: &Db, when: &str| {
        for w in 0..WRITERS {
            for i in 0..PER_WRITER {
                assert_written(db, w, i, when);
            }
        }
    };
    check(&db, "after writers finished");
    let stats = db.stats();
    assert!(stats.flushes > 0, "a 16 KiB memtable must have flushed");
    db.close().unwrap();
    let db = Db::open(dir.path(), options()).unwrap();
    check(&db, "after reopen");
}

#[test]
fn clones_are_one_database_across_threads() {
    let dir = dir::tempdir();
    let db = Db::open(dir.path(), options()).unwrap();
    let handles: Vec<_> = (0..4u8)
        .map(|t| {
            let db = db.clone();
            std::thread::spawn(move || {
                db.put([t], [t; 10]).unwrap();
                db
            })
        })
        .collect();
    let clones: Vec<Db> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    for c in &clones {
        for t in 0..4u8 {
            assert_eq!(c.get([t]).unwrap().as_deref(), Some(&[t; 10][..]));
        }
    }
}
