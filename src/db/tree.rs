//! One keyspace's LSM tree: its memtables and levels (the `SuperVersion` readers load without
//! locking), its effective options and its compaction state. Every keyspace of a database has one;
//! all of them share the WAL, the manifest, the block cache and the background threads
//! ([`super::Shared`]).
//!
//! The registry ([`Trees`]) is swapped atomically on create and drop, so looking a tree up never
//! blocks; a [`crate::Keyspace`] handle holds its `Arc<Tree>` and needs no lookup at all.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use arc_swap::ArcSwap;
use parking_lot::Mutex;

use super::version::{SuperVersion, Version};
use crate::options::KeyspaceOptions;
use crate::memtable::Memtable;
use crate::options::Options;

/// One keyspace's tree.
pub(crate) struct Tree {
    /// Keyspace id; 0 is `default`.
    pub id: u32,
    pub name: String,
    /// The database options with this keyspace's overrides applied: what its flushes and
    /// compactions build tables with.
    opts: ArcSwap<Options>,
    /// The options the keyspace was declared with.
    declared: Mutex<KeyspaceOptions>,
    /// Their TTL in milliseconds (0: none), read by every put without taking `declared`'s lock.
    ttl_millis: AtomicU64,
    pub sv: ArcSwap<SuperVersion>,
    /// Serialises changes of `sv` (rotation, flush install, compaction install).
    pub sv_lock: Mutex<()>,
    /// Held while one of the tree's memtables is being flushed (they flush one at a time).
    pub flush_lock: Mutex<()>,
    /// Set when the keyspace is dropped: handles still held fail with `Error::KeyspaceNotFound`.
    pub dropped: AtomicBool,
    /// Estimated bytes compaction still has to rewrite; refreshed when the tree changes.
    pub pending_compaction_bytes: AtomicU64,
    /// Bytes written into each level since open: flushes into level 0, compactions into their
    /// output level (trivial moves write nothing). Indexed by level (`MAX_LEVELS` is at most
    /// [`LEVEL_COUNTERS`]).
    pub level_bytes_written: [AtomicU64; LEVEL_COUNTERS],
}

/// Levels with a bytes-written counter: the most `MAX_LEVELS` allows.
pub(crate) const LEVEL_COUNTERS: usize = 16;

impl Tree {
    /// A tree with `version` as its tables and an empty memtable logging to WAL segment
    /// `wal_number`.
    pub fn new(
        id: u32,
        name: String,
        db_opts: &Options,
        declared: KeyspaceOptions,
        version: Version,
        wal_number: u64,
    ) -> Tree {
        let opts = declared.apply_to(db_opts);
        let ttl_millis = AtomicU64::new(ttl_of(&declared));
        Tree {
            ttl_millis,
            id,
            name,
            opts: ArcSwap::from_pointee(opts),
            declared: Mutex::new(declared),
            sv: ArcSwap::from_pointee(SuperVersion {
                mem: Arc::new(Memtable::with_key_filter(
                    wal_number,
                    db_opts.memtable_max_size,
                )),
                imms: Vec::new(),
                version: Arc::new(version),
            }),
            sv_lock: Mutex::new(()),
            flush_lock: Mutex::new(()),
            dropped: AtomicBool::new(false),
            pending_compaction_bytes: AtomicU64::new(0),
            level_bytes_written: std::array::from_fn(|_| AtomicU64::new(0)),
        }
    }

    /// Counts `bytes` of new tables written into `level` (a flush or a compaction's outputs).
    pub fn count_written(&self, level: usize, bytes: u64) {
        if let Some(c) = self.level_bytes_written.get(level) {
            c.fetch_add(bytes, Ordering::Relaxed);
        }
    }

    /// The effective options (database options plus this keyspace's overrides).
    pub fn opts(&self) -> Arc<Options> {
        self.opts.load_full()
    }

    /// The options the keyspace was declared with.
    pub fn declared(&self) -> KeyspaceOptions {
        self.declared.lock().clone()
    }

    /// Replaces the declared options (and the effective ones derived from them).
    pub fn set_declared(&self, db_opts: &Options, declared: KeyspaceOptions) {
        self.opts.store(Arc::new(declared.apply_to(db_opts)));
        self.ttl_millis.store(ttl_of(&declared), Ordering::Release);
        *self.declared.lock() = declared;
    }

    /// The keyspace's TTL for plain puts, if it has one.
    pub fn ttl(&self) -> Option<std::time::Duration> {
        match self.ttl_millis.load(Ordering::Acquire) {
            0 => None,
            ms => Some(std::time::Duration::from_millis(ms)),
        }
    }

    pub fn is_dropped(&self) -> bool {
        self.dropped.load(Ordering::Acquire)
    }

    /// Replaces the current `SuperVersion` by `f(current)`, under `sv_lock`.
    pub fn update_sv(&self, f: impl FnOnce(&SuperVersion) -> SuperVersion) {
        let _g = self.sv_lock.lock();
        let cur = self.sv.load();
        self.sv.store(Arc::new(f(&cur)));
    }

    /// The oldest WAL segment holding data of this tree's memtables, ignoring `except`.
    pub fn oldest_wal(&self, except: Option<&Arc<Memtable>>) -> Option<u64> {
        let sv = self.sv.load();
        std::iter::once(&sv.mem)
            .chain(sv.imms.iter())
            .filter(|m| except.is_none_or(|e| !Arc::ptr_eq(m, e)))
            .filter_map(|m| m.first_wal())
            .min()
    }
}

/// A TTL as the milliseconds `Tree::ttl_millis` holds (at least 1 for a set TTL).
fn ttl_of(o: &KeyspaceOptions) -> u64 {
    o.ttl_value()
        .map_or(0, |t| u64::try_from(t.as_millis()).unwrap_or(u64::MAX).max(1))
}

/// The live trees by keyspace id. Replaced as a whole (copy on write) on create and drop.
#[derive(Clone, Default)]
pub(crate) struct Trees {
    pub by_id: BTreeMap<u32, Arc<Tree>>,
}

impl Trees {
    pub fn get(&self, id: u32) -> Option<&Arc<Tree>> {
        self.by_id.get(&id)
    }

    pub fn by_name(&self, name: &str) -> Option<&Arc<Tree>> {
        self.by_id.values().find(|t| t.name == name)
    }

    pub fn iter(&self) -> impl Iterator<Item = &Arc<Tree>> {
        self.by_id.values()
    }
}
