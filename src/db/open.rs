//! Opening a database: lock, manifest, live tables, WAL replay, orphan cleanup, threads.
//!
//! Recovery replays every WAL segment numbered at or above the manifest's `log_number`, oldest
//! first, into one memtable, writes that memtable as a level-0 table, and records it together with
//! a fresh `log_number` in one manifest edit. Only then are the replayed segments deleted, so a
//! crash during recovery simply recovers again.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::thread::JoinHandle;
use std::time::Duration;

use parking_lot::Mutex;

use super::flush::{flush_thread, write_table};
use super::tree::{Tree, Trees};
use super::version::{Version, smallest_user_key};
use super::write::{WalState, wal_preallocation};
use super::scheduler;
use super::{Shared, spawn_background};
use crate::batch::decode_batch;
use crate::cache::BlockCache;
use crate::error::{Error, Result};
use crate::format::files::{self, FileKind, parse_name};
use crate::format::manifest::DEFAULT_KEYSPACE;
use crate::fs::FileSystem;
use crate::options::KeyspaceOptions;
use crate::manifest::{Manifest, ManifestState, VersionEdit};
use crate::memtable::Memtable;
use crate::options::{Options, SyncMode, WalRecoveryMode};
use crate::sstable::Table;
use crate::recovery::{RecoveryReport, WalDrop};
use crate::wal::{Tail, WalReader, WalWriter, dropped_region};

pub(super) struct DirListing {
    wals: BTreeSet<u64>,
    ssts: BTreeSet<u64>,
    temps: Vec<PathBuf>,
    max_number: u64,
}

pub(super) fn list_dir(fs: &dyn FileSystem, dir: &Path) -> Result<DirListing> {
    let mut l = DirListing {
        wals: BTreeSet::new(),
        ssts: BTreeSet::new(),
        temps: Vec::new(),
        max_number: 0,
    };
    let names = fs.list_dir(dir).map_err(|e| Error::io("listing", dir, e))?;
    for name in &names {
        match parse_name(name) {
            Some(FileKind::Wal(n)) => {
                l.wals.insert(n);
                l.max_number = l.max_number.max(n);
            }
            Some(FileKind::Sst(n)) => {
                l.ssts.insert(n);
                l.max_number = l.max_number.max(n);
            }
            Some(FileKind::Manifest(n)) => l.max_number = l.max_number.max(n),
            Some(FileKind::Temp) => l.temps.push(dir.join(name)),
            _ => {}
        }
    }
    Ok(l)
}

/// Where replay stands in the log's seqnos.
struct LogCursor {
    /// One past the largest seqno the manifest and the records so far hold.
    next: u64,
    /// One past the last replayed record's seqnos (None before the first record).
    log_end: Option<u64>,
}

impl LogCursor {
    /// Moves past a batch of `count` entries from `base`, at `offset` of `path`. Within the log,
    /// seqnos follow on from record to record; before its first record, the log may start at or
    /// below the manifest's next seqno.
    fn advance(&mut self, base: u64, count: u32, path: &Path, offset: u64) -> Result<()> {
        let expected = self.log_end.unwrap_or(self.next);
        if base > expected {
            return Err(Error::corruption(
                path,
                offset,
                format!(
                    "the log skips seqnos {expected}..{}: a WAL segment, part of one or a manifest edit is missing",
                    base - 1
                ),
            ));
        }
        let end = base + u64::from(count);
        self.next = self.next.max(end);
        self.log_end = Some(self.log_end.map_or(end, |e| e.max(end)));
        Ok(())
    }
}

/// What replaying one segment found.
struct Replayed {
    /// The largest seqno in its records (0 without records).
    max_seqno: u64,
    /// Whether it ended early: a torn tail, a missing header, or damage cut off.
    early: bool,
    /// Batch records replayed.
    records: u64,
    /// Whether it ends with a valid seal (which then matches the records replayed).
    sealed: bool,
    /// Where its records end: where a seal would start.
    end: u64,
}

