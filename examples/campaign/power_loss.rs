//! `power-loss`: the recorder (`PowerLossFs`) takes the image a power cut would leave at random
//! moments while writers commit with `SyncMode::Always` to two keyspaces (single puts and
//! batches) and a maintenance thread flushes, compacts and checkpoints. Each image (a crash
//! state) must open, hold every write acknowledged before the cut and verify; each finished
//! checkpoint must open and verify too. Rounds rotate the compaction strategy.

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use lsmkv::fs::{PowerLossFs, default_fs};
use lsmkv::{CompactionStrategy, Db, Options, SyncMode, WriteBatch};

use super::Run;
use super::common::dir::tmpfs_tempdir;
use super::common::rng::Rng;

const STATES_PER_ROUND: u64 = 25;

fn opts(round: u64) -> Options {
    let strategies = [
        CompactionStrategy::Leveled,
        CompactionStrategy::Tiered,
        CompactionStrategy::LazyLeveling,
    ];
    Options {
        sync_mode: SyncMode::Always,
        memtable_max_size: 8 << 10,
        target_file_size: 8 << 10,
        level_base_size: 32 << 10,
        l0_compaction_trigger: 2,
        max_levels: 4,
        block_cache_size_mb: 1,
        compaction_strategy: strategies[(round % 3) as usize],
        ..Options::default()
    }
}

fn value(k: &str) -> Vec<u8> {
    k.as_bytes().iter().copied().cycle().take(60).collect()
}

/// (keyspace is `side`, key) of every acknowledged write, in acknowledgement order.
type Acked = Arc<Mutex<Vec<(bool, String)>>>;

fn writer(db: &Db, t: u64, seed: u64, acked: &Acked, stop: &AtomicBool) -> Result<(), String> {
    let side = db.keyspace("side").map_err(|e| e.to_string())?;
    let mut r = Rng::salted(seed, t);
    let mut i = 0u64;
    while !stop.load(Ordering::Relaxed) && i < 5_000 {
        let n = if r.one_in(4) { 3 } else { 1 };
        let keys: Vec<(bool, String)> = (0..n)
            .map(|j| (r.one_in(2), format!("t{t}-{i:05}-{j}")))
            .collect();
        let res = if n == 1 {
            let (s, k) = &keys[0];
            if *s {
                side.put(k, value(k))
            } else {
                db.put(k, value(k))
            }
        } else {
            let mut b = WriteBatch::new();
            for (s, k) in &keys {
                if *s {
                    b.put_in(&side, k, value(k))
                } else {
                    b.put(k, value(k))
                }
            }
            db.write(b)
        };
        res.map_err(|e| format!("write: {e}"))?;
        acked.lock().map_err(|_| "lock")?.extend(keys);
        i += 1;
    }
    Ok(())
}

/// Flushes, compactions and checkpoints (into `ckpt_root`) until `stop`; returns checkpoints.
fn maintenance(
    db: &Db,
    seed: u64,
    ckpt_root: &Path,
    stop: &AtomicBool,
) -> Result<Vec<std::path::PathBuf>, String> {
    let mut r = Rng::salted(seed, 99);
    let mut ckpts = Vec::new();
    while !stop.load(Ordering::Relaxed) {
        std::thread::sleep(Duration::from_millis(r.below(15)));
        let res = match r.below(3) {
            0 => db.flush(),
            1 => db.compact(),
            _ => {
                let d = ckpt_root.join(format!("ckpt-{}", ckpts.len()));
                let res = db.checkpoint(&d);
                ckpts.push(d);
                res
            }
        };
        res.map_err(|e| format!("maintenance: {e}"))?;
    }
    Ok(ckpts)
}

/// Opens `dir` and checks every key in `acked`, then `verify`.
fn check_image(dir: &Path, o: &Options, acked: &[(bool, String)]) -> Result<(), String> {
    let db = Db::open(dir, o.clone()).map_err(|e| format!("does not open: {e}"))?;
    let side = db
        .keyspace("side")
        .map_err(|e| format!("keyspace side: {e}"))?;
    for (s, k) in acked {
        let got = if *s { side.get(k) } else { db.get(k) }.map_err(|e| format!("get {k}: {e}"))?;
        if got.as_deref() != Some(value(k).as_slice()) {
            return Err(format!("acknowledged write {k} (side: {s}) lost: {got:?}"));
        }
    }
    db.verify().map_err(|e| format!("verify: {e}"))?;
    db.close().map_err(|e| format!("close: {e}"))
}

