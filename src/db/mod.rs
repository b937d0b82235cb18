//! The database: the only module that knows every component.
//!
//! - `write.rs`: the write path. Writers queue; one leader at a time takes every queued batch,
//!   assigns seqnos, appends them to the WAL with one write (and one fdatasync with
//!   `SyncMode::Always`), inserts them into the memtable and publishes the new visible seqno. Also
//!   memtable rotation and `Db::flush`'s request.
//! - `flush.rs`: the background flush thread, memtable -> L0 SSTable -> manifest edit.
//! - `compact.rs`: the compaction threads, installing their results, `Db::compact_range`.
//! - `scheduler.rs`: the signals and backpressure state the three above report to and wait on,
//!   so that none of them calls another.
//! - `open.rs`: recovery: lock, manifest, tables, WAL replay, orphan cleanup, threads.
//! - `cas.rs`: versioned reads and conditional writes (compare-and-swap).
//! - `feed/`: the change feed; the write leader hands it each committed group.
//! - `read.rs`: snapshots, iterators, `Db::tables`, `Db::verify`.
//! - `counters.rs`: operation counters and `Db::stats`.
//! - `version.rs`: the `SuperVersion` readers load without locking (arc-swap).
//!
//! Invariants: a reader never takes a lock that a writer or the flush thread holds across I/O; the
//! visible seqno only moves forward and only after a whole batch is in the memtable; a memtable's
//! WAL segment is deleted only after the manifest edit recording its table is durable.

mod cas;
mod checkpoint;
mod compact;
pub(crate) mod conflicts;
pub(crate) mod index;
mod index_build;
mod counters;
mod durable;
mod expiring;
mod feed;
mod flush;
mod keyspace;
mod keyspaces;
mod open;
mod range_delete;
mod read;
mod read_only;
mod scheduler;
pub(crate) mod tree;
mod version;
mod write;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::JoinHandle;

use arc_swap::ArcSwap;
use parking_lot::Mutex;

use crate::batch::WriteBatch;
use crate::cache::BlockCache;
use crate::error::{Error, Result};
use crate::key::SeqNo;
use crate::manifest::Manifest;
use crate::options::Options;
use crate::stats::Stats;
use crate::value::Value;

use counters::Counters;
pub use cas::CasOutcome;
pub use durable::DurabilityTicket;
pub use keyspace::Keyspace;
pub use feed::{Change, DEFAULT_FEED_CAPACITY, Event, Subscription};
pub use read::{Snapshot, TableInfo};
pub(crate) use compact::everything as everything_bounds;
pub(crate) use read::{len_estimate, prefix_bounds, search, to_bounds, tree_tables};
use tree::Tree;
use version::SuperVersion;
use write::{WalState, WriteQueue};

/// State shared by every handle and the background threads.
pub(crate) struct Shared {
    dir: PathBuf,
    opts: Options,
    cache: Arc<BlockCache>,
    /// Every keyspace's tree; replaced as a whole when a keyspace is created or dropped.
    trees: ArcSwap<tree::Trees>,
    /// Keyspace 0, `default`, which always exists.
    default_tree: Arc<Tree>,
    /// Serialises keyspace creation and drop.
    ks_lock: Mutex<()>,
    /// Serialises index declaration and drop.
    index_lock: Mutex<()>,
    manifest: WriteSide<Mutex<Manifest>>,
    /// The WAL; holding this lock is holding the right to write.
    wal: WriteSide<Mutex<WalState>>,
    /// Finished WAL segments not yet deleted, oldest first: (number, bytes). A segment goes once
    /// no memtable of any keyspace holds writes logged in it. Lock order: `wal`, then this.
    old_wal_segments: Mutex<Vec<(u64, u64)>>,
    /// Number of the segment being appended to (0 for a read-only handle).
    current_wal: AtomicU64,
    /// Opened with [`Db::open_read_only`]: no WAL, no manifest, no lock, no background thread;
    /// every public write method returns [`Error::ReadOnly`] before reaching the write side.
    read_only: bool,
    queue: WriteQueue,
    /// Declared secondary indexes (and undeclared ones found at open).
    indexes: ArcSwap<index::IndexSet>,
    /// Writes committed while transactions are open, for their conflict checks.
    commit_log: conflicts::CommitLog,
    /// Change-feed subscribers; every commit is handed to it.
    feed: feed::Feed,
    /// Highest seqno assigned; only the write leader changes it.
    last_seqno: AtomicU64,
    /// Highest seqno whose batch is fully in the memtable; what readers see.
    visible_seqno: AtomicU64,
    /// Signals and backpressure state of background work.
    sched: scheduler::Scheduler,
    /// Set once an unrecoverable background or I/O error happened.
    poisoned: AtomicBool,
    poison_cause: Mutex<Option<String>>,
    shutdown: AtomicBool,
    counters: Counters,
    snapshots: read::SnapshotList,
    compaction_limiter: crate::compaction::job::RateLimiter,
    /// What WAL replay at open recovered and dropped.
    recovery_report: crate::recovery::RecoveryReport,
    /// The durable seqno and the durability tickets waiting on it.
    durability: durable::Durability,
    /// Background threads started after open (the durability thread); joined at close.
    extra_threads: Mutex<Vec<JoinHandle<()>>>,
    /// Held (locked) for the lifetime of the database; `None` when read-only.
    _lock_file: Option<crate::fs::DirLock>,
}