/// Replays one WAL segment into `mem`. `cut_at_damage` is set for the newest segment (the one
/// being appended to at the crash) under `PointInTime` recovery: only there may damage end the
/// log instead of failing the open. Adds the segment, its records and any region it drops to
/// `report`. A seal must name the last seqno of the records before it.
///
/// `next_seqno` is the seqno the log must continue with (one past what the manifest and earlier
/// segments hold); a batch starting beyond it means records the log should hold are gone.
fn replay_segment(
    reader: WalReader,
    path: &Path,
    number: u64,
    (mems, state): (&mut Recovered, &ManifestState),
    cut_at_damage: bool,
    next_seqno: &mut LogCursor,
    report: &mut RecoveryReport,
) -> Result<Replayed> {
    let mut max_seqno = 0;
    let mut records = 0u64;
    let mut records_end = crate::wal::SEGMENT_HEADER_SIZE as u64;
    let result = reader.replay(|rec| {
        let batch = decode_batch(rec.payload, path, rec.payload_offset())?;
        next_seqno.advance(batch.base_seqno, batch.count, path, rec.offset)?;
        max_seqno = max_seqno.max(replay_batch(&batch, path, rec.offset, mems, state)?);
        records += 1;
        records_end = rec.payload_offset() + rec.payload.len() as u64;
        Ok(())
    });
    let mut sealed = false;
    let cut = match result {
        Ok(Tail::Clean) => None,
        Ok(Tail::Sealed {
            offset, last_seqno, ..
        }) => {
            // The reader checked the record count; the seqno needs the batches.
            if records > 0 && last_seqno != max_seqno {
                return Err(Error::corruption(
                    path,
                    offset,
                    format!("WAL seal says the segment ends at seqno {last_seqno}, its records end at {max_seqno}"),
                ));
            }
            sealed = true;
            None
        }
        Ok(Tail::Torn { offset }) => {
            records_end = offset;
            Some(torn_drop(reader.data(), path, number, offset))
        }
        Err(Error::Corruption { offset, reason, .. }) if cut_at_damage => {
            Some(damage_drop(reader.data(), path, number, offset, reason))
        }
        Err(e) => return Err(e),
    };
    report.wal_segments_replayed += 1;
    report.wal_records_replayed += records;
    // A segment with no data at all (crash while creating it) loses nothing.
    let early = cut.is_some();
    report.dropped.extend(cut.filter(|d| d.bytes > 0));
    Ok(Replayed {
        max_seqno,
        early,
        records,
        sealed,
        end: records_end,
    })
}

/// The region of segment `number` (bytes `data`, at `path`) that a torn write at `offset` drops;
/// logged.
fn torn_drop(data: &[u8], path: &Path, number: u64, offset: u64) -> WalDrop {
    tracing::warn!(
        path = %path.display(),
        offset,
        "WAL segment ends with an incomplete record (torn write); it was dropped"
    );
    let reason = "incomplete record at end of segment (torn write)".to_string();
    wal_drop(data, number, offset, reason, false)
}

/// The region of the newest segment that `PointInTime` recovery drops from damage at `offset`
/// on; logged.
fn damage_drop(data: &[u8], path: &Path, number: u64, offset: u64, reason: String) -> WalDrop {
    let d = wal_drop(data, number, offset, reason, true);
    tracing::warn!(
        path = %path.display(),
        offset,
        bytes = d.bytes,
        records = d.records,
        reason = %d.reason,
        "WAL damaged in its unsynced tail; recovered to the last consistent point"
    );
    d
}

fn wal_drop(data: &[u8], number: u64, offset: u64, reason: String, corruption: bool) -> WalDrop {
    let region = dropped_region(data, offset, number);
    WalDrop {
        file: files::wal_name(number),
        offset,
        bytes: region.bytes,
        records: region.records,
        reason,
        corruption,
    }
}

/// Inserts the entries of one WAL batch into their keyspaces' memtables, skipping entries of
/// dropped keyspaces and entries already in tables (at or below their keyspace's flushed
/// seqno). Returns the batch's largest seqno.
fn replay_batch(
    batch: &crate::batch::DecodedBatch<'_>,
    path: &Path,
    offset: u64,
    mems: &mut Recovered,
    state: &ManifestState,
) -> Result<u64> {
    let mut max_seqno = 0;
    for (seq, entry) in (batch.base_seqno..).zip(batch.iter()) {
        let e = entry?;
        max_seqno = max_seqno.max(seq);
        if e.keyspace != 0 && !state.keyspaces.contains_key(&e.keyspace) {
            if e.keyspace < state.next_keyspace_id {
                continue; // a dropped keyspace
            }
            return Err(Error::corruption(
                path,
                offset,
                format!(
                    "a batch writes keyspace {}, which the manifest never created",
                    e.keyspace
                ),
            ));
        }
        if state.flushed.get(&e.keyspace).is_some_and(|f| seq <= *f) {
            continue; // already in a table
        }
        mems.entry(e.keyspace)
            .or_insert_with(|| Memtable::new(0))
            .insert(e.key, seq, e.kind, e.value);
    }
    Ok(max_seqno)
}

