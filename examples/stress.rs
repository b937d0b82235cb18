//! db_stress-style stress tool: several threads of random puts, deletes, batches, gets, snapshot
//! reads and range scans, checked against an expected state kept in a file beside the database,
//! so that the check also holds across a crash (`scripts/crash_test.sh` SIGKILLs this repeatedly).
//!
//! ```text
//! cargo run --example stress -- --dir /tmp/st/db --seconds 30 [--threads 4] [--keys 20000]
//!     [--sync none|async_batch|always] [--compaction leveled|tiered|lazy_leveling]
//!     [--keyspaces] [--txn] [--seed N] [--verify-only]
//! ```
//!
//! `--keyspaces` keeps the odd keys in a second keyspace, `side` (batches and scans span both);
//! `--txn` writes the multi-key batches as transactions. With `--sync none` a crash may lose the
//! acknowledged writes still in the WAL buffer (documented for `SyncMode::None`): the check at
//! start then accepts an older value this tool wrote and counts those keys. Each thread has at most one write in
//! flight, so after a crash a thread's in-flight keys must be all applied or all not: the check
//! at start fails on a partially applied batch or transaction.
//!
//! Expected state (`<dir>.expected`): per key 8 bytes, `committed u32 | pending u32`, where a value
//! id of 0 means "absent" and id n > 0 means the value `value_for(key, n)`. Keys are partitioned
//! among threads (key % threads), so each slot has a single writer. A write sets `pending`, writes
//! to the database, then sets `committed`. After a crash the database may hold either id for a
//! key whose write was in flight, never anything else. At start the tool verifies every key
//! against the file (and then adopts what it found), so each restart after a SIGKILL is checked.
//! While running, each thread checks its own keys exactly (gets, snapshots, scans).
//!
//! The expected file is written with `pwrite` and not fsynced: the tool tests process crashes,
//! not power loss (the page cache survives a SIGKILL).

use std::fs::{File, OpenOptions};
use std::os::unix::fs::FileExt;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use lsmkv::{CompactionStrategy, Db, Error, Keyspace, Options, SyncMode, WriteBatch};

struct Args {
    dir: PathBuf,
    seconds: u64,
    threads: usize,
    keys: u64,
    sync: SyncMode,
    compaction: CompactionStrategy,
    keyspaces: bool,
    txn: bool,
    seed: u64,
    verify_only: bool,
}

fn parse_args() -> Result<Args, String> {
    let mut a = Args {
        dir: PathBuf::new(),
        seconds: 10,
        threads: 4,
        keys: 20_000,
        sync: SyncMode::AsyncBatch,
        compaction: CompactionStrategy::Leveled,
        keyspaces: false,
        txn: false,
        seed: 0,
        verify_only: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut val = || it.next().ok_or(format!("{flag} needs a value"));
        let num = |s: String| s.parse::<u64>().map_err(|e| format!("{flag}: {e}"));
        match flag.as_str() {
            "--dir" => a.dir = PathBuf::from(val()?),
            "--seconds" => a.seconds = num(val()?)?,
            "--threads" => a.threads = num(val()?)?.clamp(1, 64) as usize,
            "--keys" => a.keys = num(val()?)?.max(1),
            "--seed" => a.seed = num(val()?)?,
            "--sync" => a.sync = val()?.parse()?,
            "--compaction" => a.compaction = val()?.parse()?,
            "--keyspaces" => a.keyspaces = true,
            "--txn" => a.txn = true,
            "--verify-only" => a.verify_only = true,
            "-h" | "--help" => return Err("see the doc comment of examples/stress.rs".into()),
            _ => return Err(format!("unknown flag {flag}")),
        }
    }
    if a.dir.as_os_str().is_empty() {
        return Err("--dir is required".into());
    }
    Ok(a)
}

fn key(i: u64) -> Vec<u8> {
    format!("key{i:010}").into_bytes()
}

/// The value with id `id` of key `i`: self-describing, with a length that varies with the id.
fn value_for(i: u64, id: u32) -> Vec<u8> {
    let mut v = format!("v:{i}:{id}:").into_bytes();
    let pad = (u64::from(id).wrapping_mul(2_654_435_761) ^ i) % 200;
    v.extend((0..pad).map(|j| b'a' + ((j + u64::from(id)) % 26) as u8));
    v
}

