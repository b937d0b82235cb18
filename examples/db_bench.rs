//! db_bench-style throughput and latency benchmark (after LevelDB/RocksDB `db_bench`).
//!
//! ```text
//! cargo run --release --example db_bench -- \
//!     --benchmarks fillseq,fillrandom,readrandom,readmissing \
//!     --num 1000000 --value-size 100 --key-size 16 --sync-mode none --db /tmp/lsmkv-bench
//! ```
//!
//! Keys are the zero-padded decimal index (`--key-size` bytes); values are "half compressible"
//! (random bytes followed by a repeat of them, like RocksDB's `CompressibleString` at ratio 0.5).
//! Every run is seeded (`--seed`), so the same flags produce the same operations.
//!
//! Benchmarks:
//! - `fillseq`: puts keys 0..num in order.
//! - `fillrandom`: puts `num` keys drawn uniformly from 0..num.
//! - `overwrite`: as fillrandom, on top of what exists.
//! - `fillbatch`: puts every key of 0..num once, in a random order, 1000 per atomic `WriteBatch`
//!   (the comparison tool's fillbatch); latency is per batch. Like every fill benchmark it ends
//!   with the CPU time each thread of the process used during it (writer, flush, compaction)
//!   and the write stalls by cause, which tell what a slow fill waited for or competed with.
//! - `readrandom`: gets `num` keys that exist, from SSTables: runs fillseq first if this invocation
//!   has not, then flushes.
//! - `readmissing`: gets `num` keys that sort among existing ones but were never written.
//! - `fillsync`: like fillrandom with `num / 100` ops and SyncMode::Always (fsync per write).
//! - `readseq`: one forward scan over the whole database (`db.range(..)`), `num` entries.
//! - `readreverse`: the same scan backward (`db.range(..).rev()`).
//! - `seekrandom`: `num / 10` seeks to random existing keys (`db.range(k..)`), each followed by
//!   up to 100 `next`s; latency is per seek + 100 nexts.
//! - `readrandomcold`: readrandom after closing the database and dropping the table files from the
//!   OS page cache (`posix_fadvise(DONTNEED)`) and reopening: empty block cache, reads from disk.
//! - `readrandomwarm`: readrandom after one untimed readrandom pass (block cache as warm as its
//!   capacity allows).
//! - `readseqcold`: readseq after the same cold reopen as readrandomcold.
//! - `readseqmem`: readseq over keys still in the memtable (filled without a flush; choose `--num`
//!   so that they fit in `MEMTABLE_MAX_SIZE`).
//! - `putdelete`: puts keys 0..num in order, then `num` operations on random keys of 0..num,
//!   every other one a delete; reports write amplification, the database size against the live
//!   data (`len_estimate`), the compactions and the point tombstones still in tables.
//! - `deleteprefix`: puts `num` keys under the prefix `p/` and `num / 100` under `q/` (untimed),
//!   compacts, then times one `delete_prefix("p/")` (a single range tombstone), and the full
//!   compaction after it; reports the database size before and after, the tables compaction
//!   deleted whole, and the latency of point reads of surviving `q/` keys before and after the
//!   range delete (while its tombstone is in the memtable, then in a table).
//!
//! The read benchmarks fill `num` keys in order first (untimed) if this invocation has not, and
//! flush, so they read from SSTables. `--mmap-advice random|normal|sequential` sets the madvise hint
//! the tables get when opened (default normal). `--reads N` sets the number of point reads of the
//! readrandom benchmarks (default `num`) and of seeks in seekrandom (default `num / 10`). Each line
//! ends with the bytes the process read from storage during the benchmark (`/proc/self/io`), which
//! shows what readahead costs cold.
//!
//! Each reports ops/s, MB/s of user data, p50/p99/p99.9 latency of single operations and the bytes
//! the database directory holds afterwards.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use lsmkv::sstable::mapping::{MapAdvice, set_open_advice};
use lsmkv::{Db, Options, SyncMode};

struct Args {
    benchmarks: Vec<String>,
    num: u64,
    value_size: usize,
    key_size: usize,
    sync_mode: SyncMode,
    db: Option<PathBuf>,
    use_existing_db: bool,
    seed: u64,
    mmap_advice: MapAdvice,
    /// Point reads per read benchmark (default `num`); seeks in seekrandom (default `num / 10`).
    reads: Option<u64>,
}