pub(crate) fn open(dir: &Path, opts: Options) -> Result<(Arc<Shared>, Vec<JoinHandle<()>>)> {
    opts.validate()?;
    let fs = Arc::clone(&opts.file_system);
    let (dir, lock_file) = lock(&*fs, dir)?;
    let (mut manifest, state) = Manifest::open_with_fs(Arc::clone(&fs), &dir)?;
    let listing = list_dir(&*fs, &dir)?;
    // Numbers handed out before a crash but never recorded must not be reused.
    manifest.mark_file_number_used(listing.max_number);
    let cache = Arc::new(BlockCache::new(opts.initial_cache_bytes()));
    let keyspace_opts = keyspace_options(&state, manifest.path(), &opts)?;
    let mut versions = open_tables(&fs, &dir, &opts, &cache, &state)?;
    let (recovered, last_seqno, recovery_report) =
        replay_wal(&*fs, &dir, &opts, &state, &listing, false)?;
    check_orphans(&fs, &dir, &manifest, &listing, last_seqno)?;
    let recovery = Recovery {
        dir: &dir,
        opts: &opts,
        keyspace_opts: &keyspace_opts,
        cache: &cache,
        last_seqno,
    };
    let writer = recovery.persist(&mut manifest, &mut versions, &recovered)?;
    remove_garbage(&*fs, &dir, &manifest, &listing, writer.number())?;
    let trees = build_trees(&opts, keyspace_opts, versions, writer.number());
    let wal = WalState::new(writer);
    let shared = Arc::new(Shared::new(
        dir,
        &opts,
        cache,
        trees,
        super::WriteSide::new(Mutex::new(manifest)),
        super::WriteSide::new(Mutex::new(wal)),
        (last_seqno, recovery_report),
        Some(lock_file),
    ));
    let threads = start_threads(&shared)?;
    Ok((shared, threads))
}

/// Creates the directory if needed and takes its lock; returns the canonical path.
fn lock(fs: &dyn FileSystem, dir: &Path) -> Result<(PathBuf, crate::fs::DirLock)> {
    fs.create_dir_all(dir)
        .map_err(|e| Error::io("creating directory", dir, e))?;
    let dir = dir
        .canonicalize()
        .map_err(|e| Error::io("resolving", dir, e))?;
    let lock_file = fs.lock_dir(&dir)?;
    Ok((dir, lock_file))
}

/// Memtables recovered from the WAL, by keyspace id.
pub(super) type Recovered = BTreeMap<u32, Memtable>;

/// Every keyspace's declared options as the manifest records them (keyspace 0 has the defaults).
pub(super) fn keyspace_options(
    state: &ManifestState,
    manifest: &Path,
    db_opts: &Options,
) -> Result<BTreeMap<u32, (String, KeyspaceOptions)>> {
    let mut out = BTreeMap::new();
    out.insert(0, (DEFAULT_KEYSPACE.to_string(), KeyspaceOptions::default()));
    for (id, def) in &state.keyspaces {
        let o = KeyspaceOptions::decode(&def.options, manifest, 0)?;
        if let Err(e) = o.validate(db_opts) {
            return Err(Error::corruption(
                manifest,
                0,
                format!("keyspace {:?} has invalid options: {e}", def.name),
            ));
        }
        out.insert(*id, (def.name.clone(), o));
    }
    Ok(out)
}

/// The trees of every keyspace: tables from `versions`, fresh memtables logging to `wal_number`.
pub(super) fn build_trees(
    opts: &Options,
    keyspace_opts: BTreeMap<u32, (String, KeyspaceOptions)>,
    mut versions: BTreeMap<u32, Version>,
    wal_number: u64,
) -> Trees {
    let mut trees = Trees::default();
    for (id, (name, ks_opts)) in keyspace_opts {
        let version = versions.remove(&id).unwrap_or_default();
        let tree = Tree::new(id, name, opts, ks_opts, version, wal_number);
        trees.by_id.insert(id, Arc::new(tree));
    }
    trees
}

