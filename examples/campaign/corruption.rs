//! `corruption`: damages each file of a real database directory (WAL segments, SSTables with a
//! range-tombstone block, the manifest, CURRENT, any other file the engine writes) by flipping a
//! bit, zeroing 512 bytes or truncating, at every byte position of small files and at random
//! positions of large ones, then opens a copy and reads everything (forward and backward scans
//! of every keyspace, a point read of every key, `verify`) in a thread with a time limit.
//!
//! Allowed outcomes: an error, or data equal to the state after some prefix of the writes (a
//! torn tail of a log drops its last records; for tables and other files only the full state).
//! Counted failures: a panic, a hang, a wrong answer (data that is no such state).
//!
//! With `--large` the database is large instead (`corruption_large.rs`): SSTables and WAL segments
//! of several MiB, and random trials over every file type, counted per file type.

use std::collections::BTreeMap;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::Duration;

use lsmkv::{Compression, Db, Error, Options, SyncMode, WriteBatch};

use super::Run;
use super::common::dir::tmpfs_tempdir;
use super::common::rng::Rng;

/// (keyspace name, key) -> value.
pub type State = BTreeMap<(String, Vec<u8>), Vec<u8>>;
/// Files up to this size are damaged at every byte position.
const SMALL: usize = 16 << 10;
pub const TRIAL_TIMEOUT: Duration = Duration::from_secs(60);
pub const KINDS: &[&str] = &["flip", "zero512", "truncate"];

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

fn ks_name(side: bool) -> String {
    if side { "side" } else { "default" }.to_string()
}

/// Builds the pristine database: tables (one with range tombstones) and a WAL with more batches.
/// Returns every state the writes went through (the last is the final state).
fn build(dir: &Path) -> lsmkv::Result<Vec<State>> {
    let db = Db::open(dir, opts())?;
    let side = db.keyspace("side")?;
    let mut states = vec![State::new()];
    let mut cur = State::new();
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
            cur.insert((ks_name(s), k), v);
        }
        if i % 17 == 5 {
            let (lo, hi) = (format!("key{:03}", i % 50), format!("key{:03}", i % 50 + 4));
            b.delete_range(lo.as_bytes()..hi.as_bytes());
            cur.retain(|(s, k), _| {
                s != "default" || !(k.as_slice() >= lo.as_bytes() && k.as_slice() < hi.as_bytes())
            });
        }
        db.write(b)?;
        states.push(cur.clone());
        if i == 40 || i == 80 {
            db.flush()?;
        }
    }
    drop(side);
    db.close()?;
    Ok(states)
}

/// Opens `dir` and reads every keyspace: forward scan, backward scan, a point read of every key,
/// then `verify`. Disagreements between the three come back as a state with a marker row.
pub fn read_all(dir: &Path, opts: Options) -> Result<State, Error> {
    let db = Db::open(dir, opts)?;
    let mut fwd = State::new();
    let mut n_bwd = 0;
    for name in db.keyspaces()? {
        let ks = db.keyspace(&name)?;
        for kv in ks.range::<&[u8], _>(..) {
            let (k, v) = kv?;
            fwd.insert((name.clone(), k.to_vec()), v.to_vec());
        }
        for kv in ks.range::<&[u8], _>(..).rev() {
            kv?;
            n_bwd += 1;
        }
    }
    let marker = |what: &str| State::from([((String::new(), what.as_bytes().to_vec()), vec![])]);
    if n_bwd != fwd.len() {
        return Ok(marker("<scans disagree>"));
    }
    for ((name, k), v) in &fwd {
        if db.keyspace(name)?.get(k)?.as_deref() != Some(v.as_slice()) {
            return Ok(marker("<get and scan disagree>"));
        }
    }
    db.verify()?;
    Ok(fwd)
}

