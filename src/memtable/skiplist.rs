//! The memtable's ordered map: an append-only skiplist whose nodes, keys and values all live in an
//! arena of anonymous mappings (in the manner of LevelDB's and RocksDB's arena skiplists).
//!
//! - **One writer at a time, readers without locks.** Inserts take the writer mutex; a node is
//!   written in full, then linked bottom-up with release stores, so a reader that reaches it with
//!   an acquire load sees it whole. Nothing is ever unlinked or changed after it is linked.
//! - **Memory.** Two streams of chunks, each filled front to back: nodes (`[next pointers, level 0
//!   last][NodeHead][user key]`, 8-byte aligned) and values. A search step reads a link, a head and
//!   the key's first bytes, all next to each other, and values do not spread the nodes apart (with
//!   the value inside the node, 1M-entry gets took 40% longer than crossbeam's skiplist; with
//!   values apart they take less). Chunks are anonymous mappings (`memmap2`), growing from
//!   [`FIRST_CHUNK`] to [`MAX_CHUNK`] (values) or [`MAX_NODE_CHUNK`] (nodes: one transparent huge
//!   page each, so that a search's steps do not each miss the TLB); anything larger than a
//!   quarter of its stream's chunk gets a mapping of its own. No allocator in between: about 170
//!   bytes per entry of 16-byte keys and 100-byte values (217 before), and when the memtable goes,
//!   its memory goes back to the system at once (freed heap chunks used to stay in glibc's heap).
//! - **Zero-copy values.** Each chunk starts with a [`Bytes`] over the whole mapping, so a key or
//!   value read out is a reference-counted slice of its chunk: it stays valid after the memtable is
//!   dropped, and the mapping is unmapped when the last such slice goes.
//! - **Insert with a hint.** The writer keeps the search path (the splice) of its last insert; a
//!   key that falls right after the last one (a sorted batch, a sequential load) is linked without
//!   a search.

#![allow(
    unsafe_code,
    reason = "the memtable's hot path: nodes laid out by hand in an arena of mappings, linked \
              with atomics for lock-free readers"
)]

use std::cmp::Ordering;
use std::mem::{ManuallyDrop, size_of};
use std::ptr;
use std::sync::atomic::{AtomicPtr, AtomicUsize, Ordering as AtomicOrdering};

use bytes::Bytes;

/// Tallest tower. With a branching factor of 4, 12 levels keep searches logarithmic up to 4^12
/// (16M) entries, far more than a memtable holds.
pub(super) const MAX_HEIGHT: usize = 12;
/// One node in `BRANCHING` of level `l` is also in level `l + 1`.
const BRANCHING: u64 = 4;
/// The fewest nodes [`SkipList::sample_in`] walks when the list has more (at most four times
/// as many): a share estimated within a few percent, in microseconds.
const SAMPLE: u64 = 512;
/// The first chunk of a list; each next one is twice the last, up to [`MAX_CHUNK`] for values and
/// [`MAX_NODE_CHUNK`] for nodes, so the many small memtables of small configurations (and of idle
/// keyspaces) stay small.
pub(super) const FIRST_CHUNK: usize = 16 << 10;
pub(super) const MAX_CHUNK: usize = 1 << 20;
/// The largest node chunk: one transparent huge page. A search steps from node to node all over
/// the node stream, and with 4 KiB pages nearly every step of a large memtable missed the TLB (a
/// costly page walk under virtualisation); node chunks of this size are advised `MADV_HUGEPAGE`,
/// which Linux (6.7 on) can honour because it places anonymous mappings of a multiple of the huge
/// page size on a huge page boundary. Values, read once per hit, stay in 4 KiB pages.
pub(super) const MAX_NODE_CHUNK: usize = 2 << 20;

/// The start of every chunk: a handle on the whole mapping (the owner of the zero-copy slices).
#[repr(C)]
struct ChunkHead {
    bytes: ManuallyDrop<Bytes>,
}
const CHUNK_HEAD: usize = size_of::<ChunkHead>().next_multiple_of(8);

