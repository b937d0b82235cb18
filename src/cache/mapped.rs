//! [`MappedBuf`]: a growable byte buffer in anonymous mappings, for the large short-lived buffers
//! of a table being written (its filter's key hashes and bits, its index).
//!
//! Those buffers are hundreds of KiB to a few MiB and live for one flush or compaction. Taken
//! from glibc's malloc they were mapped (above its 128 KiB threshold) and unmapped on free, and
//! every such free raised glibc's dynamic mmap threshold to the freed size: from then on buffers
//! of that size came from the heap, between long-lived small allocations (cached blocks, fences),
//! and the heap kept their memory after they were freed (about 20 MiB of a 10M-key database's
//! anonymous memory). A mapping of its own is returned to the system when the buffer goes,
//! whatever the allocator does.

/// Smallest mapping a buffer takes when it first grows (mappings are page granular anyway).
const MIN_MAP: usize = 64 << 10;

/// A new anonymous mapping of `len` bytes (zeroed, page aligned). Aborts like a failed
/// allocation when the system has no memory left: the engine's memory outside the heap (build
/// buffers, memtable arenas and key filters) fails the way heap memory does.
pub(crate) fn map_anon(len: usize) -> memmap2::MmapMut {
    match memmap2::MmapMut::map_anon(len) {
        Ok(map) => map,
        Err(_) => std::alloc::handle_alloc_error(
            std::alloc::Layout::from_size_align(len, 8)
                .unwrap_or_else(|_| std::alloc::Layout::new::<u64>()),
        ),
    }
}

/// A `Vec<u8>`-like buffer whose bytes live in an anonymous mapping (none until first written).
#[derive(Debug, Default)]
pub struct MappedBuf {
    map: Option<memmap2::MmapMut>,
    len: usize,
}

impl MappedBuf {
    /// An empty buffer (no mapping yet).
    pub const fn new() -> MappedBuf {
        MappedBuf { map: None, len: 0 }
    }

    /// Bytes held.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True when no byte is held.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Bytes the current mapping can hold.
    pub fn capacity(&self) -> usize {
        self.map.as_ref().map_or(0, |m| m.len())
    }

    /// The bytes held.
    pub fn as_slice(&self) -> &[u8] {
        self.map
            .as_ref()
            .and_then(|m| m.get(..self.len))
            .unwrap_or_default()
    }

    /// The bytes held, writable.
    pub fn as_mut_slice(&mut self) -> &mut [u8] {
        let len = self.len;
        self.map
            .as_mut()
            .and_then(|m| m.get_mut(..len))
            .unwrap_or_default()
    }

    /// Makes room for `additional` more bytes: a new mapping of at least twice the old one, the
    /// bytes held copied over. Aborts like a failed allocation when the system has no memory.
    pub fn reserve(&mut self, additional: usize) {
        let need = self.len.saturating_add(additional);
        if need <= self.capacity() {
            return;
        }
        let cap = need.max(self.capacity().saturating_mul(2)).max(MIN_MAP);
        let mut map = map_anon(cap);
        if let Some(dst) = map.get_mut(..self.len) {
            dst.copy_from_slice(self.as_slice());
        }
        self.map = Some(map);
    }

    /// Appends `bytes`.
    pub fn extend_from_slice(&mut self, bytes: &[u8]) {
        self.reserve(bytes.len());
        let start = self.len;
        let end = start + bytes.len();
        if let Some(dst) = self.map.as_mut().and_then(|m| m.get_mut(start..end)) {
            dst.copy_from_slice(bytes);
            self.len = end;
        }
    }

    /// Grows to `len` bytes, the new ones zero (or shortens to `len`).
    pub fn resize_zeroed(&mut self, len: usize) {
        if len <= self.len {
            self.len = len;
            return;
        }
        self.reserve(len - self.len);
        let start = self.len;
        // A fresh mapping is zero, but a buffer shortened before may hold old bytes there.
        if let Some(dst) = self.map.as_mut().and_then(|m| m.get_mut(start..len)) {
            dst.fill(0);
            self.len = len;
        }
    }
}

impl std::ops::Deref for MappedBuf {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        self.as_slice()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;

    #[test]
    fn grows_like_a_vec() {
        let mut b = MappedBuf::new();
        let mut model = Vec::new();
        assert!(b.is_empty() && b.capacity() == 0 && b.as_slice().is_empty());
        for i in 0..50_000u32 {
            b.extend_from_slice(&i.to_le_bytes());
            model.extend_from_slice(&i.to_le_bytes());
        }
        assert_eq!(b.as_slice(), &model[..]);
        assert!(b.capacity() >= 200_000);
        b.as_mut_slice()[7] = 0xff;
        model[7] = 0xff;
        b.resize_zeroed(10);
        model.truncate(10);
        b.resize_zeroed(300_000);
        model.resize(300_000, 0);
        assert_eq!(&b[..], &model[..]);
        assert_eq!(b.len(), 300_000);
    }

    /// The bytes are in a mapping of their own, not in the malloc heap.
    #[cfg(target_os = "linux")]
    #[test]
    fn bytes_live_in_an_anonymous_mapping() {
        let mut b = MappedBuf::new();
        b.resize_zeroed(1 << 20);
        let addr = b.as_slice().as_ptr() as usize;
        let maps = std::fs::read_to_string("/proc/self/maps").unwrap();
        let line = maps
            .lines()
            .find(|l| {
                let (a, rest) = l.split_once('-').unwrap();
                let b_end = rest.split_whitespace().next().unwrap();
                let (a, e) = (
                    usize::from_str_radix(a, 16).unwrap(),
                    usize::from_str_radix(b_end, 16).unwrap(),
                );
                (a..e).contains(&addr)
            })
            .unwrap();
        assert!(!line.contains("[heap]"), "{line}");
        assert_eq!(addr % 4096, 0, "a mapping starts on a page");
    }
}
