//! `corruption --large`: the corruption campaign on a large database: SSTables and WAL segments
//! of several MiB (hundreds of blocks, range tombstones, three keyspaces), an older WAL segment
//! that ends with its seal and the newest without, damaged by random trials (flip a bit, zero
//! 512 bytes, truncate; for WAL segments also a cut at a record boundary) over every file type.
//! `summary.json` counts the trials per file type (`trials_wal`, `trials_sst`, ...) and per file
//! type and kind (`trials_wal_cut_record`, ...).
//!
//! The writes are a pure function of the batch number, and batch `i` writes the marker key
//! `seq/{i:08}` (never range-deleted), so the state a damaged log rolled back to is recomputed
//! from the markers present: allowed outcomes are an error, the final state, or (for a log) the
//! exact state after the prefix of batches whose markers are present.

use std::path::Path;

use lsmkv::{Compression, Db, Options, SyncMode, WriteBatch};

use super::Run;
use super::common::rng::Rng;
use super::corruption::{
    KINDS, Outcome, State, Verdict, attempt, is_log, kind_of, list_files, record, report_wrong,
};

const KEYSPACES: [&str; 3] = ["default", "side", "third"];
/// Batches written before the tables are flushed, and after (kept in the WAL).
const TABLE_BATCHES: u32 = 1600;
const WAL_BATCHES: u32 = 1000;
/// Distinct data keys per keyspace (overwrites keep the state bounded).
const KEYS: u64 = 3000;

fn opts() -> Options {
    Options {
        sync_mode: SyncMode::None,
        compression: Compression::Lz4,
        memtable_max_size: 64 << 20,
        max_wal_size: 1 << 30,
        target_file_size: 4 << 20,
        block_cache_size_mb: 0,
        ..Options::default()
    }
}

/// One write of a batch.
enum Op {
    Put(usize, Vec<u8>, Vec<u8>),
    Delete(usize, Vec<u8>),
    DeleteRange(usize, Vec<u8>, Vec<u8>),
}

/// The writes of batch `i`: its marker, eight puts of 200..1400 bytes spread over the
/// keyspaces, a delete now and then, and a range delete every 37 batches.
fn batch_ops(i: u32) -> Vec<Op> {
    let mut r = Rng::salted(0x5eed_1a26e, u64::from(i));
    let mut ops = vec![Op::Put(
        0,
        format!("seq/{i:08}").into_bytes(),
        i.to_le_bytes().to_vec(),
    )];
    for _ in 0..8 {
        let ks = r.index(KEYSPACES.len());
        let key = format!("d/{:05}", r.below(KEYS)).into_bytes();
        let len = 200 + r.index(1200);
        let val: Vec<u8> = (0..len).map(|_| b'a' + (r.below(16) as u8)).collect();
        ops.push(Op::Put(ks, key, val));
    }
    if r.one_in(5) {
        ops.push(Op::Delete(
            r.index(3),
            format!("d/{:05}", r.below(KEYS)).into_bytes(),
        ));
    }
    if i % 37 == 11 {
        let lo = r.below(KEYS - 40);
        let (a, b) = (
            format!("d/{lo:05}"),
            format!("d/{:05}", lo + 1 + r.below(30)),
        );
        ops.push(Op::DeleteRange(r.index(3), a.into_bytes(), b.into_bytes()));
    }
    ops
}

fn apply(state: &mut State, ops: &[Op]) {
    for op in ops {
        match op {
            Op::Put(ks, k, v) => {
                state.insert((KEYSPACES[*ks].to_string(), k.clone()), v.clone());
            }
            Op::Delete(ks, k) => {
                state.remove(&(KEYSPACES[*ks].to_string(), k.clone()));
            }
            Op::DeleteRange(ks, lo, hi) => {
                let name = KEYSPACES[*ks];
                state.retain(|(n, k), _| n != name || k < lo || k >= hi);
            }
        }
    }
}

/// Batches `from..to` written to `db`.
fn write_batches(db: &Db, ks: &[lsmkv::Keyspace], from: u32, to: u32) -> lsmkv::Result<()> {
    for i in from..to {
        let mut b = WriteBatch::new();
        for op in batch_ops(i) {
            match op {
                Op::Put(k, key, v) => b.put_in(&ks[k], key, v),
                Op::Delete(k, key) => b.delete_in(&ks[k], key),
                Op::DeleteRange(k, lo, hi) => b.delete_range_in(&ks[k], lo..hi),
            }
        }
        db.write(b)?;
    }
    Ok(())
}

/// The large database: tables of every keyspace (two flushes, compacted as the engine likes),
/// then the WAL: `side` is flushed halfway through, so the first WAL segment (holding `default`'s
/// and `third`'s writes) ends with its seal and the newest, open at close, does not.
fn build(dir: &Path) -> lsmkv::Result<State> {
    let db = Db::open(dir, opts())?;
    let ks: Vec<lsmkv::Keyspace> = KEYSPACES
        .iter()
        .map(|n| db.keyspace(n))
        .collect::<lsmkv::Result<_>>()?;
    for half in [0..TABLE_BATCHES / 2, TABLE_BATCHES / 2..TABLE_BATCHES] {
        write_batches(&db, &ks, half.start, half.end)?;
        for k in &ks {
            k.flush()?;
        }
    }
    let mid = TABLE_BATCHES + WAL_BATCHES / 2;
    write_batches(&db, &ks, TABLE_BATCHES, mid)?;
    ks[1].flush()?;
    write_batches(&db, &ks, mid, TABLE_BATCHES + WAL_BATCHES)?;
    drop(ks);
    db.close()?;
    Ok(state_after(TABLE_BATCHES + WAL_BATCHES))
}