/// The fixed part of a node: its tower of `height` next pointers precedes it (level 0 nearest),
/// its user key follows it; the value lives in a value chunk.
#[repr(C)]
pub(super) struct NodeHead {
    trailer: u64,
    /// The value's first byte.
    value: *const u8,
    /// Keys are at most `MAX_KEY_SIZE` (64 KiB) and values `MAX_VALUE_SIZE_LIMIT` (1 GiB) long:
    /// both fit in 32 bits.
    key_len: u32,
    value_len: u32,
    /// Offsets of this node from the start of its chunk, and of the value from the start of its
    /// chunk (to find the chunks' [`ChunkHead`]s).
    chunk_off: u32,
    value_off: u32,
    height: u32,
    _pad: u32,
}
const NODE_HEAD: usize = size_of::<NodeHead>();
const _: () = assert!(NODE_HEAD.is_multiple_of(8) && CHUNK_HEAD.is_multiple_of(8));

/// A node as a raw pointer: nodes are shared between the writer and readers and outlive any
/// borrow a reader could name, so they are handled through pointers and read with the accessors
/// below (each relies on the node having been written in full before it was linked).
pub(super) type NodePtr = *const NodeHead;

/// A node pointer held by a cursor, which may move between threads with the memtable it borrows.
#[derive(Clone, Copy)]
pub(super) struct Pos(pub(super) NodePtr);

// SAFETY: a `Pos` points into a list that is `Send + Sync` (below) and outlives the cursor that
// holds it; linked nodes are never written again.
unsafe impl Send for Pos {}
// SAFETY: as above.
unsafe impl Sync for Pos {}

/// A key to search for: (user key, trailer) in internal-key order (user key ascending, trailer
/// descending).
pub(super) struct Probe<'a> {
    key: &'a [u8],
    trailer: u64,
}

impl<'a> Probe<'a> {
    pub(super) fn new(key: &'a [u8], trailer: u64) -> Self {
        Probe { key, trailer }
    }
}

// Node accessors. SAFETY (all of them): `n` points at a node that was fully written before it
// was linked (or, for the writer, before it is linked), in a chunk that lives as long as the list.

#[inline]
fn head(n: NodePtr) -> &'static NodeHead {
    // SAFETY: see above; the reference is used only while the list lives (callers bound it).
    unsafe { &*n }
}

#[inline]
fn next_slot(n: NodePtr, level: usize) -> &'static AtomicPtr<NodeHead> {
    debug_assert!(level < head(n).height as usize);
    // SAFETY: see above; `level < height`, and the tower precedes the 8-aligned head, level 0
    // nearest.
    unsafe { &*n.cast::<AtomicPtr<NodeHead>>().sub(level + 1) }
}

#[inline]
fn next(n: NodePtr, level: usize) -> NodePtr {
    next_slot(n, level).load(AtomicOrdering::Acquire)
}

#[inline]
fn data_ptr(n: NodePtr) -> *const u8 {
    // SAFETY: see above; the key follows the head.
    unsafe { n.cast::<u8>().add(NODE_HEAD) }
}

/// The node's user key, valid while the list lives.
#[inline]
pub(super) fn user_key<'a>(n: NodePtr) -> &'a [u8] {
    // SAFETY: see above; `key_len` bytes of key were written after the tower.
    unsafe { std::slice::from_raw_parts(data_ptr(n), head(n).key_len as usize) }
}

/// The node's value, valid while the list lives.
#[inline]
pub(super) fn value<'a>(n: NodePtr) -> &'a [u8] {
    let h = head(n);
    // SAFETY: see above; `value_len` bytes of value were written at `value`.
    unsafe { std::slice::from_raw_parts(h.value, h.value_len as usize) }
}

#[inline]
pub(super) fn trailer(n: NodePtr) -> u64 {
    head(n).trailer
}

/// The handle of the chunk that holds `at`, `off` bytes into it.
fn chunk_at(at: *const u8, off: u32) -> &'static Bytes {
    // SAFETY: see above; `off` is `at`'s distance from its chunk's start, which holds the chunk's
    // `ChunkHead` until the list is dropped.
    let chunk = unsafe { &*at.sub(off as usize).cast::<ChunkHead>() };
    &chunk.bytes
}

/// The node's user key as a zero-copy slice of its chunk (valid after the list is gone).
pub(super) fn key_bytes(n: NodePtr) -> Bytes {
    let h = head(n);
    let start = h.chunk_off as usize + NODE_HEAD;
    chunk_at(n.cast(), h.chunk_off).slice(start..start + h.key_len as usize)
}