/// Opens every table the manifest names, by keyspace, at its level: level 0 newest first, the
/// other levels by smallest key.
pub(super) fn open_tables(
    fs: &Arc<dyn FileSystem>,
    dir: &Path,
    opts: &Options,
    cache: &Arc<BlockCache>,
    state: &ManifestState,
) -> Result<BTreeMap<u32, Version>> {
    let mut versions: BTreeMap<u32, Version> = BTreeMap::new();
    for meta in state.files.values() {
        let version = versions.entry(meta.keyspace).or_default();
        let path = dir.join(files::sst_name(meta.number));
        let table = Table::open_with_fs(fs, &path, meta.number, Some(cache.clone()))?;
        table.set_paranoid_checks(opts.paranoid_checks);
        table.set_block_read(opts.block_read);
        let level = meta.level as usize;
        while version.levels.len() <= level {
            version.levels.push(Vec::new());
        }
        if let Some(l) = version.levels.get_mut(level) {
            l.push(table);
        }
    }
    for version in versions.values_mut() {
        if let Some(l0) = version.levels.first_mut() {
            // Newest first: higher file numbers were flushed later.
            l0.sort_by_key(|t| std::cmp::Reverse(t.file_number()));
        }
        for l in version.levels.iter_mut().skip(1) {
            l.sort_by(|a, b| smallest_user_key(a).cmp(smallest_user_key(b)));
        }
    }
    Ok(versions)
}

/// The segment the manifest names as the oldest still needed (`log_number`) is deleted only
/// after an edit naming a newer one is durable, and a segment is created (and its directory
/// entry synced) before any edit names it. So when it is missing while a newer segment exists,
/// the manifest has lost its last edits (damage, not a crash: a torn append cannot lose a synced
/// edit), and the writes of the flushes those edits recorded are in no segment any more. A
/// read-only open (`copy`) skips the check: a live writer may delete segments between its
/// reading the manifest and listing the directory.
fn check_log_start(dir: &Path, state: &ManifestState, replay: &[u64], copy: bool) -> Result<()> {
    match replay.first() {
        Some(&first) if !copy && state.log_number > 0 && first != state.log_number => {
            Err(Error::corruption(
                dir.join(files::manifest_name(state.manifest_number)),
                0,
                format!(
                    "the manifest names WAL segment {} as the oldest still needed, but it is gone \
                     while the newer segment {first} exists: the manifest lost its last edits",
                    state.log_number
                ),
            ))
        }
        _ => Ok(()),
    }
}

/// Replays every WAL segment the manifest does not cover, oldest first, into one memtable per
/// keyspace (skipping each keyspace's entries at or below its flushed seqno, and those of dropped
/// keyspaces); returns them, the largest seqno recovered (the manifest's or the log's) and what
/// was replayed and dropped.
/// `copy`: read segments into memory instead of mapping them (a read-only open, where a live
/// writer may truncate a segment).
pub(super) fn replay_wal(
    fs: &dyn FileSystem,
    dir: &Path,
    opts: &Options,
    state: &ManifestState,
    listing: &DirListing,
    copy: bool,
) -> Result<(Recovered, u64, RecoveryReport)> {
    let mut recovered = Recovered::new();
    let mut report = RecoveryReport::default();
    let mut last_seqno = state.last_seqno;
    let replay: Vec<u64> = listing
        .wals
        .iter()
        .copied()
        .filter(|n| *n >= state.log_number)
        .collect();
    check_log_start(dir, state, &replay, copy)?;
    let mut next_seqno = LogCursor {
        next: state.last_seqno + 1,
        log_end: None,
    };
    // A segment that ended early (torn, or without a header) is the end of the log: every older
    // segment was synced whole when it was closed, before the next one took a record. A later
    // segment with records, or any later segment of a version with seals, means the early end is
    // damage, not a crash. From version 3 on, every segment but the newest must also end with its
    // seal, which proves that no record is missing at its end (`format-spec/wal.md`, "Seal").
    let mut ended_early: Option<std::path::PathBuf> = None;
    for (i, n) in replay.iter().enumerate() {
        let path = dir.join(files::wal_name(*n));
        let newest = i + 1 == replay.len();
        let reader = if copy {
            WalReader::read_with_fs(fs, &path)?
        } else {
            WalReader::open_with_fs(fs, &path)?
        };
        let has_seals = reader
            .format_version()
            .is_some_and(|v| v >= crate::wal::WAL_SEAL_VERSION);
        let r = replay_segment(
            reader,
            &path,
            *n,
            (&mut recovered, state),
            newest && opts.wal_recovery_mode == WalRecoveryMode::PointInTime,
            &mut next_seqno,
            &mut report,
        )?;
        check_log_order(ended_early.as_deref(), *n, has_seals, r.records)?;
        if has_seals && !newest && !r.sealed {
            return Err(Error::corruption(
                &path,
                r.end,
                format!(
                    "WAL segment has no seal but a later segment, {}, exists: it was cut short and records at its end may be missing",
                    files::wal_name(replay.last().copied().unwrap_or(*n))
                ),
            ));
        }
        if r.early {
            ended_early = Some(path);
        }
        last_seqno = last_seqno.max(r.max_seqno);
    }
    Ok((recovered, last_seqno, report))
}

