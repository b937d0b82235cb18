//! The storage seam: every file-system effect of the engine goes through a [`FileSystem`].
//!
//! Creating, appending, `fdatasync`, directory fsync, rename, unlink, the directory lock and the
//! one memory mapping are methods here, so that a test can put another implementation under a
//! database: [`FaultFs`] fails chosen operations with an OS error, [`PowerLossFs`] records what
//! each fsync made durable and builds the image a power cut would leave. The implementation is
//! chosen per database through [`crate::Options::with_file_system`]; the default is [`StdFs`].
//!
//! Cost: one dynamic call per file operation (each is a syscall anyway). Reads of tables and WAL
//! segments go through the [`Mapping`] (its bytes, or [`Mapping::read_at`]) and never come back
//! here.
//!
//! The offline inspection tools in `crate::debug` read files with `std::fs` on purpose: they are
//! read-only and never run under a database.

// The test file systems: built for this crate's tests and with the `internal` feature only.
#[cfg(any(test, feature = "internal"))]
mod fault_fs;
#[cfg(any(test, feature = "internal"))]
mod power_loss;
mod std_fs;

use std::fmt::Debug;
use std::io::{self, Write};
use std::ops::Deref;
use std::panic::{RefUnwindSafe, UnwindSafe};
use std::path::{Path, PathBuf};
use std::sync::Arc;

#[cfg(any(test, feature = "internal"))]
pub use fault_fs::{FaultFs, FaultGuard, FaultOp, FaultRule};
#[cfg(any(test, feature = "internal"))]
pub use power_loss::PowerLossFs;
pub use std_fs::StdFs;

use crate::error::Result;

/// How [`FileSystem::create`] treats an existing file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CreateMode {
    /// Fail with `AlreadyExists` if the file exists (`O_CREAT | O_EXCL`).
    New,
    /// Create, or truncate an existing file to zero length.
    Truncate,
}

/// The file system under one database. Object safe; shared as `Arc<dyn FileSystem>`.
/// Unwind safe, so that [`crate::Options`] stays unwind safe (implementations use `std` locks).
///
/// Paths are absolute or relative to the process's working directory, as `std::fs` takes them.
pub trait FileSystem: Send + Sync + Debug + RefUnwindSafe + UnwindSafe {
    /// `std::fs::create_dir_all`.
    fn create_dir_all(&self, dir: &Path) -> io::Result<()>;

    /// Creates a file for writing (see [`CreateMode`]); writes append from offset 0.
    fn create(&self, path: &Path, mode: CreateMode) -> io::Result<Box<dyn WritableFile>>;

    /// Opens an existing file for appending.
    fn open_append(&self, path: &Path) -> io::Result<Box<dyn WritableFile>>;

    /// Reads a whole file.
    fn read(&self, path: &Path) -> io::Result<Vec<u8>>;

    /// Names of the entries of `dir` (names that are not UTF-8 are left out: the engine never
    /// creates one).
    fn list_dir(&self, dir: &Path) -> io::Result<Vec<String>>;

    /// `rename(2)`: atomic, not yet durable (see [`FileSystem::rename_durable`]).
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()>;

    /// Unlinks a file.
    fn remove(&self, path: &Path) -> io::Result<()>;

    /// `link(2)`: a second name `to` for the file `from` (same inode, no data copied); fails with
    /// `AlreadyExists` if `to` exists and with `CrossesDevices` (`EXDEV`) when `to` is on another
    /// file system. Not yet durable: fsync `to`'s directory. The default (for file systems that
    /// cannot link) fails with `Unsupported`.
    fn hard_link(&self, from: &Path, to: &Path) -> io::Result<()> {
        let _ = (from, to);
        Err(io::Error::new(
            io::ErrorKind::Unsupported,
            "this file system does not support hard links",
        ))
    }

    /// fsync of a directory: makes creations, renames and unlinks in it durable.
    fn sync_dir(&self, dir: &Path) -> io::Result<()>;

    /// Takes the exclusive lock on the database directory `dir`, held until the guard drops.
    ///
    /// # Errors
    /// [`crate::Error::Locked`] when another holder has it; [`crate::Error::Io`].
    fn lock_dir(&self, dir: &Path) -> Result<DirLock>;

    /// Maps a file read-only (the only `mmap` of the engine). An empty file gives an empty
    /// [`Mapping`] without mapping anything. Requires: the mapping contract of
    /// `format-spec/README.md` (the file is never written, truncated or replaced while mapped).
    fn map(&self, path: &Path) -> io::Result<Mapping>;

    /// Rename made durable: `rename(from, to)`, then fsync of `to`'s directory.
    fn rename_durable(&self, from: &Path, to: &Path) -> io::Result<()> {
        self.rename(from, to)?;
        self.sync_dir(&parent_dir(to))
    }
}

