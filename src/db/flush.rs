//! Memtable flush: the background thread that writes frozen memtables to level-0 SSTables, and
//! `Db::flush`.
//!
//! Order of a flush, and why it is crash safe: (1) write and fsync the table under a fresh file
//! number (an orphan until step 2, deleted on open); (2) append and fsync the manifest edit that
//! adds it and advances `log_number` past the memtable's WAL segment; (3) install the new
//! `SuperVersion` so readers use the table; (4) delete the WAL segment. A crash before (2) replays
//! the WAL; after (2) the table is live and the segment is skipped.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use super::Shared;
use super::tree::Tree;
use super::version::{SuperVersion, Version};
use super::scheduler;
use crate::cache::BlockCache;
use crate::compaction::job::seal_table;
use crate::error::Result;
use crate::format::files::{sst_name, wal_name};
use crate::manifest::{FileMeta, VersionEdit};
use crate::memtable::Memtable;
use crate::options::Options;
use crate::sstable::{Table, TableBuilder, TableOptions};

/// Body of the background flush thread.
pub(crate) fn flush_thread(shared: Arc<Shared>) {
    loop {
        let (tree, _) = {
            let mut g = shared.sched.flush.lock.lock();
            loop {
                if shared.shutdown.load(Ordering::Acquire)
                    || shared.poisoned.load(Ordering::Acquire)
                {
                    return;
                }
                if !shared.sched.is_paused()
                    && let Some(work) = oldest_frozen(&shared)
                {
                    break work;
                }
                shared.sched.flush.work.wait(&mut g);
            }
        };
        if let Err(e) = flush_oldest(&shared, &tree) {
            shared.poison(&e);
            return;
        }
    }
}

/// The frozen memtable to flush next: of every keyspace's oldest frozen memtable, the one frozen
/// first (it pins the oldest WAL segments).
fn oldest_frozen(shared: &Shared) -> Option<(Arc<Tree>, Arc<Memtable>)> {
    shared
        .all_trees()
        .into_iter()
        .filter_map(|t| {
            let oldest = t.sv.load().imms.last().cloned();
            oldest.map(|m| (t, m))
        })
        .min_by_key(|(t, m)| (m.wal_number(), t.id))
}

/// Writes `mem` to a new table file numbered `number` at `level`. Returns `None` for an empty
/// memtable (no file is left behind).
pub(crate) fn write_table(
    dir: &Path,
    opts: &Options,
    cache: &Arc<BlockCache>,
    mem: &Memtable,
    number: u64,
    level: u32,
) -> Result<Option<(FileMeta, Arc<Table>)>> {
    if mem.is_empty() {
        return Ok(None);
    }
    let tmp = dir.join(format!("{}.tmp", sst_name(number)));
    let mut topts = TableOptions::from(opts);
    topts.expected_entries = usize::try_from(mem.len()).unwrap_or(usize::MAX);
    let build = || -> Result<_> {
        let mut builder = TableBuilder::create_with_fs(&*opts.file_system, &tmp, topts)?;
        let mut c = mem.cursor();
        c.seek_to_first();
        while c.valid() {
            builder.add(c.user_key(), c.trailer(), c.value_slice())?;
            c.next();
        }
        for t in mem.range_tombstones(crate::key::MAX_SEQNO) {
            builder.add_range_tombstone(t)?;
        }
        let summary = builder.finish()?;
        seal_table(dir, opts, cache, &tmp, number, level, summary)
    };
    match build() {
        Ok(t) => Ok(Some(t)),
        Err(e) => {
            let _ = opts.file_system.remove(&tmp);
            Err(e)
        }
    }
}

/// Flushes the oldest frozen memtable of `tree`, if it has one; returns whether it did. The
/// flush thread and `Keyspace::flush` (which flushes its own keyspace in the caller's thread,
/// so it never waits behind other keyspaces' flushes) both come here; the tree's flush lock
/// keeps its memtables flushing one at a time, oldest first.
pub(crate) fn flush_oldest(shared: &Shared, tree: &Arc<Tree>) -> Result<bool> {
    let _g = tree.flush_lock.lock();
    let Some(imm) = tree.sv.load().imms.last().cloned() else {
        return Ok(false);
    };
    flush_one(shared, tree, &imm)?;
    shared.sched.flush_progressed();
    Ok(true)
}