/// The node's value as a zero-copy slice of its chunk (valid after the list is gone).
pub(super) fn value_bytes(n: NodePtr) -> Bytes {
    let h = head(n);
    let start = h.value_off as usize;
    chunk_at(h.value, h.value_off).slice(start..start + h.value_len as usize)
}

/// Internal-key order of node `n` against `p`.
#[inline]
fn cmp_node(n: NodePtr, p: &Probe<'_>) -> Ordering {
    cmp_keys(user_key(n), p.key).then_with(|| p.trailer.cmp(&head(n).trailer))
}

/// Byte order of two keys, compared 8 bytes at a time as big-endian integers (this is the
/// memtable's hottest loop, and a call to `memcmp` per comparison cost more).
#[inline]
fn cmp_keys(a: &[u8], b: &[u8]) -> Ordering {
    let mut i = 0;
    loop {
        match (a.get(i..i + 8), b.get(i..i + 8)) {
            (Some(x), Some(y)) => {
                let (x, y) = (
                    u64::from_be_bytes(x.try_into().unwrap_or_default()),
                    u64::from_be_bytes(y.try_into().unwrap_or_default()),
                );
                if x != y {
                    return x.cmp(&y);
                }
                i += 8;
            }
            _ => {
                // The bytes before `i` are equal.
                let s = i.min(a.len()).min(b.len());
                let (x, y) = (a.get(s..), b.get(s..));
                return x.unwrap_or_default().cmp(y.unwrap_or_default());
            }
        }
    }
}

/// A stream of chunks filled front to back.
struct Bump {
    /// Next free byte and end of the current chunk, and the current chunk's start.
    cur: *mut u8,
    end: *mut u8,
    base: *mut u8,
    /// Size of the next chunk, and the largest a chunk grows to.
    next_chunk: usize,
    max_chunk: usize,
}

impl Bump {
    fn new(max_chunk: usize) -> Bump {
        Bump {
            cur: ptr::null_mut(),
            end: ptr::null_mut(),
            base: ptr::null_mut(),
            next_chunk: FIRST_CHUNK,
            max_chunk,
        }
    }
}

/// The writer's state: two streams of chunks, one for nodes (towers, heads and keys: what a
/// search reads, kept dense) and one for values; every chunk (to release them); the random source
/// of tower heights; and the splice of the last insert.
struct Writer {
    nodes: Bump,
    values: Bump,
    chunks: Vec<*mut ChunkHead>,
    rng: u64,
    /// Per level, the node after which the last insert went and the node after it (null: end).
    prev: [NodePtr; MAX_HEIGHT],
    next: [NodePtr; MAX_HEIGHT],
}

/// The skiplist. `Send + Sync`: nodes are immutable once linked, links are atomic, and the
/// writer state is behind a mutex.
pub(super) struct SkipList {
    head: NodePtr,
    max_height: AtomicUsize,
    writer: parking_lot::Mutex<Writer>,
}

// SAFETY: the raw pointers point into mappings the list owns (released only on drop); linked
// nodes are never written again and links are atomics; the writer's pointers are only used under
// its mutex.
unsafe impl Send for SkipList {}
// SAFETY: as above.
unsafe impl Sync for SkipList {}

/// A new anonymous mapping of `len` bytes, with its handle written at its start; with
/// `huge_pages`, advised `MADV_HUGEPAGE` (a hint: ignored where transparent huge pages are off).
/// Aborts like any failed allocation when the system has no memory left.
fn map_chunk(len: usize, huge_pages: bool) -> (*mut ChunkHead, *mut u8) {
    let mut map = crate::cache::mapped::map_anon(len);
    #[cfg(target_os = "linux")]
    if huge_pages {
        let _ = map.advise(memmap2::Advice::HugePage);
    }
    #[cfg(not(target_os = "linux"))]
    let _ = huge_pages;
    let base = map.as_mut_ptr();
    let bytes = Bytes::from_owner(map);
    let chunk = base.cast::<ChunkHead>();
    // SAFETY: the mapping is `len >= CHUNK_HEAD` bytes, page aligned, and ours alone; it is not
    // moved by moving its `MmapMut` into the `Bytes`.
    unsafe {
        chunk.write(ChunkHead {
            bytes: ManuallyDrop::new(bytes),
        })
    };
    (chunk, base)
}

