//! Workloads, key/value generation and the per-process runner (`compare run`).
//!
//! Keys are 16 bytes: 15 decimal digits of the key index and a tag byte, `0` for keys that are
//! written and `1` for keys that never are, so missing keys fall between present ones (inside
//! every table's key range: only the bloom filter can skip them). Values are 100 bytes: 50
//! pseudo-random bytes followed by the same 50 again (half compressible). All randomness comes
//! from splitmix64 seeded by `--seed` and the workload, so runs are repeatable.

pub mod deleterange;
mod keyspaces;
pub mod levels;
#[cfg(test)]
mod mem;
mod txn;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Instant;

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

use crate::engines::{Engine, LsmStats, Result};
use crate::sys;

pub const KEY_LEN: usize = 16;
pub const VALUE_LEN: usize = 100;
/// Entries per batch in `fillbatch` and in the (untimed) load of the read group.
pub const BATCH: usize = 1000;
/// Entries read after each seek in `seekrandom`.
pub const SEEK_NEXTS: usize = 100;
/// fillsync's puts run in this many turns, with a turn of the device probe before each and after
/// the last.
const DEVICE_PROBE_TURNS: u64 = 4;
/// Most writes of the device probe beside fillsync, all turns together.
const DEVICE_PROBE_MAX: u64 = 5000;

/// Writer threads in `fillsync4`.
pub const SYNC_THREADS: usize = 4;
/// Keyspaces (column families, partitions, tables) of `keyspaces4` and `keyspaces4read`.
pub const KEYSPACES: usize = 4;
/// Threads in `txn4`.
pub const TXN_THREADS: usize = 4;
/// What one `txn`/`txn4` op is.
pub const TXN_UNIT: &str = "txn of 2 gets + 2 puts";
/// What the latency of `deleterange` covers (its `ops` count the keys deleted).
pub const DELETE_UNIT: &str = "delete of the prefix";

/// Puts per second of the writer of `readwhilewriting10k`: a rate every engine sustains, so that
/// the reads of every engine run beside the same write load (as db_bench's readwhilewriting with
/// `--benchmark_write_rate_limit`); `readwhilewriting`'s writer runs as fast as the engine lets it.
pub const PACED_WRITER_PUTS_PER_SEC: u64 = 10_000;

/// Every workload: name, the process group it runs in, and what one timed "op" is.
/// Workloads of one group run in one child process, in this order, on one database.
pub const WORKLOADS: &[(&str, &str, &str)] = &[
    ("fillseq", "fillseq", "put"),
    ("fillrandom", "fill", "put"),
    ("overwrite", "fill", "put"),
    ("fillbatch", "fillbatch", "batch of 1000"),
    ("fillsync", "sync", "put + fsync"),
    ("fillsync4", "sync", "put + fsync"),
    ("readrandom", "read", "get"),
    ("readmissing", "read", "get"),
    ("readseq", "read", "next"),
    ("seekrandom", "read", "seek + 100 next"),
    ("readwhilewriting", "read", "get"),
    ("readwhilewriting10k", "read", "get"),
    ("keyspaces4", "keyspaces", "put"),
    ("keyspaces4read", "keyspaces", "get"),
    ("txn", "txn", TXN_UNIT),
    ("txn4", "txn", TXN_UNIT),
    ("deleterange", "deleterange", DELETE_UNIT),
    ("readlevels", "fill", "get"),
];

/// Workloads that run only when `--workloads` names them: readlevels describes the tree
/// fillrandom left, which overwrite (before it in the fill group) would replace.
pub const OPT_IN: &[&str] = &["readlevels"];

/// The workloads of a run without `--workloads`, in table order.
pub fn default_workloads() -> Vec<&'static str> {
    WORKLOADS
        .iter()
        .map(|w| w.0)
        .filter(|w| !OPT_IN.contains(w))
        .collect()
}

pub fn group_of(workload: &str) -> Option<&'static str> {
    WORKLOADS.iter().find(|w| w.0 == workload).map(|w| w.1)
}

fn unit_of(workload: &str) -> &'static str {
    WORKLOADS
        .iter()
        .find(|w| w.0 == workload)
        .map_or("op", |w| w.2)
}

/// Sizes and seed of a run; passed verbatim from the driver to each child.
#[derive(Debug, Clone, Serialize, Deserialize, clap::Args)]
pub struct Params {
    /// Keys written by the fill workloads and loaded for the read workloads. Not a flag here:
    /// the driver takes a list (`--num 1000000,10000000`) and gives each child one size.
    #[arg(skip = 1_000_000_u64)]
    pub num: u64,
    /// Gets in readrandom, readmissing and readwhilewriting (default: --num).
    #[arg(long)]
    pub reads: Option<u64>,
    /// Seeks in seekrandom, each followed by 100 nexts (default: --num / 10).
    #[arg(long)]
    pub seeks: Option<u64>,
    /// Writes in fillsync and in fillsync4 (all threads together) (default: min(--num, 10000)).
    #[arg(long)]
    pub sync_num: Option<u64>,
    /// Transactions in txn and in txn4 (all threads together) (default: --num / 10).
    #[arg(long)]
    #[serde(default)]
    pub txns: Option<u64>,
    /// Counters the transactions pick from: keys 0..N of the loaded --num (default: all of
    /// them); fewer make transactions collide (conflicts, or waits where writers queue).
    #[arg(long)]
    #[serde(default)]
    pub txn_keys: Option<u64>,
    /// Seed of every random choice.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Block/page cache of every engine, MiB.
    #[arg(long, default_value_t = 64)]
    pub cache_mib: u64,
    /// lsmkv option NAME=VALUE, named as its environment variable (LEVEL_BASE_SIZE=4MiB,
    /// TARGET_FILE_SIZE=1MiB, ...); repeatable; applied after the tool's own settings.
    #[arg(long = "lsmkv-opt", value_name = "NAME=VALUE")]
    #[serde(default)]
    pub lsmkv_opts: Vec<String>,
    /// Interval of the resident-memory sampler (RssAnon/RssFile peaks), ms; 0 samples only at
    /// the start and end of each workload.
    #[arg(long, default_value_t = DEFAULT_RSS_SAMPLE_MS)]
    #[serde(default = "default_rss_sample_ms")]
    pub rss_sample_ms: u64,
    /// A deep LSM tree: lsmkv with small memtable, base level and tables (see README.md; any
    /// --lsmkv-opt given too wins), and RocksDB with the same shape.
    #[arg(long)]
    #[serde(default)]
    pub deep_tree: bool,
}

pub const DEFAULT_RSS_SAMPLE_MS: u64 = 10;

/// The sizes of a run: `--num 1000000,10000000` (or `1M,10M`), ascending, each once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sizes(pub Vec<u64>);

/// Parses a comma-separated list of key counts. A count is digits with an optional decimal
/// suffix `k` (1e3), `M` (1e6) or `G` (1e9), case-insensitive; `_` may group digits.
pub fn parse_sizes(s: &str) -> std::result::Result<Sizes, String> {
    let mut v = Vec::new();
    for part in s.split(',') {
        let t = part.trim().replace('_', "");
        let (digits, mult) = match t.char_indices().last() {
            Some((i, 'k' | 'K')) => (&t[..i], 1_000),
            Some((i, 'm' | 'M')) => (&t[..i], 1_000_000),
            Some((i, 'g' | 'G')) => (&t[..i], 1_000_000_000),
            _ => (&t[..], 1),
        };
        let n = digits
            .parse::<u64>()
            .ok()
            .and_then(|n| n.checked_mul(mult))
            .ok_or_else(|| format!("{part:?} is not a number of keys (e.g. 1000000 or 1M)"))?;
        if n == 0 {
            return Err("a number of keys must be at least 1".into());
        }
        v.push(n);
    }
    v.sort_unstable();
    v.dedup();
    Ok(Sizes(v))
}