/// The segment after one that ended early (`older`) may exist only when it is a version-1 or -2
/// segment without records (a crash while creating it, or recovery starting a segment, in those
/// versions): records after the early end, or a segment of a version with seals (which is only
/// created after the one before it was sealed), mean the early end is damage.
fn check_log_order(older: Option<&Path>, n: u64, has_seals: bool, records: u64) -> Result<()> {
    match older {
        Some(older) if records > 0 || has_seals => Err(Error::corruption(
            older,
            0,
            format!(
                "WAL segment ends early (torn or truncated) but a later segment, {}, holds records or was created after it was finished: part of the log is missing",
                files::wal_name(n)
            ),
        )),
        _ => Ok(()),
    }
}

/// What recovery found, to be made durable.
struct Recovery<'a> {
    dir: &'a Path,
    opts: &'a Options,
    keyspace_opts: &'a BTreeMap<u32, (String, KeyspaceOptions)>,
    cache: &'a Arc<BlockCache>,
    last_seqno: u64,
}

impl Recovery<'_> {
    /// Writes each keyspace's replayed memtable as a level-0 table, records them (with the
    /// recovered seqno and the number of a fresh WAL segment as `log_number`) in one manifest
    /// edit, then creates that segment; adds the tables to `versions`. Returns the new segment's
    /// writer.
    ///
    /// The edit comes first: the replayed segments are then below `log_number` and never read
    /// again (the newest of them may end torn and unsealed), so no segment is ever created after
    /// one that is not sealed. A crash between the edit and the creation leaves no segment at or
    /// above `log_number`: an empty log.
    fn persist(
        &self,
        manifest: &mut Manifest,
        versions: &mut BTreeMap<u32, Version>,
        recovered: &Recovered,
    ) -> Result<WalWriter> {
        let (dir, opts) = (self.dir, self.opts);
        let wal_number = manifest.new_file_number();
        let mut edit = VersionEdit {
            log_number: Some(wal_number),
            last_seqno: Some(self.last_seqno),
            ..VersionEdit::default()
        };
        let mut tables = Vec::new();
        for (ks, mem) in recovered {
            if mem.is_empty() {
                continue;
            }
            let ks_opts = self
                .keyspace_opts
                .get(ks)
                .map_or_else(|| opts.clone(), |(_, o)| o.apply_to(opts));
            let number = manifest.new_file_number();
            if let Some((mut meta, table)) =
                write_table(dir, &ks_opts, self.cache, mem, number, 0)?
            {
                meta.keyspace = *ks;
                edit.added.push(meta);
                tables.push((*ks, table));
            }
        }
        manifest.log_edit(edit)?;
        let fs = &*opts.file_system;
        let writer = WalWriter::create_with_fs(fs, dir, wal_number, wal_preallocation(opts))?;
        for (ks, t) in tables {
            let version = versions.entry(ks).or_default();
            if version.levels.is_empty() {
                version.levels.push(Vec::new());
            }
            if let Some(l0) = version.levels.first_mut() {
                l0.insert(0, t);
            }
        }
        Ok(writer)
    }
}

/// Deletes what the manifest does not name (garbage from an interrupted operation): orphan
/// tables, WAL segments older than `wal_number`, temporary files; then syncs the directory.
fn remove_garbage(
    fs: &dyn FileSystem,
    dir: &Path,
    manifest: &Manifest,
    listing: &DirListing,
    wal_number: u64,
) -> Result<()> {
    let live: BTreeSet<u64> = manifest.state().files.keys().copied().collect();
    for n in listing.ssts.difference(&live) {
        let p = dir.join(files::sst_name(*n));
        tracing::info!(path = %p.display(), "removing orphan table");
        let _ = fs.remove(&p);
    }
    for n in listing.wals.iter().filter(|n| **n < wal_number) {
        let _ = fs.remove(&dir.join(files::wal_name(*n)));
    }
    for p in &listing.temps {
        let _ = fs.remove(p);
    }
    sync_dir(fs, dir)
}