/// Flushes the frozen memtable `imm` of `tree`: table, manifest edit (the table, the tree's
/// flushed seqno, the oldest WAL segment still needed), new `SuperVersion`, deletion of the WAL
/// segments no memtable needs any more.
fn flush_one(shared: &Shared, tree: &Arc<Tree>, imm: &Arc<Memtable>) -> Result<()> {
    let start = std::time::Instant::now();
    let number = shared.manifest.lock().new_file_number();
    let mut written = write_table(&shared.dir, &tree.opts(), &shared.cache, imm, number, 0)?;
    if let Some((meta, _)) = &mut written {
        meta.keyspace = tree.id;
    }
    let live_wal = oldest_needed_wal(shared, Some(imm));
    {
        let mut m = shared.manifest.lock();
        if tree.is_dropped() {
            // Dropped meanwhile (the drop sets the flag under this lock): discard the table.
            drop(m);
            if let Some((_, t)) = &written {
                t.mark_obsolete();
            }
            return Ok(());
        }
        let mut edit = VersionEdit {
            log_number: Some(live_wal),
            // Every seqno in the new table is covered even after its WAL segment is gone.
            last_seqno: Some(m.state().last_seqno.max(imm.max_seqno())),
            // Replay skips this tree's entries up to here: they are in tables now. (Its older
            // memtables were flushed before this one.)
            flushed: vec![(tree.id, imm.max_seqno())],
            ..VersionEdit::default()
        };
        if let Some((meta, _)) = &written {
            edit.added.push(meta.clone());
        }
        m.log_edit(edit)?;
    }
    install(shared, tree, imm, written.as_ref());
    shared.counters.flushes.fetch_add(1, Ordering::Relaxed);
    shared.sched.record_job(false, start.elapsed());
    scheduler::tree_changed(shared);
    remove_wal_segments_below(shared, live_wal);
    Ok(())
}

/// The oldest WAL segment some memtable (of any keyspace, ignoring `except`) holds writes of; the
/// current segment when none does. Segments below it are no longer needed.
///
/// Lock-free (the flush thread must not take the WAL lock: a writer holding it may be waiting for
/// this flush). The current segment `C` is read first, then every memtable's first segment, all
/// `SeqCst`: a write this scan misses notes its segment after the read of `C` in the total order,
/// and that segment is at least `C` (segments only grow), so the result never exceeds it.
pub(crate) fn oldest_needed_wal(shared: &Shared, except: Option<&Arc<Memtable>>) -> u64 {
    let current = shared.current_wal.load(Ordering::SeqCst);
    shared
        .all_trees()
        .iter()
        .filter_map(|t| t.oldest_wal(except))
        .min()
        .unwrap_or(current)
        .min(current)
}

/// Deletes the finished WAL segments numbered below `live` (a durable manifest edit says they
/// are not needed).
fn remove_wal_segments_below(shared: &Shared, live: u64) {
    let gone: Vec<u64> = {
        let mut old = shared.old_wal_segments.lock();
        let (gone, keep): (Vec<_>, Vec<_>) = old.iter().partition(|s| s.0 < live);
        *old = keep;
        gone.into_iter().map(|s| s.0).collect()
    };
    for n in gone {
        let path = shared.dir.join(wal_name(n));
        if let Err(e) = shared.opts.file_system.remove(&path)
            && e.kind() != std::io::ErrorKind::NotFound
        {
            tracing::warn!(path = %path.display(), error = %e, "could not delete obsolete WAL segment");
        }
    }
}

/// Replaces `imm` by its table (if it had entries) in a new `SuperVersion`.
fn install(
    shared: &Shared,
    tree: &Tree,
    imm: &Arc<Memtable>,
    written: Option<&(FileMeta, Arc<Table>)>,
) {
    let _g = tree.sv_lock.lock();
    let cur = tree.sv.load();
    let imms = cur
        .imms
        .iter()
        .filter(|m| !Arc::ptr_eq(m, imm))
        .cloned()
        .collect();
    let mut version = Version::clone(&cur.version);
    if let Some((meta, table)) = written {
        if version.levels.is_empty() {
            version.levels.push(Vec::new());
        }
        if let Some(l0) = version.levels.first_mut() {
            l0.insert(0, table.clone());
        }
        shared
            .counters
            .flush_bytes_written
            .fetch_add(meta.file_size, Ordering::Relaxed);
        tree.count_written(0, meta.file_size);
    }
    tree.sv.store(Arc::new(SuperVersion {
        mem: cur.mem.clone(),
        imms,
        version: Arc::new(version),
    }));
}