fn default_rss_sample_ms() -> u64 {
    DEFAULT_RSS_SAMPLE_MS
}

impl Params {
    pub fn reads(&self) -> u64 {
        self.reads.unwrap_or(self.num)
    }
    pub fn seeks(&self) -> u64 {
        self.seeks.unwrap_or((self.num / 10).max(1))
    }
    pub fn sync_num(&self) -> u64 {
        self.sync_num.unwrap_or(self.num.min(10_000))
    }
    pub fn txns(&self) -> u64 {
        self.txns.unwrap_or((self.num / 10).max(1))
    }
    /// At least 2 (a transaction takes two distinct counters), at most --num.
    pub fn txn_keys(&self) -> u64 {
        self.txn_keys.unwrap_or(self.num).clamp(2, self.num.max(2))
    }
    /// Values of every `--flag` this struct has, for a child's command line (which gets
    /// `--num` of its own).
    pub fn to_args(&self) -> Vec<String> {
        let mut a = vec![
            "--seed".to_string(),
            self.seed.to_string(),
            "--cache-mib".into(),
            self.cache_mib.to_string(),
            "--rss-sample-ms".into(),
            self.rss_sample_ms.to_string(),
        ];
        if self.deep_tree {
            a.push("--deep-tree".into());
        }
        for o in &self.lsmkv_opts {
            a.push("--lsmkv-opt".into());
            a.push(o.clone());
        }
        for (flag, v) in [
            ("--reads", self.reads),
            ("--seeks", self.seeks),
            ("--sync-num", self.sync_num),
            ("--txns", self.txns),
            ("--txn-keys", self.txn_keys),
        ] {
            if let Some(v) = v {
                a.push(flag.into());
                a.push(v.to_string());
            }
        }
        a
    }
}

/// One (engine, workload) measurement. Also the JSON record.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WorkloadResult {
    pub engine: String,
    pub workload: String,
    /// Keys of the run (`--num`); 0 in reports written before runs had several sizes.
    #[serde(default)]
    pub num: u64,
    /// "ok", "unsupported" or "failed".
    pub status: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// What one latency sample covers ("put", "get", "batch of 1000", "seek + 100 next", ...).
    pub unit: String,
    /// Timed operations (for readseq: entries; for fillbatch: keys, i.e. 1000 per batch).
    pub ops: u64,
    pub secs: f64,
    pub ops_per_sec: f64,
    pub p50_us: Option<f64>,
    pub p99_us: Option<f64>,
    #[serde(default)]
    pub p999_us: Option<f64>,
    /// Gets that found their key (readrandom, readmissing, readwhilewriting).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub found: Option<u64>,
    /// Bytes allocated to the files of the database directory (as `du`) after the workload and
    /// an untimed flush (after overwrite: and a full compaction where the engine has one).
    /// Allocated rather than apparent size: fjall's journal is a sparse 64 MiB file.
    pub disk_bytes: u64,
    /// The same as the sum of file lengths (`du --apparent-size`).
    pub disk_apparent_bytes: u64,
    /// disk_bytes / (distinct keys * 116 bytes): the raw size of the live data.
    pub space_amp: f64,
    /// Peak RSS (VmHWM) of the child while this workload ran (reset before it, where allowed;
    /// else the sampled peak of VmRSS).
    pub peak_rss_bytes: u64,
    /// Sampled peak of RssAnon (heap and other anonymous memory) while this workload ran.
    #[serde(default)]
    pub peak_anon_bytes: u64,
    /// Sampled peak of RssFile (resident pages of mapped files: reclaimable page cache).
    #[serde(default)]
    pub peak_file_bytes: u64,
    /// Whether the engine ran a full compaction before `disk_bytes` was measured.
    pub compacted: bool,
    /// readwhilewriting: puts per second of the concurrent writer.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub writer_ops_per_sec: Option<f64>,
    /// txn, txn4: attempts that failed with a conflict and were retried (`ops` counts commits).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conflicts: Option<u64>,
    /// What the workload's end-of-run check confirmed (it fails the workload otherwise).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verified: Option<String>,
    /// LSM engines that expose their counters (lsmkv): bytes written to tables by flushes and
    /// compactions during the workload and its flush / user key+value bytes written by it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub write_amp: Option<f64>,
    /// Non-empty levels after the workload (and its flush; before a full compaction).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub levels: Option<u32>,
    /// Tables and bytes per non-empty level at that moment, and the bytes written into each
    /// level during the workload (levels with tables or writes).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub level_shape: Vec<LevelShape>,
    /// Key and value bytes the workload wrote, as the engine counted them (the divisor of
    /// `write_amp`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_bytes: Option<u64>,
    /// readlevels: point-read latency by the level holding the key's newest version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub level_reads: Option<levels::LevelReads>,
    /// Bytes compaction still had to rewrite then (written later, so not in `write_amp`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pending_compaction_bytes: Option<u64>,
    /// deleterange: the delete, the reclamation step and the bytes on disk around them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deleterange: Option<deleterange::DeleteRangeInfo>,
    /// LSM engines that expose their counters (lsmkv): write stalls by cause and background
    /// work during the workload and its flush (peaks: the most since the process opened the
    /// database).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stalls: Option<StallCounts>,
    /// fillsync: the device's in-place `fdatasync` rate (writes/s of 128 bytes into written,
    /// synced blocks), measured beside the workload (`sys::device_syncs_per_sec`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device_syncs_per_sec: Option<f64>,
}

/// Write stalls by cause, flushes and compactions of an LSM engine over one workload.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct StallCounts {
    /// Writes that were slowed down or waited.
    pub stalls: u64,
    /// Time writers spent in those, in ms; and by cause: frozen memtables waiting for flush,
    /// level 0 between its slowdown and stop triggers, level 0 at its stop trigger, pending
    /// compaction bytes over a limit.
    pub stall_ms: f64,
    pub memtable_ms: f64,
    pub l0_slowdown_ms: f64,
    pub l0_stop_ms: f64,
    pub pending_ms: f64,
    /// Most level-0 tables, frozen memtables and pending compaction bytes at once.
    pub peak_l0_files: u64,
    pub peak_immutable_memtables: u64,
    pub peak_pending_compaction_bytes: u64,
    /// Memtable flushes and the bytes they wrote; compactions (trivial moves included) and the
    /// bytes they wrote.
    pub flushes: u64,
    pub flush_bytes: u64,
    pub compactions: u64,
    pub compaction_bytes: u64,
}

impl StallCounts {
    /// What happened between `before` and `after` (peaks are `after`'s).
    fn since(&self, before: &StallCounts) -> StallCounts {
        StallCounts {
            stalls: self.stalls.saturating_sub(before.stalls),
            stall_ms: self.stall_ms - before.stall_ms,
            memtable_ms: self.memtable_ms - before.memtable_ms,
            l0_slowdown_ms: self.l0_slowdown_ms - before.l0_slowdown_ms,
            l0_stop_ms: self.l0_stop_ms - before.l0_stop_ms,
            pending_ms: self.pending_ms - before.pending_ms,
            flushes: self.flushes.saturating_sub(before.flushes),
            flush_bytes: self.flush_bytes.saturating_sub(before.flush_bytes),
            compactions: self.compactions.saturating_sub(before.compactions),
            compaction_bytes: self
                .compaction_bytes
                .saturating_sub(before.compaction_bytes),
            ..self.clone()
        }
    }

