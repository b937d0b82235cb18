//! Durable-write throughput: `Db::write` under `SyncMode::Always` against `Db::write_with_ticket`
//! under `none` (waiting for each ticket, and pipelined: each writer keeps writing and counts
//! tickets through `on_durable`). Every counted write is durable (its fsync returned).
//!
//! ```text
//! cargo run --release --example ticket_bench -- [--threads 16] [--writes 2000] [--dir /tmp/x]
//! ```

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use lsmkv::{Db, Options, SyncMode, WriteBatch};

#[derive(Clone, Copy, Debug)]
enum Mode {
    /// `Db::write` with `SyncMode::Always`.
    Always,
    /// `write_with_ticket` + `wait` with `SyncMode::None`.
    TicketWait,
    /// `write_with_ticket` + `on_durable` with `SyncMode::None`, no waiting in the writer.
    TicketPipelined,
}

fn run(dir: &std::path::Path, mode: Mode, threads: u64, writes: u64) -> (f64, u64) {
    let sync_mode = match mode {
        Mode::Always => SyncMode::Always,
        Mode::TicketWait | Mode::TicketPipelined => SyncMode::None,
    };
    let path = dir.join(format!("{mode:?}"));
    let _ = std::fs::remove_dir_all(&path);
    let db = Db::open(
        &path,
        Options {
            sync_mode,
            ..Options::default()
        },
    )
    .unwrap();
    let durable = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let workers: Vec<_> = (0..threads)
        .map(|t| {
            let (db, durable) = (db.clone(), durable.clone());
            std::thread::spawn(move || {
                for i in 0..writes {
                    let mut b = WriteBatch::new();
                    b.put(format!("t{t:02}-{i:08}"), [b'v'; 100]);
                    match mode {
                        Mode::Always => {
                            db.write(b).unwrap();
                            durable.fetch_add(1, Ordering::Relaxed);
                        }
                        Mode::TicketWait => {
                            db.write_with_ticket(b).unwrap().wait().unwrap();
                            durable.fetch_add(1, Ordering::Relaxed);
                        }
                        Mode::TicketPipelined => {
                            let d = durable.clone();
                            db.write_with_ticket(b).unwrap().on_durable(move |r| {
                                r.unwrap();
                                d.fetch_add(1, Ordering::Relaxed);
                            });
                        }
                    }
                }
            })
        })
        .collect();
    for w in workers {
        w.join().unwrap();
    }
    while durable.load(Ordering::Relaxed) < threads * writes {
        std::thread::sleep(Duration::from_micros(200));
    }
    let secs = start.elapsed().as_secs_f64();
    let syncs = db.stats().wal_syncs;
    db.close().unwrap();
    let _ = std::fs::remove_dir_all(&path);
    ((threads * writes) as f64 / secs, syncs)
}

fn main() {
    let mut threads = 16u64;
    let mut writes = 2_000u64;
    let mut dir = std::env::temp_dir().join("lsmkv-ticket-bench");
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let v = args.next().unwrap_or_default();
        match a.as_str() {
            "--threads" => threads = v.parse().expect("--threads N"),
            "--writes" => writes = v.parse().expect("--writes N (per thread)"),
            "--dir" => dir = v.into(),
            _ => {
                eprintln!("usage: ticket_bench [--threads N] [--writes N] [--dir DIR]");
                std::process::exit(2);
            }
        }
    }
    std::fs::create_dir_all(&dir).unwrap();
    println!("{threads} threads x {writes} durable writes of 100 bytes");
    for mode in [Mode::Always, Mode::TicketWait, Mode::TicketPipelined] {
        let (rate, syncs) = run(&dir, mode, threads, writes);
        let name = format!("{mode:?}");
        println!("{name:>16}: {rate:>10.0} durable writes/s, {syncs} WAL fsyncs");
    }
}
