//! [`FaultFs`]: a [`FileSystem`] that makes chosen operations of another one fail with an OS
//! error (EIO, ENOSPC, ...), to check that a failure acknowledges nothing it could not make
//! durable, poisons the database, and loses nothing on reopen (Pebble's `vfs/errorfs`).
//!
//! Rules match an operation kind (or any) and the path, and fire after a number of matching
//! operations, once or from then on. Every operation is counted ([`FaultFs::ops`]), so a test can
//! run a workload once to learn how many operations it makes and then fail each of them in turn
//! ([`FaultFs::fail_nth`]). Each database gets its own `FaultFs`: nothing is process-wide.

use std::io::{self, Write};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use super::lock;

use super::{CreateMode, DirLock, FileSystem, Mapping, WritableFile};
use crate::error::{Error, Result};

/// The kind of file operation a rule matches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaultOp {
    /// `create_dir_all`.
    CreateDir,
    /// Creating a file ([`FileSystem::create`]).
    Create,
    /// Opening an existing file for appending.
    Open,
    /// Reading a whole file.
    Read,
    /// Listing a directory.
    List,
    /// Writing data to a file (WAL append, table, manifest record, CURRENT).
    Write,
    /// fsync / fdatasync of a file.
    Sync,
    /// `fallocate`.
    Allocate,
    /// `ftruncate`.
    SetLen,
    /// Renaming a file into place (tables, CURRENT).
    Rename,
    /// Unlinking a file.
    Remove,
    /// Making a hard link (the op's path is the new name).
    Link,
    /// fsync of a directory.
    SyncDir,
    /// Taking the directory lock.
    Lock,
    /// Mapping a file.
    Map,
    /// Duplicating a file handle.
    Clone,
}

/// One injected fault.
#[derive(Debug, Clone)]
pub struct FaultRule {
    /// The operation kind matched; `None` matches every kind.
    pub op: Option<FaultOp>,
    /// The rule applies to paths containing this string...
    pub path_contains: String,
    /// ...and ending with this one (empty: any ending).
    pub path_ends_with: String,
    /// Matching operations that succeed before the fault fires.
    pub after: u64,
    /// The OS error number returned (e.g. 5 = EIO, 28 = ENOSPC on Linux).
    pub errno: i32,
    /// Fire on every matching operation from then on (true) or only once (false).
    pub sticky: bool,
}

impl FaultRule {
    /// A sticky rule for `op` on every path, firing at once.
    pub fn new(op: FaultOp, errno: i32) -> FaultRule {
        FaultRule {
            op: Some(op),
            path_contains: String::new(),
            path_ends_with: String::new(),
            after: 0,
            errno,
            sticky: true,
        }
    }
}

struct Active {
    id: u64,
    rule: FaultRule,
    seen: u64,
    fired: u32,
}

#[derive(Default)]
struct State {
    next_id: u64,
    rules: Vec<Active>,
}

#[derive(Default)]
struct Shared {
    /// Operations seen, of every kind.
    ops: AtomicU64,
    /// Operations that failed because of a rule.
    fired: AtomicU64,
    /// A failing write first writes half its buffer (a short write, then the error).
    torn_writes: std::sync::atomic::AtomicBool,
    state: Mutex<State>,
}

impl Shared {
    fn check(&self, op: FaultOp, path: &Path) -> io::Result<()> {
        self.ops.fetch_add(1, Ordering::Relaxed);
        let mut st = lock(&self.state);
        if st.rules.is_empty() {
            return Ok(());
        }
        let p = path.to_string_lossy();
        for a in st.rules.iter_mut() {
            if a.rule.op.is_some_and(|o| o != op)
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
            self.fired.fetch_add(1, Ordering::Relaxed);
            return Err(io::Error::from_raw_os_error(a.rule.errno));
        }
        Ok(())
    }
}

/// Wraps a file system and fails the operations its rules choose.
#[derive(Clone)]
pub struct FaultFs {
    inner: Arc<dyn FileSystem>,
    shared: Arc<Shared>,
}

impl std::fmt::Debug for FaultFs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FaultFs")
            .field("inner", &self.inner)
            .field("ops", &self.ops())
            .finish()
    }
}