    /// One line for the progress output.
    pub fn summary(&self) -> String {
        format!(
            "stalls {} {:.0} ms (memtable {:.0}, L0 slow {:.0}, L0 stop {:.0}, pending {:.0}), peak L0 {} imm {} pending {:.0} MiB, {} flushes {:.0} MiB, {} compactions {:.0} MiB",
            self.stalls,
            self.stall_ms,
            self.memtable_ms,
            self.l0_slowdown_ms,
            self.l0_stop_ms,
            self.pending_ms,
            self.peak_l0_files,
            self.peak_immutable_memtables,
            self.peak_pending_compaction_bytes as f64 / 1048576.0,
            self.flushes,
            self.flush_bytes as f64 / 1048576.0,
            self.compactions,
            self.compaction_bytes as f64 / 1048576.0,
        )
    }
}

/// One level of an LSM tree that has tables or had bytes written into it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LevelShape {
    pub level: u32,
    pub files: u64,
    pub bytes: u64,
    /// Bytes of new tables flushes and compactions wrote into the level: during the workload and
    /// its flush in a result (0 in runs saved before it was counted), since open in
    /// [`crate::engines::LsmStats`].
    #[serde(default)]
    pub bytes_written: u64,
}

impl WorkloadResult {
    pub fn empty(engine: &str, workload: &str, status: &str, error: Option<String>) -> Self {
        WorkloadResult {
            engine: engine.into(),
            workload: workload.into(),
            num: 0,
            status: status.into(),
            error,
            unit: unit_of(workload).into(),
            ops: 0,
            secs: 0.0,
            ops_per_sec: 0.0,
            p50_us: None,
            p99_us: None,
            p999_us: None,
            found: None,
            disk_bytes: 0,
            disk_apparent_bytes: 0,
            space_amp: 0.0,
            peak_rss_bytes: 0,
            peak_anon_bytes: 0,
            peak_file_bytes: 0,
            compacted: false,
            writer_ops_per_sec: None,
            conflicts: None,
            verified: None,
            write_amp: None,
            levels: None,
            level_shape: Vec::new(),
            user_bytes: None,
            level_reads: None,
            pending_compaction_bytes: None,
            deleterange: None,
            stalls: None,
            device_syncs_per_sec: None,
        }
    }

    /// Fills the LSM columns from the engine's counters before and after the workload.
    fn set_lsm(&mut self, before: &LsmStats, after: &LsmStats) {
        let user = after.user_bytes.saturating_sub(before.user_bytes);
        let table = after
            .table_bytes_written
            .saturating_sub(before.table_bytes_written);
        self.write_amp = (user > 0).then(|| table as f64 / user as f64);
        self.user_bytes = (user > 0).then_some(user);
        let written_before = |level: u32| {
            before
                .levels
                .iter()
                .find(|l| l.level == level)
                .map_or(0, |l| l.bytes_written)
        };
        self.level_shape = after
            .levels
            .iter()
            .map(|l| LevelShape {
                bytes_written: l.bytes_written.saturating_sub(written_before(l.level)),
                ..l.clone()
            })
            .filter(|l| l.files > 0 || l.bytes_written > 0)
            .collect();
        self.levels = Some(self.level_shape.iter().filter(|l| l.files > 0).count() as u32);
        self.pending_compaction_bytes = Some(after.pending_compaction_bytes);
        self.stalls = match (&before.stalls, &after.stalls) {
            (Some(b), Some(a)) => Some(a.since(b)),
            _ => None,
        };
    }
}

/// splitmix64: tiny, fast, good enough to pick keys and fill values.
#[derive(Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64, stream: &str) -> Rng {
        let mut h = seed ^ 0x9e37_79b9_7f4a_7c15;
        for b in stream.bytes() {
            h = (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3);
        }
        Rng(h)
    }
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    /// Uniform in 0..n (n > 0), by multiply-shift.
    pub fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.next_u64()) * u128::from(n)) >> 64) as u64
    }
}

/// The key of index `i`: 15 decimal digits, then `0` (written) or `1` (never written).
pub fn key(i: u64, present: bool) -> [u8; KEY_LEN] {
    let mut k = [b'0'; KEY_LEN];
    let mut n = i;
    for slot in k[..KEY_LEN - 1].iter_mut().rev() {
        *slot = b'0' + (n % 10) as u8;
        n /= 10;
    }
    k[KEY_LEN - 1] = if present { b'0' } else { b'1' };
    k
}

/// The index of a key made by [`key`] and whether it is a written one; `None` for other keys.
pub fn key_index(k: &[u8]) -> Option<(u64, bool)> {
    let (digits, tag) = k.split_last_chunk::<1>()?;
    if k.len() != KEY_LEN || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let i = digits
        .iter()
        .fold(0u64, |n, d| n * 10 + u64::from(d - b'0'));
    match tag {
        [b'0'] => Some((i, true)),
        [b'1'] => Some((i, false)),
        _ => None,
    }
}

/// 50 random bytes, then the same 50 bytes again.
pub fn fill_value(rng: &mut Rng, v: &mut [u8; VALUE_LEN]) {
    let half = VALUE_LEN / 2;
    for chunk in v[..half].chunks_mut(8) {
        let r = rng.next_u64().to_le_bytes();
        chunk.copy_from_slice(&r[..chunk.len()]);
    }
    v.copy_within(..half, half);
}

/// A random permutation of 0..n (Fisher-Yates).
fn permutation(n: u64, rng: &mut Rng) -> Vec<u64> {
    let mut v: Vec<u64> = (0..n).collect();
    for i in (1..v.len()).rev() {
        let j = rng.below(i as u64 + 1) as usize;
        v.swap(i, j);
    }
    v
}

fn new_hist() -> Histogram<u64> {
    // 1 ns .. 100 s at 3 significant digits; record() saturates beyond that.
    Histogram::new_with_bounds(1, 100_000_000_000, 3).expect("valid histogram bounds")
}

/// Timing of one workload: per-op latencies and the wall time of the whole.
struct Meas {
    hist: Histogram<u64>,
    ops: u64,
    found: u64,
    secs: f64,
}

impl Meas {
    fn new() -> Self {
        Meas {
            hist: new_hist(),
            ops: 0,
            found: 0,
            secs: 0.0,
        }
    }
    fn merge(&mut self, o: &Meas) {
        self.hist.add(&o.hist).ok();
        self.ops += o.ops;
        self.found += o.found;
    }
}