const USAGE: &str = "usage: db_bench [--benchmarks LIST] [--num N] [--value-size N] [--key-size N]
                [--sync-mode always|async_batch|none] [--db DIR] [--use-existing-db] [--seed N]
                [--mmap-advice random|normal|sequential] [--reads N]
  LIST is comma-separated: fillseq,fillrandom,fillbatch,overwrite,readrandom,readmissing,fillsync,
    readseq,readreverse,seekrandom,readrandomcold,readrandomwarm,readseqcold,readseqmem,
    overwrite5 (1 ordered + 4 random passes; reports write/space amp, longest stall),
    putdelete (1 ordered pass + num random puts and deletes, half each; write/space amp),
    compactall (full compaction + reopen; reports disk / raw live data)
  Other engine options come from the environment (see .env.example), e.g. MEMTABLE_MAX_SIZE.";

fn parse_args() -> Result<Args, String> {
    let mut a = Args {
        benchmarks: "fillseq,fillrandom,readrandom,readmissing"
            .split(',')
            .map(String::from)
            .collect(),
        num: 1_000_000,
        value_size: 100,
        key_size: 16,
        sync_mode: SyncMode::None,
        db: None,
        use_existing_db: false,
        seed: 301,
        mmap_advice: MapAdvice::Normal,
        reads: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        // Accept both `--flag value` and `--flag=value`, with `-` or `_` in names.
        let (name, inline) = match flag.split_once('=') {
            Some((n, v)) => (n.to_string(), Some(v.to_string())),
            None => (flag.clone(), None),
        };
        let name = name.replace('_', "-");
        if name == "--use-existing-db" {
            a.use_existing_db = true;
            continue;
        }
        if name == "--help" || name == "-h" {
            return Err(USAGE.into());
        }
        const VALUED: &[&str] = &[
            "--benchmarks",
            "--num",
            "--value-size",
            "--key-size",
            "--sync-mode",
            "--db",
            "--seed",
            "--mmap-advice",
            "--reads",
        ];
        if !VALUED.contains(&name.as_str()) {
            return Err(format!("unknown flag {name}\n{USAGE}"));
        }
        let value = match inline.or_else(|| it.next()) {
            Some(v) => v,
            None => return Err(format!("{name} needs a value\n{USAGE}")),
        };
        let num = |v: &str| {
            v.parse::<u64>()
                .map_err(|_| format!("{name}: not a number: {v}"))
        };
        match name.as_str() {
            "--benchmarks" => {
                a.benchmarks = value
                    .split(',')
                    .filter(|s| !s.is_empty())
                    .map(String::from)
                    .collect()
            }
            "--num" => a.num = num(&value)?,
            "--value-size" => a.value_size = num(&value)? as usize,
            "--key-size" => a.key_size = num(&value)? as usize,
            "--sync-mode" => a.sync_mode = value.parse().map_err(|e| format!("{name}: {e}"))?,
            "--db" => a.db = Some(PathBuf::from(value)),
            "--seed" => a.seed = num(&value)?,
            "--reads" => a.reads = Some(num(&value)?),
            "--mmap-advice" => {
                a.mmap_advice = match value.as_str() {
                    "random" => MapAdvice::Random,
                    "normal" => MapAdvice::Normal,
                    "sequential" => MapAdvice::Sequential,
                    _ => return Err(format!("{name}: random, normal or sequential\n{USAGE}")),
                }
            }
            _ => return Err(format!("unknown flag {name}\n{USAGE}")),
        }
    }
    if a.key_size < 8 {
        return Err("--key-size must be at least 8".into());
    }
    Ok(a)
}

/// xorshift64*: tiny, seeded, good enough to pick keys and fill values.
struct Rng(u64);
impl Rng {
    fn new(seed: u64) -> Self {
        Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1)
    }
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

/// A pool of half-compressible bytes; values are windows into it (as db_bench's RandomGenerator).
struct ValueGen {
    data: Vec<u8>,
    pos: usize,
}
impl ValueGen {
    fn new(rng: &mut Rng, value_size: usize) -> Self {
        let mut data = Vec::with_capacity(1 << 20);
        let piece = value_size.clamp(1, 1 << 20);
        while data.len() < (1 << 20).max(value_size * 2) {
            // Half random, half a repeat of that half: compresses to about 50%.
            let half = piece.div_ceil(2);
            let random: Vec<u8> = (0..half).map(|_| rng.next() as u8).collect();
            data.extend_from_slice(&random);
            data.extend(random.iter().cycle().take(piece - half));
        }
        ValueGen { data, pos: 0 }
    }
    fn next(&mut self, len: usize) -> &[u8] {
        if self.pos + len > self.data.len() {
            self.pos = 0;
        }
        let s = &self.data[self.pos..self.pos + len];
        self.pos += len;
        s
    }
}

