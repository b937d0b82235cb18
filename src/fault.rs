//! Fault injection for tests: make chosen file operations of the engine fail with an OS error
//! (EIO, ENOSPC, ...), to check that a failure acknowledges nothing it could not make durable,
//! poisons the database, and loses nothing on reopen.
//!
//! The engine calls [`check`] before each write, fsync, rename and directory fsync of its files.
//! With no rule installed that is one relaxed atomic load. Rules match an operation kind and a
//! substring of the path (use the test's temporary directory, so that tests running in parallel
//! do not see each other's faults), and fire after a number of matching calls.

use std::io;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use parking_lot::Mutex;

/// The kind of file operation a rule matches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaultOp {
    /// Writing data to a file (WAL append, table, manifest record, CURRENT).
    Write,
    /// fsync / fdatasync of a file.
    Sync,
    /// Renaming a file into place (tables, CURRENT).
    Rename,
    /// fsync of a directory.
    SyncDir,
}

/// One injected fault.
#[derive(Debug, Clone)]
pub struct FaultRule {
    pub op: FaultOp,
    /// The rule applies to paths containing this string...
    pub path_contains: String,
    /// ...and ending with this one (empty: any ending).
    pub path_ends_with: String,
    /// Matching calls that succeed before the fault fires.
    pub after: u32,
    /// The OS error number returned (e.g. 5 = EIO, 28 = ENOSPC on Linux).
    pub errno: i32,
    /// Fire on every matching call from then on (true) or only once (false).
    pub sticky: bool,
}

struct Active {
    id: u64,
    rule: FaultRule,
    seen: u32,
    fired: u32,
}

static ENABLED: AtomicBool = AtomicBool::new(false);
static NEXT_ID: AtomicU64 = AtomicU64::new(1);
static RULES: Mutex<Vec<Active>> = Mutex::new(Vec::new());

/// Removes its rule when dropped. [`FaultGuard::fired`] tells whether it fired.
#[must_use = "the rule is removed when the guard is dropped"]
pub struct FaultGuard {
    id: u64,
}

impl FaultGuard {
    /// How many times the rule has fired.
    pub fn fired(&self) -> u32 {
        RULES
            .lock()
            .iter()
            .find(|a| a.id == self.id)
            .map_or(0, |a| a.fired)
    }
}

impl Drop for FaultGuard {
    fn drop(&mut self) {
        let mut rules = RULES.lock();
        rules.retain(|a| a.id != self.id);
        ENABLED.store(!rules.is_empty(), Ordering::Release);
    }
}

/// Installs a rule until the returned guard is dropped.
pub fn inject(rule: FaultRule) -> FaultGuard {
    let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
    let mut rules = RULES.lock();
    rules.push(Active {
        id,
        rule,
        seen: 0,
        fired: 0,
    });
    ENABLED.store(true, Ordering::Release);
    FaultGuard { id }
}

/// Called by the engine before each file operation; returns the injected error, if any.
#[inline]
pub(crate) fn check(op: FaultOp, path: &Path) -> io::Result<()> {
    if !ENABLED.load(Ordering::Relaxed) {
        return Ok(());
    }
    check_slow(op, path)
}