fn round(run: &mut Run, n: u64, seed: u64) -> Result<(), String> {
    let o = opts(n);
    let dir = tmpfs_tempdir();
    let work = tmpfs_tempdir();
    let rec = PowerLossFs::new(default_fs(), dir.path()).map_err(|e| e.to_string())?;
    let db =
        Db::open(dir.path(), o.clone().with_file_system(rec.clone())).map_err(|e| e.to_string())?;
    db.keyspace("side").map_err(|e| e.to_string())?;
    let acked: Acked = Arc::default();
    let stop = Arc::new(AtomicBool::new(false));
    let writers: Vec<_> = (0..2)
        .map(|t| {
            let (db, acked, stop) = (db.clone(), acked.clone(), stop.clone());
            std::thread::spawn(move || writer(&db, t, seed, &acked, &stop))
        })
        .collect();
    let maint = {
        let (db, stop, root) = (db.clone(), stop.clone(), work.path().to_path_buf());
        std::thread::spawn(move || maintenance(&db, seed, &root, &stop))
    };
    let mut r = Rng::salted(seed, 7);
    let mut images = Vec::new();
    for i in 0..STATES_PER_ROUND {
        std::thread::sleep(Duration::from_millis(1 + r.below(25)));
        let before = acked.lock().map_err(|_| "lock")?.len();
        let img = work.path().join(format!("image-{i}"));
        std::fs::create_dir_all(&img).map_err(|e| e.to_string())?;
        rec.crash_image(&img)
            .map_err(|e| format!("crash image: {e}"))?;
        images.push((img, before));
    }
    stop.store(true, Ordering::Relaxed);
    for w in writers {
        w.join().map_err(|_| "writer panicked")??;
    }
    let ckpts = maint.join().map_err(|_| "maintenance panicked")??;
    let all = acked.lock().map_err(|_| "lock")?.clone();
    drop(db);
    for (img, before) in &images {
        let res = check_image(img, &o, &all[..*before]);
        run.count("crash_states", 1);
        if let Err(e) = res {
            let keep = run.out.join(format!(
                "failed-round{n}-{}",
                img.display().to_string().replace('/', "_")
            ));
            copy_dir(img, &keep);
            return Err(format!(
                "round {n} seed {seed}: state {} ({} acked): {e}; image kept in {}",
                img.display(),
                before,
                keep.display()
            ));
        }
        run.count("acked_writes_checked", *before as u64);
    }
    for c in &ckpts {
        if c.exists() {
            check_image(c, &o, &[])
                .map_err(|e| format!("round {n} seed {seed}: checkpoint {}: {e}", c.display()))?;
            run.count("checkpoints_verified", 1);
        }
    }
    Ok(())
}

fn copy_dir(from: &Path, to: &Path) {
    let _ = std::fs::create_dir_all(to);
    for e in std::fs::read_dir(from).into_iter().flatten().flatten() {
        let _ = std::fs::copy(e.path(), to.join(e.file_name()));
    }
}

pub fn run(run: &mut Run) {
    for k in ["crash_states", "acked_writes_lost", "images_not_opening"] {
        run.set(k, 0);
    }
    let mut rounds = 0u64;
    while run.budget.more(rounds) {
        let seed = run.seed.wrapping_add(rounds);
        if let Err(e) = round(run, rounds, seed) {
            if e.contains("does not open") {
                run.count("images_not_opening", 1);
            } else if e.contains("lost") {
                run.count("acked_writes_lost", 1);
            }
            run.fail(e);
            break;
        }
        rounds += 1;
        if rounds.is_multiple_of(20) {
            run.log(format!("{rounds} rounds"));
        }
    }
    run.set("rounds", rounds);
}
