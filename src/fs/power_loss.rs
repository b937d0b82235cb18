//! [`PowerLossFs`]: a [`FileSystem`] that records, for one database directory, what has been made
//! durable (file contents as of their last successful fsync, directory entries as of the last
//! directory fsync), so that a test can build the image a power cut would leave at any moment
//! (LevelDB's `db/fault_injection_test.cc`, redb's `tests/crash_consistency.rs`).
//!
//! It keeps a shadow copy of what was written through each handle, so a preallocated file (a WAL
//! segment) is durable only up to what was written, not up to its reserved size. Files are
//! tracked by an identity that follows renames (like an inode); only files directly in the
//! recorded directory are tracked.

use std::collections::HashMap;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use super::lock;

use super::{CreateMode, DirLock, FileSystem, Mapping, WritableFile};
use crate::error::Result;

#[derive(Default)]
struct Recorder {
    next_id: u64,
    /// Current directory entries: name -> file id.
    live: HashMap<String, u64>,
    /// Bytes written so far, by file id.
    written: HashMap<u64, Vec<u8>>,
    /// Durable contents by file id.
    durable: HashMap<u64, Vec<u8>>,
    /// Durable directory entries: name -> file id.
    listing: Vec<(String, u64)>,
}

impl Recorder {
    fn new_id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }
}

/// Wraps a file system and records durability in one directory.
pub struct PowerLossFs {
    inner: Arc<dyn FileSystem>,
    dir: PathBuf,
    rec: Arc<Mutex<Recorder>>,
}

impl std::fmt::Debug for PowerLossFs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PowerLossFs")
            .field("inner", &self.inner)
            .field("dir", &self.dir)
            .finish()
    }
}

impl PowerLossFs {
    /// Starts recording `dir` (which must exist). What is in `dir` now counts as durable.
    ///
    /// # Errors
    /// I/O errors reading the directory.
    pub fn new(inner: Arc<dyn FileSystem>, dir: &Path) -> io::Result<Arc<PowerLossFs>> {
        let dir = dir.canonicalize()?;
        let mut rec = Recorder::default();
        for name in inner.list_dir(&dir)? {
            let path = dir.join(&name);
            if !std::fs::metadata(&path)?.is_file() {
                continue;
            }
            let data = inner.read(&path)?;
            let id = rec.new_id();
            rec.live.insert(name.clone(), id);
            rec.written.insert(id, data.clone());
            rec.durable.insert(id, data);
            rec.listing.push((name, id));
        }
        Ok(Arc::new(PowerLossFs {
            inner,
            dir,
            rec: Arc::new(Mutex::new(rec)),
        }))
    }

    /// Writes into `into` (an empty directory) what a power cut now would leave: every durable
    /// directory entry, each with its contents as of its last fsync (empty if it was never
    /// synced).
    ///
    /// # Errors
    /// I/O errors writing the image.
    pub fn crash_image(&self, into: &Path) -> io::Result<()> {
        let rec = lock(&self.rec);
        for (name, id) in &rec.listing {
            let data = rec.durable.get(id).map_or(&[][..], |d| d.as_slice());
            std::fs::write(into.join(name), data)?;
        }
        Ok(())
    }

    /// The name of `path` if it is directly in the recorded directory.
    fn name_in_dir(&self, path: &Path) -> Option<String> {
        if path.parent()? != self.dir {
            return None;
        }
        Some(path.file_name()?.to_str()?.to_owned())
    }

    fn wrap(&self, inner: Box<dyn WritableFile>, id: Option<u64>) -> Box<dyn WritableFile> {
        match id {
            None => inner,
            Some(id) => Box::new(RecordedFile {
                inner,
                id,
                rec: Arc::clone(&self.rec),
            }),
        }
    }
}

impl FileSystem for PowerLossFs {
    fn create_dir_all(&self, dir: &Path) -> io::Result<()> {
        self.inner.create_dir_all(dir)
    }

    fn create(&self, path: &Path, mode: CreateMode) -> io::Result<Box<dyn WritableFile>> {
        let f = self.inner.create(path, mode)?;
        let id = self.name_in_dir(path).map(|name| {
            let mut rec = lock(&self.rec);
            // A truncated file keeps its identity: its durable contents are unchanged until the
            // next fsync.
            let id = match rec.live.get(&name) {
                Some(id) => *id,
                None => rec.new_id(),
            };
            rec.live.insert(name, id);
            rec.written.insert(id, Vec::new());
            id
        });
        Ok(self.wrap(f, id))
    }

    fn open_append(&self, path: &Path) -> io::Result<Box<dyn WritableFile>> {
        let f = self.inner.open_append(path)?;
        let id = match self.name_in_dir(path) {
            None => None,
            Some(name) => {
                let known = lock(&self.rec).live.get(&name).copied();
                match known {
                    Some(id) => Some(id),
                    None => {
                        // Created behind the recorder's back: take it as it is, not durable.
                        let data = self.inner.read(path)?;
                        let mut rec = lock(&self.rec);
                        let id = rec.new_id();
                        rec.live.insert(name, id);
                        rec.written.insert(id, data);
                        Some(id)
                    }
                }
            }
        };
        Ok(self.wrap(f, id))
    }

    fn read(&self, path: &Path) -> io::Result<Vec<u8>> {
        self.inner.read(path)
    }