/// Starts the flush thread, the compaction threads and (for `SyncMode::AsyncBatch`) the WAL sync
/// thread.
fn start_threads(shared: &Arc<Shared>) -> Result<Vec<JoinHandle<()>>> {
    let opts = &shared.opts;
    let mut threads = vec![spawn_background(
        shared,
        "lsmkv-flush".into(),
        flush_thread,
    )?];
    scheduler::refresh_pressure(shared);
    for i in 0..opts.compaction_threads {
        threads.push(spawn_background(
            shared,
            format!("lsmkv-compact-{i}"),
            super::compact::compaction_thread,
        )?);
    }
    if opts.sync_mode == SyncMode::AsyncBatch {
        threads.push(spawn_background(
            shared,
            "lsmkv-wal-sync".into(),
            wal_sync_thread,
        )?);
    }
    Ok(threads)
}

/// Tables the manifest does not name are normally leftovers of a flush or compaction that a crash
/// interrupted before its edit was durable: their data is still in the WAL or in live tables, so
/// they are deleted. A table holding seqnos beyond everything recovered is different: its edit
/// *was* durable (its WAL segment is gone), so the manifest lost records. Deleting it would lose
/// acknowledged writes silently; report the manifest as corrupt instead.
fn check_orphans(
    fs: &Arc<dyn FileSystem>,
    dir: &Path,
    manifest: &Manifest,
    listing: &DirListing,
    recovered_seqno: u64,
) -> Result<()> {
    let live = &manifest.state().files;
    for n in listing.ssts.iter().filter(|n| !live.contains_key(n)) {
        let path = dir.join(files::sst_name(*n));
        // An unreadable orphan is garbage from an interrupted write.
        let Ok(table) = Table::open_with_fs(fs, &path, *n, None) else {
            continue;
        };
        let max = table.meta().max_seqno;
        if max > recovered_seqno {
            return Err(Error::corruption(
                manifest.path(),
                0,
                format!(
                    "table {} holds writes up to seqno {max} but the manifest and WAL recover \
                     only up to {recovered_seqno}: manifest records are missing",
                    files::sst_name(*n)
                ),
            ));
        }
    }
    Ok(())
}

/// `SyncMode::AsyncBatch`: fdatasync the WAL every `wal_sync_interval_ms`.
fn wal_sync_thread(shared: Arc<Shared>) {
    let interval = Duration::from_millis(shared.opts.wal_sync_interval_ms.max(1));
    loop {
        {
            let mut g = shared.sched.flush.lock.lock();
            if shared.shutdown.load(Ordering::Acquire) {
                return;
            }
            shared.sched.flush.work.wait_for(&mut g, interval);
            if shared.shutdown.load(Ordering::Acquire) {
                return;
            }
        }
        // Take a second handle under the lock, fsync outside it: commits go on meanwhile. A
        // rotation in between is harmless (the old segment is synced when it is finished).
        let handle = {
            let mut wal = shared.wal.lock();
            if !wal.unsynced {
                continue;
            }
            wal.unsynced = false;
            // Under AsyncBatch every commit was handed to the OS (flushed) before it got its
            // seqno published: the fsync below covers every seqno assigned so far.
            let upto = shared.last_seqno.load(Ordering::Relaxed);
            wal.writer
                .sync_handle()
                .map(|f| (f, wal.writer.path().to_path_buf(), upto))
        };
        let r = handle.and_then(|(f, path, upto)| {
            f.sync_data()
                .map_err(|e| Error::io("syncing WAL segment", &path, e))
                .map(|()| upto)
        });
        match r {
            Ok(upto) => {
                shared.counters.wal_syncs.fetch_add(1, Ordering::Relaxed);
                shared.durability.mark_durable(upto);
            }
            Err(e) => {
                shared.poison(&e);
                return;
            }
        }
    }
}

/// fsync of a directory, making renames and unlinks in it durable ([`FileSystem::sync_dir`]
/// with the error in the engine's terms).
pub(crate) fn sync_dir(fs: &dyn FileSystem, dir: &Path) -> Result<()> {
    fs.sync_dir(dir)
        .map_err(|e| Error::io("syncing directory", dir, e))
}