/// Which id a stored value is (`None` if it is not a value this tool writes for key `i`).
fn id_of(i: u64, v: Option<&[u8]>) -> Option<u32> {
    let Some(v) = v else { return Some(0) };
    let s = std::str::from_utf8(v).ok()?;
    let mut parts = s.splitn(4, ':');
    let (Some("v"), Some(k), Some(id)) = (parts.next(), parts.next(), parts.next()) else {
        return None;
    };
    let id: u32 = id.parse().ok()?;
    (k.parse::<u64>().ok()? == i && value_for(i, id) == v).then_some(id)
}

/// The expected-state file.
struct Expected {
    file: File,
}

impl Expected {
    fn open(path: &PathBuf, keys: u64) -> std::io::Result<(Expected, bool)> {
        let existed = path.exists();
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)?;
        if file.metadata()?.len() < keys * 8 {
            file.set_len(keys * 8)?;
        }
        Ok((Expected { file }, existed))
    }
    fn get(&self, i: u64) -> (u32, u32) {
        let mut b = [0u8; 8];
        self.file
            .read_exact_at(&mut b, i * 8)
            .expect("reading the expected-state file");
        let (c, p) = b.split_at(4);
        (
            u32::from_le_bytes(c.try_into().expect("4 bytes")),
            u32::from_le_bytes(p.try_into().expect("4 bytes")),
        )
    }
    fn set(&self, i: u64, committed: u32, pending: u32) {
        let mut b = [0u8; 8];
        b[..4].copy_from_slice(&committed.to_le_bytes());
        b[4..].copy_from_slice(&pending.to_le_bytes());
        self.file
            .write_all_at(&b, i * 8)
            .expect("writing the expected-state file");
    }
}

/// The database as the tool sees it: with `--keyspaces`, key `i` lives in the keyspace `side`
/// when `i` is odd; with `--txn`, multi-key writes are transactions.
struct Store {
    db: Db,
    side: Option<Keyspace>,
    txn: bool,
}

type Rows = Vec<(Vec<u8>, Vec<u8>)>;

impl Store {
    fn side_of(&self, i: u64) -> Option<&Keyspace> {
        self.side.as_ref().filter(|_| i % 2 == 1)
    }
    fn get(&self, i: u64) -> lsmkv::Result<Option<Vec<u8>>> {
        let v = match self.side_of(i) {
            Some(ks) => ks.get(key(i))?,
            None => self.db.get(key(i))?,
        };
        Ok(v.map(|v| v.to_vec()))
    }
    fn snapshot_get(&self, snap: &lsmkv::Snapshot, i: u64) -> lsmkv::Result<Option<Vec<u8>>> {
        let v = match self.side_of(i) {
            Some(ks) => snap.get_in(ks, key(i))?,
            None => snap.get(key(i))?,
        };
        Ok(v.map(|v| v.to_vec()))
    }
    /// Writes `slots` (key, value id; 0 deletes) atomically: one batch, or one transaction.
    fn write(&self, slots: &[(u64, u32)]) -> lsmkv::Result<()> {
        if self.txn {
            let mut tx = self.db.transaction();
            for &(i, id) in slots {
                match (self.side_of(i), id) {
                    (Some(ks), 0) => tx.delete_in(ks, key(i)),
                    (Some(ks), _) => tx.put_in(ks, key(i), value_for(i, id)),
                    (None, 0) => tx.delete(key(i)),
                    (None, _) => tx.put(key(i), value_for(i, id)),
                }
            }
            return tx.commit();
        }
        if let [(i, id)] = *slots {
            return match (self.side_of(i), id) {
                (Some(ks), 0) => ks.delete(key(i)),
                (Some(ks), _) => ks.put(key(i), value_for(i, id)),
                (None, 0) => self.db.delete(key(i)),
                (None, _) => self.db.put(key(i), value_for(i, id)),
            };
        }
        let mut b = WriteBatch::new();
        for &(i, id) in slots {
            match (self.side_of(i), id) {
                (Some(ks), 0) => b.delete_in(ks, key(i)),
                (Some(ks), _) => b.put_in(ks, key(i), value_for(i, id)),
                (None, 0) => b.delete(key(i)),
                (None, _) => b.put(key(i), value_for(i, id)),
            }
        }
        self.db.write(b)
    }
    /// Every row with a key in `lo..hi` (`None`: unbounded), in key order, over both keyspaces.
    fn scan(&self, lo: Option<u64>, hi: Option<u64>) -> lsmkv::Result<Rows> {
        let (lo, hi) = (
            lo.map_or_else(Vec::new, key),
            hi.map_or_else(|| b"l".to_vec(), key),
        );
        let mut rows = Vec::new();
        let parts = std::iter::once(self.db.range(lo.clone()..hi.clone()))
            .chain(self.side.iter().map(|ks| ks.range(lo.clone()..hi.clone())));
        for it in parts {
            for kv in it {
                let (k, v) = kv?;
                rows.push((k.to_vec(), v.to_vec()));
            }
        }
        rows.sort();
        Ok(rows)
    }
}