/// A file open for writing. Writes go through [`Write`]; every write is a syscall (wrap it in a
/// `BufWriter` to batch small ones).
pub trait WritableFile: Write + Send + Sync + Debug {
    /// `fdatasync`.
    fn sync_data(&self) -> io::Result<()>;
    /// `fsync` (data and metadata such as the size).
    fn sync_all(&self) -> io::Result<()>;
    /// Reserves `len` bytes (`fallocate(fd, 0, 0, len)`: zeroed blocks, size grows to `len`).
    /// Returns `false` where the file system does not support it (nothing happened).
    fn allocate(&mut self, len: u64) -> io::Result<bool>;
    /// `ftruncate`.
    fn set_len(&mut self, len: u64) -> io::Result<()>;
    /// Current file size.
    fn len(&self) -> io::Result<u64>;
    /// Whether the file is empty.
    fn is_empty(&self) -> io::Result<bool> {
        Ok(self.len()? == 0)
    }
    /// A second handle to the same file (for an fsync from another thread).
    fn try_clone(&self) -> io::Result<Box<dyn WritableFile>>;
}

/// The exclusive lock on a database directory; released when dropped.
#[must_use = "the lock is released when the guard is dropped"]
pub struct DirLock {
    _guard: Box<dyn Send + Sync>,
}

impl DirLock {
    /// Wraps whatever releases the lock when dropped.
    pub fn new(guard: Box<dyn Send + Sync>) -> DirLock {
        DirLock { _guard: guard }
    }
}

impl Debug for DirLock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DirLock")
    }
}

/// A read-only mapping of a whole file (empty for an empty file, which is never mapped).
/// Only [`StdFs`] makes one; wrappers pass their inner file system's mappings through.
#[derive(Debug)]
pub struct Mapping {
    map: Option<memmap2::Mmap>,
    /// The file the mapping was made from, kept open for [`Mapping::read_at`].
    file: Option<std::fs::File>,
}

impl Mapping {
    /// The mapping of an empty file.
    pub fn empty() -> Mapping {
        Mapping {
            map: None,
            file: None,
        }
    }

    /// Copies `buf.len()` bytes at `offset` of the mapped file into `buf` with `pread(2)`, not
    /// through the mapping: the bytes come from the page cache (or storage), and none of the
    /// mapping's pages becomes resident in this process, so they count in no process's RSS.
    /// Where no file handle is kept (the empty mapping) the bytes are copied from the mapping.
    ///
    /// # Errors
    /// The OS error of `pread`; `UnexpectedEof` for a range reaching past the end of the file.
    pub fn read_at(&self, offset: u64, buf: &mut [u8]) -> io::Result<()> {
        if let Some(f) = &self.file {
            return std::os::unix::fs::FileExt::read_exact_at(f, buf, offset);
        }
        let src = usize::try_from(offset)
            .ok()
            .and_then(|o| self.get(o..o.checked_add(buf.len())?))
            .ok_or_else(|| {
                io::Error::new(io::ErrorKind::UnexpectedEof, "read past the end of the file")
            })?;
        buf.copy_from_slice(src);
        Ok(())
    }

    /// `madvise` hint for the whole mapping (nothing for an empty one).
    ///
    /// # Errors
    /// The OS error of `madvise`.
    pub fn advise(&self, advice: memmap2::Advice) -> io::Result<()> {
        match &self.map {
            Some(m) => m.advise(advice),
            None => Ok(()),
        }
    }

    /// `madvise` hint for `len` bytes at `offset` (nothing for an empty mapping).
    ///
    /// # Errors
    /// The OS error of `madvise` (also for a range outside the mapping).
    pub fn advise_range(
        &self,
        advice: memmap2::Advice,
        offset: usize,
        len: usize,
    ) -> io::Result<()> {
        match &self.map {
            Some(m) => m.advise_range(advice, offset, len),
            None => Ok(()),
        }
    }
}