/// The writer's part of [`Shared`] (WAL, manifest). A read-only handle has none: its public write
/// methods fail with [`Error::ReadOnly`] first and it runs no background thread, so reaching
/// through an empty `WriteSide` is a bug of this crate (a panic names it).
pub(crate) struct WriteSide<T>(Option<T>);

impl<T> WriteSide<T> {
    pub(crate) fn new(t: T) -> Self {
        WriteSide(Some(t))
    }

    pub(crate) fn none() -> Self {
        WriteSide(None)
    }

    /// The value, `None` for a read-only handle.
    pub(crate) fn get(&self) -> Option<&T> {
        self.0.as_ref()
    }
}

impl<T> std::ops::Deref for WriteSide<T> {
    type Target = T;
    #[expect(
        clippy::panic,
        reason = "only a bug of this crate gets here: read-only handles stop at check_writable"
    )]
    fn deref(&self) -> &T {
        match &self.0 {
            Some(t) => t,
            None => panic!("lsmkv bug: the write side of a read-only database was reached"),
        }
    }
}

impl Shared {
    /// The state of a database opened at `dir`: `sv` is the recovered tree; `manifest` and `wal`
    /// are empty for a read-only handle, which holds no directory lock.
    #[expect(clippy::too_many_arguments, reason = "one constructor for both kinds of open")]
    fn new(
        dir: PathBuf,
        opts: &Options,
        cache: Arc<BlockCache>,
        trees: tree::Trees,
        manifest: WriteSide<Mutex<Manifest>>,
        wal: WriteSide<Mutex<WalState>>,
        recovered: (u64, crate::recovery::RecoveryReport),
        lock_file: Option<crate::fs::DirLock>,
    ) -> Shared {
        let (last_seqno, recovery_report) = recovered;
        let default_tree = match trees.get(0) {
            Some(t) => t.clone(),
            None => Arc::new(Tree::new(
                0,
                crate::format::manifest::DEFAULT_KEYSPACE.into(),
                opts,
                crate::options::KeyspaceOptions::default(),
                version::Version::default(),
                0,
            )),
        };
        Shared {
            dir,
            opts: opts.clone(),
            cache,
            trees: ArcSwap::from_pointee(trees),
            default_tree,
            ks_lock: Mutex::new(()),
            index_lock: Mutex::new(()),
            read_only: lock_file.is_none(),
            current_wal: AtomicU64::new(wal.get().map_or(0, |w| w.lock().writer.number())),
            old_wal_segments: Mutex::new(Vec::new()),
            manifest,
            wal,
            queue: WriteQueue::default(),
            commit_log: conflicts::CommitLog::default(),
            indexes: ArcSwap::from_pointee(index::IndexSet::default()),
            feed: feed::Feed::default(),
            last_seqno: AtomicU64::new(last_seqno),
            visible_seqno: AtomicU64::new(last_seqno),
            sched: scheduler::Scheduler::default(),
            poisoned: AtomicBool::new(false),
            poison_cause: Mutex::new(None),
            shutdown: AtomicBool::new(false),
            counters: Counters::default(),
            snapshots: Default::default(),
            compaction_limiter: crate::compaction::job::RateLimiter::new(
                opts.compaction_max_bytes_per_sec,
            ),
            recovery_report,
            durability: durable::Durability::new(last_seqno),
            extra_threads: Mutex::new(Vec::new()),
            _lock_file: lock_file,
        }
    }

    /// [`Error::ReadOnly`] for a read-only handle.
    fn check_writable(&self) -> Result<()> {
        if self.read_only {
            return Err(Error::ReadOnly);
        }
        Ok(())
    }

    fn check_poisoned(&self) -> Result<()> {
        if self.poisoned.load(Ordering::Acquire) {
            let cause = self
                .poison_cause
                .lock()
                .clone()
                .unwrap_or_else(|| "unknown".into());
            return Err(Error::Poisoned { cause });
        }
        Ok(())
    }

