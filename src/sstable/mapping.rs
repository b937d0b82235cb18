//! The file mapping behind an opened table, and the `madvise` hint it gets.
//!
//! Mapping contract (`format-spec/sstable.md`, "Memory-mapping contract"): only complete,
//! fsynced, renamed-into-place files that are never written again are mapped (by
//! [`FileSystem::map`], the one mmap in the crate); the data directory is locked; a table is
//! unlinked only after the last holder of its mapping is gone (see [`MappedFile`]); empty files
//! are never mapped.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};

use bytes::Bytes;

use crate::error::{Error, Result};
use crate::format::sst::FOOTER_SIZE;
use crate::fs::{FileSystem, Mapping};

/// Owner of a file mapping: the `Bytes` of an opened table point into it. Unlinks the file when
/// dropped after the table was marked obsolete, i.e. once no table, iterator or value uses it.
pub(super) struct MappedFile {
    mmap: Mapping,
    /// Unlinks the file (through the database's file system).
    fs: Arc<dyn FileSystem>,
    path: PathBuf,
    obsolete: Arc<AtomicBool>,
}

/// The `Bytes` owner of a mapping shared with its table (which uses it for readahead hints).
struct SharedMap(Arc<MappedFile>);

impl AsRef<[u8]> for SharedMap {
    fn as_ref(&self) -> &[u8] {
        &self.0.mmap
    }
}

impl Drop for MappedFile {
    fn drop(&mut self) {
        if self.obsolete.load(Ordering::Acquire)
            && let Err(e) = self.fs.remove(&self.path)
        {
            tracing::warn!(path = %self.path.display(), error = %e, "could not unlink obsolete SSTable");
        }
    }
}

/// A freshly mapped table file: the mapping, its bytes, and the flag that unlinks it.
pub(super) struct Mapped {
    pub owner: Arc<MappedFile>,
    pub data: Bytes,
    pub obsolete: Arc<AtomicBool>,
    /// The hint the mapping was given.
    pub advice: MapAdvice,
}

/// Maps the table at `path` through `fs` and advises the mapping with the process-wide hint
/// ([`set_open_advice`]). A file shorter than a footer is corruption (and so is never mapped
/// empty-handed into the parser).
pub(super) fn map_table(fs: &Arc<dyn FileSystem>, path: &Path) -> Result<Mapped> {
    let mmap = fs
        .map(path)
        .map_err(|e| Error::io("mapping SSTable", path, e))?;
    if mmap.len() < FOOTER_SIZE {
        return Err(Error::corruption(
            path,
            0,
            "file shorter than an SSTable footer",
        ));
    }
    let advice = open_advice();
    let hint = match advice {
        MapAdvice::Normal => memmap2::Advice::Normal,
        MapAdvice::Random => memmap2::Advice::Random,
        MapAdvice::Sequential => memmap2::Advice::Sequential,
    };
    if let Err(e) = mmap.advise(hint) {
        tracing::debug!(path = %path.display(), error = %e, ?hint, "madvise failed");
    }
    let obsolete = Arc::new(AtomicBool::new(false));
    let owner = Arc::new(MappedFile {
        mmap,
        fs: Arc::clone(fs),
        path: path.to_path_buf(),
        obsolete: Arc::clone(&obsolete),
    });
    let data = Bytes::from_owner(SharedMap(Arc::clone(&owner)));
    Ok(Mapped {
        owner,
        data,
        obsolete,
        advice,
    })
}

impl MappedFile {
    /// Releases this process's resident pages of `[offset, offset + len)` (see
    /// [`Mapping::release_range`]). A hint; failures are ignored.
    pub(super) fn release(&self, offset: usize, len: usize) {
        let _ = self.mmap.release_range(offset, len);
    }

    /// Copies `buf.len()` bytes at `offset` of the file with `pread(2)` (see
    /// [`Mapping::read_at`]): none of the mapping's pages becomes resident in the process.
    pub(super) fn read_at(&self, offset: u64, buf: &mut [u8]) -> std::io::Result<()> {
        self.mmap.read_at(offset, buf)
    }

    /// Asks the kernel to read `[offset, offset + len)` ahead. A hint; failures are ignored.
    pub(super) fn will_need(&self, offset: usize, len: usize) {
        let _ = self
            .mmap
            .advise_range(memmap2::Advice::WillNeed, offset, len);
    }
}

/// The `madvise` hint given to a table's mapping when it is opened.
///
/// `Normal` (the default) keeps the kernel's read-around: a page fault reads up to 128 KiB around
/// the page. Measured with db_bench on 1,000,000 keys (65 MiB of tables) with the page cache
/// dropped, it beat `Random` on every cold workload: 20,000 point reads 112-143 k ops/s (p50
/// 4-6 us) against 19 k ops/s (p50 52-57 us), full scans 5.4-5.8 M entries/s against 4.0-4.2 M
/// (`Random` plus the iterators' own readahead hints) or 0.5-0.7 M (`Random` alone); with a warm
/// page cache the hint makes no measurable difference. `Random` reads less from storage (13 MiB
/// against the whole 65 MiB file for 2,000 cold point reads) and may still win for a database much
/// larger than memory, where read-around evicts useful pages; hence the knob.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum MapAdvice {
    Normal = 0,
    Random = 1,
    Sequential = 2,
}

static OPEN_ADVICE: AtomicU8 = AtomicU8::new(MapAdvice::Normal as u8);

/// Sets the hint for tables opened from now on, process-wide. A benchmarking knob.
#[doc(hidden)]
#[cfg(any(test, feature = "internal"))]
pub fn set_open_advice(advice: MapAdvice) {
    OPEN_ADVICE.store(advice as u8, Ordering::Relaxed);
}

fn open_advice() -> MapAdvice {
    match OPEN_ADVICE.load(Ordering::Relaxed) {
        1 => MapAdvice::Random,
        2 => MapAdvice::Sequential,
        _ => MapAdvice::Normal,
    }
}
