//! `corruption`: damages each file of a real database directory (WAL segments, SSTables with a
//! range-tombstone block, the manifest, CURRENT, any other file the engine writes) by flipping a
//! bit, zeroing 512 bytes or truncating, at every byte position of small files and at random
//! positions of large ones, then opens a copy and reads everything (forward and backward scans
//! of both keyspaces, a point read of every key, `verify`) in a thread with a time limit.
//!
//! Allowed outcomes: an error, or data equal to the state after some prefix of the writes (a
//! torn tail of a log drops its last records; for tables and other files only the full state).
//! Counted failures: a panic, a hang, a wrong answer (data that is no such state).

use std::collections::BTreeMap;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::Duration;

use lsmkv::{Compression, Db, Error, Options, SyncMode, WriteBatch};

use super::Run;
use super::common::dir::tmpfs_tempdir;
use super::common::rng::Rng;

/// (keyspace is `side`, key) -> value.
type State = BTreeMap<(bool, Vec<u8>), Vec<u8>>;
/// Files up to this size are damaged at every byte position.
const SMALL: usize = 16 << 10;
const TRIAL_TIMEOUT: Duration = Duration::from_secs(60);
const KINDS: &[&str] = &["flip", "zero512", "truncate"];

fn opts() -> Options {
    Options {
        sync_mode: SyncMode::None,
        compression: Compression::Lz4,
        block_size: 256,
        sparse_index_interval: 4,
        block_cache_size_mb: 0,
        ..Options::default()
    }
}

/// Builds the pristine database: tables (one with range tombstones) and a WAL with more batches.
/// Returns every state the writes went through (the last is the final state) and the index of
/// the state the tables hold.
fn build(dir: &Path) -> lsmkv::Result<(Vec<State>, usize)> {
    let db = Db::open(dir, opts())?;
    let side = db.keyspace("side")?;
    let mut states = vec![State::new()];
    let mut cur = State::new();
    let mut flushed = 0;
    for i in 0..120u32 {
        let mut b = WriteBatch::new();
        for j in 0..3u32 {
            let s = (i + j) % 4 == 0;
            let k = format!("key{:03}", (i * 7 + j * 13) % 61).into_bytes();
            let v = format!("value-{i}-{j}-{}", "x".repeat((i % 9) as usize)).into_bytes();
            if s {
                b.put_in(&side, &k, &v)
            } else {
                b.put(&k, &v)
            }
            cur.insert((s, k), v);
        }
        if i % 17 == 5 {
            let (lo, hi) = (format!("key{:03}", i % 50), format!("key{:03}", i % 50 + 4));
            b.delete_range(lo.as_bytes()..hi.as_bytes());
            cur.retain(|(s, k), _| {
                *s || !(k.as_slice() >= lo.as_bytes() && k.as_slice() < hi.as_bytes())
            });
        }
        db.write(b)?;
        states.push(cur.clone());
        if i == 40 || i == 80 {
            db.flush()?;
            flushed = states.len() - 1;
        }
    }
    drop(side);
    db.close()?;
    Ok((states, flushed))
}

fn read_all(dir: &Path) -> Result<State, Error> {
    let db = Db::open(dir, opts())?;
    let side = db.keyspace("side")?;
    let mut fwd = State::new();
    for (s, it) in [
        (false, db.range::<&[u8], _>(..)),
        (true, side.range::<&[u8], _>(..)),
    ] {
        for kv in it {
            let (k, v) = kv?;
            fwd.insert((s, k.to_vec()), v.to_vec());
        }
    }
    let mut n_bwd = 0;
    for it in [
        db.range::<&[u8], _>(..).rev(),
        side.range::<&[u8], _>(..).rev(),
    ] {
        for kv in it {
            kv?;
            n_bwd += 1;
        }
    }
    if n_bwd != fwd.len() {
        return Ok(State::from([(
            (false, b"<scans disagree>".to_vec()),
            vec![],
        )]));
    }
    for (s, k) in fwd.keys() {
        let got = if *s { side.get(k)? } else { db.get(k)? };
        if got.as_deref() != fwd.get(&(*s, k.clone())).map(Vec::as_slice) {
            return Ok(State::from([(
                (false, b"<get and scan disagree>".to_vec()),
                vec![],
            )]));
        }
    }
    db.verify()?;
    Ok(fwd)
}

fn damage(bytes: &mut Vec<u8>, kind: &str, pos: usize) {
    match kind {
        "flip" => {
            if let Some(b) = bytes.get_mut(pos) {
                *b ^= 1 << (pos % 8);
            }
        }
        "zero512" => {
            let end = (pos + 512).min(bytes.len());
            bytes[pos.min(end)..end].fill(0);
        }
        _ => bytes.truncate(pos),
    }
}

/// What one trial did.
enum Verdict {
    Error,
    Exact,
    Prefix,
    Wrong(String),
    Panic,
    Hang,
}