    /// Records the first fatal error; later writes fail with `Error::Poisoned`.
    fn poison(&self, err: &Error) {
        self.poison_with(err.to_string());
    }

    /// Records `cause` as the first fatal failure (later ones are logged and dropped) and wakes
    /// every thread waiting on background work, so that none waits for a thread that has stopped.
    fn poison_with(&self, cause_text: String) {
        let mut cause = self.poison_cause.lock();
        if cause.is_none() {
            tracing::error!(cause = %cause_text, "lsmkv: database is now read-only");
            *cause = Some(cause_text);
        }
        self.poisoned.store(true, Ordering::Release);
        let cause_text = cause.clone().unwrap_or_default();
        drop(cause);
        self.durability.fail(&cause_text);
        self.sched.wake_all();
    }

    /// The live tree of keyspace `id`.
    fn tree(&self, id: u32) -> Option<Arc<Tree>> {
        if id == 0 {
            return Some(self.default_tree.clone());
        }
        self.trees.load().get(id).cloned()
    }

    /// Every live tree, `default` first.
    fn all_trees(&self) -> Vec<Arc<Tree>> {
        self.trees.load().iter().cloned().collect()
    }

    fn get_at(&self, tree: &Tree, key: &[u8], snapshot: SeqNo) -> Result<Option<Value>> {
        self.counters.gets.fetch_add(1, Ordering::Relaxed);
        let sv = tree.sv.load();
        let found = self.lookup(&sv, key, snapshot)?;
        let out = match found {
            Some((trailer, v)) => crate::ttl::live_value_at(trailer, v, || self.now_millis())?,
            None => None,
        };
        if out.is_some() {
            self.counters.get_hits.fetch_add(1, Ordering::Relaxed);
        }
        Ok(out)
    }

    /// The newest entry for `key` visible at `snapshot`, tombstones included; a key a range
    /// tombstone deletes reads as a point tombstone.
    fn lookup(
        &self,
        sv: &SuperVersion,
        key: &[u8],
        snapshot: SeqNo,
    ) -> Result<Option<(u64, Value)>> {
        let hit = self.lookup_point(sv, key, snapshot)?;
        Ok(sv.apply_range_tombstones(key, snapshot, hit))
    }

    /// The newest point entry for `key` visible at `snapshot`, tombstones included.
    fn lookup_point(
        &self,
        sv: &SuperVersion,
        key: &[u8],
        snapshot: SeqNo,
    ) -> Result<Option<(u64, Value)>> {
        let hash = crate::sstable::key_hash(key);
        if let Some(hit) = sv.mem.get_hashed(key, hash, snapshot) {
            return Ok(Some(hit));
        }
        for imm in &sv.imms {
            if let Some(hit) = imm.get_hashed(key, hash, snapshot) {
                return Ok(Some(hit));
            }
        }
        let version = &sv.version;
        if version.table_count() == 0 {
            return Ok(None);
        }
        if let Some(l0) = version.levels.first() {
            for table in l0 {
                // Level-0 tables written from keys in order hold disjoint ranges: a key is in
                // the range of one, and the others are passed over without a filter probe.
                if !table.key_in_range(key) {
                    continue;
                }
                if !table.may_contain_hash(hash) {
                    self.counters.bloom_useful.fetch_add(1, Ordering::Relaxed);
                    continue;
                }
                if let Some(hit) = table.get_past_filter(key, snapshot)? {
                    return Ok(Some(hit));
                }
            }
        }
        for level in 1..version.levels.len() {
            if let Some(table) = version.find_in_level(level, key) {
                if !table.may_contain_hash(hash) {
                    self.counters.bloom_useful.fetch_add(1, Ordering::Relaxed);
                    continue;
                }
                if let Some(hit) = table.get_past_filter(key, snapshot)? {
                    return Ok(Some(hit));
                }
            }
        }
        Ok(None)
    }
}

/// Owns the background threads; dropping it (with the last `Db` clone) shuts the database down.
struct DbInner {
    shared: Arc<Shared>,
    threads: Mutex<Vec<JoinHandle<()>>>,
}