impl Mapping {
    /// Drops this process's resident pages of `[offset, offset + len)` (`madvise(MADV_DONTNEED)`):
    /// they leave the process's RSS at once, stay in the page cache, and the next access maps
    /// them again from the file (a minor fault, or a read if the kernel evicted them meanwhile).
    /// For ranges a one-pass reader (compaction) is done with. A range reaching past the end is
    /// clipped; nothing happens for an empty mapping.
    ///
    /// # Errors
    /// The OS error of `madvise`.
    #[expect(
        unsafe_code,
        reason = "MADV_DONTNEED is an unchecked advice in memmap2: releasing pages of a sealed, read-only file mapping"
    )]
    pub fn release_range(&self, offset: usize, len: usize) -> io::Result<()> {
        let Some(m) = &self.map else { return Ok(()) };
        let Some(len) = m.len().checked_sub(offset).map(|left| left.min(len)) else {
            return Ok(());
        };
        if len == 0 {
            return Ok(());
        }
        // SAFETY: MADV_DONTNEED drops the page-table entries of the range. On an anonymous or a
        // privately modified mapping that would replace the bytes behind live `&[u8]`s with zeros
        // or the file's, which is why memmap2 makes it unsafe. This mapping is a read-only
        // (`PROT_READ`) mapping of a whole file that is never written again while mapped (the
        // mapping contract in `map_file`, std_fs.rs, which every `Mapping` comes from): no page
        // can hold private modifications, and a later access faults the same bytes back in from
        // the file. Borrowed slices and `Bytes` into the range therefore keep their contents;
        // only residency changes. `offset + len` is within the mapping (clipped above).
        unsafe { m.unchecked_advise_range(memmap2::UncheckedAdvice::DontNeed, offset, len) }
    }
}

impl Deref for Mapping {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        self.map.as_deref().unwrap_or_default()
    }
}

impl AsRef<[u8]> for Mapping {
    fn as_ref(&self) -> &[u8] {
        self
    }
}

/// Locks a wrapper's bookkeeping. A panic while it was held (a test assertion) leaves nothing
/// half-updated that matters, so poisoning is ignored.
#[cfg(any(test, feature = "internal"))]
fn lock<T>(m: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// The real file system, shared.
pub fn default_fs() -> Arc<dyn FileSystem> {
    Arc::new(StdFs)
}

/// `dir` as the directory part of `path`, for `sync_dir` after creating `path`.
pub(crate) fn parent_dir(path: &Path) -> PathBuf {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

#[cfg(test)]
pub(crate) mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    /// Resident bytes of the mapping that holds `addr`, from `/proc/self/smaps`.
    pub(crate) fn mapping_rss(addr: usize) -> u64 {
        let smaps = std::fs::read_to_string("/proc/self/smaps").unwrap();
        let mut inside = false;
        for line in smaps.lines() {
            let first = line.split_whitespace().next().unwrap_or("");
            if let Some((lo, hi)) = first.split_once('-')
                && let (Ok(lo), Ok(hi)) =
                    (usize::from_str_radix(lo, 16), usize::from_str_radix(hi, 16))
            {
                inside = (lo..hi).contains(&addr);
            } else if inside && let Some(kb) = line.strip_prefix("Rss:") {
                let kb: u64 = kb.trim().trim_end_matches("kB").trim().parse().unwrap();
                return kb * 1024;
            }
        }
        panic!("no mapping holds {addr:#x}");
    }

    #[test]
    fn released_pages_leave_rss_and_read_back_the_same() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        let data: Vec<u8> = (0..(4u32 << 20)).map(|i| (i % 251) as u8).collect();
        std::fs::write(&path, &data).unwrap();
        let m = StdFs.map(&path).unwrap();
        let addr = m.as_ptr() as usize;
        assert_eq!(&m[..], &data[..]);
        let touched = mapping_rss(addr);
        assert!(touched >= 3 << 20, "{touched}");
        // Clipped at the end; past the end does nothing.
        m.release_range(0, usize::MAX).unwrap();
        m.release_range(data.len() + 10, 5).unwrap();
        let released = mapping_rss(addr);
        assert!(released < 1 << 20, "{released} bytes still resident of {touched}");
        assert_eq!(&m[..], &data[..], "the bytes read back from the file");
        Mapping::empty().release_range(0, 10).unwrap();
    }

    #[test]
    fn read_at_copies_the_file_bytes_without_making_the_mapping_resident() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        let data: Vec<u8> = (0..(4u32 << 20)).map(|i| (i % 253) as u8).collect();
        std::fs::write(&path, &data).unwrap();
        let m = StdFs.map(&path).unwrap();
        let addr = m.as_ptr() as usize;
        let mut buf = vec![0u8; 1 << 20];
        for off in (0..data.len() - buf.len()).step_by(300_001) {
            m.read_at(off as u64, &mut buf).unwrap();
            assert_eq!(buf, &data[off..off + buf.len()], "at {off}");
        }
        let rss = mapping_rss(addr);
        assert!(rss < 256 << 10, "{rss} bytes of the mapping resident after preads");
        // The last byte reads; one past it is an error, not a short read.
        m.read_at(data.len() as u64 - 1, &mut buf[..1]).unwrap();
        assert_eq!(buf[0], data[data.len() - 1]);
        let err = m.read_at(data.len() as u64 - 1, &mut buf[..2]).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::UnexpectedEof);
        // The empty mapping: an empty read succeeds, anything else is past the end.
        Mapping::empty().read_at(0, &mut []).unwrap();
        let err = Mapping::empty().read_at(0, &mut buf[..1]).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::UnexpectedEof);
    }
}