/// The key number of a row this tool wrote.
fn key_number(k: &[u8]) -> Option<u64> {
    std::str::from_utf8(k.get(3..)?).ok()?.parse().ok()
}

/// Checks every key against the expected state; adopts what the database holds. Returns the
/// number of keys whose in-flight write was found applied / not applied, or the first mismatch.
/// A thread's in-flight keys belong to one write (a batch or transaction): all applied or none.
/// With `SyncMode::None` a process crash may lose the acknowledged writes still in the WAL
/// buffer (documented): then a key may hold any value this tool wrote for it (`lossy`), and the
/// keys found at an older value are counted in `tail_lost`.
fn verify_all(
    db: &Store,
    exp: &Expected,
    (keys, threads, lossy): (u64, u64, bool),
    tail_lost: &mut u64,
) -> Result<(u64, u64), String> {
    let (mut applied, mut dropped) = (0, 0);
    let mut per_thread = vec![(0u64, 0u64); threads as usize];
    // What the database holds, adopted only once every check passed (a failing check leaves
    // the expected state as it was, for the post-mortem).
    let mut found = Vec::with_capacity(keys as usize);
    for i in 0..keys {
        let got = db.get(i).map_err(|e| format!("get key {i}: {e}"))?;
        let (c, p) = exp.get(i);
        let id = id_of(i, got.as_deref())
            .ok_or_else(|| format!("key {i}: value {got:?} is not one this tool writes"))?;
        if id != c && id != p && lossy {
            *tail_lost += 1;
        } else if id != c && id != p {
            return Err(format!(
                "key {i}: database holds id {id}, expected committed {c} or in-flight {p}"
            ));
        }
        // With a lost tail (`lossy`), an absent key may be an older state rather than an applied
        // delete: only in-flight puts tell applied from not.
        if c != p && !(lossy && p == 0) {
            let t = &mut per_thread[(i % threads) as usize];
            if id == p {
                applied += 1;
                t.0 += 1;
            } else {
                dropped += 1;
                t.1 += 1;
            }
        }
        found.push(id);
    }
    if let Some(t) = per_thread.iter().position(|&(a, d)| a > 0 && d > 0) {
        let (a, d) = per_thread[t];
        return Err(format!(
            "partial batch: thread {t}'s in-flight write is applied for {a} keys and not for {d}"
        ));
    }
    // A full scan must agree with the point reads.
    let mut n = 0u64;
    for (k, v) in db.scan(None, None).map_err(|e| format!("scan: {e}"))? {
        let i = key_number(&k).ok_or_else(|| format!("scan: foreign key {k:?}"))?;
        let c = found.get(i as usize).copied().unwrap_or(0);
        if id_of(i, Some(&v)) != Some(c) || c == 0 {
            return Err(format!("scan: key {i} disagrees with its point read"));
        }
        n += 1;
    }
    let live = found.iter().filter(|&&id| id != 0).count() as u64;
    if n != live {
        return Err(format!("scan saw {n} keys, point reads {live}"));
    }
    for (i, id) in (0..).zip(found) {
        exp.set(i, id, id);
    }
    Ok((applied, dropped))
}