impl DbInner {
    fn shutdown(&self) -> Result<()> {
        let shared = &self.shared;
        shared.shutdown.store(true, Ordering::Release);
        shared.sched.wake_all();
        // No handle is left to write: subscribers get what is queued, then disconnect.
        shared.feed.close();
        shared.durability.wake();
        let extra: Vec<JoinHandle<()>> = shared.extra_threads.lock().drain(..).collect();
        for h in self.threads.lock().drain(..).chain(extra) {
            // A durability callback may hold the last handle: its thread cannot join itself
            // (it ends on its own once it sees the shutdown flag).
            if h.thread().id() == std::thread::current().id() {
                continue;
            }
            // A background body's panic is caught and poisons the database where it happens
            // (`spawn_background`); a join error can only come from a panic in that handler.
            if h.join().is_err() {
                shared.poison_with("a background thread panicked".into());
            }
        }
        // Make every acknowledged write durable before the lock is released.
        let Some(wal) = shared.wal.get() else {
            return Ok(());
        };
        let mut wal = wal.lock();
        let r = wal.sync(&shared.counters);
        match &r {
            Ok(()) => shared
                .durability
                .mark_durable(shared.last_seqno.load(Ordering::Relaxed)),
            Err(e) => shared.durability.fail(&e.to_string()),
        }
        drop(wal);
        // Tickets still pending resolve now, on this thread.
        shared.durability.close();
        r
    }
}

impl Drop for DbInner {
    fn drop(&mut self) {
        if !self.shared.shutdown.load(Ordering::Acquire)
            && let Err(e) = self.shutdown()
        {
            tracing::error!(error = %e, "lsmkv: error while closing the database");
        }
    }
}

/// Starts a background thread named `name` running `body`. A panic in `body` poisons the
/// database (writes fail with [`Error::Poisoned`] naming the thread and the panic; reads go on)
/// instead of silently stopping the flushes or compactions that writers may be waiting for.
fn spawn_background(
    shared: &Arc<Shared>,
    name: String,
    body: fn(Arc<Shared>),
) -> Result<JoinHandle<()>> {
    let s = shared.clone();
    let thread_name = name.clone();
    std::thread::Builder::new()
        .name(name)
        .spawn(move || {
            let for_body = s.clone();
            let run = std::panic::AssertUnwindSafe(move || body(for_body));
            if let Err(payload) = std::panic::catch_unwind(run) {
                let what = payload
                    .downcast_ref::<&str>()
                    .map(|m| (*m).to_string())
                    .or_else(|| payload.downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "a panic without a message".into());
                s.poison_with(format!("panic in background thread {thread_name}: {what}"));
            }
        })
        .map_err(|e| Error::io("spawning a background thread", &shared.dir, e))
}

/// An open database. Cheap to clone; every clone is the same database. `Send + Sync`.
///
/// See the crate documentation for an example.
#[derive(Clone)]
pub struct Db {
    inner: Arc<DbInner>,
}

impl std::fmt::Debug for Db {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Db")
            .field("dir", &self.inner.shared.dir)
            .finish()
    }
}

impl Db {
    /// Opens (creating if needed) the database in `path`, locking the directory against a second
    /// opener, and recovers every write acknowledged before a crash.
    ///
    /// # Errors
    /// [`Error::Locked`] when the directory is in use, [`Error::Corruption`] when a file is damaged,
    /// [`Error::InvalidArgument`] for bad options, [`Error::Io`].
    pub fn open(path: impl AsRef<Path>, opts: Options) -> Result<Db> {
        let (shared, threads) = open::open(path.as_ref(), opts)?;
        let db = Db {
            inner: Arc::new(DbInner {
                shared,
                threads: Mutex::new(threads),
            }),
        };
        db.find_indexes()?;
        Ok(db)
    }

    /// Opens the database in `path` for reading only, writing nothing: no lock (it works while
    /// another process, such as `lsmkv-server`, has the database open for writing), no WAL
    /// segment, no manifest edit, no background thread. It sees the database as of the open: the
    /// tables the manifest names plus the WAL replayed into a private memtable (a torn last record
    /// is normal: the writer may be mid-append). [`Db::refresh`] catches up. Writes, flushes,
    /// compactions and checkpoints fail with [`Error::ReadOnly`].
    ///
    /// A file the writer deletes while the open reads (a compacted table, a flushed WAL segment,
    /// a rolled-over manifest) makes the open start again, a bounded number of times.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] when `path` holds no database; [`Error::Corruption`];
    /// [`Error::Io`] (also when the writer kept changing the files on every attempt).
    pub fn open_read_only(path: impl AsRef<Path>, opts: Options) -> Result<Db> {
        let shared = read_only::open(path.as_ref(), opts)?;
        Ok(Db {
            inner: Arc::new(DbInner {
                shared,
                threads: Mutex::new(Vec::new()),
            }),
        })
    }

    /// Catches a read-only handle up with the writer: reloads the manifest, tables and WAL as
    /// [`Db::open_read_only`] does. Snapshots taken before keep their seqno but read the new
    /// files, from which the writer's compactions may have dropped versions they would have
    /// seen. On a writable handle it does nothing (it is always current).
    ///
    /// # Errors
    /// As [`Db::open_read_only`]; the handle then keeps its old view.
    pub fn refresh(&self) -> Result<()> {
        if !self.shared().read_only {
            return Ok(());
        }
        read_only::refresh(self.shared())
    }