impl Writer {
    /// `size` bytes (a multiple of 8) from the node stream (`values`: the value stream): the
    /// address and the start of its chunk.
    fn alloc(&mut self, size: usize, values: bool) -> (*mut u8, *mut u8) {
        let bump = if values {
            &mut self.values
        } else {
            &mut self.nodes
        };
        if size > bump.next_chunk / 4 && size > FIRST_CHUNK / 4 {
            // A large one: a chunk of its own; the current chunk goes on being filled.
            let len = CHUNK_HEAD + size;
            let (chunk, base) = map_chunk(len, false);
            self.chunks.push(chunk);
            // SAFETY: `size` bytes fit after the head in the new chunk.
            return (unsafe { base.add(CHUNK_HEAD) }, base);
        }
        if (bump.end as usize) - (bump.cur as usize) < size {
            let len = bump.next_chunk;
            let (chunk, base) = map_chunk(len, !values && len == MAX_NODE_CHUNK);
            self.chunks.push(chunk);
            bump.next_chunk = (len * 2).min(bump.max_chunk);
            bump.base = base;
            // SAFETY: both within (or one past the end of) the new mapping of `len` bytes.
            (bump.cur, bump.end) = unsafe { (base.add(CHUNK_HEAD), base.add(len)) };
        }
        let at = bump.cur;
        // SAFETY: checked above that `size` bytes remain in the current chunk.
        bump.cur = unsafe { at.add(size) };
        (at, bump.base)
    }

    fn random_height(&mut self) -> usize {
        let mut h = 1;
        while h < MAX_HEIGHT {
            // xorshift64
            self.rng ^= self.rng << 13;
            self.rng ^= self.rng >> 7;
            self.rng ^= self.rng << 17;
            if !self.rng.is_multiple_of(BRANCHING) {
                break;
            }
            h += 1;
        }
        h
    }
}

impl SkipList {
    pub(super) fn new() -> SkipList {
        let mut w = Writer {
            nodes: Bump::new(MAX_NODE_CHUNK),
            values: Bump::new(MAX_CHUNK),
            chunks: Vec::new(),
            rng: 0x9E37_79B9_7F4A_7C15,
            prev: [ptr::null(); MAX_HEIGHT],
            next: [ptr::null(); MAX_HEIGHT],
        };
        // The head: a full tower, no key; its links start null (the mapping is zeroed).
        let (at, base) = w.alloc(8 * MAX_HEIGHT + NODE_HEAD, false);
        // SAFETY: `at` is 8-aligned room for the tower and the head in a chunk we own.
        let node = unsafe { at.add(8 * MAX_HEIGHT) }.cast::<NodeHead>();
        // SAFETY: as above.
        unsafe {
            node.write(NodeHead {
                trailer: 0,
                value: ptr::null(),
                key_len: 0,
                value_len: 0,
                chunk_off: (node as usize - base as usize) as u32,
                value_off: 0,
                height: MAX_HEIGHT as u32,
                _pad: 0,
            })
        };
        w.prev = [node.cast_const(); MAX_HEIGHT];
        SkipList {
            head: node,
            max_height: AtomicUsize::new(1),
            writer: parking_lot::Mutex::new(w),
        }
    }

    /// Bytes of memory the list has mapped.
    #[cfg(test)]
    fn mapped_bytes(&self) -> usize {
        let w = self.writer.lock();
        // SAFETY: every chunk's head lives until the list is dropped.
        w.chunks.iter().map(|&c| unsafe { (*c).bytes.len() }).sum()
    }