/// The state after batches `0..n`.
fn state_after(n: u32) -> State {
    let mut s = State::new();
    for i in 0..n {
        apply(&mut s, &batch_ops(i));
    }
    s
}

/// The data must be the final state, or for a log the exact state after the batches whose
/// markers it holds (which must be a prefix `0..n`).
fn judge(outcome: Outcome, last: &State, log: bool) -> Verdict {
    let data = match outcome {
        Outcome::Error => return Verdict::Error,
        Outcome::Panic => return Verdict::Panic,
        Outcome::Hang => return Verdict::Hang,
        Outcome::Setup(w) => return Verdict::Wrong(w),
        Outcome::Data(d) if d == *last => return Verdict::Exact,
        Outcome::Data(d) => d,
    };
    let markers: Vec<&Vec<u8>> = data
        .keys()
        .filter(|(n, k)| n == "default" && k.starts_with(b"seq/"))
        .map(|(_, k)| k)
        .collect();
    let n = markers.len() as u32;
    let prefix = markers
        .iter()
        .enumerate()
        .all(|(i, k)| **k == format!("seq/{i:08}").into_bytes());
    if log && prefix && data == state_after(n) {
        return Verdict::Prefix;
    }
    Verdict::Wrong(format!(
        "{} rows with {n} batch markers (a prefix: {prefix}), final state has {} rows",
        data.len(),
        last.len()
    ))
}

/// Record boundaries of each WAL segment in `dir` (the offsets a cut there leaves well-formed).
fn record_boundaries(dir: &Path, files: &[(String, usize)]) -> Vec<(String, Vec<usize>)> {
    let mut out = Vec::new();
    for (name, _) in files.iter().filter(|(n, _)| kind_of(n) == "wal") {
        let path = dir.join(name);
        let Ok(data) = std::fs::read(&path) else {
            continue;
        };
        let Ok(seg) = lsmkv::wal::read_segment(&data, &path) else {
            continue;
        };
        let mut cuts: Vec<usize> = seg.records.iter().map(|r| r.offset as usize).collect();
        if let Some(l) = seg.records.last() {
            cuts.push((l.payload_offset() as usize) + l.payload.len());
        }
        out.push((name.clone(), cuts));
    }
    out
}

/// One random trial: a file type, a file of it, a kind, a position.
fn pick(
    r: &mut Rng,
    files: &[(String, usize)],
    cuts: &[(String, Vec<usize>)],
) -> (String, &'static str, usize) {
    let mut types: Vec<&str> = files.iter().map(|(n, _)| kind_of(n)).collect();
    types.dedup();
    let t = types[r.index(types.len())];
    let of_type: Vec<&(String, usize)> = files.iter().filter(|(n, _)| kind_of(n) == t).collect();
    let (name, len) = of_type[r.index(of_type.len())];
    if t == "wal"
        && r.one_in(4)
        && let Some((_, c)) = cuts
            .iter()
            .find(|(n, _)| n == name)
            .filter(|(_, c)| !c.is_empty())
    {
        return (name.clone(), "cut_record", c[r.index(c.len())]);
    }
    (name.clone(), KINDS[r.index(KINDS.len())], r.index(*len))
}

pub fn run(run: &mut Run) {
    run.figure("mode", serde_json::json!("large"));
    let src = run.work_dir("pristine-large");
    let last = match build(&src) {
        Ok(x) => x,
        Err(e) => return run.fail(format!("building the large database: {e}")),
    };
    let mut files = list_files(&src);
    files.sort_by_key(|(n, _)| kind_of(n));
    run.log(format!("files: {files:?}, final state {} rows", last.len()));
    run.figure("files", serde_json::json!(files));
    let cuts = record_boundaries(&src, &files);
    for k in ["panics", "hangs", "wrong_answers", "trials"] {
        run.set(k, 0);
    }
    let mut r = Rng::new(run.seed);
    let (mut done, mut wrong) = (0u64, Vec::new());
    while run.budget.more(done) && !run.failed() {
        let (file, kind, pos) = pick(&mut r, &files, &cuts);
        let ftype = kind_of(&file);
        // A cut at a record boundary is a truncation there.
        let as_damage = if kind == "cut_record" {
            "truncate"
        } else {
            kind
        };
        let outcome = attempt(&src, &file, (as_damage, pos), opts());
        let v = judge(outcome, &last, is_log(ftype));
        done += 1;
        run.count("trials", 1);
        run.count(&format!("trials_{ftype}"), 1);
        run.count(&format!("trials_{ftype}_{kind}"), 1);
        record(run, format!("{file} {kind} at {pos}"), v, &mut wrong);
        if done.is_multiple_of(100) {
            run.log(format!("{done} trials"));
        }
    }
    report_wrong(run, &wrong);
}