fn make_key(i: u64, key_size: usize) -> Vec<u8> {
    format!("{i:0key_size$}").into_bytes()
}

/// A key that sorts next to existing key `i` but was never written (last byte changed to '.').
fn missing_key(i: u64, key_size: usize) -> Vec<u8> {
    let mut k = make_key(i, key_size);
    if let Some(last) = k.last_mut() {
        *last = b'.';
    }
    k
}

struct Hist {
    nanos: Vec<u64>,
}
impl Hist {
    fn percentile(&mut self, p: f64) -> Duration {
        if self.nanos.is_empty() {
            return Duration::ZERO;
        }
        self.nanos.sort_unstable();
        let idx = ((self.nanos.len() as f64 - 1.0) * p).round() as usize;
        Duration::from_nanos(self.nanos[idx.min(self.nanos.len() - 1)])
    }
}

/// Bytes this process caused to be read from storage (`read_bytes` of /proc/self/io; Linux only):
/// shows what readahead costs on cold reads.
fn storage_read_bytes() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/self/io").ok()?;
    s.lines()
        .find_map(|l| l.strip_prefix("read_bytes:"))
        .and_then(|v| v.trim().parse().ok())
}

fn dir_bytes(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(Result::ok)
                .filter_map(|e| e.metadata().ok())
                .filter(|m| m.is_file())
                .map(|m| m.len())
                .sum()
        })
        .unwrap_or(0)
}

struct Bench<'a> {
    args: &'a Args,
    dir: PathBuf,
    db: Option<Db>,
    rng: Rng,
    values: ValueGen,
    seq_filled: bool,
}