    /// Locks the writer side for a batch of [`Inserter::insert`]s.
    pub(super) fn inserter(&self) -> Inserter<'_> {
        Inserter {
            list: self,
            w: self.writer.lock(),
        }
    }

    /// The first node, null when empty.
    pub(super) fn first(&self) -> NodePtr {
        next(self.head, 0)
    }

    /// The successor of `n` (null at the end).
    pub(super) fn next(n: NodePtr) -> NodePtr {
        next(n, 0)
    }

    /// The last node, null when empty.
    pub(super) fn last(&self) -> NodePtr {
        let mut x = self.head;
        let mut level = self.max_height.load(AtomicOrdering::Relaxed) - 1;
        loop {
            let n = next(x, level);
            if !n.is_null() {
                x = n;
            } else if level == 0 {
                return self.or_null(x);
            } else {
                level -= 1;
            }
        }
    }

    /// The first node `>= p`, null when none.
    pub(super) fn lower_bound(&self, p: &Probe<'_>) -> NodePtr {
        let mut x = self.head;
        let mut level = self.max_height.load(AtomicOrdering::Relaxed) - 1;
        loop {
            let n = next(x, level);
            if !n.is_null() && cmp_node(n, p) == Ordering::Less {
                x = n;
            } else if level == 0 {
                return n;
            } else {
                level -= 1;
            }
        }
    }

    /// A sample of the list for estimating how many of its `len` nodes lie in `[start, end)`:
    /// the nodes of the lowest level that holds at most about [`SAMPLE`] of them, walked end to
    /// end (each node reaches a level with the same odds whatever its key, so the share of that
    /// level's nodes in the range estimates the share of all nodes). Returns (nodes of that
    /// level in the range, nodes of that level); the bottom level, exact, for a short list.
    pub(super) fn sample_in(&self, start: &Probe<'_>, end: Option<&Probe<'_>>, len: u64) -> (u64, u64) {
        let top = self.max_height.load(AtomicOrdering::Relaxed) - 1;
        let (mut level, mut per) = (0usize, 1u64);
        while level < top && len / (per * BRANCHING) >= SAMPLE {
            level += 1;
            per *= BRANCHING;
        }
        let (mut inside, mut total) = (0u64, 0u64);
        let mut x = next(self.head, level);
        while !x.is_null() {
            total += 1;
            if cmp_node(x, start) != Ordering::Less
                && end.is_none_or(|e| cmp_node(x, e) == Ordering::Less)
            {
                inside += 1;
            }
            x = next(x, level);
        }
        (inside, total)
    }

    /// The last node `< p` (`or_equal`: `<= p`), null when none.
    pub(super) fn last_before(&self, p: &Probe<'_>, or_equal: bool) -> NodePtr {
        let stop = if or_equal {
            Ordering::Greater
        } else {
            Ordering::Equal
        };
        let mut x = self.head;
        let mut level = self.max_height.load(AtomicOrdering::Relaxed) - 1;
        loop {
            let n = next(x, level);
            if !n.is_null() && cmp_node(n, p) < stop {
                x = n;
            } else if level == 0 {
                return self.or_null(x);
            } else {
                level -= 1;
            }
        }
    }

    /// The predecessor of `n` (null at the start).
    pub(super) fn prev(&self, n: NodePtr) -> NodePtr {
        let p = Probe {
            key: user_key(n),
            trailer: trailer(n),
        };
        self.last_before(&p, false)
    }

    fn or_null(&self, x: NodePtr) -> NodePtr {
        if ptr::eq(x, self.head) {
            ptr::null()
        } else {
            x
        }
    }
}

/// The writer side, locked: inserts one entry after another.
pub(super) struct Inserter<'a> {
    list: &'a SkipList,
    w: parking_lot::MutexGuard<'a, Writer>,
}

