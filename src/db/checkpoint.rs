//! `Db::checkpoint`: a consistent copy of the database at one seqno in another directory, made
//! while writers go on.
//!
//! Algorithm:
//! 1. Load the `SuperVersion` (memtables + live tables), then the visible seqno `S`. Holding the
//!    `SuperVersion` pins its tables: a compacted-away table is unlinked only when its last
//!    `Arc` is gone, so every file named below still exists. Every table entry has a seqno `<= S`
//!    (a flushed memtable was fully visible before it was frozen; checked, not assumed).
//! 2. Create the target's `MANIFEST-M` (M taken from the source's file-number counter, so never 1)
//!    holding a snapshot: the live tables at their levels, `last_seqno = S`, a `log_number` above
//!    every number used, so that no WAL segment is needed. Fsync it and the directory.
//! 3. Hard-link each live table (same name, same bytes; tables are immutable and fsynced).
//! 4. The memtables' entries with seqno `<= S` (the writes the WAL holds beyond the tables) go
//!    into one new level-0 table numbered above every live table, written in the target. This is
//!    the "WAL tail" in already-sorted form: the source is not flushed (no source I/O, no waiting
//!    for its flush thread, no effect on its write path), and entries newer than `S` that are
//!    already in the memtable are left out, which copying WAL bytes could not do cleanly.
//! 5. Fsync the directory; append an edit adding that table to the manifest (fsynced).
//! 6. Write CURRENT last: `CURRENT.tmp`, fsync, rename, directory fsync.
//!
//! Crash safety: nothing in the source directory is written, renamed or removed, so a crash
//! leaves the source as it was. In the target, the first durable entry is `MANIFEST-M` with
//! `M > 1`; until CURRENT exists, `Db::open` refuses the directory (a manifest without CURRENT is
//! corruption), so a crash leaves either an empty directory, a copy that does not open, or (once
//! CURRENT's rename is durable) the complete copy. On an error the files made so far are removed
//! (best effort) and the directory too if the checkpoint created it.
//!
//! Cost: independent of the data size apart from the memtables (at most the write buffers).

use std::collections::BTreeMap;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::Ordering;

use super::Shared;
use super::flush::write_table;
use super::tree::Tree;
use super::open::sync_dir;
use super::version::{SuperVersion, file_meta};
use crate::cache::BlockCache;
use crate::error::{Error, Result};
use crate::format::files;
use crate::fs::FileSystem;
use crate::key::unpack_trailer;
use crate::manifest::{FileMeta, Manifest, ManifestState, VersionEdit};
use crate::memtable::Memtable;

/// How often step 1 is retried if a table newer than the visible seqno shows up (it cannot, see
/// the module doc; the bound turns a broken assumption into an error instead of a bad copy).
const PIN_ATTEMPTS: usize = 100;

pub(crate) fn checkpoint(shared: &Shared, target: &Path) -> Result<()> {
    let fs = Arc::clone(&shared.opts.file_system);
    let created_dir = prepare_target(&*fs, target, &shared.dir)?;
    let target = target
        .canonicalize()
        .map_err(|e| Error::io("resolving", target, e))?;
    let mut made: Vec<PathBuf> = Vec::new();
    let r = build(shared, &fs, &target, &mut made);
    if r.is_err() {
        for p in made.iter().rev() {
            let _ = fs.remove(p);
        }
        if created_dir {
            let _ = std::fs::remove_dir(&target);
        }
    }
    r
}

/// Checks that `target` is an empty directory or absent (then creates it, syncing its parent).
/// Returns whether it was created.
fn prepare_target(fs: &dyn FileSystem, target: &Path, source: &Path) -> Result<bool> {
    match fs.list_dir(target) {
        Ok(names) if names.is_empty() => {
            if target.canonicalize().ok().as_deref() == Some(source) {
                return Err(Error::InvalidArgument(
                    "the checkpoint directory is the database directory".into(),
                ));
            }
            Ok(false)
        }
        Ok(_) => Err(Error::InvalidArgument(format!(
            "checkpoint directory {} is not empty",
            target.display()
        ))),
        Err(e) if e.kind() == ErrorKind::NotFound => {
            fs.create_dir_all(target)
                .map_err(|e| Error::io("creating checkpoint directory", target, e))?;
            let parent = crate::fs::parent_dir(target);
            sync_dir(fs, &parent)?;
            Ok(true)
        }
        Err(e) if e.kind() == ErrorKind::NotADirectory => Err(Error::InvalidArgument(format!(
            "checkpoint target {} is not a directory",
            target.display()
        ))),
        Err(e) => Err(Error::io("listing checkpoint directory", target, e)),
    }
}