    fn list_dir(&self, dir: &Path) -> io::Result<Vec<String>> {
        self.inner.list_dir(dir)
    }

    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        self.inner.rename(from, to)?;
        let mut rec = lock(&self.rec);
        let id = self.name_in_dir(from).and_then(|n| rec.live.remove(&n));
        if let Some(to) = self.name_in_dir(to) {
            match id {
                Some(id) => {
                    rec.live.insert(to, id);
                }
                None => {
                    rec.live.remove(&to);
                }
            }
        }
        Ok(())
    }

    fn hard_link(&self, from: &Path, to: &Path) -> io::Result<()> {
        self.inner.hard_link(from, to)?;
        let Some(to_name) = self.name_in_dir(to) else {
            return Ok(());
        };
        let known = self
            .name_in_dir(from)
            .and_then(|n| lock(&self.rec).live.get(&n).copied());
        // A link shares the file (like an inode): same identity when the source is recorded too.
        // A file from outside the directory is taken as durable as it is (the engine links only
        // fsynced tables); the new entry itself is durable at the next directory fsync.
        let id = match known {
            Some(id) => id,
            None => {
                let data = self.inner.read(to)?;
                let mut rec = lock(&self.rec);
                let id = rec.new_id();
                rec.written.insert(id, data.clone());
                rec.durable.insert(id, data);
                id
            }
        };
        lock(&self.rec).live.insert(to_name, id);
        Ok(())
    }

    fn remove(&self, path: &Path) -> io::Result<()> {
        self.inner.remove(path)?;
        if let Some(name) = self.name_in_dir(path) {
            lock(&self.rec).live.remove(&name);
        }
        Ok(())
    }

    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        self.inner.sync_dir(dir)?;
        if dir == self.dir {
            let mut rec = lock(&self.rec);
            let mut listing: Vec<(String, u64)> =
                rec.live.iter().map(|(n, id)| (n.clone(), *id)).collect();
            listing.sort();
            rec.listing = listing;
        }
        Ok(())
    }

    fn lock_dir(&self, dir: &Path) -> Result<DirLock> {
        self.inner.lock_dir(dir)
    }

    fn map(&self, path: &Path) -> io::Result<Mapping> {
        self.inner.map(path)
    }
}

/// A handle of a recorded file: keeps the shadow copy and records it at each fsync.
struct RecordedFile {
    inner: Box<dyn WritableFile>,
    id: u64,
    rec: Arc<Mutex<Recorder>>,
}

impl std::fmt::Debug for RecordedFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RecordedFile")
            .field("inner", &self.inner)
            .field("id", &self.id)
            .finish()
    }
}

impl RecordedFile {
    fn synced(&self) {
        let mut rec = lock(&self.rec);
        let data = rec.written.get(&self.id).cloned().unwrap_or_default();
        rec.durable.insert(self.id, data);
    }
}

impl Write for RecordedFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        let mut rec = lock(&self.rec);
        rec.written
            .entry(self.id)
            .or_default()
            .extend_from_slice(buf.get(..n).unwrap_or_default());
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

impl WritableFile for RecordedFile {
    fn sync_data(&self) -> io::Result<()> {
        self.inner.sync_data()?;
        self.synced();
        Ok(())
    }

    fn sync_all(&self) -> io::Result<()> {
        self.inner.sync_all()?;
        self.synced();
        Ok(())
    }

    fn allocate(&mut self, len: u64) -> io::Result<bool> {
        // Reserved space reads as zeros and is not data: the shadow copy is unchanged.
        self.inner.allocate(len)
    }

    fn set_len(&mut self, len: u64) -> io::Result<()> {
        self.inner.set_len(len)?;
        let mut rec = lock(&self.rec);
        let w = rec.written.entry(self.id).or_default();
        w.resize(usize::try_from(len).unwrap_or(usize::MAX), 0);
        Ok(())
    }

    fn len(&self) -> io::Result<u64> {
        self.inner.len()
    }

    fn try_clone(&self) -> io::Result<Box<dyn WritableFile>> {
        Ok(Box::new(RecordedFile {
            inner: self.inner.try_clone()?,
            id: self.id,
            rec: Arc::clone(&self.rec),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_holds_synced_data_and_synced_entries_only() {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join("old"), b"before").unwrap();
        let fs = PowerLossFs::new(super::super::default_fs(), d.path()).unwrap();
        let dir = d.path().canonicalize().unwrap();
        let mut a = fs.create(&dir.join("a"), CreateMode::New).unwrap();
        a.write_all(b"abc").unwrap();
        assert!(a.allocate(4096).is_ok());
        a.sync_data().unwrap();
        a.write_all(b"def").unwrap();
        fs.sync_dir(&dir).unwrap();
        let mut b = fs.create(&dir.join("b.tmp"), CreateMode::New).unwrap();
        b.write_all(b"table").unwrap();
        b.sync_all().unwrap();
        // Renamed, but the directory is not synced afterwards: b stays invisible.
        fs.rename(&dir.join("b.tmp"), &dir.join("b")).unwrap();
        fs.remove(&dir.join("old")).unwrap();

        let img = tempfile::tempdir().unwrap();
        fs.crash_image(img.path()).unwrap();
        let mut names: Vec<String> = std::fs::read_dir(img.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        assert_eq!(names, ["a", "old"]);
        assert_eq!(std::fs::read(img.path().join("a")).unwrap(), b"abc");
        assert_eq!(std::fs::read(img.path().join("old")).unwrap(), b"before");

        fs.sync_dir(&dir).unwrap();
        let img = tempfile::tempdir().unwrap();
        fs.crash_image(img.path()).unwrap();
        assert!(!img.path().join("old").exists());
        assert_eq!(std::fs::read(img.path().join("b")).unwrap(), b"table");
    }
}