/// `readwhilewriting` (writer unpaced) and `readwhilewriting10k` (writer at `rate` puts/s): `reads`
/// gets of random present keys on this thread while one writer thread overwrites random keys.
fn read_while_writing(
    eng: &dyn Engine,
    w: &str,
    p: &Params,
    rate: Option<u64>,
) -> Result<Option<(Meas, Extra)>> {
    let seed = p.seed;
    let stop = AtomicBool::new(false);
    let writes = AtomicU64::new(0);
    let reads = p.reads();
    let (m, wsecs) = std::thread::scope(|s| -> Result<(Meas, f64)> {
        let writer = s.spawn(|| -> Result<f64> {
            let mut kr = Rng::new(seed, "readwhilewriting/writer");
            let mut vr = Rng::new(seed, "readwhilewriting/writer/values");
            let mut v = [0u8; VALUE_LEN];
            let t = Instant::now();
            let mut n = 0u64;
            while !stop.load(Ordering::Relaxed) {
                if let Some(wait) = rate.and_then(|r| pace_wait(r, n, t.elapsed())) {
                    std::thread::sleep(wait);
                    continue;
                }
                fill_value(&mut vr, &mut v);
                eng.put(&key(kr.below(p.num), true), &v, false)?;
                writes.fetch_add(1, Ordering::Relaxed);
                n += 1;
            }
            Ok(t.elapsed().as_secs_f64())
        });
        let mut krng = Rng::new(seed, w);
        let res = (|| -> Result<Meas> {
            let mut r = eng.reader()?;
            timed(reads, |_| {
                Ok(u64::from(r.get(&key(krng.below(p.num), true))?.is_some()))
            })
        })();
        stop.store(true, Ordering::Relaxed);
        let wsecs = writer
            .join()
            .unwrap_or_else(|_| Err("writer thread panicked".into()))?;
        Ok((res?, wsecs))
    })?;
    let wps = writes.load(Ordering::Relaxed) as f64 / wsecs.max(1e-9);
    let extra = Extra {
        writer_ops_per_sec: Some(wps),
        ..Extra::default()
    };
    Ok(Some((m, extra)))
}

/// How long a writer paced at `rate` puts/s waits before put number `n` (counted from 0), `elapsed`
/// after it started: put n is due n/rate seconds after the start, so a writer that fell behind
/// catches up at full speed and one ahead sleeps; `None` when the put is due.
fn pace_wait(rate: u64, n: u64, elapsed: std::time::Duration) -> Option<std::time::Duration> {
    let due = std::time::Duration::from_secs_f64(n as f64 / rate.max(1) as f64);
    due.checked_sub(elapsed).filter(|w| !w.is_zero())
}

/// Calls `op(i)` for i in 0..n, timing each call into the histogram. One clock read per op.
fn timed(n: u64, mut op: impl FnMut(u64) -> Result<u64>) -> Result<Meas> {
    let mut m = Meas::new();
    let start = Instant::now();
    let mut t0 = start;
    for i in 0..n {
        m.found += op(i)?;
        let t1 = Instant::now();
        m.hist.saturating_record((t1 - t0).as_nanos() as u64);
        t0 = t1;
    }
    m.ops = n;
    m.secs = start.elapsed().as_secs_f64();
    Ok(m)
}

/// Runs `workloads` (all of one group, in table order) against engine `eng` on a fresh database
/// in `dir`. Never panics on engine errors: a failing workload is reported as failed.
pub fn run_group(
    engine_name: &str,
    eng: &dyn Engine,
    dir: &std::path::Path,
    workloads: &[String],
    p: &Params,
) -> Vec<WorkloadResult> {
    let mut out = Vec::new();
    let group = workloads.first().and_then(|w| group_of(w)).unwrap_or("");

    let prep = || -> Result<u64> {
        match group {
            // overwrite alone still needs the keys to overwrite.
            "fill" if !workloads.iter().any(|w| w == "fillrandom") => {
                load(eng, p.num, p.seed)?;
                Ok(p.num)
            }
            "read" => {
                let t = Instant::now();
                load(eng, p.num, p.seed)?;
                eng.flush()?;
                warm(eng, p.num)?;
                eprintln!(
                    "  [{engine_name}] loaded, flushed and warmed {} keys in {:.1}s",
                    p.num,
                    t.elapsed().as_secs_f64()
                );
                Ok(p.num)
            }
            // keyspaces4read alone still needs the keys to read.
            "keyspaces" if !workloads.iter().any(|w| w == "keyspaces4") => {
                keyspaces::load(eng, p.num, p.seed)
            }
            "deleterange" => {
                let t = Instant::now();
                let n = deleterange::load(eng, p)?;
                eprintln!(
                    "  [{engine_name}] loaded {n} keys under two prefixes, flushed and compacted \
                     in {:.1}s",
                    t.elapsed().as_secs_f64()
                );
                Ok(n)
            }
            "txn" => {
                let t = Instant::now();
                let n = txn::load_counters(eng, p.num, p.seed)?;
                eprintln!(
                    "  [{engine_name}] loaded, flushed and warmed {n} counters in {:.1}s",
                    t.elapsed().as_secs_f64()
                );
                Ok(n)
            }
            _ => Ok(0),
        }
    };
    // Distinct keys in the database, for space amplification.
    let mut distinct: u64 = match prep() {
        Ok(n) => n,
        Err(e) => {
            for w in workloads {
                out.push(WorkloadResult::empty(
                    engine_name,
                    w,
                    "failed",
                    Some(format!("preparing the database: {e}")),
                ));
            }
            return out;
        }
    };

    let sampler = sys::MemSampler::start(std::time::Duration::from_millis(p.rss_sample_ms));
    for w in workloads {
        let lsm_before = eng.lsm_stats();
        let hwm_reset = sys::reset_peak_rss();
        sampler.reset();
        let res = run_one(eng, w, dir, p);
        let mem = sampler.peaks();
        let mut r = match res {
            Ok(None) => WorkloadResult::empty(engine_name, w, "unsupported", None),
            Ok(Some((m, extra))) => {
                let mut r = WorkloadResult::empty(engine_name, w, "ok", None);
                r.ops = m.ops;
                r.secs = m.secs;
                r.ops_per_sec = if m.secs > 0.0 {
                    m.ops as f64 / m.secs
                } else {
                    0.0
                };
                if w == "fillbatch" {
                    // Histogram holds per-batch latencies; ops count keys.
                    r.ops *= BATCH as u64;
                    r.ops_per_sec *= BATCH as f64;
                }
                if !m.hist.is_empty() {
                    r.p50_us = Some(m.hist.value_at_quantile(0.50) as f64 / 1000.0);
                    r.p99_us = Some(m.hist.value_at_quantile(0.99) as f64 / 1000.0);
                    r.p999_us = Some(m.hist.value_at_quantile(0.999) as f64 / 1000.0);
                }
                if matches!(
                    w.as_str(),
                    "readrandom"
                        | "readmissing"
                        | "readwhilewriting"
                        | "readwhilewriting10k"
                        | "keyspaces4read"
                ) {
                    r.found = Some(m.found);
                }
                r.writer_ops_per_sec = extra.writer_ops_per_sec;
                r.conflicts = extra.conflicts;
                r.verified = extra.verified;
                r.deleterange = extra.deleterange;
                r.level_reads = extra.level_reads;
                r.device_syncs_per_sec = extra.device_syncs_per_sec;
                r
            }
            Err(e) => WorkloadResult::empty(engine_name, w, "failed", Some(e.to_string())),
        };
        r.num = p.num;
        r.peak_rss_bytes = if hwm_reset {
            sys::peak_rss_bytes()
        } else {
            mem.rss
        };
        r.peak_anon_bytes = mem.anon;
        r.peak_file_bytes = mem.file;
        distinct = match w.as_str() {
            "fillseq" | "fillrandom" | "fillbatch" | "keyspaces4" => p.num,
            "fillsync" | "fillsync4" => distinct + p.sync_num(),
            "deleterange" => deleterange::kept_keys(p.num),
            _ => distinct,
        };
        // Untimed: make the state on disk comparable before measuring it. The LSM counters are
        // read after the flush (so the memtable's bytes count) and before the full compaction
        // (which is ours, not the workload's).
        let writes = matches!(
            w.as_str(),
            "overwrite"
                | "readwhilewriting"
                | "readwhilewriting10k"
                | "keyspaces4"
                | "txn"
                | "txn4"
        );
        let flushed = if w.starts_with("fill") || writes {
            eng.flush()
        } else {
            Ok(())
        };
        if let (Some(before), Some(after)) = (&lsm_before, eng.lsm_stats())
            && r.status == "ok"
        {
            r.set_lsm(before, &after);
            if w == "deleterange" {
                // The workload's own compaction rewrote what the load wrote: bytes over the
                // few bytes of one range tombstone would be no write amplification.
                r.write_amp = None;
            }
        }
        let settled = flushed.and_then(|()| {
            if w == "overwrite" {
                eng.compact()
            } else {
                Ok(false)
            }
        });
        match settled {
            Ok(c) => r.compacted = c,
            Err(e) => {
                r.status = "failed".into();
                r.error = Some(format!("flush/compact after the workload: {e}"));
            }
        }
        let (apparent, allocated) = sys::dir_bytes(dir);
        r.disk_bytes = allocated;
        r.disk_apparent_bytes = apparent;
        if distinct > 0 {
            r.space_amp = allocated as f64 / (distinct as f64 * (KEY_LEN + VALUE_LEN) as f64);
        }
        eprintln!(
            "  [{engine_name} {}] {w:<17} {:>9} {:>12.0} ops/s  p50 {:>8} us  p99 {:>8} us  disk {:>6.1} MiB  rss {:>6.1} MiB (anon {:.1}, file {:.1}){}{}{}",
            p.num,
            r.status,
            r.ops_per_sec,
            r.p50_us.map_or("-".into(), |v| format!("{v:.2}")),
            r.p99_us.map_or("-".into(), |v| format!("{v:.2}")),
            r.disk_bytes as f64 / 1048576.0,
            r.peak_rss_bytes as f64 / 1048576.0,
            r.peak_anon_bytes as f64 / 1048576.0,
            r.peak_file_bytes as f64 / 1048576.0,
            match (r.write_amp, r.levels) {
                (Some(wa), Some(l)) => format!("  w-amp {wa:.2}, {l} levels"),
                (None, Some(l)) => format!("  {l} levels"),
                _ => String::new(),
            },
            r.conflicts.map_or(String::new(), |c| format!(
                "  conflicts {c} ({:.2}%)",
                crate::report::conflict_rate(r.ops, c) * 100.0
            )),
            r.error
                .as_deref()
                .map_or(String::new(), |e| format!("  ({e})")),
        );
        if let Some(st) = &r.stalls {
            eprintln!("      {}", st.summary());
        }
        out.push(r);
    }
    out
}