pub fn damage(bytes: &mut Vec<u8>, kind: &str, pos: usize) {
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

/// What opening and reading a damaged copy gave.
pub enum Outcome {
    Error,
    Data(State),
    Panic,
    Hang,
    /// The trial could not be set up (a problem of the campaign, not of the engine).
    Setup(String),
}

/// Copies `src` into a fresh tmpfs directory, damages `file` there with `kind` at `pos`, and
/// reads the copy with `opts` in a thread with a time limit.
pub fn attempt(src: &Path, file: &str, (kind, pos): (&str, usize), opts: Options) -> Outcome {
    let tmp = tmpfs_tempdir();
    for e in std::fs::read_dir(src).into_iter().flatten().flatten() {
        if e.file_name() != "LOCK" {
            let _ = std::fs::copy(e.path(), tmp.path().join(e.file_name()));
        }
    }
    let path = tmp.path().join(file);
    let Ok(mut bytes) = std::fs::read(&path) else {
        return Outcome::Setup(format!("cannot read {file}"));
    };
    damage(&mut bytes, kind, pos);
    if std::fs::write(&path, &bytes).is_err() {
        return Outcome::Setup(format!("cannot write {file}"));
    }
    let (tx, rx) = mpsc::channel();
    let dir = tmp.path().to_path_buf();
    std::thread::spawn(move || {
        let r = catch_unwind(AssertUnwindSafe(|| read_all(&dir, opts)));
        let _ = tx.send(r);
    });
    match rx.recv_timeout(TRIAL_TIMEOUT) {
        Err(_) => {
            std::mem::forget(tmp);
            Outcome::Hang
        }
        Ok(Err(_)) => Outcome::Panic,
        Ok(Ok(Err(_))) => Outcome::Error,
        Ok(Ok(Ok(data))) => Outcome::Data(data),
    }
}

/// What one trial did.
pub enum Verdict {
    Error,
    Exact,
    Prefix,
    Wrong(String),
    Panic,
    Hang,
}

/// Small mode: the data must be the final state, or (for a log) one of the states it went through.
fn judge(outcome: Outcome, states: &[State], is_log: bool) -> Verdict {
    match outcome {
        Outcome::Error => Verdict::Error,
        Outcome::Panic => Verdict::Panic,
        Outcome::Hang => Verdict::Hang,
        Outcome::Setup(w) => Verdict::Wrong(w),
        Outcome::Data(data) if states.last() == Some(&data) => Verdict::Exact,
        Outcome::Data(data) if is_log && states.contains(&data) => Verdict::Prefix,
        Outcome::Data(data) => Verdict::Wrong(format!(
            "{} rows, final state has {}",
            data.len(),
            states.last().map_or(0, |s| s.len())
        )),
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

pub fn kind_of(name: &str) -> &'static str {
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

/// Logs are the files whose damage may legitimately roll the data back to an earlier state.
pub fn is_log(file_type: &str) -> bool {
    matches!(file_type, "wal" | "manifest" | "current")
}

/// The non-empty files of `dir` but LOCK, with their sizes, sorted by name.
pub fn list_files(dir: &Path) -> Vec<(String, usize)> {
    let mut files: Vec<(String, usize)> = std::fs::read_dir(dir)
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
    files
}

/// Counts a verdict; keeps a wrong answer's case (up to 200) in `wrong`.
pub fn record(run: &mut Run, case: String, v: Verdict, wrong: &mut Vec<String>) {
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
}

/// Fails the run when any answer was wrong, with the cases as a figure.
pub fn report_wrong(run: &mut Run, wrong: &[String]) {
    if let Some(first) = wrong.first() {
        run.figure("wrong_answer_cases", serde_json::json!(wrong));
        run.fail(format!("{} wrong answers, first: {first}", wrong.len()));
    }
}

pub fn run(run: &mut Run) {
    if run.large {
        return super::corruption_large::run(run);
    }
    let src: PathBuf = run.work_dir("pristine");
    let states = match build(&src) {
        Ok(x) => x,
        Err(e) => return run.fail(format!("building the database: {e}")),
    };
    let files = list_files(&src);
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
    let (mut done, mut wrong) = (0u64, Vec::new());
    plan.reverse();
    while run.budget.more(done) && !run.failed() {
        let (file, kind, pos) = plan.pop().unwrap_or_else(|| {
            // Sweep done: random trials over the large files, or every file if none is large.
            let (name, len) = match large.is_empty() {
                true => &files[r.index(files.len())],
                false => large[r.index(large.len())],
            };
            (name.clone(), KINDS[r.index(3)], r.index(*len))
        });
        let ftype = kind_of(&file);
        let v = judge(
            attempt(&src, &file, (kind, pos), opts()),
            &states,
            is_log(ftype),
        );
        done += 1;
        run.count("trials", 1);
        run.count(&format!("trials_{ftype}"), 1);
        if done <= swept {
            run.count("sweep_trials_done", 1);
        }
        record(run, format!("{file} {kind} at {pos}"), v, &mut wrong);
        if done.is_multiple_of(5000) {
            run.log(format!("{done} trials"));
        }
    }
    report_wrong(run, &wrong);
}
