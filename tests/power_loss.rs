//! Simulated power loss: while writers commit with `SyncMode::Always` (and flushes and
//! compactions run), the image a power cut would leave is taken at a random moment: each file as
//! of its last fsync, each directory as of its last directory fsync. The database opened from
//! that image holds every write acknowledged before the cut.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use lsmkv::fs::{PowerLossFs, default_fs};
use lsmkv::{Db, Options, SyncMode};

fn opts() -> Options {
    Options {
        sync_mode: SyncMode::Always,
        memtable_max_size: 16 << 10,
        target_file_size: 16 << 10,
        level_base_size: 64 << 10,
        l0_compaction_trigger: 2,
        max_levels: 4,
        ..Options::default()
    }
}

fn value(k: &str) -> Vec<u8> {
    k.as_bytes().iter().copied().cycle().take(80).collect()
}

#[test]
fn power_cut_keeps_every_acknowledged_write() {
    let seed: u64 = std::env::var("LSMKV_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x70_3e4c);
    eprintln!("power_loss: LSMKV_SEED={seed}");
    for round in 0..4u64 {
        let dir = tempfile::tempdir().unwrap();
        let rec = PowerLossFs::new(default_fs(), dir.path()).unwrap();
        let db = Db::open(dir.path(), opts().with_file_system(rec.clone())).unwrap();
        let acked: Arc<Mutex<Vec<String>>> = Arc::default();
        let stop = Arc::new(AtomicBool::new(false));
        let cut_after = 200 + ((seed.wrapping_mul(round + 1) >> 7) % 600) as usize;
        let writers: Vec<_> = (0..3)
            .map(|t| {
                let (db, acked, stop) = (db.clone(), acked.clone(), stop.clone());
                std::thread::spawn(move || {
                    let mut i = 0u64;
                    while !stop.load(Ordering::Relaxed) && i < 20_000 {
                        let k = format!("r{round}-t{t}-{i:06}");
                        db.put(&k, value(&k)).unwrap();
                        acked.lock().unwrap().push(k);
                        i += 1;
                    }
                })
            })
            .collect();
        // Wait for enough acknowledgements, then cut the power: first note what was
        // acknowledged, then take the image (a later ack may or may not be in it).
        while acked.lock().unwrap().len() < cut_after {
            std::thread::yield_now();
        }
        let before_cut = acked.lock().unwrap().clone();
        let image = tempfile::tempdir().unwrap();
        rec.crash_image(image.path()).unwrap();
        stop.store(true, Ordering::Relaxed);
        for w in writers {
            w.join().unwrap();
        }
        drop(db);
        drop(rec);

        let db = Db::open(image.path(), opts())
            .unwrap_or_else(|e| panic!("round {round}: the crash image does not open: {e}"));
        for k in &before_cut {
            assert_eq!(
                db.get(k).unwrap().as_deref(),
                Some(value(k).as_slice()),
                "round {round}: acknowledged {k} lost in the power cut"
            );
        }
        db.verify().unwrap();
    }
}