#[derive(Default)]
struct Counts {
    puts: AtomicU64,
    deletes: AtomicU64,
    batches: AtomicU64,
    gets: AtomicU64,
    scans: AtomicU64,
    snapshots: AtomicU64,
}

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// One worker: owns keys `i` with `i % threads == t`. `cfg` = (threads, keys, seed).
fn worker(
    t: u64,
    (threads, keys, seed): (u64, u64, u64),
    db: &Store,
    exp: &Expected,
    stop: &AtomicBool,
    counts: &Counts,
) -> Result<(), String> {
    let mut r = Rng((seed ^ (t + 1).wrapping_mul(0x9e37_79b9_7f4a_7c15)) | 1);
    let own = keys.div_ceil(threads);
    let pick = |r: &mut Rng| -> Option<u64> {
        let i = r.below(own) * threads + t;
        (i < keys).then_some(i)
    };
    let next_id = |r: &mut Rng| (r.below(u64::from(u32::MAX - 1)) + 1) as u32;
    while !stop.load(Ordering::Relaxed) {
        match r.below(100) {
            0..=39 => {
                let Some(i) = pick(&mut r) else { continue };
                let (c, _) = exp.get(i);
                let id = next_id(&mut r);
                exp.set(i, c, id);
                db.write(&[(i, id)]).map_err(|e| format!("put: {e}"))?;
                exp.set(i, id, id);
                counts.puts.fetch_add(1, Ordering::Relaxed);
            }
            40..=49 => {
                let Some(i) = pick(&mut r) else { continue };
                let (c, _) = exp.get(i);
                exp.set(i, c, 0);
                db.write(&[(i, 0)]).map_err(|e| format!("delete: {e}"))?;
                exp.set(i, 0, 0);
                counts.deletes.fetch_add(1, Ordering::Relaxed);
            }
            50..=59 => {
                let mut slots = Vec::new();
                for _ in 0..1 + r.below(10) {
                    let Some(i) = pick(&mut r) else { continue };
                    if slots.iter().any(|(j, _)| *j == i) {
                        continue;
                    }
                    let id = if r.below(4) == 0 { 0 } else { next_id(&mut r) };
                    let (c, _) = exp.get(i);
                    exp.set(i, c, id);
                    slots.push((i, id));
                }
                match db.write(&slots) {
                    Ok(()) => {}
                    // Nothing of a conflicting transaction was written.
                    Err(Error::Conflict) => {
                        for &(i, _) in &slots {
                            let (c, _) = exp.get(i);
                            exp.set(i, c, c);
                        }
                        continue;
                    }
                    Err(e) => return Err(format!("batch: {e}")),
                }
                for (i, id) in slots {
                    exp.set(i, id, id);
                }
                counts.batches.fetch_add(1, Ordering::Relaxed);
            }
            60..=84 => {
                let Some(i) = pick(&mut r) else { continue };
                let got = db.get(i).map_err(|e| format!("get: {e}"))?;
                let (c, _) = exp.get(i);
                if id_of(i, got.as_deref()) != Some(c) {
                    return Err(format!("get key {i}: {got:?}, expected id {c}"));
                }
                counts.gets.fetch_add(1, Ordering::Relaxed);
            }
            85..=94 => {
                // Scan a window; the thread's own keys must match exactly, and every value must
                // be one this tool wrote for that key.
                let start = r.below(keys);
                let end = (start + 1 + r.below(400)).min(keys);
                let rev = r.below(2) == 0;
                let mut rows = if rev && db.side.is_none() {
                    let it = db.db.range(key(start)..key(end)).rev();
                    let rows: lsmkv::Result<Rows> = it
                        .map(|kv| kv.map(|(k, v)| (k.to_vec(), v.to_vec())))
                        .collect();
                    rows
                } else {
                    db.scan(Some(start), Some(end))
                }
                .map_err(|e| format!("scan: {e}"))?;
                if rev && db.side.is_some() {
                    rows.reverse();
                }
                let mut seen = Vec::new();
                for (k, v) in rows {
                    let i = key_number(&k).ok_or("scan: foreign key")?;
                    if id_of(i, Some(&v)).is_none_or(|id| id == 0) {
                        return Err(format!("scan: key {i} holds a value never written"));
                    }
                    if i % threads == t {
                        seen.push(i);
                        if id_of(i, Some(&v)) != Some(exp.get(i).0) {
                            return Err(format!("scan: own key {i} is stale"));
                        }
                    }
                }
                if rev {
                    seen.reverse();
                }
                let want: Vec<u64> = (start..end)
                    .filter(|i| i % threads == t && exp.get(*i).0 != 0)
                    .collect();
                if seen != want {
                    return Err(format!(
                        "scan {start}..{end}: own keys {seen:?} != {want:?}"
                    ));
                }
                counts.scans.fetch_add(1, Ordering::Relaxed);
            }
            _ => {
                // A snapshot must keep showing the old value after this thread overwrites it.
                let Some(i) = pick(&mut r) else { continue };
                let snap = db.db.snapshot();
                let (before, _) = exp.get(i);
                let id = next_id(&mut r);
                exp.set(i, before, id);
                db.write(&[(i, id)]).map_err(|e| format!("put: {e}"))?;
                exp.set(i, id, id);
                let old = db
                    .snapshot_get(&snap, i)
                    .map_err(|e| format!("snapshot get: {e}"))?;
                if id_of(i, old.as_deref()) != Some(before) {
                    return Err(format!(
                        "snapshot of key {i} sees {old:?}, expected id {before}"
                    ));
                }
                counts.snapshots.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
    Ok(())
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("stress: {e}");
            return ExitCode::from(2);
        }
    };
    let mut exp_path = args.dir.clone().into_os_string();
    exp_path.push(".expected");
    let exp_path = PathBuf::from(exp_path);
    let opts = Options {
        sync_mode: args.sync,
        compaction_strategy: args.compaction,
        memtable_max_size: 256 << 10,
        block_size: 1024,
        block_cache_size_mb: 4,
        ..Options::default()
    };
    let started = Instant::now();
    let db = match Db::open(&args.dir, opts) {
        Ok(db) => db,
        Err(e) => {
            eprintln!("stress: FAILED to open {}: {e}", args.dir.display());
            return ExitCode::from(1);
        }
    };
    let side = match args.keyspaces.then(|| db.keyspace("side")).transpose() {
        Ok(side) => side,
        Err(e) => {
            eprintln!("stress: FAILED to open the keyspace side: {e}");
            return ExitCode::from(1);
        }
    };
    let db = Arc::new(Store {
        db,
        side,
        txn: args.txn,
    });
    let (exp, existed) = match Expected::open(&exp_path, args.keys) {
        Ok(x) => x,
        Err(e) => {
            eprintln!("stress: expected-state file {}: {e}", exp_path.display());
            return ExitCode::from(2);
        }
    };
    let lossy = args.sync == SyncMode::None;
    if existed {
        let mut lost = 0;
        match verify_all(
            &db,
            &exp,
            (args.keys, args.threads as u64, lossy),
            &mut lost,
        ) {
            Ok((applied, dropped)) => println!(
                "stress: verified {} keys after reopen in {:?} (in-flight writes: {applied} applied, {dropped} not; {lost} keys at an older value, sync none)",
                args.keys,
                started.elapsed()
            ),
            Err(e) => {
                eprintln!("stress: VERIFY FAILED: {e}");
                return ExitCode::from(1);
            }
        }
    }
    if args.verify_only {
        return ExitCode::SUCCESS;
    }
    let exp = Arc::new(exp);
    let stop = Arc::new(AtomicBool::new(false));
    let counts = Arc::new(Counts::default());
    let seed = if args.seed == 0 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(1, |d| d.as_nanos() as u64)
    } else {
        args.seed
    };
    println!(
        "stress: seed {seed}, {} threads, {} keys",
        args.threads, args.keys
    );
    let handles: Vec<_> = (0..args.threads as u64)
        .map(|t| {
            let (db, exp, stop, counts) = (db.clone(), exp.clone(), stop.clone(), counts.clone());
            let (threads, keys) = (args.threads as u64, args.keys);
            std::thread::spawn(move || {
                let r = worker(t, (threads, keys, seed), &db, &exp, &stop, &counts);
                if r.is_err() {
                    stop.store(true, Ordering::Relaxed);
                }
                r
            })
        })
        .collect();
    let deadline = Instant::now() + Duration::from_secs(args.seconds);
    while Instant::now() < deadline && !stop.load(Ordering::Relaxed) {
        std::thread::sleep(Duration::from_millis(50));
    }
    stop.store(true, Ordering::Relaxed);
    let mut failed = false;
    for h in handles {
        match h.join() {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                eprintln!("stress: FAILED: {e}");
                failed = true;
            }
            Err(_) => {
                eprintln!("stress: FAILED: a worker panicked");
                failed = true;
            }
        }
    }
    let c = |a: &AtomicU64| a.load(Ordering::Relaxed);
    println!(
        "stress: {:?}: {} puts, {} deletes, {} batches, {} gets, {} scans, {} snapshot checks; {} SSTables",
        started.elapsed(),
        c(&counts.puts),
        c(&counts.deletes),
        c(&counts.batches),
        c(&counts.gets),
        c(&counts.scans),
        c(&counts.snapshots),
        db.db.stats().sst_files
    );
    if failed {
        return ExitCode::from(1);
    }
    // No crash since the start: nothing may be lost.
    if let Err(e) = verify_all(&db, &exp, (args.keys, args.threads as u64, false), &mut 0) {
        eprintln!("stress: FINAL VERIFY FAILED: {e}");
        return ExitCode::from(1);
    }
    let closed = Arc::try_unwrap(db).map_or(Ok(()), |store| store.db.close());
    if let Err(e) = closed {
        eprintln!("stress: close: {e}");
        return ExitCode::from(1);
    }
    ExitCode::SUCCESS
}