/// Removes its rule when dropped. [`FaultGuard::fired`] tells whether it fired.
#[must_use = "the rule is removed when the guard is dropped"]
pub struct FaultGuard {
    id: u64,
    shared: Arc<Shared>,
}

impl FaultGuard {
    /// How many times the rule has fired.
    pub fn fired(&self) -> u32 {
        lock(&self.shared.state)
            .rules
            .iter()
            .find(|a| a.id == self.id)
            .map_or(0, |a| a.fired)
    }
}

impl Drop for FaultGuard {
    fn drop(&mut self) {
        lock(&self.shared.state).rules.retain(|a| a.id != self.id);
    }
}

impl FaultFs {
    /// Wraps `inner`, with no rule.
    pub fn new(inner: Arc<dyn FileSystem>) -> Arc<FaultFs> {
        Arc::new(FaultFs {
            inner,
            shared: Arc::default(),
        })
    }

    /// Installs a rule until the returned guard is dropped.
    pub fn inject(&self, rule: FaultRule) -> FaultGuard {
        let mut st = lock(&self.shared.state);
        let id = st.next_id;
        st.next_id += 1;
        st.rules.push(Active {
            id,
            rule,
            seen: 0,
            fired: 0,
        });
        FaultGuard {
            id,
            shared: Arc::clone(&self.shared),
        }
    }

    /// Fails the `n`-th operation (1-based, counting every kind from now on) with `errno`, once.
    pub fn fail_nth(&self, n: u64, errno: i32) -> FaultGuard {
        self.inject(FaultRule {
            op: None,
            path_contains: String::new(),
            path_ends_with: String::new(),
            after: n.saturating_sub(1),
            errno,
            sticky: false,
        })
    }

    /// Like [`FaultFs::fail_nth`], but a failing write is a short write: the first half of its
    /// buffer reaches the file, then the error is returned (the file holds a torn record).
    pub fn fail_nth_short(&self, n: u64, errno: i32) -> FaultGuard {
        self.shared.torn_writes.store(true, Ordering::Relaxed);
        self.fail_nth(n, errno)
    }

    /// Operations seen so far, of every kind, failed ones included.
    pub fn ops(&self) -> u64 {
        self.shared.ops.load(Ordering::Relaxed)
    }

    /// Operations failed by a rule so far.
    pub fn faults(&self) -> u64 {
        self.shared.fired.load(Ordering::Relaxed)
    }

    fn check(&self, op: FaultOp, path: &Path) -> io::Result<()> {
        self.shared.check(op, path)
    }
}

impl FileSystem for FaultFs {
    fn create_dir_all(&self, dir: &Path) -> io::Result<()> {
        self.check(FaultOp::CreateDir, dir)?;
        self.inner.create_dir_all(dir)
    }

    fn create(&self, path: &Path, mode: CreateMode) -> io::Result<Box<dyn WritableFile>> {
        self.check(FaultOp::Create, path)?;
        let inner = self.inner.create(path, mode)?;
        Ok(self.wrap(inner, path))
    }

    fn open_append(&self, path: &Path) -> io::Result<Box<dyn WritableFile>> {
        self.check(FaultOp::Open, path)?;
        let inner = self.inner.open_append(path)?;
        Ok(self.wrap(inner, path))
    }

    fn read(&self, path: &Path) -> io::Result<Vec<u8>> {
        self.check(FaultOp::Read, path)?;
        self.inner.read(path)
    }

    fn list_dir(&self, dir: &Path) -> io::Result<Vec<String>> {
        self.check(FaultOp::List, dir)?;
        self.inner.list_dir(dir)
    }

    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        self.check(FaultOp::Rename, from)?;
        self.inner.rename(from, to)
    }

    fn remove(&self, path: &Path) -> io::Result<()> {
        self.check(FaultOp::Remove, path)?;
        self.inner.remove(path)
    }

    fn hard_link(&self, from: &Path, to: &Path) -> io::Result<()> {
        self.check(FaultOp::Link, to)?;
        self.inner.hard_link(from, to)
    }

    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        self.check(FaultOp::SyncDir, dir)?;
        self.inner.sync_dir(dir)
    }

    fn lock_dir(&self, dir: &Path) -> Result<DirLock> {
        self.check(FaultOp::Lock, dir)
            .map_err(|e| Error::io("locking", dir, e))?;
        self.inner.lock_dir(dir)
    }

    fn map(&self, path: &Path) -> io::Result<Mapping> {
        self.check(FaultOp::Map, path)?;
        self.inner.map(path)
    }
}