impl Bench<'_> {
    fn open(&mut self, mode: SyncMode) -> lsmkv::Result<&Db> {
        let reopen = self
            .db
            .as_ref()
            .is_none_or(|d| d.options().sync_mode != mode);
        if reopen {
            if let Some(db) = self.db.take() {
                db.close()?;
            }
            let mut opts = Options::from_env()?;
            opts.sync_mode = mode;
            self.db = Some(Db::open(&self.dir, opts)?);
        }
        Ok(self.db.as_ref().unwrap())
    }

    fn fill(
        &mut self,
        n: u64,
        random: bool,
        mode: SyncMode,
        hist: &mut Hist,
    ) -> lsmkv::Result<u64> {
        let (ks, vs) = (self.args.key_size, self.args.value_size);
        let db = self.open(mode)?.clone();
        let mut bytes = 0;
        for i in 0..n {
            let k = make_key(
                if random {
                    self.rng.below(self.args.num)
                } else {
                    i
                },
                ks,
            );
            let v = self.values.next(vs);
            let t = Instant::now();
            db.put(&k, v)?;
            hist.nanos.push(t.elapsed().as_nanos() as u64);
            bytes += (k.len() + v.len()) as u64;
        }
        Ok(bytes)
    }

    /// `n` operations on random keys of `0..num`: a put, then a delete, and so on.
    fn put_delete(&mut self, n: u64, hist: &mut Hist) -> lsmkv::Result<u64> {
        let (ks, vs) = (self.args.key_size, self.args.value_size);
        let db = self.open(self.args.sync_mode)?.clone();
        let mut bytes = 0;
        for i in 0..n {
            let k = make_key(self.rng.below(self.args.num), ks);
            let t = Instant::now();
            if i % 2 == 0 {
                let v = self.values.next(vs);
                db.put(&k, v)?;
                bytes += (k.len() + v.len()) as u64;
            } else {
                db.delete(&k)?;
                bytes += k.len() as u64;
            }
            hist.nanos.push(t.elapsed().as_nanos() as u64);
        }
        Ok(bytes)
    }

    /// Puts every key of `0..num` once, in a random order, 1000 per batch; one latency sample
    /// per batch.
    fn fill_batch(&mut self, hist: &mut Hist) -> lsmkv::Result<u64> {
        let (ks, vs, n) = (self.args.key_size, self.args.value_size, self.args.num);
        let db = self.open(self.args.sync_mode)?.clone();
        let mut order: Vec<u64> = (0..n).collect();
        for i in (1..order.len()).rev() {
            let j = self.rng.below(i as u64 + 1) as usize;
            order.swap(i, j);
        }
        let mut bytes = 0;
        for chunk in order.chunks(1000) {
            let mut b = lsmkv::WriteBatch::new();
            for &i in chunk {
                let k = make_key(i, ks);
                let v = self.values.next(vs);
                bytes += (k.len() + v.len()) as u64;
                b.put(&k, v);
            }
            let t = Instant::now();
            db.write(b)?;
            hist.nanos.push(t.elapsed().as_nanos() as u64);
        }
        Ok(bytes)
    }

    /// Fills `num` keys in order (untimed) unless done, flushes, and returns the database.
    fn filled(&mut self) -> lsmkv::Result<Db> {
        let n = self.args.num;
        if !self.seq_filled && !self.args.use_existing_db {
            eprintln!("  (filling {n} keys in order first so that reads find them)");
            self.fill(
                n,
                false,
                self.args.sync_mode,
                &mut Hist { nanos: Vec::new() },
            )?;
            self.seq_filled = true;
        }
        let db = self.open(self.args.sync_mode)?.clone();
        db.flush()?;
        Ok(db)
    }

    /// Closes the database, drops its table files from the OS page cache and reopens it: the next
    /// reads start with an empty block cache and read the tables from disk.
    fn reopen_cold(&mut self) -> lsmkv::Result<()> {
        self.filled()?;
        if let Some(db) = self.db.take() {
            db.close()?;
        }
        let mut dropped = 0u64;
        for e in std::fs::read_dir(&self.dir).into_iter().flatten().flatten() {
            let p = e.path();
            if p.extension().is_some_and(|x| x == "sst")
                && let Ok(f) = std::fs::File::open(&p)
            {
                let _ = f.sync_all();
                if rustix::fs::fadvise(&f, 0, None, rustix::fs::Advice::DontNeed).is_ok() {
                    dropped += 1;
                }
            }
        }
        eprintln!("  (reopened cold: {dropped} table files dropped from the page cache)");
        self.open(self.args.sync_mode)?;
        Ok(())
    }

    /// One scan over the whole database; returns (entries, bytes). The hist gets one sample per
    /// 1000 entries (per-entry timing would cost more than the step).
    fn scan(&mut self, reverse: bool, hist: &mut Hist) -> lsmkv::Result<(u64, u64)> {
        let db = self.filled()?;
        self.scan_db(&db, reverse, hist)
    }

    fn scan_db(&mut self, db: &Db, reverse: bool, hist: &mut Hist) -> lsmkv::Result<(u64, u64)> {
        let (mut n, mut bytes) = (0u64, 0u64);
        let it = db.range::<&[u8], _>(..);
        let it: Box<dyn Iterator<Item = _>> = if reverse {
            Box::new(it.rev())
        } else {
            Box::new(it)
        };
        let mut t = Instant::now();
        for kv in it {
            let (k, v) = kv?;
            n += 1;
            bytes += (k.len() + v.len()) as u64;
            if n.is_multiple_of(1000) {
                let now = Instant::now();
                hist.nanos.push((now - t).as_nanos() as u64);
                t = now;
            }
        }
        hist.nanos.push(t.elapsed().as_nanos() as u64);
        Ok((n, bytes))
    }

    /// `num / 10` seeks to random existing keys, each followed by up to 100 nexts.
    fn seek(&mut self, hist: &mut Hist) -> lsmkv::Result<(u64, u64)> {
        let db = self.filled()?;
        let (n, ks) = (self.args.num, self.args.key_size);
        let seeks = self.args.reads.unwrap_or(n / 10).max(1);
        let mut bytes = 0;
        for _ in 0..seeks {
            let k = make_key(self.rng.below(n), ks);
            let t = Instant::now();
            for kv in db.range(k.as_slice()..).take(100) {
                let (k, v) = kv?;
                bytes += (k.len() + v.len()) as u64;
            }
            hist.nanos.push(t.elapsed().as_nanos() as u64);
        }
        Ok((seeks, bytes))
    }

    fn read(&mut self, missing: bool, hist: &mut Hist) -> lsmkv::Result<(u64, u64)> {
        let (n, ks) = (self.args.num, self.args.key_size);
        let db = self.filled()?;
        let (mut found, mut bytes) = (0, 0);
        for _ in 0..self.args.reads.unwrap_or(n) {
            let i = self.rng.below(n);
            let k = if missing {
                missing_key(i, ks)
            } else {
                make_key(i, ks)
            };
            let t = Instant::now();
            let v = db.get(&k)?;
            hist.nanos.push(t.elapsed().as_nanos() as u64);
            if let Some(v) = v {
                found += 1;
                bytes += (k.len() + v.len()) as u64;
            }
        }
        Ok((found, bytes))
    }

    /// Median latency of `n` gets of random keys `q/<i>` (they exist), in nanoseconds.
    fn get_p50(&mut self, db: &Db, n: u64, q_keys: u64) -> lsmkv::Result<u64> {
        let mut h = Hist {
            nanos: Vec::with_capacity(n as usize),
        };
        for _ in 0..n {
            let k = [
                b"q/".as_slice(),
                &make_key(self.rng.below(q_keys), self.args.key_size),
            ]
            .concat();
            let t = Instant::now();
            let v = db.get(&k)?;
            h.nanos.push(t.elapsed().as_nanos() as u64);
            assert!(v.is_some(), "q/ keys survive");
        }
        Ok(h.percentile(0.5).as_nanos() as u64)
    }

    /// The `deleteprefix` benchmark; the one timed operation is the `delete_prefix` call.
    fn delete_prefix(&mut self, hist: &mut Hist) -> lsmkv::Result<(u64, u64, String)> {
        let (n, ks, vs) = (self.args.num, self.args.key_size, self.args.value_size);
        let q_keys = (n / 100).max(1);
        let db = self.open(self.args.sync_mode)?.clone();
        let fill_start = Instant::now();
        for (prefix, count) in [(&b"p/"[..], n), (b"q/", q_keys)] {
            for i in 0..count {
                let k = [prefix, &make_key(i, ks)].concat();
                db.put(&k, self.values.next(vs))?;
            }
        }
        db.compact()?;
        let fill_secs = fill_start.elapsed().as_secs_f64();
        let before = dir_bytes(&self.dir);
        let tables_before = db.stats().sst_files;
        let reads = 100_000.min(10 * q_keys);
        let get_before = self.get_p50(&db, reads, q_keys)?;

        let t = Instant::now();
        db.delete_prefix(b"p/")?;
        let took = t.elapsed();
        hist.nanos.push(took.as_nanos() as u64);

        let get_mem = self.get_p50(&db, reads, q_keys)?;
        let probe = [b"p/".as_slice(), &make_key(n / 2, ks)].concat();
        assert!(db.get(&probe)?.is_none(), "deleted");
        let st0 = db.stats();
        let t = Instant::now();
        db.compact()?;
        let compact_secs = t.elapsed().as_secs_f64();
        let st = db.stats();
        let get_after = self.get_p50(&db, reads, q_keys)?;
        let after = dir_bytes(&self.dir);
        let left = db.range::<&[u8], _>(..).count() as u64;
        let mib = |b: u64| b as f64 / (1 << 20) as f64;
        let text = format!(
            " (delete_prefix of {n} keys took {took:.2?}; fill + compact {fill_secs:.1} s; \
             db {:.1} MiB in {tables_before} tables before, {:.1} MiB after compaction \
             ({compact_secs:.2} s: {} tables deleted whole, {:.1} MiB read, {:.1} MiB written); \
             {left} keys left; get p50 {get_before} ns before, {get_mem} ns with the tombstone \
             in the memtable, {get_after} ns after compaction)",
            mib(before),
            mib(after),
            st.tables_dropped_by_range_delete - st0.tables_dropped_by_range_delete,
            mib(st.compaction_bytes_read - st0.compaction_bytes_read),
            mib(st.compaction_bytes_written - st0.compaction_bytes_written),
        );
        Ok((1, 0, text))
    }

    fn reads(&self) -> u64 {
        self.args.reads.unwrap_or(self.args.num)
    }

    fn run(&mut self, name: &str) -> lsmkv::Result<()> {
        let mut hist = Hist {
            nanos: Vec::with_capacity(self.args.num as usize),
        };
        let start = Instant::now();
        let io_before = storage_read_bytes();
        let cpu_before = thread_cpu();
        let stalls_before = self.db.as_ref().map(|d| d.stats().stalls);
        let mut note = String::new();
        let (ops, bytes) = match name {
            "fillseq" => {
                let b = self.fill(self.args.num, false, self.args.sync_mode, &mut hist)?;
                self.seq_filled = true;
                (self.args.num, b)
            }
            "fillbatch" => {
                let b = self.fill_batch(&mut hist)?;
                note = " (latency per batch of 1000)".into();
                (self.args.num, b)
            }
            "fillrandom" | "overwrite" => (
                self.args.num,
                self.fill(self.args.num, true, self.args.sync_mode, &mut hist)?,
            ),
            "overwrite5" => {
                // The compaction workload: every key written once in order, then four
                // passes of `num` random overwrites; reports what compaction made of it.
                let n = self.args.num;
                let mut b = self.fill(n, false, self.args.sync_mode, &mut hist)?;
                for _ in 0..4 {
                    b += self.fill(n, true, self.args.sync_mode, &mut hist)?;
                }
                self.seq_filled = true;
                let db = self.open(self.args.sync_mode)?.clone();
                db.flush()?;
                let st = db.stats();
                let live = n * (self.args.key_size + self.args.value_size) as u64;
                note = format!(
                    " ({} writes; {:?}: write amp {:.2}, space {:.2}x live, longest stall {:.1} ms, \
                     {} stalls, {} compactions)",
                    5 * n,
                    st.compaction_strategy,
                    st.write_amplification,
                    dir_bytes(&self.dir) as f64 / live as f64,
                    st.longest_stall_micros as f64 / 1000.0,
                    st.write_stalls,
                    st.compactions,
                );
                (5 * n, b)
            }
            "putdelete" => {
                // A churning store: every key written once in order, then `num` operations on
                // random keys, each a put or (every other one) a delete; reports what compaction
                // made of it, the deletes' tombstones included.
                let n = self.args.num;
                let mut b = self.fill(n, false, self.args.sync_mode, &mut hist)?;
                b += self.put_delete(n, &mut hist)?;
                self.seq_filled = false;
                let db = self.open(self.args.sync_mode)?.clone();
                db.flush()?;
                wait_idle(&db);
                let st = db.stats();
                let keys = db.range::<&[u8], _>(..).count() as u64;
                let live = keys * (self.args.key_size + self.args.value_size) as u64;
                note = format!(
                    " ({} writes, half of the last {n} deletes; {keys} keys left; after compaction \
                     went idle, {:?}: write amp {:.2}, space {:.2}x live, {} compactions, {} \
                     tombstones left in tables)",
                    2 * n,
                    st.compaction_strategy,
                    st.write_amplification,
                    dir_bytes(&self.dir) as f64 / live.max(1) as f64,
                    st.compactions,
                    db.tables().iter().map(|t| t.tombstones).sum::<u64>(),
                );
                (2 * n, b)
            }
            "compactall" => {
                // Full compaction, then close and reopen: bytes on disk (WAL included) against
                // the raw bytes of the live keys and values.
                let db = self.open(self.args.sync_mode)?.clone();
                db.compact()?;
                drop(db);
                if let Some(db) = self.db.take() {
                    db.close()?;
                }
                self.open(self.args.sync_mode)?;
                let live = self.args.num * (self.args.key_size + self.args.value_size) as u64;
                note = format!(
                    " (after compact + reopen: {:.3}x the raw live data)",
                    dir_bytes(&self.dir) as f64 / live as f64
                );
                (1, 0)
            }
            "fillsync" => {
                let n = (self.args.num / 100).max(1);
                let b = self.fill(n, true, SyncMode::Always, &mut hist)?;
                note = format!(" ({n} ops, sync always)");
                (n, b)
            }
            "readseq" | "readreverse" | "readseqcold" => {
                if name == "readseqcold" {
                    self.reopen_cold()?;
                }
                let (n, b) = self.scan(name == "readreverse", &mut hist)?;
                note = format!(" ({n} entries; latency per 1000 entries)");
                (n, b)
            }
            "readseqmem" => {
                if !self.seq_filled && !self.args.use_existing_db {
                    let n = self.args.num;
                    self.fill(
                        n,
                        false,
                        self.args.sync_mode,
                        &mut Hist { nanos: Vec::new() },
                    )?;
                    self.seq_filled = true;
                }
                let db = self.open(self.args.sync_mode)?.clone();
                let (n, b) = self.scan_db(&db, false, &mut hist)?;
                note = format!(
                    " ({n} entries, {} in the memtable; latency per 1000 entries)",
                    db.stats().memtable_entries
                );
                (n, b)
            }
            "deleteprefix" => {
                let (n, b, text) = self.delete_prefix(&mut hist)?;
                note = text;
                (n, b)
            }
            "seekrandom" => {
                let (seeks, b) = self.seek(&mut hist)?;
                note = format!(" ({seeks} seeks + up to 100 nexts each)");
                (seeks, b)
            }
            "readrandomcold" | "readrandomwarm" => {
                if name == "readrandomcold" {
                    self.reopen_cold()?;
                } else {
                    self.read(false, &mut Hist { nanos: Vec::new() })?;
                }
                let (found, b) = self.read(false, &mut hist)?;
                note = format!(" ({found} of {} found)", self.reads());
                (self.reads(), b)
            }
            "readrandom" | "readmissing" => {
                let missing = name == "readmissing";
                // The fill (if needed) and the flush are not timed.
                let (found, b) = self.read(missing, &mut hist)?;
                note = format!(" ({found} of {} found)", self.reads());
                (self.reads(), b)
            }
            other => {
                eprintln!("unknown benchmark {other}, skipped");
                return Ok(());
            }
        };
        // Time the operations only (the read benchmarks' setup is excluded).
        let timed: Duration = Duration::from_nanos(hist.nanos.iter().sum());
        let elapsed = if name.starts_with("read") || name == "seekrandom" || name == "deleteprefix"
        {
            timed
        } else {
            start.elapsed()
        };
        let secs = elapsed.as_secs_f64().max(1e-9);
        if let (Some(a), Some(b)) = (io_before, storage_read_bytes()) {
            note.push_str(&format!(
                " [read from storage {:.1} MiB]",
                b.saturating_sub(a) as f64 / (1 << 20) as f64
            ));
        }
        println!(
            "{name:<12} : {:>10.0} ops/s {:>8.1} MB/s  p50 {:>9.2?} p99 {:>9.2?} p99.9 {:>9.2?}  disk {:>7.1} MiB{note}",
            ops as f64 / secs,
            bytes as f64 / secs / 1e6,
            hist.percentile(0.50),
            hist.percentile(0.99),
            hist.percentile(0.999),
            dir_bytes(&self.dir) as f64 / (1 << 20) as f64,
        );
        if name.starts_with("fill")
            && let Some(db) = &self.db
        {
            print_fill_costs(&cpu_before, &stalls_before.unwrap_or_default(), &db.stats());
        }
        Ok(())
    }
}