fn build(
    shared: &Shared,
    fs: &Arc<dyn FileSystem>,
    target: &Path,
    made: &mut Vec<PathBuf>,
) -> Result<()> {
    // No keyspace is created or dropped while the copy is made.
    let _ks = shared.ks_lock.lock();
    let (pinned, seqno) = pin(shared)?;
    let (first_free, keyspaces, next_keyspace_id) = {
        let m = shared.manifest.lock();
        let st = m.state();
        (st.next_file_number, st.keyspaces.clone(), st.next_keyspace_id)
    };
    let highest_table = pinned
        .iter()
        .flat_map(|(_, sv)| sv.version.levels.iter().flatten())
        .map(|t| t.file_number())
        .max()
        .unwrap_or(0);
    // One table number per keyspace for its memtables' tail, then the manifest's.
    let first_tail_number = first_free.max(highest_table + 1);
    let manifest_number = first_tail_number + pinned.len() as u64;
    let next_file_number = manifest_number + 1;

    // Step 2: the manifest first, so that any partial copy is refused by `Db::open`.
    let state = ManifestState {
        next_file_number,
        last_seqno: seqno,
        log_number: next_file_number,
        manifest_number,
        files: live_files(&pinned)?,
        keyspaces,
        flushed: BTreeMap::new(),
        next_keyspace_id,
    };
    made.push(target.join(files::manifest_name(manifest_number)));
    let mut manifest = Manifest::create_unpublished(Arc::clone(fs), target, state)?;

    // Step 3: hard links.
    for t in pinned
        .iter()
        .flat_map(|(_, sv)| sv.version.levels.iter().flatten())
    {
        let name = files::sst_name(t.file_number());
        let (from, to) = (shared.dir.join(&name), target.join(&name));
        fs.hard_link(&from, &to).map_err(|e| link_error(e, &from, &to))?;
        made.push(to);
    }

    // Step 4: each keyspace's memtable writes up to `seqno`, as one table.
    let cache = Arc::new(BlockCache::new(0));
    let mut added = Vec::new();
    for ((tree, sv), number) in pinned.iter().zip(first_tail_number..) {
        let tail = memtable_tail(sv, seqno);
        made.push(target.join(files::sst_name(number)));
        if let Some((mut meta, _table)) =
            write_table(target, &tree.opts(), &cache, &tail, number, 0)?
        {
            meta.keyspace = tree.id;
            added.push(meta);
        }
    }
    drop(pinned);

    // Step 5.
    sync_dir(&**fs, target)?;
    if !added.is_empty() {
        manifest.log_edit(VersionEdit {
            added,
            ..VersionEdit::default()
        })?;
    }

    // Step 6: CURRENT last.
    made.push(target.join(crate::manifest::CURRENT_TMP));
    made.push(target.join(files::CURRENT));
    manifest.publish()
}

/// Every keyspace's tree and the `SuperVersion` pinned for the copy.
type Pinned = Vec<(Arc<Tree>, Arc<SuperVersion>)>;

/// Step 1: a view of every tree whose tables hold nothing newer than the visible seqno (a flush
/// or compaction may install between the loads; retried a bounded number of times).
fn pin(shared: &Shared) -> Result<(Pinned, u64)> {
    (0..PIN_ATTEMPTS)
        .find_map(|_| {
            let pinned: Pinned = shared
                .all_trees()
                .into_iter()
                .map(|t| {
                    let sv = t.sv.load_full();
                    (t, sv)
                })
                .collect();
            let seqno = shared.visible_seqno.load(Ordering::Acquire);
            let tables_ok = pinned
                .iter()
                .flat_map(|(_, sv)| sv.version.levels.iter().flatten())
                .all(|t| t.meta().max_seqno <= seqno);
            tables_ok.then_some((pinned, seqno))
        })
        .ok_or_else(|| Error::Poisoned {
            cause: "checkpoint: live tables hold seqnos beyond the visible one".into(),
        })
}

/// The manifest's record of every live table of every pinned tree, at its level.
fn live_files(pinned: &Pinned) -> Result<BTreeMap<u64, FileMeta>> {
    let mut files = BTreeMap::new();
    for (tree, sv) in pinned {
        for (level, tables) in sv.version.levels.iter().enumerate() {
            let level = u32::try_from(level)
                .map_err(|_| Error::InvalidArgument("too many levels for a checkpoint".into()))?;
            for t in tables {
                files.insert(t.file_number(), file_meta(t, level, tree.id));
            }
        }
    }
    Ok(files)
}

/// Step 4: the memtables' entries and range tombstones with seqnos up to `seqno`, in one
/// memtable.
fn memtable_tail(sv: &SuperVersion, seqno: u64) -> Memtable {
    let tail = Memtable::new(0);
    for mem in std::iter::once(&sv.mem).chain(sv.imms.iter()) {
        let mut c = mem.cursor();
        c.seek_to_first();
        while c.valid() {
            let (seq, kind) = unpack_trailer(c.trailer());
            if let Some(kind) = kind
                && seq <= seqno
            {
                tail.insert(c.user_key(), seq, kind, c.value_slice());
            }
            c.next();
        }
        for t in mem.range_tombstones(seqno) {
            tail.insert_range_tombstone(t);
        }
    }
    tail
}

fn link_error(e: std::io::Error, from: &Path, to: &Path) -> Error {
    // EXDEV: a hard link cannot cross file systems.
    if e.kind() == ErrorKind::CrossesDevices || e.raw_os_error() == Some(18) {
        return Error::InvalidArgument(format!(
            "checkpoint directory {} is on another file system than the database {}: \
             checkpoints hard-link tables and need the same file system",
            crate::fs::parent_dir(to).display(),
            crate::fs::parent_dir(from).display()
        ));
    }
    Error::io("hard-linking table into checkpoint", to, e)
}
