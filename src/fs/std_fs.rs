//! [`StdFs`]: the real file system (`std::fs`, `rustix` for `fallocate` and the `fcntl` lock,
//! `memmap2` for the one mapping of the crate).

use std::collections::BTreeSet;
use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use super::{CreateMode, DirLock, FileSystem, Mapping, WritableFile};
use crate::error::{Error, Result};
use crate::format::files;

/// The operating system's file system.
#[derive(Debug, Clone, Copy, Default)]
pub struct StdFs;

impl FileSystem for StdFs {
    fn create_dir_all(&self, dir: &Path) -> io::Result<()> {
        std::fs::create_dir_all(dir)
    }

    fn create(&self, path: &Path, mode: CreateMode) -> io::Result<Box<dyn WritableFile>> {
        let mut o = OpenOptions::new();
        o.write(true);
        match mode {
            CreateMode::New => o.create_new(true),
            CreateMode::Truncate => o.create(true).truncate(true),
        };
        Ok(Box::new(StdFile(o.open(path)?)))
    }

    fn open_append(&self, path: &Path) -> io::Result<Box<dyn WritableFile>> {
        let f = OpenOptions::new().append(true).open(path)?;
        Ok(Box::new(StdFile(f)))
    }

    fn read(&self, path: &Path) -> io::Result<Vec<u8>> {
        std::fs::read(path)
    }

    fn list_dir(&self, dir: &Path) -> io::Result<Vec<String>> {
        let mut out = Vec::new();
        for entry in std::fs::read_dir(dir)? {
            if let Ok(name) = entry?.file_name().into_string() {
                out.push(name);
            }
        }
        Ok(out)
    }

    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        std::fs::rename(from, to)
    }

    fn remove(&self, path: &Path) -> io::Result<()> {
        std::fs::remove_file(path)
    }

    fn hard_link(&self, from: &Path, to: &Path) -> io::Result<()> {
        std::fs::hard_link(from, to)
    }

    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        File::open(dir)?.sync_all()
    }

    fn lock_dir(&self, dir: &Path) -> Result<DirLock> {
        lock_dir(dir)
    }

    fn map(&self, path: &Path) -> io::Result<Mapping> {
        let file = open_noatime(path)?;
        if file.metadata()?.len() == 0 {
            return Ok(Mapping::empty());
        }
        Ok(Mapping {
            map: Some(map_file(&file)?),
            file: Some(file),
        })
    }
}

/// Opens `path` for reading with `O_NOATIME`: a block read with `pread` then skips the access
/// time check (`touch_atime`, about 1% of a point read that misses the block cache, `perf`).
/// The flag needs the file's owner (or `CAP_FOWNER`); anyone else opens it plainly.
fn open_noatime(path: &Path) -> io::Result<File> {
    use std::os::unix::fs::OpenOptionsExt;
    let flags = rustix::fs::OFlags::NOATIME.bits();
    let noatime = OpenOptions::new()
        .read(true)
        .custom_flags(i32::try_from(flags).unwrap_or(0))
        .open(path);
    match noatime {
        Err(e) if e.kind() == io::ErrorKind::PermissionDenied => File::open(path),
        r => r,
    }
}

#[expect(
    unsafe_code,
    reason = "memory-mapping a file is unsafe in memmap2: the engine's one mapping site"
)]
fn map_file(file: &File) -> io::Result<memmap2::Mmap> {
    // SAFETY: `Mmap::map` is unsound if the file is modified or truncated while mapped: bytes
    // behind a `&[u8]` would change, and an access past a new end raises SIGBUS. The engine
    // upholds the mapping contract (format-spec/README.md): it maps only SSTables that were
    // completely written, fsynced and renamed into place and are never opened for writing again,
    // and WAL segments only during recovery, before any WalWriter exists (a writer only ever
    // creates new files); it holds the exclusive directory lock (`lock_dir` below) while the
    // database is open; it unlinks a table only after the last holder of its mapping dropped it
    // (unlinking does not invalidate a live mapping on POSIX); it never maps an empty file (see
    // `map` above). If someone outside the contract modifies the directory, reads may see
    // changing bytes (every read is bounds-checked and checksummed, so this surfaces as
    // corruption) or the process may die of SIGBUS; memory safety of the bounds checks holds.
    unsafe { memmap2::Mmap::map(file) }
}