/// CPU seconds (user + system) of every thread of this process, by thread id, with its name.
fn thread_cpu() -> std::collections::BTreeMap<u64, (String, f64)> {
    let mut out = std::collections::BTreeMap::new();
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return out;
    };
    for t in tasks.flatten() {
        let Ok(stat) = std::fs::read_to_string(t.path().join("stat")) else {
            continue;
        };
        // pid (comm) state ... utime stime: fields 14 and 15, counted after the ')'.
        let (Some(open), Some(close)) = (stat.find('('), stat.rfind(')')) else {
            continue;
        };
        let comm = stat[open + 1..close].to_string();
        let f: Vec<&str> = stat[close + 1..].split_whitespace().collect();
        let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
        let tid = t.file_name().to_string_lossy().parse().unwrap_or(0);
        // USER_HZ is 100 on Linux.
        out.insert(tid, (comm, (ticks(11) + ticks(12)) as f64 / 100.0));
    }
    out
}

/// Returns once no flush or compaction has run for a second and none is due (polled).
fn wait_idle(db: &lsmkv::Db) {
    let trigger = db.options().l0_compaction_trigger as u64;
    let mut last = None;
    loop {
        let s = db.stats();
        let l0 = s.levels.first().map_or(0, |l| l.files);
        let quiet = s.pending_compaction_bytes == 0 && s.immutable_memtables == 0 && l0 < trigger;
        let now = (s.compactions, s.flushes);
        if quiet && last == Some(now) {
            return;
        }
        last = quiet.then_some(now);
        std::thread::sleep(Duration::from_secs(1));
    }
}

