//! `io-error`: SQLite's I/O-error loop over seeded workloads. A round draws a workload (puts,
//! deletes, batches, puts in a second keyspace, flushes, compactions, a checkpoint), runs it
//! once under a counting `FaultFs` to learn its M file operations, then runs it again for every
//! N in 1..=M+3 and each error kind (EIO, ENOSPC, a short write then ENOSPC) with the N-th
//! operation failing. After the first error every write must fail (Io or Poisoned) while reads
//! of acknowledged writes go on; a reopen on the plain file system must hold every acknowledged
//! write, nothing never attempted, and verify.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use lsmkv::fs::{FaultFs, FileSystem, default_fs};
use lsmkv::{Db, Error, Options, WriteBatch};

use super::Run;
use super::common::dir::tmpfs_tempdir;
use super::common::rng::Rng;

const EIO: i32 = 5;
const ENOSPC: i32 = 28;
/// (name, errno, short write).
const KINDS: &[(&str, i32, bool)] = &[
    ("eio", EIO, false),
    ("enospc", ENOSPC, false),
    ("short_write", ENOSPC, true),
];

fn opts() -> Options {
    super::common::opts::deterministic_always()
}

#[derive(Debug, Clone)]
enum Step {
    Put(bool, String, String),
    Delete(bool, String),
    Batch(Vec<(bool, String, String)>),
    Flush,
    Compact,
    Checkpoint,
}

/// A key of the workload: (in keyspace `side`, name).
type K = (bool, String);

fn workload(seed: u64) -> Vec<Step> {
    let mut r = Rng::new(seed);
    let key = |r: &mut Rng| (r.one_in(3), format!("k{}", r.below(12)));
    (0..24 + r.below(16))
        .map(|i| match r.below(12) {
            0..=4 => {
                let (s, k) = key(&mut r);
                Step::Put(s, k, format!("v{i}"))
            }
            5 => {
                let (s, k) = key(&mut r);
                Step::Delete(s, k)
            }
            6..=7 => Step::Batch(
                (0..2 + r.below(3))
                    .map(|j| {
                        let (s, k) = key(&mut r);
                        (s, k, format!("v{i}.{j}"))
                    })
                    .collect(),
            ),
            8..=9 => Step::Flush,
            10 => Step::Compact,
            _ => Step::Checkpoint,
        })
        .collect()
}

#[derive(Default)]
struct Outcome {
    /// The state every acknowledged write leaves (None: deleted).
    acked: BTreeMap<K, Option<String>>,
    /// Keys whose write failed: absent/old, or at the value that failed.
    failed: BTreeMap<K, Option<String>>,
    error: Option<String>,
    /// Checkpoints that failed (the database stays writable).
    checkpoint_errors: u64,
}

fn is_io(e: &Error) -> bool {
    matches!(e, Error::Io { .. } | Error::Poisoned { .. })
}

fn get(db: &Db, (s, k): &K) -> Result<Option<Vec<u8>>, String> {
    let v = if *s {
        db.keyspace("side").and_then(|ks| ks.get(k))
    } else {
        db.get(k)
    };
    v.map(|v| v.map(|v| v.to_vec()))
        .map_err(|e| format!("get {k}: {e}"))
}

/// After the first error: every write fails, reads of acknowledged writes go on.
fn check_read_only(db: &Db, out: &Outcome) -> Result<(), String> {
    match db.put("never", "x") {
        Err(e) if is_io(&e) => {}
        other => return Err(format!("a put after the failure: {other:?}")),
    }
    let mut b = WriteBatch::new();
    b.put("never", "y");
    match db.write(b) {
        Err(e) if is_io(&e) => {}
        other => return Err(format!("a batch after the failure: {other:?}")),
    }
    if db.stats().poisoned.is_none() {
        return Err("stats().poisoned is None after the failure".into());
    }
    for (k, v) in &out.acked {
        let got = get(db, k)?;
        if got.as_deref() != v.as_deref().map(str::as_bytes) {
            return Err(format!(
                "read of {k:?} after the failure: {got:?}, want {v:?}"
            ));
        }
    }
    Ok(())
}

fn step(db: &Db, st: &Step, ckpt: &Path) -> (lsmkv::Result<()>, Vec<(K, Option<String>)>) {
    let side = || db.keyspace("side");
    match st {
        Step::Put(s, k, v) => {
            let r = if *s {
                side().and_then(|ks| ks.put(k, v))
            } else {
                db.put(k, v)
            };
            (r, vec![((*s, k.clone()), Some(v.clone()))])
        }
        Step::Delete(s, k) => {
            let r = if *s {
                side().and_then(|ks| ks.delete(k))
            } else {
                db.delete(k)
            };
            (r, vec![((*s, k.clone()), None)])
        }
        Step::Batch(kvs) => {
            let r = side().and_then(|ks| {
                let mut b = WriteBatch::new();
                for (s, k, v) in kvs {
                    if *s { b.put_in(&ks, k, v) } else { b.put(k, v) }
                }
                db.write(b)
            });
            (
                r,
                kvs.iter()
                    .map(|(s, k, v)| ((*s, k.clone()), Some(v.clone())))
                    .collect(),
            )
        }
        Step::Flush => (db.flush(), vec![]),
        Step::Compact => (db.compact(), vec![]),
        Step::Checkpoint => {
            let _ = std::fs::remove_dir_all(ckpt);
            (db.checkpoint(ckpt), vec![])
        }
    }
}

