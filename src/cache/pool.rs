//! A pool of reusable byte buffers for decompressed blocks.
//!
//! Decompressing an LZ4 block needs a buffer of the block's uncompressed size. Allocating and
//! freeing one per read is measurable on the read path, so buffers are recycled: a
//! [`PooledBuf`] is the owner of a decompressed block's [`Bytes`] and hands its allocation back to
//! the pool when the last `Bytes` (the cache entry, an iterator, every `Value` slicing into it) is
//! dropped. An evicted cache entry therefore returns its buffer as soon as no reader holds it.
//!
//! The pool is bounded in both the number of buffers and the capacity of each buffer it keeps, so
//! a one-off huge block (a 1 GiB value) is freed rather than retained.

use bytes::Bytes;
use parking_lot::Mutex;

/// A bounded free list of byte buffers.
#[derive(Debug)]
pub struct BufferPool {
    free: Mutex<Vec<Vec<u8>>>,
    /// Most buffers kept on the free list.
    max_buffers: usize,
    /// Largest capacity of a buffer that is kept; larger ones are freed on return.
    max_buffer_bytes: usize,
}

static GLOBAL: BufferPool = BufferPool::new(256, 1 << 20);

/// Buffers up to this capacity are reused for any smaller block (the slack is small in absolute
/// terms); larger ones only for blocks of at least half their capacity.
const MIN_REUSE_CAPACITY: usize = 16 << 10;

impl BufferPool {
    /// A pool keeping at most `max_buffers` buffers of at most `max_buffer_bytes` capacity each.
    pub const fn new(max_buffers: usize, max_buffer_bytes: usize) -> BufferPool {
        BufferPool {
            free: parking_lot::const_mutex(Vec::new()),
            max_buffers,
            max_buffer_bytes,
        }
    }

    /// The process-wide pool used for decompressed SSTable blocks.
    pub fn global() -> &'static BufferPool {
        &GLOBAL
    }

    /// A buffer of exactly `len` bytes (contents unspecified: zeroed or left from an earlier use).
    pub fn take(&'static self, len: usize) -> PooledBuf {
        let mut buf = self.free.lock().pop().unwrap_or_default();
        // A buffer much larger than needed is not reused: the block cache weighs a block by its
        // length, so a small block in a big buffer would hold memory the cache does not count.
        if buf.capacity() > len.saturating_mul(2).max(MIN_REUSE_CAPACITY) {
            buf = Vec::new();
        }
        // Reuse what the buffer holds: only bytes past its old length are zeroed (the caller
        // overwrites all of them anyway; safe code needs them initialised).
        buf.resize(len, 0);
        PooledBuf { buf, pool: self }
    }

    /// Number of buffers on the free list.
    #[cfg(any(test, feature = "internal"))]
    pub fn free_buffers(&self) -> usize {
        self.free.lock().len()
    }

    fn give_back(&self, buf: Vec<u8>) {
        if buf.capacity() == 0 || buf.capacity() > self.max_buffer_bytes {
            return;
        }
        let mut free = self.free.lock();
        if free.len() < self.max_buffers {
            free.push(buf);
        }
    }
}

/// A buffer borrowed from a [`BufferPool`]; returned to it on drop.
#[derive(Debug)]
pub struct PooledBuf {
    buf: Vec<u8>,
    pool: &'static BufferPool,
}

impl PooledBuf {
    /// The buffer, writable.
    pub fn as_mut_slice(&mut self) -> &mut [u8] {
        &mut self.buf
    }

    /// Shortens the buffer to `len` bytes (no-op if already shorter).
    #[cfg(any(test, feature = "internal"))]
    pub fn truncate(&mut self, len: usize) {
        self.buf.truncate(len);
    }

    /// Freezes the buffer into a `Bytes` that returns the allocation to the pool when the last
    /// clone or slice of it is dropped.
    pub fn freeze(self) -> Bytes {
        Bytes::from_owner(self)
    }
}

impl AsRef<[u8]> for PooledBuf {
    fn as_ref(&self) -> &[u8] {
        &self.buf
    }
}

impl Drop for PooledBuf {
    fn drop(&mut self) {
        self.pool.give_back(std::mem::take(&mut self.buf));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buffers_are_recycled_after_last_slice_drops() {
        static POOL: BufferPool = BufferPool::new(4, 1024);
        let mut b = POOL.take(100);
        b.as_mut_slice().fill(7);
        let bytes = b.freeze();
        let slice = bytes.slice(10..20);
        drop(bytes);
        assert_eq!(POOL.free_buffers(), 0, "a slice still holds the buffer");
        assert_eq!(&slice[..], &[7u8; 10]);
        drop(slice);
        assert_eq!(POOL.free_buffers(), 1);
        let b = POOL.take(50);
        assert_eq!(b.as_ref().len(), 50);
        assert_eq!(POOL.free_buffers(), 0);
        drop(b);
        // Oversized buffers are not kept.
        drop(POOL.take(4096));
        assert_eq!(POOL.free_buffers(), 0);
    }

    /// A big buffer is not handed out for a small block: the cache would count the block's length
    /// while the buffer holds its whole capacity.
    #[test]
    fn big_buffers_are_not_reused_for_small_blocks() {
        static POOL: BufferPool = BufferPool::new(4, 1 << 20);
        drop(POOL.take(512 << 10));
        assert_eq!(POOL.free_buffers(), 1);
        let small = POOL.take(4096);
        assert!(small.buf.capacity() < 64 << 10, "{}", small.buf.capacity());
        drop(small);
        // Similar sizes are reused.
        let a = POOL.take(5000);
        let cap = a.buf.capacity();
        drop(a);
        let b = POOL.take(4000);
        assert_eq!(b.buf.capacity(), cap);
    }
}
