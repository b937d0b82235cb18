//! `Db::open_read_only` and `Db::refresh`: a view of a database that writes nothing.
//!
//! No lock is taken (a writer in this or another process keeps its own), nothing is created,
//! renamed, removed or appended: the manifest named by CURRENT is read (a torn last record is the
//! writer mid-append and is dropped), its tables are mapped, and the WAL segments it does not
//! cover are *read* (copied, not mapped: the writer truncates a finished segment's preallocated
//! tail, and an access to a mapping past the new end would raise SIGBUS) and replayed into a
//! private memtable. Tables are only ever unlinked by the writer, never changed, so a mapping of
//! one stays valid after the writer deletes it.
//!
//! The writer may move on while this reads: delete a compacted table or a flushed WAL segment,
//! roll the manifest over. A file that vanished, or a failure while the manifest changed
//! meanwhile, starts the load again, at most [`ATTEMPTS`] times.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::Ordering;


use std::collections::BTreeMap;

use super::open::{keyspace_options, list_dir, open_tables, replay_wal};
use super::tree::{Tree, Trees};
use super::version::{SuperVersion, Version};
use super::{Shared, WriteSide};
use crate::cache::BlockCache;
use crate::error::{Error, Result};
use crate::fs::FileSystem;
use crate::options::KeyspaceOptions;
use crate::manifest::{Manifest, ManifestState};
use crate::memtable::Memtable;
use crate::options::Options;
use crate::recovery::RecoveryReport;

/// Loads attempted before giving up on a writer that keeps changing the files; after a failed
/// one the next waits `attempt` milliseconds (at most [`MAX_BACKOFF_MS`]), so that a writer
/// rotating its WAL faster than a load takes is still caught between two changes.
const ATTEMPTS: u64 = 100;
const MAX_BACKOFF_MS: u64 = 20;

/// What one load found.
struct View {
    /// Per keyspace: name, declared options, tables and the WAL replayed into a memtable.
    trees: BTreeMap<u32, (String, KeyspaceOptions, Version, Memtable)>,
    last_seqno: u64,
    report: RecoveryReport,
}

pub(crate) fn open(dir: &Path, opts: Options) -> Result<Arc<Shared>> {
    opts.validate()?;
    let dir = dir
        .canonicalize()
        .map_err(|e| Error::io("resolving", dir, e))?;
    let cache = Arc::new(BlockCache::new(opts.initial_cache_bytes()));
    let view = load(&opts.file_system, &dir, &opts, &cache)?;
    let mut trees = Trees::default();
    for (id, (name, ks_opts, version, mem)) in view.trees {
        let tree = Tree::new(id, name, &opts, ks_opts, Version::default(), 0);
        install(&tree, version, mem);
        trees.by_id.insert(id, Arc::new(tree));
    }
    Ok(Arc::new(Shared::new(
        dir,
        &opts,
        cache,
        trees,
        WriteSide::none(),
        WriteSide::none(),
        (view.last_seqno, view.report),
        None,
    )))
}

/// Reloads and installs a new view. Requires: `shared` is read-only.
pub(crate) fn refresh(shared: &Shared) -> Result<()> {
    let view = load(&shared.opts.file_system, &shared.dir, &shared.opts, &shared.cache)?;
    {
        let _g = shared.ks_lock.lock();
        let current = shared.trees.load_full();
        let mut next = Trees::default();
        for (id, (name, ks_opts, version, mem)) in view.trees {
            let tree = match current.get(id) {
                Some(t) if t.name == name => {
                    t.set_declared(&shared.opts, ks_opts);
                    t.clone()
                }
                _ => Arc::new(Tree::new(id, name, &shared.opts, ks_opts, Version::default(), 0)),
            };
            install(&tree, version, mem);
            next.by_id.insert(id, tree);
        }
        for gone in current.iter().filter(|t| next.get(t.id).is_none()) {
            gone.dropped.store(true, Ordering::Release);
        }
        shared.trees.store(Arc::new(next));
    }
    shared
        .last_seqno
        .fetch_max(view.last_seqno, Ordering::AcqRel);
    shared
        .visible_seqno
        .fetch_max(view.last_seqno, Ordering::AcqRel);
    Ok(())
}

/// Whether `e` is a file that vanished (the writer deleted it after we learnt its name).
fn vanished(e: &Error) -> bool {
    matches!(e, Error::Io { source, .. } if source.kind() == std::io::ErrorKind::NotFound)
}

fn read_state(fs: &dyn FileSystem, dir: &Path) -> Result<ManifestState> {
    Manifest::read_state(fs, dir)?.ok_or_else(|| {
        Error::InvalidArgument(format!("no database in {} (no CURRENT)", dir.display()))
    })
}

fn load(
    fs: &Arc<dyn FileSystem>,
    dir: &Path,
    opts: &Options,
    cache: &Arc<BlockCache>,
) -> Result<View> {
    let mut last = None;
    for attempt in 0..ATTEMPTS {
        if attempt > 0 {
            std::thread::sleep(std::time::Duration::from_millis(attempt.min(MAX_BACKOFF_MS)));
        }
        let state = match read_state(&**fs, dir) {
            Ok(s) => s,
            Err(e) if vanished(&e) => {
                last = Some(e);
                continue;
            }
            Err(e) => return Err(e),
        };
        match load_state(fs, dir, opts, cache, &state) {
            Ok(v) => return Ok(v),
            Err(e) => {
                // A WAL segment deleted between reading the manifest and listing the directory
                // shows up as a gap in the seqnos, not as a missing file: retry whenever the
                // manifest changed meanwhile.
                let moved = vanished(&e) || read_state(&**fs, dir).ok().as_ref() != Some(&state);
                if !moved {
                    return Err(e);
                }
                last = Some(e);
            }
        }
    }
    Err(last.unwrap_or_else(|| Error::InvalidArgument("read-only open gave up".into())))
}

fn load_state(
    fs: &Arc<dyn FileSystem>,
    dir: &Path,
    opts: &Options,
    cache: &Arc<BlockCache>,
    state: &ManifestState,
) -> Result<View> {
    // WAL segments first, right after listing them: the writer deletes a segment at every flush
    // but a table only at a compaction, so this keeps the window for a vanished file small.
    let listing = list_dir(&**fs, dir)?;
    let (mut mems, last_seqno, report) = replay_wal(&**fs, dir, opts, state, &listing, true)?;
    let mut versions = open_tables(fs, dir, opts, cache, state)?;
    let manifest_path = dir.join(crate::format::files::manifest_name(state.manifest_number));
    let trees = keyspace_options(state, &manifest_path, opts)?
        .into_iter()
        .map(|(id, (name, o))| {
            let version = versions.remove(&id).unwrap_or_default();
            let mem = mems.remove(&id).unwrap_or_else(|| Memtable::new(0));
            (id, (name, o, version, mem))
        })
        .collect();
    Ok(View {
        trees,
        last_seqno,
        report,
    })
}

/// Makes `version` and `mem` the tree's whole state.
fn install(tree: &Tree, version: Version, mem: Memtable) {
    tree.update_sv(|_| SuperVersion {
        mem: Arc::new(mem),
        imms: Vec::new(),
        version: Arc::new(version),
    });
}