    /// Whether this handle came from [`Db::open_read_only`].
    pub fn is_read_only(&self) -> bool {
        self.shared().read_only
    }

    fn shared(&self) -> &Shared {
        &self.inner.shared
    }

    /// Whether this handle is on the database of `shared`.
    pub(crate) fn is_same_database(&self, shared: &Shared) -> bool {
        std::ptr::eq(self.shared(), shared)
    }

    /// `get` in the keyspace of `tree`.
    pub(crate) fn get_in_tree(&self, tree: &Tree, key: &[u8]) -> Result<Option<Value>> {
        let s = self.shared();
        s.get_at(tree, key, s.visible_seqno.load(Ordering::Acquire))
    }

    /// `get_versioned` in the keyspace of `tree`.
    pub(crate) fn get_versioned_in_tree(
        &self,
        tree: &Tree,
        key: &[u8],
    ) -> Result<Option<(Value, u64)>> {
        let s = self.shared();
        s.get_versioned_at(tree, key, s.visible_seqno.load(Ordering::Acquire))
    }

    pub(crate) fn shared_ref(&self) -> &Shared {
        self.shared()
    }

    /// `Ok` while the database can still make progress (not poisoned, not closing).
    pub(crate) fn check_open(&self) -> Result<()> {
        let s = self.shared();
        s.check_poisoned()?;
        if s.shutdown.load(Ordering::Acquire) {
            return Err(Error::Closed);
        }
        Ok(())
    }

