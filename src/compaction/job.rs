//! Running one compaction: a merging cursor over the input tables, garbage collection of versions
//! no snapshot can see, expiry and the compaction filter (`retention`), and output tables cut at
//! the target size (never between two versions of one user key, so a level's tables stay disjoint
//! by user key). Range tombstones (`super::range_dels`) drop whole inputs before the merge, drop
//! the versions they cover, and go to the outputs clipped to each output's key range.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use super::retention::{Retention, RetentionStats};
use crate::cache::BlockCache;
use crate::error::{Error, Result};
use crate::format::ValueKind;
use crate::format::files::sst_name;
use crate::iter::{InternalCursor, MergeCursor};
use crate::key::{SeqNo, unpack_trailer};
use crate::manifest::FileMeta;
use crate::options::Options;
use crate::sstable::{Table, TableBuilder, TableOptions, TableSummary};

use super::range_dels::{GarbageCursor, JobRangeDels, covered_inputs};

/// A token bucket limiting bytes per second (0 = unlimited), shared by compaction threads.
pub(crate) struct RateLimiter {
    bytes_per_sec: u64,
    next: Mutex<Option<Instant>>,
}

impl RateLimiter {
    pub fn new(bytes_per_sec: u64) -> Self {
        RateLimiter {
            bytes_per_sec,
            next: Mutex::new(None),
        }
    }

    /// Waits until `bytes` more may be written, or until `cancel` is set (checked every 50 ms, so
    /// that closing the database never waits out a long pause of a slow limit). A burst of up to
    /// 50 ms of budget goes through without waiting.
    pub fn request(&self, bytes: u64, cancel: &AtomicBool) {
        if self.bytes_per_sec == 0 || bytes == 0 {
            return;
        }
        let cost = Duration::from_secs_f64(bytes as f64 / self.bytes_per_sec as f64);
        let now = Instant::now();
        let wait = {
            let mut next = self.next.lock();
            let start = match *next {
                Some(n) if n > now => n,
                _ => now,
            };
            let end = start + cost;
            *next = Some(end);
            end.saturating_duration_since(now)
                .saturating_sub(Duration::from_millis(50))
        };
        let until = now + wait;
        loop {
            let left = until.saturating_duration_since(Instant::now());
            if left.is_zero() || cancel.load(Ordering::Relaxed) {
                return;
            }
            std::thread::sleep(left.min(Duration::from_millis(50)));
        }
    }
}

/// Everything a job needs from the database.
pub(crate) struct JobContext<'a> {
    pub dir: &'a Path,
    pub opts: &'a Options,
    pub cache: &'a Arc<BlockCache>,
    pub limiter: &'a RateLimiter,
    /// Allocates file numbers.
    pub new_file_number: &'a (dyn Fn() -> u64 + Sync),
    /// Set when the database closes: the job stops early with [`Error::Closed`], leaving the
    /// tree as it was (its partial outputs are deleted).
    pub cancel: &'a AtomicBool,
}

/// What a job produced.
pub(crate) struct JobOutput {
    pub tables: Vec<(FileMeta, Arc<Table>)>,
    pub bytes_read: u64,
    pub bytes_written: u64,
    pub entries_dropped: u64,
    /// Versions rewritten by expiry and the compaction filter.
    pub retention: RetentionStats,
    /// Inputs deleted whole by range tombstones, without being read.
    pub tables_dropped: u64,
}

/// Merges `inputs` into new tables at `output_level`. Versions hidden by a newer version visible to
/// every snapshot (`smallest_snapshot`) are dropped; tombstones too when `bottommost`; so are
/// versions, and whole inputs, that a range tombstone visible to every snapshot deletes.
pub(crate) fn run(
    ctx: &JobContext<'_>,
    inputs: &[Arc<Table>],
    output_level: u32,
    bottommost: bool,
    smallest_snapshot: SeqNo,
) -> Result<JobOutput> {
    let covered = covered_inputs(inputs, smallest_snapshot);
    let read: Vec<&Arc<Table>> = inputs
        .iter()
        .zip(&covered)
        .filter_map(|(t, c)| (!c).then_some(t))
        .collect();
    let children: Vec<Box<dyn InternalCursor>> = read
        .iter()
        .map(|t| {
            let c = t.iter().without_cache_fill().release_behind();
            Box::new(c) as Box<dyn InternalCursor>
        })
        .collect();
    let mut merge = MergeCursor::new(children, true);
    merge.seek(None)?;
    let range_dels = JobRangeDels::new(read.iter().copied(), smallest_snapshot, bottommost);
    let mut outputs = Outputs {
        ctx,
        level: output_level,
        writer: None,
        lower: None,
        range_dels: &range_dels,
        out: JobOutput {
            tables: Vec::new(),
            bytes_read: read.iter().map(|t| t.file_size()).sum(),
            bytes_written: 0,
            entries_dropped: 0,
            retention: RetentionStats::default(),
            tables_dropped: (inputs.len() - read.len()) as u64,
        },
    };
    let gc = Gc {
        smallest_snapshot,
        bottommost,
    };
    let mut retention = Retention::new(
        ctx.opts.clock.now_millis(),
        smallest_snapshot,
        ctx.opts.compaction_filter.as_deref(),
        ctx.opts.max_value_size,
    );
    let mut covered_versions = range_dels.cursor();
    match merge_into(
        ctx,
        &mut merge,
        &gc,
        &mut retention,
        &mut covered_versions,
        &mut outputs,
    ) {
        Ok(()) => {
            outputs.out.retention = retention.stats;
            // Every input was read to its end: release what the cursors had not yet (their
            // last step, and the index and filter pages read at open).
            for t in &read {
                t.release_pages(0, t.file_size());
            }
            Ok(outputs.out)
        }
        Err(e) => {
            outputs.abandon();
            Err(e)
        }
    }
}