fn trial(
    src: &Path,
    file: &str,
    kind: &str,
    pos: usize,
    states: &[State],
    is_log: bool,
) -> Verdict {
    let tmp = tmpfs_tempdir();
    for e in std::fs::read_dir(src).into_iter().flatten().flatten() {
        if e.file_name() != "LOCK" {
            let _ = std::fs::copy(e.path(), tmp.path().join(e.file_name()));
        }
    }
    let path = tmp.path().join(file);
    let Ok(mut bytes) = std::fs::read(&path) else {
        return Verdict::Wrong(format!("cannot read {file}"));
    };
    damage(&mut bytes, kind, pos);
    if std::fs::write(&path, &bytes).is_err() {
        return Verdict::Wrong(format!("cannot write {file}"));
    }
    let (tx, rx) = mpsc::channel();
    let dir = tmp.path().to_path_buf();
    std::thread::spawn(move || {
        let r = catch_unwind(AssertUnwindSafe(|| read_all(&dir)));
        let _ = tx.send(r);
    });
    match rx.recv_timeout(TRIAL_TIMEOUT) {
        Err(_) => {
            std::mem::forget(tmp);
            Verdict::Hang
        }
        Ok(Err(_)) => Verdict::Panic,
        Ok(Ok(Err(_))) => Verdict::Error,
        Ok(Ok(Ok(data))) => {
            if states.last() == Some(&data) {
                Verdict::Exact
            } else if is_log && states.contains(&data) {
                Verdict::Prefix
            } else {
                Verdict::Wrong(format!(
                    "{} rows, final state has {}",
                    data.len(),
                    states.last().map_or(0, |s| s.len())
                ))
            }
        }
    }
}

/// The trials of the sweep: every (kind, position) of each small file, interleaved across
/// files so that a short run reaches every file.
fn sweep(files: &[(String, usize)]) -> Vec<(String, &'static str, usize)> {
    let lists: Vec<Vec<(String, &'static str, usize)>> = files
        .iter()
        .filter(|(_, len)| *len <= SMALL)
        .map(|(name, len)| {
            (0..*len)
                .flat_map(|p| KINDS.iter().map(move |k| (name.clone(), *k, p)))
                .collect()
        })
        .collect();
    let longest = lists.iter().map(Vec::len).max().unwrap_or(0);
    (0..longest)
        .flat_map(|i| lists.iter().filter_map(move |l| l.get(i).cloned()))
        .collect()
}

fn kind_of(name: &str) -> &'static str {
    if name.ends_with(".wal") {
        "wal"
    } else if name.ends_with(".sst") {
        "sst"
    } else if name.starts_with("MANIFEST") {
        "manifest"
    } else if name == "CURRENT" {
        "current"
    } else {
        "other"
    }
}

pub fn run(run: &mut Run) {
    let src: PathBuf = run.work_dir("pristine");
    let (states, _flushed) = match build(&src) {
        Ok(x) => x,
        Err(e) => return run.fail(format!("building the database: {e}")),
    };
    let mut files: Vec<(String, usize)> = std::fs::read_dir(&src)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().into_string().ok()?;
            let len = e.metadata().ok()?.len() as usize;
            (name != "LOCK" && len > 0).then_some((name, len))
        })
        .collect();
    files.sort();
    run.log(format!("files: {files:?}"));
    run.figure("files", serde_json::json!(files));
    for k in ["panics", "hangs", "wrong_answers", "trials"] {
        run.set(k, 0);
    }
    let mut plan = sweep(&files);
    let swept = plan.len() as u64;
    run.set("sweep_trials_planned", swept);
    let large: Vec<&(String, usize)> = files.iter().filter(|(_, l)| *l > SMALL).collect();
    let mut r = Rng::new(run.seed);
    let mut done = 0u64;
    let mut wrong: Vec<String> = Vec::new();
    plan.reverse();
    while run.budget.more(done) && !run.failed() {
        let (file, kind, pos) = match plan.pop() {
            Some(t) => t,
            None if large.is_empty() => {
                // Sweep done and no large file: random trials over every file.
                let (name, len) = &files[r.index(files.len())];
                (name.clone(), KINDS[r.index(3)], r.index(*len))
            }
            None => {
                let (name, len) = large[r.index(large.len())];
                (name.clone(), KINDS[r.index(3)], r.index(*len))
            }
        };
        let ftype = kind_of(&file);
        let is_log = matches!(ftype, "wal" | "manifest" | "current");
        let v = trial(&src, &file, kind, pos, &states, is_log);
        done += 1;
        run.count("trials", 1);
        run.count(&format!("trials_{ftype}"), 1);
        if done <= swept {
            run.count("sweep_trials_done", 1);
        }
        let case = format!("{file} {kind} at {pos}");
        match v {
            Verdict::Error => run.count("detected_errors", 1),
            Verdict::Exact => run.count("exact_data", 1),
            Verdict::Prefix => run.count("torn_tail_prefix", 1),
            Verdict::Wrong(w) => {
                // Go on: the count, and every case (up to a limit), is the evidence.
                run.count("wrong_answers", 1);
                if wrong.len() < 200 {
                    wrong.push(format!("{case}: {w}"));
                }
            }
            Verdict::Panic => {
                run.count("panics", 1);
                run.fail(format!("{case}: panic"));
            }
            Verdict::Hang => {
                run.count("hangs", 1);
                run.fail(format!("{case}: no answer in {TRIAL_TIMEOUT:?}"));
            }
        }
        if done.is_multiple_of(5000) {
            run.log(format!("{done} trials"));
        }
    }
    if !wrong.is_empty() {
        run.figure("wrong_answer_cases", serde_json::json!(wrong));
        run.fail(format!(
            "{} wrong answers, first: {}",
            wrong.len(),
            wrong[0]
        ));
    }
}