    /// Serialises index declaration and drop.
    pub(crate) fn index_lock(&self) -> parking_lot::MutexGuard<'_, ()> {
        self.shared().index_lock.lock()
    }

    /// The current index registry.
    pub(crate) fn index_set(&self) -> Arc<index::IndexSet> {
        self.shared().indexes.load_full()
    }

    /// Adds a declared index (replacing an undeclared record of it).
    pub(crate) fn register_index(&self, def: Arc<index::IndexDef>) {
        let s = self.shared();
        let mut set = index::IndexSet::clone(&s.indexes.load());
        let primary = def.primary.id;
        if let Some(names) = set.undeclared.get_mut(&primary) {
            names.retain(|n| *n != def.name);
            if names.is_empty() {
                set.undeclared.remove(&primary);
            }
        }
        let defs = set.by_primary.entry(primary).or_default();
        defs.retain(|d| d.name != def.name);
        defs.push(def.clone());
        set.by_name.insert(def.name.clone(), def);
        s.indexes.store(Arc::new(set));
    }

    /// Forgets index `name` (declared or not).
    pub(crate) fn unregister_index(&self, name: &str) {
        let s = self.shared();
        let mut set = index::IndexSet::clone(&s.indexes.load());
        set.by_name.remove(name);
        for defs in set.by_primary.values_mut() {
            defs.retain(|d| d.name != name);
        }
        set.by_primary.retain(|_, d| !d.is_empty());
        for names in set.undeclared.values_mut() {
            names.retain(|n| n != name);
        }
        set.undeclared.retain(|_, n| !n.is_empty());
        s.indexes.store(Arc::new(set));
    }

    /// Builds `def` in a background thread. Closing the database stops the build at its next
    /// chunk and joins the thread, so that no builder holds the database (and its directory
    /// lock) after `close` returns.
    pub(crate) fn spawn_index_build(&self, def: Arc<index::IndexDef>) -> Result<()> {
        let shared = self.inner.shared.clone();
        let handle = std::thread::Builder::new()
            .name(format!("lsmkv-index-{}", def.name))
            .spawn(move || match index_build::build(&shared, &def) {
                Ok(()) | Err(Error::Closed) => {}
                Err(e) => tracing::error!(index = %def.name, error = %e, "index build failed"),
            })
            .map_err(|e| Error::io("spawning the index builder", &self.shared().dir, e))?;
        self.shared().extra_threads.lock().push(handle);
        Ok(())
    }

    /// Records the indexes found on disk (index keyspaces) as undeclared, so that writes to
    /// their keyspaces are refused until they are declared.
    fn find_indexes(&self) -> Result<()> {
        let s = self.shared();
        let mut set = index::IndexSet::default();
        for tree in s.all_trees() {
            let Some(name) = tree.name.strip_prefix(index::INDEX_KEYSPACE_PREFIX) else {
                continue;
            };
            let meta = s.get_at(&tree, b"", s.visible_seqno.load(Ordering::Acquire))?;
            let Some((primary, _)) = meta.as_deref().and_then(index::parse_meta) else {
                continue;
            };
            if let Some(p) = s.trees.load().by_name(&primary) {
                set.undeclared.entry(p.id).or_default().push(name.to_string());
            }
        }
        s.indexes.store(Arc::new(set));
        Ok(())
    }

    /// The TTL of keyspace `id`'s plain puts, if it has one.
    pub(crate) fn keyspace_ttl(&self, id: u32) -> Option<std::time::Duration> {
        self.shared().tree(id).and_then(|t| t.ttl())
    }

    /// Commits `batch` and returns the seqno of its first entry (its version).
    pub(crate) fn write_versioned(&self, batch: WriteBatch) -> Result<u64> {
        self.shared().check_writable()?;
        write::write(self.shared(), batch)
    }

    /// A handle on the `default` keyspace.
    pub(crate) fn default_keyspace(&self) -> Keyspace {
        Keyspace::new(self.clone(), self.shared().default_tree.clone())
    }

    /// Registers a transaction and takes its snapshot (see `conflicts`: registered first).
    pub(crate) fn begin_transaction(&self) -> Snapshot {
        let mut snap = None;
        self.shared().commit_log.begin(|| {
            let s = self.snapshot();
            let seqno = s.seqno();
            snap = Some(s);
            seqno
        });
        match snap {
            Some(s) => s,
            None => self.snapshot(),
        }
    }

    /// Unregisters a transaction of snapshot `seqno`.
    pub(crate) fn end_transaction(&self, seqno: SeqNo) {
        self.shared().commit_log.end(seqno);
    }

    /// Commits a transaction's batch if `check` passes.
    pub(crate) fn write_transaction(
        &self,
        batch: WriteBatch,
        check: Arc<conflicts::Check>,
    ) -> Result<()> {
        self.shared().check_writable()?;
        write::write_checked(self.shared(), batch, Some(check)).map(drop)
    }

    /// `flush` of the keyspace of `tree`.
    pub(crate) fn flush_tree(&self, tree: &Arc<Tree>) -> Result<()> {
        self.shared().check_writable()?;
        write::flush_and_wait(self.shared(), tree)
    }

    /// Inserts or replaces `key`.
    ///
    /// # Errors
    /// [`Error::KeyTooLarge`], [`Error::ValueTooLarge`], [`Error::Poisoned`], [`Error::Io`];
    /// [`Error::ReadOnly`] on a handle from [`Db::open_read_only`].
    pub fn put(&self, key: impl AsRef<[u8]>, value: impl AsRef<[u8]>) -> Result<()> {
        let (key, value) = (key.as_ref(), value.as_ref());
        let mut b = WriteBatch::with_capacity(9 + key.len() + value.len());
        b.put(key, value);
        self.write(b)
    }

    /// Deletes `key` (writes a tombstone). Deleting an absent key is not an error.
    ///
    /// # Errors
    /// As [`Db::put`].
    pub fn delete(&self, key: impl AsRef<[u8]>) -> Result<()> {
        let key = key.as_ref();
        let mut b = WriteBatch::with_capacity(5 + key.len());
        b.delete(key);
        self.write(b)
    }

    /// Reads the newest value of `key`.
    ///
    /// # Errors
    /// [`Error::Corruption`] when a block on the lookup path is damaged.
    pub fn get(&self, key: impl AsRef<[u8]>) -> Result<Option<Value>> {
        let s = self.shared();
        s.get_at(
            &s.default_tree,
            key.as_ref(),
            s.visible_seqno.load(Ordering::Acquire),
        )
    }

    /// Applies a batch atomically: readers see all of it or none of it, and after a crash it is
    /// either wholly recovered or wholly absent. An empty batch is a no-op.
    ///
    /// # Errors
    /// As [`Db::put`]; on error nothing of the batch was applied.
    pub fn write(&self, batch: WriteBatch) -> Result<()> {
        self.shared().check_writable()?;
        write::write(self.shared(), batch).map(drop)
    }

    /// [`Db::write`] for callers that must not block: when the database is slowing down or
    /// stopping writes, returns [`Error::WouldStall`] at once instead of waiting, and writes
    /// nothing. That is when a memtable the batch needs is full and its keyspace already has
    /// `MAX_IMMUTABLE_MEMTABLES` frozen memtables waiting for flush (or the live WAL segments
    /// passed `MAX_WAL_SIZE` with that many waiting), when level 0 has
    /// `L0_STOP_WRITES_TRIGGER` tables or `HARD_PENDING_COMPACTION_BYTES` await compaction, and,
    /// between the slowdown and stop thresholds, when the write would exceed the slowdown rate
    /// that [`Db::write`] keeps by sleeping.
    ///
    /// `retry_after` is an estimate: for a flush, how long the last flush took; for a stop, how
    /// long the last compaction that rewrote tables took (50 ms and 100 ms before the first);
    /// under the slowdown rate, the time until the rate admits the next write. Always between
    /// 1 ms and 10 s. A write that is refused changes nothing; retrying it later is safe.
    ///
    /// It still waits, like every write, for the WAL write of the commit ahead of it.
    ///
    /// # Errors
    /// [`Error::WouldStall`]; otherwise as [`Db::write`].
    pub fn try_write(&self, batch: WriteBatch) -> Result<()> {
        self.shared().check_writable()?;
        write::try_write(self.shared(), batch).map(drop)
    }

    /// [`Db::put`] through [`Db::try_write`].
    ///
    /// # Errors
    /// As [`Db::try_write`].
    pub fn try_put(&self, key: impl AsRef<[u8]>, value: impl AsRef<[u8]>) -> Result<()> {
        let (key, value) = (key.as_ref(), value.as_ref());
        let mut b = WriteBatch::with_capacity(9 + key.len() + value.len());
        b.put(key, value);
        self.try_write(b)
    }

    /// [`Db::delete`] through [`Db::try_write`].
    ///
    /// # Errors
    /// As [`Db::try_write`].
    pub fn try_delete(&self, key: impl AsRef<[u8]>) -> Result<()> {
        let key = key.as_ref();
        let mut b = WriteBatch::with_capacity(5 + key.len());
        b.delete(key);
        self.try_write(b)
    }

    /// [`Db::try_write`] returning the seqno of the batch's first entry (its version).
    pub(crate) fn try_write_versioned(&self, batch: WriteBatch) -> Result<u64> {
        self.shared().check_writable()?;
        write::try_write(self.shared(), batch)
    }

    /// Stops the background flush and compaction threads from starting new jobs (a job already
    /// running finishes) until [`Db::continue_background_work`]. Meanwhile memtables and level-0
    /// tables pile up: [`Db::write`] stalls and [`Db::try_write`] is refused once their limits
    /// are reached. Explicit [`Db::flush`] and [`Db::compact`] still run. For maintenance
    /// windows (e.g. copying files out) and for tests of write stalls.
    pub fn pause_background_work(&self) {
        self.shared().sched.set_paused(true);
    }

    /// Lets the background threads run again after [`Db::pause_background_work`], and wakes them.
    pub fn continue_background_work(&self) {
        self.shared().sched.set_paused(false);
    }

    /// Freezes the `default` keyspace's memtable, writes it to an SSTable and returns when that
    /// table is durable and live. Also waits for its memtables frozen earlier. Other keyspaces
    /// are not flushed ([`crate::Keyspace::flush`]).
    ///
    /// # Errors
    /// The flush's I/O error, or [`Error::Poisoned`]; [`Error::ReadOnly`] on a read-only handle.
    pub fn flush(&self) -> Result<()> {
        self.shared().check_writable()?;
        write::flush_and_wait(self.shared(), &self.shared().default_tree)
    }

    /// Makes every acknowledged write durable (fdatasync of the WAL).
    ///
    /// # Errors
    /// [`Error::Io`]; the database is then poisoned. [`Error::ReadOnly`] on a read-only handle.
    pub fn sync(&self) -> Result<()> {
        let s = self.shared();
        s.check_writable()?;
        s.check_poisoned()?;
        let mut wal = s.wal.lock();
        let r = wal.sync(&s.counters);
        match &r {
            Ok(()) => s
                .durability
                .mark_durable(s.last_seqno.load(Ordering::Relaxed)),
            Err(e) => s.poison(e),
        }
        r
    }

    /// Commits `batch` like [`Db::write`] and returns once it is visible to readers, without
    /// waiting for it to be durable: the [`DurabilityTicket`] resolves when the WAL fsync covering
    /// the batch is done ([`DurabilityTicket::wait`] blocks, [`DurabilityTicket::on_durable`]
    /// calls back, [`DurabilityTicket::is_durable`] polls). With [`crate::SyncMode::Always`] the
    /// batch was fsynced before it became visible, so the ticket is resolved already; with
    /// `AsyncBatch` and `None` the engine fsyncs on demand on its durability thread as soon as a
    /// ticket is pending (one fsync covers every ticket issued meanwhile), so a ticket never
    /// waits for the `async_batch` interval and resolves under `none` too. A batch may target
    /// several keyspaces ([`WriteBatch::put_in`] and the other `_in` methods).
    ///
    /// ```
    /// # fn main() -> lsmkv::Result<()> {
    /// # let dir = tempfile::tempdir().unwrap();
    /// let opts = lsmkv::Options { sync_mode: lsmkv::SyncMode::None, ..Default::default() };
    /// let db = lsmkv::Db::open(dir.path(), opts)?;
    /// let mut b = lsmkv::WriteBatch::new();
    /// b.put("k", "v");
    /// let ticket = db.write_with_ticket(b)?;
    /// assert!(db.get("k")?.is_some()); // visible at once
    /// let (tx, rx) = std::sync::mpsc::channel();
    /// ticket.clone().on_durable(move |r| tx.send(r.is_ok()).unwrap_or(()));
    /// ticket.wait()?; // durable now
    /// assert!(ticket.is_durable());
    /// assert_eq!(rx.recv().ok(), Some(true));
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// As [`Db::write`]; on error nothing of the batch was applied and there is no ticket.
    pub fn write_with_ticket(&self, batch: WriteBatch) -> Result<DurabilityTicket> {
        let s = &self.inner.shared;
        s.check_writable()?;
        let len = batch.len() as u64;
        let first = write::write(s, batch)?;
        // An empty batch reports the visible seqno: everything before it must be durable.
        let last = if len == 0 { first } else { first + len - 1 };
        Ok(DurabilityTicket::issue(s, last))
    }

    /// Current statistics.
    pub fn stats(&self) -> Stats {
        self.shared().stats()
    }

    /// What recovery did when this database was opened: WAL segments and records replayed, and
    /// every region of a segment it dropped (a torn write at the end of a segment, or with
    /// [`crate::WalRecoveryMode::PointInTime`] the records after damage in the newest segment),
    /// with file name, offset, size and reason. Front ends show the dropped regions to the user;
    /// the engine itself only logs them (`tracing` warnings).
    pub fn recovery_report(&self) -> crate::recovery::RecoveryReport {
        self.shared().recovery_report.clone()
    }

    /// The options the database was opened with.
    pub fn options(&self) -> &Options {
        &self.shared().opts
    }

    /// The database directory.
    pub fn path(&self) -> &Path {
        &self.shared().dir
    }

    /// Compacts the whole `default` keyspace into one sorted run at the last level, dropping
    /// every version and tombstone that no snapshot needs. Flushes its memtable first; returns
    /// when done. Other keyspaces: [`crate::Keyspace::compact`].
    ///
    /// # Errors
    /// I/O or corruption errors of the compaction; the database is then poisoned.
    /// [`Error::ReadOnly`] on a read-only handle.
    pub fn compact(&self) -> Result<()> {
        self.compact_tree(&self.shared().default_tree, &compact::everything())
    }

    /// Compacts the tables of the `default` keyspace holding keys in `range` (and what overlaps
    /// them) into the last level.
    ///
    /// # Errors
    /// As [`Db::compact`].
    pub fn compact_range<K: AsRef<[u8]>, R: std::ops::RangeBounds<K>>(
        &self,
        range: R,
    ) -> Result<()> {
        self.compact_tree(&self.shared().default_tree, &read::to_bounds(&range))
    }

    /// Flushes `tree` and compacts what `bounds` covers into its last level.
    pub(crate) fn compact_tree(&self, tree: &Arc<Tree>, bounds: &crate::iter::Bounds) -> Result<()> {
        self.shared().check_writable()?;
        write::flush_and_wait(self.shared(), tree)?;
        compact::compact_range(self.shared(), tree, bounds)
    }

    /// Makes a consistent copy of the whole database, as of one moment (every write acknowledged
    /// before the call and none started after it), in `dir`, which must be empty or absent and on
    /// the same file system as the database. Tables are hard-linked, not copied, so the cost is
    /// about constant (plus writing out the memtables); writers go on meanwhile. The copy is an
    /// independent database: open it with [`Db::open`]. Nothing in this database's directory is
    /// changed. A crash during the call leaves a directory that does not open (the copy's CURRENT
    /// is written last), never a partial copy.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] when `dir` is not an empty directory, is this database's
    /// directory, or is on another file system; [`Error::ReadOnly`] on a read-only handle;
    /// [`Error::Io`]. On error the files made so far are
    /// removed (best effort).
    pub fn checkpoint(&self, dir: impl AsRef<Path>) -> Result<()> {
        self.shared().check_writable()?;
        checkpoint::checkpoint(self.shared(), dir.as_ref())
    }

    /// Closes this handle. When it is the last one, stops the background threads, syncs the WAL
    /// and releases the directory lock, reporting any error. Dropping the last handle does the same
    /// but can only log errors.
    ///
    /// # Errors
    /// The final WAL sync's error.
    pub fn close(self) -> Result<()> {
        match Arc::try_unwrap(self.inner) {
            Ok(inner) => inner.shutdown(),
            Err(_) => Ok(()),
        }
    }
}