/// Which versions a job drops.
struct Gc {
    smallest_snapshot: SeqNo,
    bottommost: bool,
}

impl Gc {
    /// Whether the version (`seq`, `kind`) of a key goes, given the seqno of the next newer
    /// version of the same key (`u64::MAX` for the newest).
    fn drops(&self, newer_seq: SeqNo, seq: SeqNo, kind: Option<ValueKind>) -> bool {
        if newer_seq <= self.smallest_snapshot {
            // A newer version of this key is visible to every snapshot.
            true
        } else {
            kind == Some(ValueKind::Delete) && seq <= self.smallest_snapshot && self.bottommost
        }
    }
}

/// The merge loop: every entry of `merge`, rewritten by `retention`, then dropped or written to
/// `outputs`, which are cut between two user keys once full. Stops with [`Error::Closed`] when
/// the job is cancelled.
fn merge_into(
    ctx: &JobContext<'_>,
    merge: &mut MergeCursor,
    gc: &Gc,
    retention: &mut Retention<'_>,
    covered: &mut GarbageCursor<'_>,
    outputs: &mut Outputs<'_, '_, '_>,
) -> Result<()> {
    let mut current_key: Vec<u8> = Vec::new();
    let mut have_key = false;
    let mut last_seq_for_key = u64::MAX;
    let mut steps = 0u32;
    while let Some(cur) = merge.current() {
        steps = steps.wrapping_add(1);
        if steps.is_multiple_of(4096) && ctx.cancel.load(std::sync::atomic::Ordering::Relaxed) {
            return Err(Error::Closed);
        }
        let uk = cur.user_key();
        let trailer = cur.trailer();
        if !have_key || uk != current_key.as_slice() {
            // A good place to cut the output: between two user keys.
            outputs.cut_if_full(uk)?;
            current_key.clear();
            current_key.extend_from_slice(uk);
            have_key = true;
            last_seq_for_key = u64::MAX;
        }
        // Expiry and the filter may make the version a tombstone or give it a new value first.
        let (trailer, value) = retention.rewrite(uk, trailer, cur.value(), last_seq_for_key)?;
        let (seq, kind) = unpack_trailer(trailer);
        let drop = gc.drops(last_seq_for_key, seq, kind) || covered.deletes(uk, seq);
        last_seq_for_key = seq;
        if drop {
            outputs.out.entries_dropped += 1;
        } else {
            // The trailer is written as it was: a key's seqno is its version
            // (`Db::get_versioned`, compare-and-swap), so compaction never changes it. Zeroing the
            // seqnos of bottom-level versions (as RocksDB does, for slightly better compression)
            // would change a version from N to 0 without a write, and two different values of a
            // key could both read as version 0 (an ABA for compare-and-swap). The measured space
            // cost of keeping them is in the README ("Conditional writes").
            outputs.add(uk, trailer, &value)?;
        }
        merge.advance()?;
    }
    outputs.finish_current(None)
}

/// The output tables of a job: the finished ones and the one being written.
struct Outputs<'c, 'a, 'r> {
    ctx: &'c JobContext<'a>,
    level: u32,
    writer: Option<OutputFile>,
    /// The user key at which the current output starts (the last cut; `None` for the first).
    lower: Option<Vec<u8>>,
    range_dels: &'r JobRangeDels,
    out: JobOutput,
}

