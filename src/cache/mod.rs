//! Block cache: decompressed SSTable blocks, keyed by `(file_number, block_offset)`.
//!
//! Only blocks stored LZ4-compressed are cached: raw blocks are read in place from the file's
//! memory mapping and the page cache already holds them. Entries are weighted by their byte
//! length (plus a small per-entry overhead) and the cache never holds more than its capacity.
//! A cached block is a [`Bytes`] whose owner is a [`pool::PooledBuf`]: when the entry is evicted
//! and the last reader drops its slice, the buffer goes back to the [`pool::BufferPool`].
//!
//! `BlockCache::new(0)` disables caching (every lookup decompresses again).

pub mod mapped;
pub mod pool;

use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;

use crate::stats::CacheStats;

/// Weight charged per entry on top of the block bytes (key, `Bytes` header, cache slot).
const ENTRY_OVERHEAD_BYTES: u64 = 64;

#[derive(Clone, Copy)]
struct BlockWeighter;

impl quick_cache::Weighter<(u64, u64), Bytes> for BlockWeighter {
    fn weight(&self, _key: &(u64, u64), val: &Bytes) -> u64 {
        (val.len() as u64).saturating_add(ENTRY_OVERHEAD_BYTES)
    }
}

type Inner = quick_cache::sync::Cache<(u64, u64), Bytes, BlockWeighter>;

/// A bounded, sharded cache of decompressed blocks shared by all tables of a database.
pub struct BlockCache {
    inner: Option<Inner>,
    capacity_bytes: AtomicU64,
    hits: AtomicU64,
    misses: AtomicU64,
}

impl std::fmt::Debug for BlockCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BlockCache")
            .field("stats", &self.stats())
            .finish()
    }
}

impl BlockCache {
    /// A cache holding at most `capacity_bytes` of blocks; 0 disables caching.
    pub fn new(capacity_bytes: usize) -> BlockCache {
        let capacity = capacity_bytes as u64;
        let inner = (capacity > 0).then(|| {
            // Estimated item count only sizes the initial tables; 4 KiB is the default block.
            let items = (capacity_bytes / 4096).clamp(16, 1 << 20);
            Inner::with_weighter(items, capacity, BlockWeighter)
        });
        BlockCache {
            inner,
            capacity_bytes: AtomicU64::new(capacity),
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
        }
    }

    /// Changes the capacity (evicting down to it at once). A cache made with capacity 0 stays
    /// disabled.
    pub fn set_capacity(&self, capacity_bytes: u64) {
        if let Some(c) = &self.inner {
            c.set_capacity(capacity_bytes);
            self.capacity_bytes.store(capacity_bytes, Ordering::Relaxed);
        }
    }

    /// True when the cache can hold anything.
    #[cfg(any(test, feature = "internal"))]
    pub fn is_enabled(&self) -> bool {
        self.inner.is_some()
    }

    /// The cached block, if present. Counts a hit or a miss.
    pub fn get(&self, file_number: u64, block_offset: u64) -> Option<Bytes> {
        let found = self
            .inner
            .as_ref()
            .and_then(|c| c.get(&(file_number, block_offset)));
        self.count(found.is_some());
        found
    }

    /// Inserts (or replaces) a block. A block heavier than the cache is not kept.
    #[cfg(any(test, feature = "internal"))]
    pub fn insert(&self, file_number: u64, block_offset: u64, block: Bytes) {
        if let Some(c) = &self.inner {
            c.insert((file_number, block_offset), block);
        }
    }

    /// The cached block, or the result of `load` (inserted on success). Concurrent callers for the
    /// same key wait for one loader instead of decompressing the block several times.
    pub fn get_or_load<E>(
        &self,
        file_number: u64,
        block_offset: u64,
        load: impl FnOnce() -> Result<Bytes, E>,
    ) -> Result<Bytes, E> {
        let Some(c) = &self.inner else {
            self.count(false);
            return load();
        };
        let mut loaded = false;
        let r = c.get_or_insert_with(&(file_number, block_offset), || {
            loaded = true;
            load()
        });
        self.count(!loaded);
        r
    }

    /// Drops every block of `file_number` (call when the table is deleted; optional, since
    /// unreferenced entries are evicted anyway).
    pub fn evict_file(&self, file_number: u64) {
        if let Some(c) = &self.inner {
            c.retain(|k, _| k.0 != file_number);
        }
    }

    fn count(&self, hit: bool) {
        let counter = if hit { &self.hits } else { &self.misses };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// Counters and occupancy.
    pub fn stats(&self) -> CacheStats {
        let (used, entries) = self
            .inner
            .as_ref()
            .map_or((0, 0), |c| (c.weight(), c.len() as u64));
        CacheStats {
            capacity_bytes: self.capacity_bytes.load(Ordering::Relaxed),
            used_bytes: used,
            entries,
            hits: self.hits.load(Ordering::Relaxed),
            misses: self.misses.load(Ordering::Relaxed),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn bound_holds_and_counters_count() {
        let cache = BlockCache::new(64 * 1024);
        for i in 0..1000u64 {
            cache.insert(
                1,
                i * 4096,
                Bytes::from(vec![0u8; 1000 + (i as usize % 3000)]),
            );
            let s = cache.stats();
            assert!(s.used_bytes <= s.capacity_bytes, "{s:?}");
        }
        assert!(cache.stats().entries > 0);
        let r: Result<Bytes, ()> = cache.get_or_load(2, 0, || Ok(Bytes::from_static(b"abc")));
        assert_eq!(r.unwrap(), Bytes::from_static(b"abc"));
        let r: Result<Bytes, ()> = cache.get_or_load(2, 0, || Err(()));
        assert_eq!(r.unwrap(), Bytes::from_static(b"abc"));
        let s = cache.stats();
        assert_eq!((s.hits, s.misses), (1, 1));
        assert!(cache.get(3, 0).is_none());
        cache.evict_file(2);
        assert!(cache.get(2, 0).is_none());
        // Shrinking evicts down to the new capacity at once.
        assert!(cache.stats().used_bytes > 16 * 1024);
        cache.set_capacity(16 * 1024);
        let s = cache.stats();
        assert_eq!(s.capacity_bytes, 16 * 1024);
        assert!(s.used_bytes <= 16 * 1024, "{s:?}");
    }

    #[test]
    fn zero_capacity_disables() {
        let cache = BlockCache::new(0);
        cache.set_capacity(1 << 20);
        assert_eq!(cache.stats().capacity_bytes, 0);
        assert!(!cache.is_enabled());
        cache.insert(1, 0, Bytes::from_static(b"x"));
        assert!(cache.get(1, 0).is_none());
        let mut calls = 0;
        for _ in 0..2 {
            let r: Result<Bytes, ()> = cache.get_or_load(1, 0, || {
                calls += 1;
                Ok(Bytes::from_static(b"x"))
            });
            assert!(r.is_ok());
        }
        assert_eq!(calls, 2);
        assert_eq!(cache.stats().used_bytes, 0);
    }
}