/// Runs `steps` on `fs`; stops at the first error.
fn run_once(dir: &Path, fs: Arc<dyn FileSystem>, steps: &[Step]) -> Result<Outcome, String> {
    let mut out = Outcome::default();
    let db = match Db::open(dir, opts().with_file_system(fs))
        .and_then(|db| db.keyspace("side").map(|_| db))
    {
        Ok(db) => db,
        Err(e) if is_io(&e) => {
            out.error = Some(e.to_string());
            return Ok(out);
        }
        Err(e) => return Err(format!("open: {e:?}")),
    };
    let ckpt = dir.with_extension("ckpt");
    for st in steps {
        let (r, writes) = step(&db, st, &ckpt);
        match r {
            Ok(()) => out.acked.extend(writes),
            // A checkpoint that fails leaves the database as it was: writable.
            Err(e)
                if is_io(&e) && matches!(st, Step::Checkpoint) && db.stats().poisoned.is_none() =>
            {
                out.checkpoint_errors += 1;
            }
            Err(e) if is_io(&e) => {
                out.failed.extend(writes);
                out.error = Some(e.to_string());
                check_read_only(&db, &out).map_err(|m| format!("{st:?} failed with {e}: {m}"))?;
                return Ok(out);
            }
            Err(e) => return Err(format!("{st:?}: not an I/O error: {e:?}")),
        }
    }
    if let Err(e) = db.close() {
        if !is_io(&e) {
            return Err(format!("close: {e:?}"));
        }
        out.error = Some(e.to_string());
    }
    Ok(out)
}

/// Reopens on the plain file system: every acknowledged write, nothing never attempted.
fn check_reopen(dir: &Path, out: &Outcome, keys: &[K]) -> Result<(), String> {
    let db = Db::open(dir, opts()).map_err(|e| format!("reopen after {:?}: {e}", out.error))?;
    for k in keys {
        let got = get(&db, k)?;
        let want = out.acked.get(k).cloned().flatten();
        let ok = got.as_deref() == want.as_deref().map(str::as_bytes)
            || out
                .failed
                .get(k)
                .is_some_and(|f| got.as_deref() == f.as_deref().map(str::as_bytes));
        if !ok {
            return Err(format!(
                "after reopen {k:?} = {got:?}, acknowledged {want:?} (first error {:?})",
                out.error
            ));
        }
    }
    if get(&db, &(false, "never".into()))?.is_some() {
        return Err("a write never acknowledged (after the failure) is present".into());
    }
    db.verify()
        .map_err(|e| format!("verify after reopen: {e}"))?;
    db.close().map_err(|e| format!("close after reopen: {e}"))
}

fn keys_of(steps: &[Step]) -> Vec<K> {
    let mut keys: Vec<K> = steps
        .iter()
        .flat_map(|s| match s {
            Step::Put(s, k, _) | Step::Delete(s, k) => vec![(*s, k.clone())],
            Step::Batch(kvs) => kvs.iter().map(|(s, k, _)| (*s, k.clone())).collect(),
            _ => vec![],
        })
        .collect();
    keys.sort();
    keys.dedup();
    keys
}

fn round(run: &mut Run, seed: u64) -> Result<(), String> {
    let steps = workload(seed);
    let keys = keys_of(&steps);
    let d = tmpfs_tempdir();
    let counter = FaultFs::new(default_fs());
    let out = run_once(&d.path().join("db"), counter.clone(), &steps)?;
    if let Some(e) = out.error {
        return Err(format!("fault-free run failed: {e}"));
    }
    let m = counter.ops();
    run.count("file_operations_in_workloads", m);
    for n in 1..=m + 3 {
        // A time budget may end a workload part way (the counts say how far it got).
        if !run.budget.more(0) {
            run.log(format!("workload seed {seed}: budget over at op {n}/{m}"));
            break;
        }
        for &(kind, errno, short) in KINDS {
            let d = tmpfs_tempdir();
            let dir = d.path().join("db");
            let fs = FaultFs::new(default_fs());
            let guard = if short {
                fs.fail_nth_short(n, errno)
            } else {
                fs.fail_nth(n, errno)
            };
            let res = run_once(&dir, fs.clone(), &steps).and_then(|out| {
                let fired = guard.fired() > 0;
                drop(guard);
                if (out.error.is_some() || out.checkpoint_errors > 0) && !fired {
                    return Err("an error without an injected fault".into());
                }
                check_reopen(&dir, &out, &keys)
                    .map(|()| (out.error.is_some(), out.checkpoint_errors))
            });
            run.count("runs", 1);
            run.count(&format!("runs_{kind}"), 1);
            match res {
                Ok((true, _)) => run.count("errors_reached_caller", 1),
                Ok((false, c)) if c > 0 => run.count("failed_checkpoints_db_writable", 1),
                Ok((false, _)) => run.count("errors_absorbed", 1),
                Err(e) => {
                    let keep = run.out.join(format!("failed-seed{seed}-op{n}-{kind}"));
                    let _ = std::fs::create_dir_all(&keep);
                    for f in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
                        let _ = std::fs::copy(f.path(), keep.join(f.file_name()));
                    }
                    return Err(format!(
                        "workload seed {seed}, op {n}/{m}, {kind}: {e} (database kept in {})",
                        keep.display()
                    ));
                }
            }
        }
    }
    Ok(())
}

pub fn run(run: &mut Run) {
    run.set("acked_writes_lost", 0);
    let mut rounds = 0u64;
    while run.budget.more(rounds) {
        let seed = run.seed.wrapping_add(rounds);
        if let Err(e) = round(run, seed) {
            if e.contains("acknowledged") {
                run.count("acked_writes_lost", 1);
            }
            run.fail(e);
            break;
        }
        rounds += 1;
        run.log(format!(
            "workload {rounds} (seed {seed}) done: every N, every kind"
        ));
    }
    run.set("workloads", rounds);
}