impl Inserter<'_> {
    /// Inserts `(user_key, trailer) -> value`; returns the bytes the node takes. Internal keys are
    /// unique (every version has its own seqno); an equal key would go in after the existing one.
    pub(super) fn insert(&mut self, key: &[u8], trailer: u64, value: &[u8]) -> usize {
        let list = self.list;
        let w = &mut *self.w;
        let p = Probe::new(key, trailer);
        // The splice of the last insert still brackets the key at level 0 (so at every level):
        // a sorted batch or a sequential load skips the search.
        // The splice always holds, per level, two adjacent nodes (nothing else inserts), and a
        // higher level's pair encloses the lower's: bracketing at level 0 is enough.
        let hinted = (ptr::eq(w.prev[0], list.head) || cmp_node(w.prev[0], &p) == Ordering::Less)
            && (w.next[0].is_null() || cmp_node(w.next[0], &p) != Ordering::Less);
        let max_height = list.max_height.load(AtomicOrdering::Relaxed);
        if !hinted {
            let mut x = list.head;
            let splice = w.prev.iter_mut().zip(w.next.iter_mut());
            for (level, (prev, succ)) in splice.enumerate().take(max_height).rev() {
                let mut n = next(x, level);
                while !n.is_null() && cmp_node(n, &p) == Ordering::Less {
                    x = n;
                    n = next(x, level);
                }
                (*prev, *succ) = (x, n);
            }
        }
        let height = w.random_height();
        if height > max_height {
            let splice = w.prev.iter_mut().zip(w.next.iter_mut());
            for (prev, succ) in splice.take(height).skip(max_height) {
                (*prev, *succ) = (list.head, ptr::null());
            }
            list.max_height.store(height, AtomicOrdering::Relaxed);
        }
        let size = (8 * height + NODE_HEAD + key.len()).next_multiple_of(8);
        let (at, base) = w.alloc(size, false);
        // SAFETY: `at` is 8-aligned room for `size` bytes that no reader can reach yet: the tower
        // (links set below), the head, then the key.
        let node = unsafe { at.add(8 * height) }.cast::<NodeHead>();
        let value_size = value.len().next_multiple_of(8);
        let (value_at, value_off) = if value.is_empty() {
            // No value (a tombstone): an empty slice right after the key, in the node's chunk.
            let off = node as usize - base as usize + NODE_HEAD + key.len();
            // SAFETY: within the node's allocation, or one past its end.
            (unsafe { base.add(off) }, off)
        } else {
            let (value_at, value_base) = w.alloc(value_size, true);
            // SAFETY: `value_at` is room for `value_size >= value.len()` bytes no reader can
            // reach yet.
            unsafe { ptr::copy_nonoverlapping(value.as_ptr(), value_at, value.len()) };
            (value_at, value_at as usize - value_base as usize)
        };
        // SAFETY: as above.
        unsafe {
            node.write(NodeHead {
                trailer,
                value: value_at.cast_const(),
                key_len: key.len() as u32,
                value_len: value.len() as u32,
                chunk_off: (node as usize - base as usize) as u32,
                value_off: value_off as u32,
                height: height as u32,
                _pad: 0,
            });
            let data = node.cast::<u8>().add(NODE_HEAD);
            ptr::copy_nonoverlapping(key.as_ptr(), data, key.len());
        }
        let node = node.cast_const();
        let splice = w.prev.iter_mut().zip(w.next.iter());
        for (level, (prev, succ)) in splice.enumerate().take(height) {
            next_slot(node, level).store(succ.cast_mut(), AtomicOrdering::Relaxed);
            // Publishes the node (and everything written to it above) at this level.
            next_slot(*prev, level).store(node.cast_mut(), AtomicOrdering::Release);
            *prev = node;
        }
        size + value_size
    }
}