impl Outputs<'_, '_, '_> {
    /// Appends an entry to the current output, starting one if needed; pays the rate limiter.
    fn add(&mut self, user_key: &[u8], trailer: u64, value: &[u8]) -> Result<()> {
        if self.writer.is_none() {
            self.writer = Some(OutputFile::create(self.ctx)?);
        }
        if let Some(w) = self.writer.as_mut() {
            let before = w.builder.estimated_size();
            w.builder.add(user_key, trailer, value)?;
            self.ctx
                .limiter
                .request(w.builder.estimated_size().saturating_sub(before), self.ctx.cancel);
        }
        Ok(())
    }

    /// Finishes the current output if it reached the target file size; the next one starts at
    /// `next_key`.
    fn cut_if_full(&mut self, next_key: &[u8]) -> Result<()> {
        let full = self
            .writer
            .as_ref()
            .is_some_and(|w| w.builder.estimated_size() >= self.ctx.opts.target_file_size);
        if full {
            self.finish_current(Some(next_key))?;
        }
        Ok(())
    }

    /// Finishes the current output, which holds the keys below `upper` (`None`: all the rest),
    /// with the range tombstones of its key range, and makes it live on disk. Starts an output
    /// for range tombstones alone when they remain and no output is open.
    fn finish_current(&mut self, upper: Option<&[u8]>) -> Result<()> {
        let tombstones = if self.range_dels.is_empty() {
            Vec::new()
        } else {
            self.range_dels.for_output(self.lower.as_deref(), upper)
        };
        if self.writer.is_none() && !tombstones.is_empty() {
            self.writer = Some(OutputFile::create(self.ctx)?);
        }
        if let Some(mut w) = self.writer.take() {
            for t in tombstones {
                w.builder.add_range_tombstone(t)?;
            }
            let t = w.finish(self.ctx, self.level)?;
            self.out.bytes_written += t.0.file_size;
            self.out.tables.push(t);
        }
        self.lower = upper.map(<[u8]>::to_vec);
        Ok(())
    }

    /// After a failure: deletes the partial output and marks the finished ones obsolete.
    fn abandon(mut self) {
        if let Some(w) = self.writer.take() {
            w.abandon(&*self.ctx.opts.file_system);
        }
        for (_, t) in &self.out.tables {
            t.mark_obsolete();
        }
    }
}

/// Makes a finished, fsynced table written under the temporary name `tmp` live on disk: renames
/// it to its table name, fsyncs the directory, maps it, and describes it for the manifest. A
/// file with a table name is therefore never partial and never written again once mapped.
pub(crate) fn seal_table(
    dir: &Path,
    opts: &Options,
    cache: &Arc<BlockCache>,
    tmp: &Path,
    number: u64,
    level: u32,
    summary: TableSummary,
) -> Result<(FileMeta, Arc<Table>)> {
    let path = dir.join(sst_name(number));
    let fs = &opts.file_system;
    fs.rename(tmp, &path)
        .map_err(|e| Error::io("renaming", tmp, e))?;
    fs.sync_dir(dir)
        .map_err(|e| Error::io("syncing directory", dir, e))?;
    let table = Table::open_with_fs(fs, &path, number, Some(cache.clone()))?;
    table.set_paranoid_checks(opts.paranoid_checks);
    table.set_block_read(opts.block_read);
    // The caller sets the keyspace (a table does not know which one it belongs to).
    let meta = FileMeta {
        number,
        level,
        keyspace: 0,
        summary,
    };
    Ok((meta, table))
}

/// An output table being written under a temporary name.
struct OutputFile {
    number: u64,
    tmp: std::path::PathBuf,
    builder: TableBuilder,
}

impl OutputFile {
    fn create(ctx: &JobContext<'_>) -> Result<Self> {
        let number = (ctx.new_file_number)();
        let tmp = ctx.dir.join(format!("{}.tmp", sst_name(number)));
        let mut topts = TableOptions::from(ctx.opts);
        // Sized for a full output file of ~128-byte entries (the filter is sized at finish).
        topts.expected_entries = usize::try_from(ctx.opts.target_file_size / 128)
            .unwrap_or(usize::MAX)
            .max(1024);
        let builder = TableBuilder::create_with_fs(&*ctx.opts.file_system, &tmp, topts)?;
        Ok(OutputFile {
            number,
            tmp,
            builder,
        })
    }

    fn finish(self, ctx: &JobContext<'_>, level: u32) -> Result<(FileMeta, Arc<Table>)> {
        let summary: TableSummary = self.builder.finish()?;
        seal_table(
            ctx.dir,
            ctx.opts,
            ctx.cache,
            &self.tmp,
            self.number,
            level,
            summary,
        )
    }

    fn abandon(self, fs: &dyn crate::fs::FileSystem) {
        drop(self.builder);
        let _ = fs.remove(&self.tmp);
    }
}

#[cfg(test)]
mod tests {
    use super::RateLimiter;
    use std::sync::atomic::AtomicBool;
    use std::time::{Duration, Instant};

    #[test]
    fn rate_limiter_paces_writes() {
        // 1 MiB of writes at 1 MiB/s takes about a second (less the 50 ms burst allowance). Only
        // a lower bound is checked: a slow machine can only make it slower.
        let l = RateLimiter::new(1 << 20);
        let never = AtomicBool::new(false);
        let t = Instant::now();
        for _ in 0..8 {
            l.request(128 << 10, &never);
        }
        assert!(
            t.elapsed() >= Duration::from_millis(800),
            "{:?}",
            t.elapsed()
        );
        // Unlimited never waits: the whole request costs nothing.
        let l = RateLimiter::new(0);
        l.request(u64::MAX, &never);
        // Cancelled, a request of an hour's budget returns without waiting for it.
        let l = RateLimiter::new(1);
        let cancelled = AtomicBool::new(true);
        l.request(3600, &cancelled);
        assert!(l.next.lock().is_some());
    }
}