/// Writes keys 0..n in order, 1000 per batch, no sync. Untimed preparation.
fn load(eng: &dyn Engine, n: u64, seed: u64) -> Result<()> {
    load_batches(n, seed, |_, keys, vals| {
        let items: Vec<(&[u8], &[u8])> = keys
            .iter()
            .zip(vals.iter())
            .map(|(k, v)| (&k[..], &v[..]))
            .collect();
        eng.write_batch(&items, false)
    })
}

/// The keys 0..n in order with their load values, 1000 at a time: `write(first index, keys,
/// values)` (values may be changed before they are written).
fn load_batches(
    n: u64,
    seed: u64,
    mut write: impl FnMut(u64, &[[u8; KEY_LEN]], &mut [[u8; VALUE_LEN]]) -> Result<()>,
) -> Result<()> {
    let mut rng = Rng::new(seed, "load");
    let mut keys = Vec::with_capacity(BATCH);
    let mut vals = Vec::with_capacity(BATCH);
    let mut i = 0;
    while i < n {
        keys.clear();
        vals.clear();
        let end = (i + BATCH as u64).min(n);
        for j in i..end {
            keys.push(key(j, true));
            let mut v = [0u8; VALUE_LEN];
            fill_value(&mut rng, &mut v);
            vals.push(v);
        }
        write(i, &keys, &mut vals)?;
        i = end;
    }
    Ok(())
}

/// Brings the database into the page cache and block cache: a full scan where the engine can
/// iterate, else a get of every key in order.
fn warm(eng: &dyn Engine, n: u64) -> Result<()> {
    let mut r = eng.reader()?;
    if eng.supports_scan()
        && let Some(seen) = r.scan(b"", usize::MAX)?
    {
        if seen != n {
            return Err(format!("warm-up scan saw {seen} entries, expected {n}").into());
        }
        return Ok(());
    }
    for i in 0..n {
        if r.get(&key(i, true))?.is_none() {
            return Err(format!("loaded key {i} not found").into());
        }
    }
    Ok(())
}

/// What a workload reports besides its timing.
#[derive(Default)]
struct Extra {
    writer_ops_per_sec: Option<f64>,
    conflicts: Option<u64>,
    verified: Option<String>,
    deleterange: Option<deleterange::DeleteRangeInfo>,
    level_reads: Option<levels::LevelReads>,
    device_syncs_per_sec: Option<f64>,
}

type Outcome = Option<(Meas, Extra)>;