impl Drop for SkipList {
    fn drop(&mut self) {
        for &chunk in &self.writer.get_mut().chunks {
            // SAFETY: each chunk's head was written when it was mapped and is dropped only here,
            // once. It is moved out before it is dropped: dropping the last handle unmaps the
            // chunk that held it.
            let bytes = unsafe { ManuallyDrop::take(&mut (*chunk).bytes) };
            drop(bytes);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn collect(l: &SkipList) -> Vec<(Vec<u8>, u64, Vec<u8>)> {
        let mut out = Vec::new();
        let mut n = l.first();
        while !n.is_null() {
            out.push((user_key(n).to_vec(), trailer(n), value_bytes(n).to_vec()));
            n = SkipList::next(n);
        }
        out
    }

    fn model_order(a: &(Vec<u8>, u64, Vec<u8>), b: &(Vec<u8>, u64, Vec<u8>)) -> Ordering {
        a.0.cmp(&b.0).then(b.1.cmp(&a.1))
    }

    proptest! {
        /// Any sequence of inserts reads back in internal-key order, and every search answers as
        /// a sorted vector does.
        #[test]
        fn matches_a_sorted_model(
            entries in proptest::collection::vec(
                (proptest::collection::vec(0u8..4, 0..12), 0u64..1000, proptest::collection::vec(any::<u8>(), 0..40)),
                0..300,
            ),
            probes in proptest::collection::vec((proptest::collection::vec(0u8..4, 0..12), 0u64..1000), 0..40),
        ) {
            let l = SkipList::new();
            let mut model: Vec<(Vec<u8>, u64, Vec<u8>)> = Vec::new();
            let mut ins = l.inserter();
            for (k, t, v) in entries {
                if model.iter().any(|m| m.0 == k && m.1 == t) {
                    continue; // internal keys are unique
                }
                ins.insert(&k, t, &v);
                model.push((k, t, v));
            }
            drop(ins);
            model.sort_by(model_order);
            prop_assert_eq!(collect(&l), model.clone());
            let last = l.last();
            prop_assert_eq!(last.is_null(), model.is_empty());
            for (k, t) in probes {
                let p = Probe::new(&k, t);
                let probe = (k.clone(), t, Vec::new());
                let ge = model.iter().find(|m| model_order(m, &probe) != Ordering::Less);
                let n = l.lower_bound(&p);
                prop_assert_eq!(ge.map(|m| (&m.0[..], m.1)), (!n.is_null()).then(|| (user_key(n), trailer(n))));
                let lt = model.iter().rev().find(|m| model_order(m, &probe) == Ordering::Less);
                let n = l.last_before(&p, false);
                prop_assert_eq!(lt.map(|m| (&m.0[..], m.1)), (!n.is_null()).then(|| (user_key(n), trailer(n))));
                let le = model.iter().rev().find(|m| model_order(m, &probe) != Ordering::Greater);
                let n = l.last_before(&p, true);
                prop_assert_eq!(le.map(|m| (&m.0[..], m.1)), (!n.is_null()).then(|| (user_key(n), trailer(n))));
            }
            // prev() walks the whole list backwards.
            let mut back = Vec::new();
            let mut n = l.last();
            while !n.is_null() {
                back.push((user_key(n).to_vec(), trailer(n), value_bytes(n).to_vec()));
                n = l.prev(n);
            }
            back.reverse();
            prop_assert_eq!(back, model);
        }

        /// The word-wise comparison agrees with byte order of the keys.
        #[test]
        fn word_order_agrees(a in proptest::collection::vec(0u8..3, 0..30), b in proptest::collection::vec(0u8..3, 0..30)) {
            prop_assert_eq!(cmp_keys(&a, &b), a.cmp(&b));
        }
    }

    /// Sorted runs take the hint, and the list stays right when the hint is wrong.
    #[test]
    fn sorted_and_reverse_runs() {
        let l = SkipList::new();
        let mut ins = l.inserter();
        for i in 0..5000u32 {
            ins.insert(&i.to_be_bytes(), 1, b"v");
        }
        for i in (5000..10_000u32).rev() {
            ins.insert(&i.to_be_bytes(), 1, b"w");
        }
        for i in 0..10_000u32 {
            ins.insert(&i.to_be_bytes(), 0, b"old"); // older versions go after the newer
        }
        drop(ins);
        let all = collect(&l);
        assert_eq!(all.len(), 20_000);
        for (i, pair) in all.chunks(2).enumerate() {
            assert_eq!(pair[0].0, (i as u32).to_be_bytes());
            assert_eq!((pair[0].1, pair[1].1), (1, 0));
            assert_eq!(pair[1].2, b"old");
        }
    }

    /// The `VmFlags` of the mapping of this process that holds `addr` (Linux `/proc/self/smaps`).
    #[cfg(target_os = "linux")]
    fn vm_flags(addr: usize) -> String {
        let smaps = std::fs::read_to_string("/proc/self/smaps").unwrap();
        let mut inside = false;
        for line in smaps.lines() {
            let range = line.split_whitespace().next().and_then(|r| r.split_once('-'));
            if let Some((a, b)) = range
                && let (Ok(a), Ok(b)) = (usize::from_str_radix(a, 16), usize::from_str_radix(b, 16))
            {
                inside = (a..b).contains(&addr);
            } else if inside && let Some(flags) = line.strip_prefix("VmFlags:") {
                return flags.to_string();
            }
        }
        panic!("no mapping holds {addr:#x}");
    }

    /// Node chunks grown to a huge page's size are advised `MADV_HUGEPAGE` (`hg` in the mapping's
    /// flags); smaller node chunks and value chunks are not.
    #[cfg(target_os = "linux")]
    #[test]
    fn full_size_node_chunks_ask_for_huge_pages() {
        let l = SkipList::new();
        let mut ins = l.inserter();
        for i in 0..100_000u64 {
            ins.insert(format!("{i:016}").as_bytes(), 1, &[7u8; 100]);
        }
        drop(ins);
        let w = l.writer.lock();
        let sizes: Vec<usize> = w
            .chunks
            .iter()
            // SAFETY: every chunk's head lives until the list is dropped.
            .map(|&c| unsafe { (*c).bytes.len() })
            .collect();
        assert!(sizes.contains(&MAX_NODE_CHUNK), "{sizes:?}");
        let first_node_chunk = w.chunks[0] as usize;
        let (node_chunk, value_chunk) = (w.nodes.base as usize, w.values.base as usize);
        // SAFETY: as above.
        assert_eq!(unsafe { (*w.nodes.base.cast::<ChunkHead>()).bytes.len() }, MAX_NODE_CHUNK);
        if !std::path::Path::new("/sys/kernel/mm/transparent_hugepage").exists() {
            return; // a kernel without transparent huge pages refuses the advice
        }
        let hg = |flags: String| flags.split_whitespace().any(|f| f == "hg");
        assert!(hg(vm_flags(node_chunk)), "{}", vm_flags(node_chunk));
        assert!(!hg(vm_flags(value_chunk)), "{}", vm_flags(value_chunk));
        assert!(!hg(vm_flags(first_node_chunk)), "{}", vm_flags(first_node_chunk));
    }

    /// Values outlive the list; large entries get their own chunk; memory is counted.
    #[test]
    fn values_outlive_the_list_and_large_entries_fit() {
        let l = SkipList::new();
        let big = vec![7u8; 3 * MAX_CHUNK];
        let mut ins = l.inserter();
        let small_size = ins.insert(b"a", 1, b"small");
        ins.insert(b"b", 1, &big);
        for i in 0..20_000u32 {
            ins.insert(&i.to_be_bytes(), 2, &[i as u8; 50]);
        }
        drop(ins);
        // A tower of 1 to MAX_HEIGHT links, the head and the key, rounded to 8; the value too.
        assert_eq!(small_size % 8, 0);
        let range = NODE_HEAD + 8 + 8 + 8..=NODE_HEAD + 8 * MAX_HEIGHT + 8 + 8;
        assert!(range.contains(&small_size), "{small_size}");
        assert!(l.mapped_bytes() > 3 * MAX_CHUNK + 20_000 * 50);
        let p = Probe::new(b"b", u64::MAX);
        let n = l.lower_bound(&p);
        let v = value_bytes(n);
        let k = key_bytes(n);
        let seven = 7u32.to_be_bytes();
        let p = Probe::new(&seven, u64::MAX);
        let small = value_bytes(l.lower_bound(&p));
        drop(l);
        assert_eq!(&k[..], b"b");
        assert_eq!(v.len(), big.len());
        assert!(v.iter().all(|&b| b == 7));
        assert_eq!(&small[..], &[7u8; 50]);
    }

    /// Readers on other threads see a consistent, growing list while one writer inserts.
    #[test]
    fn readers_run_beside_the_writer() {
        let l = std::sync::Arc::new(SkipList::new());
        let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let readers: Vec<_> = (0..2)
            .map(|_| {
                let (l, done) = (l.clone(), done.clone());
                std::thread::spawn(move || {
                    let mut rounds = 0u64;
                    while !done.load(AtomicOrdering::Relaxed) || rounds == 0 {
                        let mut n = l.first();
                        let mut last: Option<Vec<u8>> = None;
                        while !n.is_null() {
                            let k = user_key(n).to_vec();
                            assert_eq!(&value_bytes(n)[..], &k[..], "value written before link");
                            if let Some(prev) = &last {
                                assert!(prev < &k, "order");
                            }
                            last = Some(k);
                            n = SkipList::next(n);
                        }
                        rounds += 1;
                    }
                })
            })
            .collect();
        for i in 0..20_000u64 {
            let k = (i.wrapping_mul(0x9E37_79B9_7F4A_7C15)).to_be_bytes();
            l.inserter().insert(&k, 1, &k);
        }
        done.store(true, AtomicOrdering::Relaxed);
        for r in readers {
            r.join().unwrap();
        }
        assert_eq!(collect(&l).len(), 20_000);
    }
}