/// A `std::fs::File` opened for writing.
#[derive(Debug)]
struct StdFile(File);

impl Write for StdFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.write(buf)
    }
    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        self.0.write_all(buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.0.flush()
    }
}

impl WritableFile for StdFile {
    fn sync_data(&self) -> io::Result<()> {
        self.0.sync_data()
    }

    fn sync_all(&self) -> io::Result<()> {
        self.0.sync_all()
    }

    #[cfg(any(target_os = "linux", target_os = "android"))]
    fn allocate(&mut self, len: u64) -> io::Result<bool> {
        use rustix::io::Errno;
        match rustix::fs::fallocate(&self.0, rustix::fs::FallocateFlags::empty(), 0, len) {
            Ok(()) => Ok(true),
            Err(e) if e == Errno::OPNOTSUPP || e == Errno::NOSYS => Ok(false),
            Err(e) => Err(io::Error::from(e)),
        }
    }

    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    fn allocate(&mut self, _len: u64) -> io::Result<bool> {
        Ok(false)
    }

    fn set_len(&mut self, len: u64) -> io::Result<()> {
        self.0.set_len(len)
    }

    fn len(&self) -> io::Result<u64> {
        Ok(self.0.metadata()?.len())
    }

    fn try_clone(&self) -> io::Result<Box<dyn WritableFile>> {
        Ok(Box::new(StdFile(self.0.try_clone()?)))
    }
}

/// Directories locked by this process. POSIX record locks (below) do not see a second opener in
/// the same process, so this set does; it is checked before the lock file is even opened,
/// because closing any descriptor of the file would drop the process's lock.
static LOCKED_DIRS: parking_lot::Mutex<BTreeSet<PathBuf>> =
    parking_lot::Mutex::new(BTreeSet::new());

/// The exclusive lock on a database directory, held while the database is open.
///
/// A POSIX `fcntl` record lock on `LOCK`, not `flock`: `flock` locks belong to the open file
/// description, which a child process forked by the application shares until it execs, so a
/// database closed while another thread spawns a process could stay locked against its next
/// opener. `fcntl` locks belong to the process and are not inherited.
struct FcntlLock {
    _file: File,
    dir: PathBuf,
}

impl Drop for FcntlLock {
    fn drop(&mut self) {
        LOCKED_DIRS.lock().remove(&self.dir);
    }
}

fn lock_dir(dir: &Path) -> Result<DirLock> {
    let mut locked = LOCKED_DIRS.lock();
    if locked.contains(dir) {
        return Err(Error::Locked {
            path: dir.to_path_buf(),
        });
    }
    let path = dir.join(files::LOCK);
    let f = OpenOptions::new()
        .create(true)
        .truncate(false)
        .read(true)
        .write(true)
        .open(&path)
        .map_err(|e| Error::io("opening", &path, e))?;
    match rustix::fs::fcntl_lock(&f, rustix::fs::FlockOperation::NonBlockingLockExclusive) {
        Ok(()) => {}
        Err(e) if e == rustix::io::Errno::AGAIN || e == rustix::io::Errno::ACCESS => {
            return Err(Error::Locked {
                path: dir.to_path_buf(),
            });
        }
        Err(e) => return Err(Error::io("locking", &path, io::Error::from(e))),
    }
    locked.insert(dir.to_path_buf());
    Ok(DirLock::new(Box::new(FcntlLock {
        _file: f,
        dir: dir.to_path_buf(),
    })))
}