/// Runs one timed workload on the database in `dir`. `Ok(None)`: the engine cannot do it.
fn run_one(eng: &dyn Engine, w: &str, dir: &std::path::Path, p: &Params) -> Result<Outcome> {
    let seed = p.seed;
    let mut vrng = Rng::new(seed, &format!("{w}/values"));
    let mut v = [0u8; VALUE_LEN];
    let m = match w {
        "fillseq" => timed(p.num, |i| {
            fill_value(&mut vrng, &mut v);
            eng.put(&key(i, true), &v, false)?;
            Ok(0)
        })?,
        "fillrandom" => {
            let order = permutation(p.num, &mut Rng::new(seed, w));
            timed(p.num, |i| {
                fill_value(&mut vrng, &mut v);
                eng.put(&key(order[i as usize], true), &v, false)?;
                Ok(0)
            })?
        }
        "overwrite" => {
            let mut krng = Rng::new(seed, w);
            timed(p.num, |_| {
                fill_value(&mut vrng, &mut v);
                eng.put(&key(krng.below(p.num), true), &v, false)?;
                Ok(0)
            })?
        }
        "fillbatch" => {
            // Random key order, so each batch touches keys all over the key space.
            let order = permutation(p.num, &mut Rng::new(seed, w));
            let batches = p.num.div_ceil(BATCH as u64);
            let mut vals = vec![[0u8; VALUE_LEN]; BATCH];
            timed(batches, |b| {
                let lo = (b * BATCH as u64) as usize;
                let hi = (lo + BATCH).min(order.len());
                let keys: Vec<[u8; KEY_LEN]> =
                    order[lo..hi].iter().map(|&i| key(i, true)).collect();
                for val in vals.iter_mut() {
                    fill_value(&mut vrng, val);
                }
                let items: Vec<(&[u8], &[u8])> = keys
                    .iter()
                    .zip(&vals)
                    .map(|(k, v)| (&k[..], &v[..]))
                    .collect();
                eng.write_batch(&items, false)?;
                Ok(0)
            })?
        }
        "fillsync" => {
            let n = p.sync_num();
            let mut krng = Rng::new(seed, w);
            // The device's in-place rate on the same file system, measured in turns with the
            // engine's puts (probe, puts, probe, ..., probe) so that both see the same moments of
            // a shared disk: what one synced put at a time can reach.
            let probe = dir.with_extension("devicesync");
            let per_probe =
                (n / DEVICE_PROBE_TURNS).clamp(1, DEVICE_PROBE_MAX / (DEVICE_PROBE_TURNS + 1));
            let (mut probe_writes, mut probe_secs) = (0u64, 0.0f64);
            let mut probe_turn = || -> Result<()> {
                let rate = sys::device_syncs_per_sec(&probe, per_probe)?;
                probe_writes += per_probe;
                probe_secs += per_probe as f64 / rate;
                Ok(())
            };
            let mut m = Meas::new();
            probe_turn()?;
            for turn in 0..DEVICE_PROBE_TURNS {
                let puts = n / DEVICE_PROBE_TURNS + u64::from(turn < n % DEVICE_PROBE_TURNS);
                let part = timed(puts, |_| {
                    fill_value(&mut vrng, &mut v);
                    eng.put(&key(krng.below(p.num), true), &v, true)?;
                    Ok(0)
                })?;
                m.merge(&part);
                m.secs += part.secs;
                probe_turn()?;
            }
            let extra = Extra {
                device_syncs_per_sec: Some(probe_writes as f64 / probe_secs.max(1e-9)),
                ..Extra::default()
            };
            return Ok(Some((m, extra)));
        }
        "fillsync4" => {
            let n = p.sync_num();
            let per = n / SYNC_THREADS as u64;
            let start = Instant::now();
            let parts: Vec<Result<Meas>> = std::thread::scope(|s| {
                let hs: Vec<_> = (0..SYNC_THREADS)
                    .map(|t| {
                        s.spawn(move || {
                            let mut vr = Rng::new(seed, &format!("{w}/{t}/values"));
                            let mut kr = Rng::new(seed, &format!("{w}/{t}"));
                            let mut v = [0u8; VALUE_LEN];
                            timed(per, |_| {
                                fill_value(&mut vr, &mut v);
                                // Disjoint from fillsync's keys: indices num..2*num.
                                eng.put(&key(p.num + kr.below(p.num), true), &v, true)?;
                                Ok(0)
                            })
                        })
                    })
                    .collect();
                hs.into_iter()
                    .map(|h| {
                        h.join()
                            .unwrap_or_else(|_| Err("writer thread panicked".into()))
                    })
                    .collect()
            });
            let mut m = Meas::new();
            for part in parts {
                m.merge(&part?);
            }
            m.secs = start.elapsed().as_secs_f64();
            m
        }
        "readrandom" | "readmissing" => {
            let present = w == "readrandom";
            let mut krng = Rng::new(seed, w);
            let mut r = eng.reader()?;
            timed(p.reads(), |_| {
                Ok(u64::from(
                    r.get(&key(krng.below(p.num), present))?.is_some(),
                ))
            })?
        }
        "readseq" => {
            if !eng.supports_scan() {
                return Ok(None);
            }
            let mut r = eng.reader()?;
            let start = Instant::now();
            let Some(n) = r.scan(b"", usize::MAX)? else {
                return Ok(None);
            };
            let mut m = Meas::new();
            m.ops = n;
            m.secs = start.elapsed().as_secs_f64();
            // No per-entry latency: one clock read per next would dominate the measurement.
            m
        }
        "seekrandom" => {
            if !eng.supports_scan() {
                return Ok(None);
            }
            let mut krng = Rng::new(seed, w);
            let mut r = eng.reader()?;
            let mut unsupported = false;
            let m = timed(p.seeks(), |_| {
                match r.scan(&key(krng.below(p.num), true), SEEK_NEXTS + 1)? {
                    Some(_) => Ok(0),
                    None => {
                        unsupported = true;
                        Err("scan unsupported".into())
                    }
                }
            });
            if unsupported {
                return Ok(None);
            }
            m?
        }
        "readwhilewriting" => return read_while_writing(eng, w, p, None),
        "readwhilewriting10k" => {
            return read_while_writing(eng, w, p, Some(PACED_WRITER_PUTS_PER_SEC));
        }
        "keyspaces4" => return keyspaces::write(eng, p),
        "keyspaces4read" => return keyspaces::read(eng, p),
        "txn" => return txn::run(eng, w, p, 1),
        "txn4" => return txn::run(eng, w, p, TXN_THREADS),
        "deleterange" => return deleterange::run(eng, dir, p),
        "readlevels" => return levels::run(eng, p),
        other => return Err(format!("unknown workload {other:?}").into()),
    };
    Ok(Some((m, Extra::default())))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    #[test]
    fn keys_sort_and_interleave() {
        assert_eq!(&key(5, true), b"0000000000000050");
        assert_eq!(&key(5, false), b"0000000000000051");
        assert!(key(5, true) < key(5, false) && key(5, false) < key(6, true));
        assert!(key(999, true) < key(1000, true));
        assert_eq!(
            key_index(&key(123_456_789, true)),
            Some((123_456_789, true))
        );
        assert_eq!(key_index(&key(0, false)), Some((0, false)));
        assert_eq!(
            key_index(&key(999_999_999_999_999, true)),
            Some((999_999_999_999_999, true))
        );
        assert_eq!(key_index(b"000000000000005"), None, "too short");
        assert_eq!(key_index(b"00000000000000a0"), None);
        assert_eq!(key_index(b"0000000000000052"), None, "bad tag");
        assert_eq!(key_index(b"p/00000000000010"), None);
    }

    #[test]
    fn values_are_half_repeated_and_seeded() {
        let mut a = Rng::new(1, "x");
        let mut b = Rng::new(1, "x");
        let (mut va, mut vb) = ([0u8; VALUE_LEN], [0u8; VALUE_LEN]);
        fill_value(&mut a, &mut va);
        fill_value(&mut b, &mut vb);
        assert_eq!(va, vb);
        assert_eq!(va[..50], va[50..]);
        let mut c = Rng::new(2, "x");
        fill_value(&mut c, &mut vb);
        assert_ne!(va, vb);
    }

    #[test]
    fn permutation_is_a_permutation() {
        let mut p = permutation(1000, &mut Rng::new(7, "p"));
        p.sort_unstable();
        assert_eq!(p, (0..1000).collect::<Vec<_>>());
    }

    use mem::{Fault, Mem};

    pub(crate) fn small(num: u64) -> Params {
        Params {
            num,
            reads: None,
            seeks: None,
            sync_num: None,
            txns: None,
            txn_keys: None,
            seed: 1,
            cache_mib: 8,
            lsmkv_opts: Vec::new(),
            rss_sample_ms: 0,
            deep_tree: false,
        }
    }

    /// Runs `workloads` (of one group) against `eng` in a scratch directory.
    pub(super) fn run_on(eng: &dyn Engine, ws: &[&str], p: &Params) -> Vec<WorkloadResult> {
        static N: AtomicU64 = AtomicU64::new(0);
        let dir = std::env::temp_dir().join(format!(
            "compare-run-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let ws: Vec<String> = ws.iter().map(|w| (*w).to_string()).collect();
        let rs = run_group("mem", eng, &dir, &ws, p);
        std::fs::remove_dir_all(&dir).unwrap();
        rs
    }

    #[test]
    fn paced_writer_is_due_at_n_over_rate() {
        use std::time::Duration;
        let ms = Duration::from_millis;
        assert_eq!(
            pace_wait(10_000, 0, ms(0)),
            None,
            "the first put is due at once"
        );
        assert_eq!(pace_wait(10_000, 10, ms(0)), Some(ms(1)));
        assert_eq!(pace_wait(10_000, 10, ms(1)), None);
        // Behind: due long ago, no wait (it catches up).
        assert_eq!(pace_wait(10_000, 10, ms(500)), None);
        assert_eq!(pace_wait(1_000, 2_500, ms(2_000)), Some(ms(500)));
    }

    #[test]
    fn runner_runs_every_workload() {
        let p = Params {
            num: 2000,
            reads: Some(500),
            seeks: Some(50),
            sync_num: Some(42),
            txns: Some(200),
            txn_keys: None,
            seed: 1,
            cache_mib: 8,
            lsmkv_opts: Vec::new(),
            rss_sample_ms: 0,
            deep_tree: false,
        };
        let dir = std::env::temp_dir().join(format!("compare-runner-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let mut all = Vec::new();
        for g in [
            "fillseq",
            "fill",
            "fillbatch",
            "sync",
            "read",
            "keyspaces",
            "txn",
            "deleterange",
        ] {
            let ws: Vec<String> = WORKLOADS
                .iter()
                .filter(|w| w.1 == g)
                .map(|w| w.0.to_string())
                .collect();
            let eng = Mem::with_keyspaces(KEYSPACES);
            all.extend(run_group("mem", &eng, &dir, &ws, &p));
        }
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(all.len(), WORKLOADS.len());
        let get = |w: &str| all.iter().find(|r| r.workload == w).unwrap();
        for r in &all {
            assert_eq!(r.status, "ok", "{r:?}");
            assert!(r.ops > 0, "{r:?}");
        }
        assert_eq!(get("fillbatch").ops, 2000);
        assert_eq!(get("fillsync4").ops, 40, "4 threads of 42 / 4");
        // 42 puts in 4 turns (11, 11, 10, 10), the device probed beside them and its file gone.
        assert_eq!(get("fillsync").ops, 42);
        assert!(
            get("fillsync")
                .device_syncs_per_sec
                .is_some_and(|d| d > 0.0)
        );
        assert!(get("fillsync4").device_syncs_per_sec.is_none());
        assert!(!dir.with_extension("devicesync").exists());
        assert_eq!(get("readrandom").found, Some(500));
        assert_eq!(get("readmissing").found, Some(0));
        assert_eq!(get("readseq").ops, 2000);
        // readlevels after fillrandom: every key in the memtable, 500 of them read, and 500
        // absent keys.
        let lr = get("readlevels").level_reads.clone().unwrap();
        let rows: Vec<(&str, u64, u64)> = lr
            .rows
            .iter()
            .map(|x| (x.place.as_str(), x.keys, x.gets))
            .collect();
        assert_eq!(rows, vec![("memtable", 2000, 500), ("absent", 0, 500)]);
        assert_eq!(get("readlevels").ops, 1000);
        assert_eq!(get("seekrandom").ops, 50);
        assert!(get("readwhilewriting").writer_ops_per_sec.is_some());
        let paced = get("readwhilewriting10k");
        assert_eq!(paced.found, Some(500));
        assert!(paced.writer_ops_per_sec.is_some());
        assert!(get("readrandom").p99_us.is_some());
        assert!(get("readrandom").p999_us >= get("readrandom").p99_us);
        assert_eq!(get("keyspaces4").ops, 2000);
        assert_eq!(
            get("keyspaces4").space_amp,
            0.0,
            "no files, but distinct keys known"
        );
        assert_eq!(get("keyspaces4read").found, Some(500));
        assert_eq!((get("txn").ops, get("txn4").ops), (200, 200));
        assert_eq!(get("txn4").conflicts, Some(0));
        for w in ["keyspaces4", "keyspaces4read", "txn", "txn4"] {
            assert!(get(w).verified.is_some(), "{w}");
        }
        let dr = get("deleterange");
        assert_eq!(dr.ops, 2000, "keys deleted");
        assert!(dr.verified.is_some() && dr.p50_us.is_some(), "{dr:?}");
        let info = dr.deleterange.as_ref().unwrap();
        assert_eq!((info.deleted_keys, info.kept_keys), (2000, 200));
        assert_eq!(
            info.compact_secs, None,
            "the BTreeMap engine has no compaction"
        );
        assert!((dr.secs - info.delete_secs).abs() < 1e-12);
        assert!(all.iter().all(|r| r.num == 2000));
        // The BTreeMap engine has no LSM counters.
        assert!(
            all.iter()
                .all(|r| r.write_amp.is_none() && r.levels.is_none())
        );
    }

    #[test]
    fn overwrite_alone_loads_first() {
        let eng = Mem::new();
        let rs = run_on(&eng, &["overwrite"], &small(300));
        assert_eq!(rs[0].status, "ok");
        assert_eq!(eng.main.read().unwrap().len(), 300);
    }

    #[test]
    fn keyspace_reads_alone_load_first() {
        let eng = Mem::with_keyspaces(KEYSPACES);
        let rs = run_on(&eng, &["keyspaces4read"], &small(300));
        assert_eq!(rs[0].status, "ok", "{:?}", rs[0]);
        assert_eq!(rs[0].found, Some(300));
    }

    #[test]
    fn engines_without_keyspaces_or_transactions_are_unsupported() {
        let eng = Mem::new();
        let rs = run_on(&eng, &["keyspaces4", "keyspaces4read"], &small(100));
        assert!(rs.iter().all(|r| r.status == "unsupported"), "{rs:?}");
        struct NoTx(Mem);
        impl Engine for NoTx {
            fn put(&self, k: &[u8], v: &[u8], s: bool) -> Result<()> {
                self.0.put(k, v, s)
            }
            fn write_batch(&self, items: &[(&[u8], &[u8])], s: bool) -> Result<()> {
                self.0.write_batch(items, s)
            }
            fn reader(&self) -> Result<Box<dyn crate::engines::Reader + '_>> {
                self.0.reader()
            }
            fn flush(&self) -> Result<()> {
                Ok(())
            }
            fn compact(&self) -> Result<bool> {
                Ok(false)
            }
        }
        let rs = run_on(&NoTx(Mem::new()), &["txn", "txn4"], &small(100));
        assert!(rs.iter().all(|r| r.status == "unsupported"), "{rs:?}");
        // Nor range deletes (the trait's default).
        let rs = run_on(&NoTx(Mem::new()), &["deleterange"], &small(100));
        assert_eq!(rs[0].status, "unsupported", "{rs:?}");
    }

    #[test]
    fn conflicts_are_retried_and_counted() {
        let mut p = small(1000);
        p.txns = Some(400);
        let eng = Mem::conflicting_every(5);
        let rs = run_on(&eng, &["txn", "txn4"], &p);
        for r in &rs {
            assert_eq!(r.status, "ok", "{r:?}");
            assert_eq!(r.ops, 400, "commits, not attempts");
            // Every 5th attempt fails: 400 commits take about 500 attempts (txn4 goes on
            // counting where txn stopped).
            let c = r.conflicts.unwrap();
            assert!((95..=105).contains(&c), "{c}");
        }
        let rate = crate::report::conflict_rate(rs[0].ops, rs[0].conflicts.unwrap());
        assert!((0.19..0.21).contains(&rate), "{rate}");
    }

    #[test]
    fn a_hot_set_of_two_counters_still_adds_up() {
        let mut p = small(100);
        p.txns = Some(200);
        p.txn_keys = Some(2);
        let rs = run_on(&Mem::new(), &["txn4"], &p);
        assert_eq!(rs[0].status, "ok", "{rs:?}");
        assert!(
            rs[0]
                .verified
                .as_deref()
                .unwrap()
                .contains("2 counters grew by 400")
        );
    }

    /// A broken engine cannot produce a number: the checks fail the workload.
    #[test]
    fn broken_engines_fail_the_checks() {
        let mut p = small(500);
        p.txns = Some(100);
        let rs = run_on(&Mem::new().faulty(Fault::LoseCommits), &["txn", "txn4"], &p);
        for r in &rs {
            assert_eq!(r.status, "failed", "{r:?}");
            assert!(r.error.as_deref().unwrap().contains("check:"), "{r:?}");
        }
        let eng = Mem::with_keyspaces(KEYSPACES).faulty(Fault::SharedKeyspaces);
        let rs = run_on(&eng, &["keyspaces4", "keyspaces4read"], &p);
        for r in &rs {
            assert_eq!(r.status, "failed", "{r:?}");
            assert!(r.error.as_deref().unwrap().contains("found in"), "{r:?}");
        }
        for (fault, says) in [
            (
                Fault::DeletePrefixLeavesOne,
                "deleted key 499 is still there",
            ),
            (Fault::DeletePrefixTooWide, "kept key 0 is gone"),
        ] {
            let rs = run_on(&Mem::new().faulty(fault), &["deleterange"], &p);
            assert_eq!(rs[0].status, "failed", "{rs:?}");
            let e = rs[0].error.as_deref().unwrap();
            assert!(
                e.starts_with("check after the delete:") && e.contains(says),
                "{e}"
            );
            assert!(rs[0].deleterange.is_none());
        }
    }

    /// Deleted keys that a scan still sees, or kept keys that lost their value, fail too.
    #[test]
    fn deleterange_checks_scans_and_values() {
        struct Ghost(Mem, bool);
        impl Engine for Ghost {
            fn put(&self, k: &[u8], v: &[u8], s: bool) -> Result<()> {
                self.0.put(k, v, s)
            }
            fn write_batch(&self, items: &[(&[u8], &[u8])], s: bool) -> Result<()> {
                self.0.write_batch(items, s)
            }
            fn reader(&self) -> Result<Box<dyn crate::engines::Reader + '_>> {
                Ok(Box::new(GhostReader(self.0.reader()?, self.1)))
            }
            fn flush(&self) -> Result<()> {
                Ok(())
            }
            fn compact(&self) -> Result<bool> {
                Ok(true)
            }
            fn delete_prefix(&self, prefix: &[u8]) -> Result<bool> {
                self.0.delete_prefix(prefix)
            }
        }
        /// Scans see one entry too many (`true`), or gets see a truncated value (`false`).
        struct GhostReader<'a>(Box<dyn crate::engines::Reader + 'a>, bool);
        impl crate::engines::Reader for GhostReader<'_> {
            fn get(&mut self, k: &[u8]) -> Result<Option<usize>> {
                let v = self.0.get(k)?;
                Ok(if self.1 { v } else { v.map(|n| n - 1) })
            }
            fn scan(&mut self, start: &[u8], limit: usize) -> Result<Option<u64>> {
                let n = self.0.scan(start, limit)?;
                Ok(if self.1 { n.map(|n| n + 1) } else { n })
            }
        }
        let p = small(300);
        let rs = run_on(&Ghost(Mem::new(), true), &["deleterange"], &p);
        let e = rs[0].error.as_deref().unwrap_or_default();
        assert!(
            e.contains("a full scan saw 31 keys, not the 30 kept"),
            "{rs:?}"
        );
        let rs = run_on(&Ghost(Mem::new(), false), &["deleterange"], &p);
        let e = rs[0].error.as_deref().unwrap_or_default();
        assert!(e.contains("kept key 0 has a value of 99 bytes"), "{rs:?}");
    }

    #[test]
    fn write_amp_is_table_bytes_over_user_bytes_of_the_workload() {
        let shape = |level, files| LevelShape {
            level,
            files,
            bytes: files * 100,
            bytes_written: files * 1000,
        };
        let before = LsmStats {
            user_bytes: 1000,
            table_bytes_written: 5000,
            levels: vec![shape(0, 1)],
            pending_compaction_bytes: 0,
            stalls: Some(StallCounts {
                stalls: 3,
                stall_ms: 10.0,
                l0_slowdown_ms: 4.0,
                flushes: 2,
                peak_l0_files: 5,
                ..StallCounts::default()
            }),
        };
        let after = LsmStats {
            user_bytes: 3000,
            table_bytes_written: 8000,
            // Level 3 lost its tables to a compaction, but was written into.
            levels: vec![
                shape(0, 2),
                shape(1, 0),
                shape(2, 7),
                LevelShape {
                    bytes_written: 500,
                    ..shape(3, 0)
                },
            ],
            pending_compaction_bytes: 42,
            stalls: Some(StallCounts {
                stalls: 7,
                stall_ms: 25.0,
                l0_slowdown_ms: 9.0,
                flushes: 6,
                peak_l0_files: 21,
                ..StallCounts::default()
            }),
        };
        let mut r = WorkloadResult::empty("lsmkv", "fillrandom", "ok", None);
        r.set_lsm(&before, &after);
        assert_eq!(r.write_amp, Some(1.5));
        assert_eq!(r.levels, Some(2), "empty levels do not count");
        assert_eq!(r.user_bytes, Some(2000));
        // Bytes written during the workload; levels with tables or writes.
        let written = |l: &LevelShape| (l.level, l.files, l.bytes_written);
        assert_eq!(
            r.level_shape.iter().map(written).collect::<Vec<_>>(),
            vec![(0, 2, 1000), (2, 7, 7000), (3, 0, 500)]
        );
        assert_eq!(r.pending_compaction_bytes, Some(42));
        // Stalls and flushes of the workload; the peak is the one since open.
        let st = r.stalls.clone().unwrap();
        assert_eq!((st.stalls, st.flushes, st.peak_l0_files), (4, 4, 21));
        assert!((st.stall_ms - 15.0).abs() < 1e-9 && (st.l0_slowdown_ms - 5.0).abs() < 1e-9);
        assert!(st.summary().contains("stalls 4 15 ms"), "{}", st.summary());
        // A read workload writes nothing: no write amplification, but the shape.
        let mut r = WorkloadResult::empty("lsmkv", "readrandom", "ok", None);
        r.set_lsm(&after, &after);
        assert_eq!((r.write_amp, r.levels), (None, Some(2)));
        assert!(r.level_shape.iter().all(|l| l.bytes_written == 0));
        // An engine that counts no stalls reports none.
        let quiet = LsmStats {
            stalls: None,
            ..after.clone()
        };
        r.set_lsm(&quiet, &quiet);
        assert!(r.stalls.is_none());
    }

    #[test]
    fn size_lists_parse() {
        assert_eq!(parse_sizes("1000000").unwrap(), Sizes(vec![1_000_000]));
        assert_eq!(
            parse_sizes("10M, 1m,1_000_000,20k").unwrap(),
            Sizes(vec![20_000, 1_000_000, 10_000_000])
        );
        assert_eq!(parse_sizes("2G").unwrap(), Sizes(vec![2_000_000_000]));
        for bad in [
            "",
            "0",
            "1,,2",
            "1.5M",
            "-3",
            "12x",
            "k",
            "99999999999999999999",
        ] {
            assert!(parse_sizes(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn every_workload_has_a_group() {
        for (w, _, _) in WORKLOADS {
            assert!(group_of(w).is_some());
        }
        let defaults = default_workloads();
        assert_eq!(defaults.len(), WORKLOADS.len() - OPT_IN.len());
        assert!(!defaults.contains(&"readlevels") && defaults.contains(&"fillrandom"));
    }
}