impl FaultFs {
    fn wrap(&self, inner: Box<dyn WritableFile>, path: &Path) -> Box<dyn WritableFile> {
        Box::new(FaultFile {
            inner,
            path: path.to_path_buf(),
            shared: Arc::clone(&self.shared),
        })
    }
}

/// A file handle of a [`FaultFs`]: checks the rules before each operation. Rules match the path
/// the file was opened under.
#[derive(Debug)]
struct FaultFile {
    inner: Box<dyn WritableFile>,
    path: std::path::PathBuf,
    shared: Arc<Shared>,
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("FaultFs")
    }
}

impl Write for FaultFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if let Err(e) = self.shared.check(FaultOp::Write, &self.path) {
            if self.shared.torn_writes.load(Ordering::Relaxed) {
                let half = buf.get(..buf.len() / 2).unwrap_or_default();
                // The short write's own outcome does not matter: the caller gets the error.
                let _ = self.inner.write(half);
            }
            return Err(e);
        }
        self.inner.write(buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

impl WritableFile for FaultFile {
    fn sync_data(&self) -> io::Result<()> {
        self.shared.check(FaultOp::Sync, &self.path)?;
        self.inner.sync_data()
    }

    fn sync_all(&self) -> io::Result<()> {
        self.shared.check(FaultOp::Sync, &self.path)?;
        self.inner.sync_all()
    }

    fn allocate(&mut self, len: u64) -> io::Result<bool> {
        self.shared.check(FaultOp::Allocate, &self.path)?;
        self.inner.allocate(len)
    }

    fn set_len(&mut self, len: u64) -> io::Result<()> {
        self.shared.check(FaultOp::SetLen, &self.path)?;
        self.inner.set_len(len)
    }

    fn len(&self) -> io::Result<u64> {
        self.inner.len()
    }

    fn try_clone(&self) -> io::Result<Box<dyn WritableFile>> {
        self.shared.check(FaultOp::Clone, &self.path)?;
        Ok(Box::new(FaultFile {
            inner: self.inner.try_clone()?,
            path: self.path.clone(),
            shared: Arc::clone(&self.shared),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_fire_after_n_ops_and_go_away() {
        let d = tempfile::tempdir().unwrap();
        let fs = FaultFs::new(super::super::default_fs());
        let g = fs.inject(FaultRule {
            after: 2,
            errno: 5,
            sticky: false,
            ..FaultRule::new(FaultOp::Sync, 0)
        });
        let p = d.path().join("x");
        let mut f = fs.create(&p, CreateMode::New).unwrap();
        f.write_all(b"abc").unwrap();
        f.sync_data().unwrap();
        f.sync_all().unwrap();
        let e = f.sync_data().unwrap_err();
        assert_eq!(e.raw_os_error(), Some(5));
        f.sync_data().unwrap(); // not sticky: fires once
        assert_eq!(g.fired(), 1);
        drop(g);
        f.sync_data().unwrap();
        assert_eq!(fs.faults(), 1);
        // create, write, 5 syncs.
        assert_eq!(fs.ops(), 7);
    }

    #[test]
    fn fail_nth_counts_every_kind() {
        let d = tempfile::tempdir().unwrap();
        let fs = FaultFs::new(super::super::default_fs());
        let _g = fs.fail_nth(3, 28);
        let p = d.path().join("x");
        let mut f = fs.create(&p, CreateMode::New).unwrap();
        f.write_all(b"abc").unwrap();
        let e = f.sync_all().unwrap_err();
        assert_eq!(e.raw_os_error(), Some(28));
        f.sync_all().unwrap();
        fs.rename(&p, &d.path().join("y")).unwrap();
    }

    #[test]
    fn fail_nth_short_writes_half_then_fails() {
        let d = tempfile::tempdir().unwrap();
        let fs = FaultFs::new(super::super::default_fs());
        let _g = fs.fail_nth_short(2, 28);
        let p = d.path().join("x");
        let mut f = fs.create(&p, CreateMode::New).unwrap();
        let e = f.write(b"abcdef").unwrap_err();
        assert_eq!(e.raw_os_error(), Some(28));
        f.flush().unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"abc");
    }
}
