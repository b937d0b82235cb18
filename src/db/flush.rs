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
use super::version::{SuperVersion, Version};
use super::scheduler;
use crate::cache::BlockCache;
use crate::compaction::job::seal_table;
use crate::error::{Error, Result};
use crate::format::files::{sst_name, wal_name};
use crate::manifest::{FileMeta, VersionEdit};
use crate::memtable::Memtable;
use crate::options::Options;
use crate::sstable::{Table, TableBuilder, TableOptions};

/// Body of the background flush thread.
pub(crate) fn flush_thread(shared: Arc<Shared>) {
    loop {
        let imm = {
            let mut g = shared.sched.flush.lock.lock();
            loop {
                if shared.shutdown.load(Ordering::Acquire)
                    || shared.poisoned.load(Ordering::Acquire)
                {
                    return;
                }
                if let Some(oldest) = shared.sv.load().imms.last() {
                    break oldest.clone();
                }
                shared.sched.flush.work.wait(&mut g);
            }
        };
        if let Err(e) = flush_one(&shared, &imm) {
            shared.poison(&e);
            return;
        }
        shared.sched.flush_progressed();
    }
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
            builder.add(c.user_key(), c.trailer(), &c.value())?;
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

/// Flushes the frozen memtable `imm`: table, manifest edit, new `SuperVersion`, WAL deletion.
fn flush_one(shared: &Shared, imm: &Arc<Memtable>) -> Result<()> {
    let number = shared.manifest.lock().new_file_number();
    let written = write_table(&shared.dir, &shared.opts, &shared.cache, imm, number, 0)?;
    let next_wal = next_live_wal(shared, imm)?;
    {
        let mut m = shared.manifest.lock();
        let mut edit = VersionEdit {
            log_number: Some(next_wal),
            // Every seqno in the new table is covered even after its WAL segment is gone.
            last_seqno: Some(m.state().last_seqno.max(imm.max_seqno())),
            ..VersionEdit::default()
        };
        if let Some((meta, _)) = &written {
            edit.added.push(meta.clone());
        }
        m.log_edit(edit)?;
    }
    install(shared, imm, written.as_ref());
    shared.counters.flushes.fetch_add(1, Ordering::Relaxed);
    scheduler::tree_changed(shared);
    let wal_path = shared.dir.join(wal_name(imm.wal_number()));
    if let Err(e) = shared.opts.file_system.remove(&wal_path)
        && e.kind() != std::io::ErrorKind::NotFound
    {
        tracing::warn!(path = %wal_path.display(), error = %e, "could not delete obsolete WAL segment");
    }
    Ok(())
}

/// The WAL segment that becomes the oldest live one once `imm` is flushed: the next newer
/// memtable's.
fn next_live_wal(shared: &Shared, imm: &Arc<Memtable>) -> Result<u64> {
    let cur = shared.sv.load();
    let pos = cur
        .imms
        .iter()
        .position(|m| Arc::ptr_eq(m, imm))
        .ok_or_else(|| Error::Poisoned {
            cause: "flushed memtable vanished".into(),
        })?;
    Ok(match pos.checked_sub(1).and_then(|p| cur.imms.get(p)) {
        Some(newer) => newer.wal_number(),
        None => cur.mem.wal_number(),
    })
}

/// Replaces `imm` by its table (if it had entries) in a new `SuperVersion`.
fn install(shared: &Shared, imm: &Arc<Memtable>, written: Option<&(FileMeta, Arc<Table>)>) {
    let _g = shared.sv_lock.lock();
    let cur = shared.sv.load();
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
    }
    shared.sv.store(Arc::new(SuperVersion {
        mem: cur.mem.clone(),
        imms,
        version: Arc::new(version),
    }));
}