#[cold]
fn check_slow(op: FaultOp, path: &Path) -> io::Result<()> {
    let p = path.to_string_lossy();
    let mut rules = RULES.lock();
    for a in rules.iter_mut() {
        if a.rule.op != op
            || !p.contains(a.rule.path_contains.as_str())
            || !p.ends_with(a.rule.path_ends_with.as_str())
        {
            continue;
        }
        if a.seen < a.rule.after {
            a.seen += 1;
            continue;
        }
        if a.fired > 0 && !a.rule.sticky {
            continue;
        }
        a.fired += 1;
        return Err(io::Error::from_raw_os_error(a.rule.errno));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_fire_after_n_calls_and_go_away() {
        let dir = "/fault-test-unique-a/";
        let g = inject(FaultRule {
            op: FaultOp::Sync,
            path_contains: dir.into(),
            path_ends_with: String::new(),
            after: 2,
            errno: 5,
            sticky: false,
        });
        let p = Path::new("/fault-test-unique-a/x");
        assert!(check(FaultOp::Sync, p).is_ok());
        assert!(check(FaultOp::Write, p).is_ok());
        assert!(check(FaultOp::Sync, p).is_ok());
        let e = check(FaultOp::Sync, p).unwrap_err();
        assert_eq!(e.raw_os_error(), Some(5));
        assert!(check(FaultOp::Sync, p).is_ok(), "not sticky: fires once");
        assert!(check(FaultOp::Sync, Path::new("/elsewhere")).is_ok());
        assert_eq!(g.fired(), 1);
        drop(g);
        assert!(check(FaultOp::Sync, p).is_ok());
    }
}

/// Power-loss simulation: records, for one database directory, what has been made durable (file
/// contents as of their last successful fsync, directory entries as of the last directory
/// fsync), so that a test can build the image a power cut would leave at any moment.
pub mod power_loss {
    use std::collections::HashMap;
    use std::io;
    use std::os::unix::fs::MetadataExt;
    use std::path::{Path, PathBuf};
    use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

    use parking_lot::Mutex;

    struct Recorder {
        id: u64,
        dir: PathBuf,
        /// Durable contents by inode.
        files: HashMap<u64, Vec<u8>>,
        /// Durable directory entries: name -> inode.
        listing: Vec<(String, u64)>,
    }

    static RECORDING: AtomicBool = AtomicBool::new(false);
    static NEXT_ID: AtomicU64 = AtomicU64::new(1);
    static RECORDERS: Mutex<Vec<Recorder>> = Mutex::new(Vec::new());

    fn listing(dir: &Path) -> io::Result<Vec<(String, u64)>> {
        let mut out = Vec::new();
        for e in std::fs::read_dir(dir)? {
            let e = e?;
            let md = e.metadata()?;
            if md.is_file() {
                out.push((e.file_name().to_string_lossy().into_owned(), md.ino()));
            }
        }
        Ok(out)
    }

    /// Records durability in `dir` until dropped. What is in `dir` when recording starts counts
    /// as durable.
    #[must_use = "recording stops when the recorder is dropped"]
    pub struct PowerLossRecorder {
        id: u64,
    }

    /// Starts recording `dir` (which must exist).
    ///
    /// # Errors
    /// I/O errors reading the directory.
    pub fn record(dir: &Path) -> io::Result<PowerLossRecorder> {
        let dir = dir.canonicalize()?;
        let list = listing(&dir)?;
        let mut files = HashMap::new();
        for (name, ino) in &list {
            files.insert(*ino, std::fs::read(dir.join(name))?);
        }
        let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
        RECORDERS.lock().push(Recorder {
            id,
            dir,
            files,
            listing: list,
        });
        RECORDING.store(true, Ordering::Release);
        Ok(PowerLossRecorder { id })
    }

    impl PowerLossRecorder {
        /// Writes into `into` (an empty directory) what a power cut now would leave: every
        /// durable directory entry, each with its contents as of its last fsync (empty if it was
        /// never synced).
        ///
        /// # Errors
        /// I/O errors writing the image.
        pub fn crash_image(&self, into: &Path) -> io::Result<()> {
            let recs = RECORDERS.lock();
            let Some(r) = recs.iter().find(|r| r.id == self.id) else {
                return Ok(());
            };
            for (name, ino) in &r.listing {
                let data = r.files.get(ino).map_or(&[][..], |d| d.as_slice());
                std::fs::write(into.join(name), data)?;
            }
            Ok(())
        }
    }

    impl Drop for PowerLossRecorder {
        fn drop(&mut self) {
            let mut recs = RECORDERS.lock();
            recs.retain(|r| r.id != self.id);
            RECORDING.store(!recs.is_empty(), Ordering::Release);
        }
    }

    /// Called after a successful fsync of the file at `path`.
    pub(crate) fn after_file_sync(path: &Path) {
        after_file_sync_len(path, None);
    }

    /// Like [`after_file_sync`] for a file whose durable data is only its first `len` bytes (a
    /// preallocated WAL segment: the rest is reserved zeros).
    pub(crate) fn after_file_sync_len(path: &Path, len: Option<u64>) {
        use std::io::Read;
        if !RECORDING.load(Ordering::Relaxed) {
            return;
        }
        let Some(parent) = path.parent() else { return };
        let mut recs = RECORDERS.lock();
        for r in recs.iter_mut().filter(|r| r.dir == parent) {
            let read = std::fs::File::open(path).and_then(|f| {
                let ino = f.metadata()?.ino();
                let mut data = Vec::new();
                f.take(len.unwrap_or(u64::MAX)).read_to_end(&mut data)?;
                Ok((ino, data))
            });
            if let Ok((ino, data)) = read {
                r.files.insert(ino, data);
            }
        }
    }

    /// Called after a successful fsync of the directory `dir`.
    pub(crate) fn after_dir_sync(dir: &Path) {
        if !RECORDING.load(Ordering::Relaxed) {
            return;
        }
        let mut recs = RECORDERS.lock();
        for r in recs.iter_mut().filter(|r| r.dir == dir) {
            if let Ok(l) = listing(dir) {
                r.listing = l;
            }
        }
    }
}