/// After a fill: CPU seconds each thread used during it (by name, summed over threads of one
/// name) and the write stalls by cause.
fn print_fill_costs(
    before: &std::collections::BTreeMap<u64, (String, f64)>,
    stalls_before: &lsmkv::StallStats,
    st: &lsmkv::Stats,
) {
    let mut by_name: std::collections::BTreeMap<String, f64> = Default::default();
    for (tid, (name, secs)) in thread_cpu() {
        let was = before.get(&tid).map_or(0.0, |b| b.1);
        *by_name.entry(name).or_default() += secs - was;
    }
    let cpu: Vec<String> = by_name
        .iter()
        .filter(|(_, s)| **s >= 0.01)
        .map(|(n, s)| format!("{n} {s:.2}"))
        .collect();
    let (a, b) = (&st.stalls, stalls_before);
    println!(
        "  cpu s: {}; stalls: memtable {} ({:.0} ms), L0 slowdown {} ({:.0} ms), L0 stop {} ({:.0} ms), pending {} ({:.0} ms); peak L0 {}, frozen memtables {}, pending compaction {:.0} MiB; {} flushes {:.0} MiB, {} compactions {:.0} MiB written",
        cpu.join(", "),
        a.memtable_waits - b.memtable_waits,
        (a.memtable_micros - b.memtable_micros) as f64 / 1e3,
        a.l0_slowdowns - b.l0_slowdowns,
        (a.l0_slowdown_micros - b.l0_slowdown_micros) as f64 / 1e3,
        a.l0_stops - b.l0_stops,
        (a.l0_stop_micros - b.l0_stop_micros) as f64 / 1e3,
        a.pending_slowdowns + a.pending_stops - b.pending_slowdowns - b.pending_stops,
        (a.pending_slowdown_micros + a.pending_stop_micros
            - b.pending_slowdown_micros
            - b.pending_stop_micros) as f64
            / 1e3,
        a.peak_l0_files,
        a.peak_immutable_memtables,
        a.peak_pending_compaction_bytes as f64 / 1048576.0,
        st.flushes,
        st.flush_bytes_written as f64 / 1048576.0,
        st.compactions,
        st.compaction_bytes_written as f64 / 1048576.0,
    );
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(a) => a,
        Err(msg) => {
            eprintln!("{msg}");
            return ExitCode::from(2);
        }
    };
    let (dir, temporary) = match &args.db {
        Some(d) => (d.clone(), false),
        None => (
            std::env::temp_dir().join(format!("lsmkv-bench-{}", std::process::id())),
            true,
        ),
    };
    if !args.use_existing_db
        && dir.exists()
        && std::fs::read_dir(&dir)
            .map(|mut d| d.next().is_some())
            .unwrap_or(false)
    {
        eprintln!(
            "{} is not empty; delete it or pass --use-existing-db",
            dir.display()
        );
        return ExitCode::from(2);
    }
    let commit = std::process::Command::new("git")
        .args(["rev-parse", "--short", "HEAD"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_else(|| "unknown".into());
    println!(
        "lsmkv {} (commit {commit}, {} build)  keys {} B  values {} B (50% compressible)  num {}  sync {:?}  mmap advice {:?}  cpus {}  db {}",
        env!("CARGO_PKG_VERSION"),
        if cfg!(debug_assertions) {
            "DEBUG"
        } else {
            "release"
        },
        args.key_size,
        args.value_size,
        args.num,
        args.sync_mode,
        args.mmap_advice,
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1),
        dir.display(),
    );
    set_open_advice(args.mmap_advice);
    let mut rng = Rng::new(args.seed);
    let values = ValueGen::new(&mut rng, args.value_size);
    let mut bench = Bench {
        args: &args,
        dir: dir.clone(),
        db: None,
        rng,
        values,
        seq_filled: false,
    };
    let mut status = ExitCode::SUCCESS;
    for name in &args.benchmarks {
        if let Err(e) = bench.run(name) {
            eprintln!("{name}: {e}");
            status = ExitCode::FAILURE;
            break;
        }
    }
    if let Some(db) = bench.db.take()
        && let Err(e) = db.close()
    {
        eprintln!("close: {e}");
        status = ExitCode::FAILURE;
    }
    if temporary {
        let _ = std::fs::remove_dir_all(&dir);
    }
    status
}
