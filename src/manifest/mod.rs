//! The manifest: which SSTables are live (level, key range, seqno range, size), the next file
//! number, the last durable seqno and the oldest WAL segment still needed.
//!
//! It is a log of checksummed [`VersionEdit`] records in `MANIFEST-NNNNNN`; the file `CURRENT`
//! names the live log and is replaced atomically (write `CURRENT.tmp`, fsync, rename, fsync the
//! directory). Every append is fsynced before [`Manifest::log_edit`] returns. When the log grows
//! past a threshold, the next edit goes into a new log that starts with a snapshot of the whole
//! state; CURRENT is switched to it and the old log deleted.
//!
//! Invariants: the log named by CURRENT always begins with a complete, fsynced snapshot record;
//! nothing is ever appended after a damaged record (a torn tail found at open makes open start a
//! new log); after a failed write the [`Manifest`] refuses further edits.
//!
//! File numbers: tables, WAL segments and manifests share one counter. A new database starts with
//! `MANIFEST-000001` and `next_file_number` = 2.
//!
//! Spec: `format-spec/manifest.md`.

// On-disk integers have fixed widths: outside tests, a narrowing `as` must be a checked
// conversion.
#![cfg_attr(not(test), warn(clippy::cast_possible_truncation))]

mod edit;
mod log;
mod state;

use std::io::{ErrorKind, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

pub use edit::{FileMeta, KeyspaceDef, VersionEdit};
#[cfg(any(test, feature = "internal"))]
pub use edit::tag;
pub use log::{FILE_HEADER_SIZE, RECORD_HEADER_SIZE, read_manifest_records};
#[cfg(any(test, feature = "internal"))]
pub use log::{FileHeader, ManifestRecords, RecordHeader, read_manifest};
pub use state::ManifestState;

use crate::error::{Error, Result};
use crate::format::files::{self, CURRENT, FileKind};
use crate::fs::{CreateMode, FileSystem, WritableFile};

use crate::format::manifest::MAX_CURRENT_LEN;
pub use crate::format::manifest::{CURRENT_TMP, FIRST_MANIFEST_NUMBER};
#[cfg(any(test, feature = "internal"))]
pub use crate::format::manifest::{
    MANIFEST_FORMAT_VERSION, MANIFEST_MAGIC, MAX_LEVELS, MAX_RECORD_SIZE,
};
/// Default size after which the log rolls over to a new manifest.
pub const DEFAULT_ROLLOVER_BYTES: u64 = 4 << 20;

/// An open manifest log. Not thread-safe by itself: the db serializes edits.
#[derive(Debug)]
pub struct Manifest {
    fs: Arc<dyn FileSystem>,
    dir: PathBuf,
    /// Path of the live log.
    path: PathBuf,
    /// The live log, opened for appending.
    file: Box<dyn WritableFile>,
    /// Bytes in the live log.
    file_bytes: u64,
    /// Bytes of the live log's header and snapshot record.
    snapshot_bytes: u64,
    rollover_bytes: u64,
    /// The log ends in a torn record: the next edit starts a new manifest instead of appending
    /// after garbage. Deferred to that edit so that open changes nothing on disk (the caller may
    /// still find the database unusable and must then see the files as they were).
    torn: bool,
    state: ManifestState,
    /// Set when a write or fsync failed: the log's tail is unknown, so nothing more is appended.
    failed: Option<String>,
}

impl Manifest {
    /// [`Manifest::open_with_fs`] on the real file system (tests).
    #[cfg(any(test, feature = "internal"))]
    pub fn open(dir: &Path) -> Result<(Manifest, ManifestState)> {
        Self::open_with_fs(crate::fs::default_fs(), dir)
    }

    /// Opens the manifest named by CURRENT in `dir` on the file system `fs` (which the manifest
    /// keeps for its writes) and replays it; if there is no CURRENT, creates `MANIFEST-000001`
    /// (with `next_file_number` = 2) and CURRENT. A torn last record (a
    /// crash during an append; never acknowledged) is dropped and the state is rewritten to a new
    /// manifest. Other `MANIFEST-*` files and `CURRENT.tmp` (left by an interrupted switch) are
    /// deleted. Requires: the caller holds the directory lock.
    ///
    /// # Errors
    /// [`Error::Corruption`] if CURRENT is malformed or names a missing manifest, if the manifest
    /// is damaged before its last record, or if CURRENT is missing while manifests other than an
    /// empty `MANIFEST-000001` exist; [`Error::UnsupportedVersion`]; [`Error::Io`].
    pub fn open_with_fs(fs: Arc<dyn FileSystem>, dir: &Path) -> Result<(Manifest, ManifestState)> {
        let current_path = dir.join(CURRENT);
        let Some(number) = read_current(&*fs, &current_path)? else {
            return Self::create(fs, dir);
        };
        let path = dir.join(files::manifest_name(number));
        let data = match fs.read(&path) {
            Ok(d) => d,
            Err(e) if e.kind() == ErrorKind::NotFound => {
                return Err(Error::corruption(
                    &current_path,
                    0,
                    format!(
                        "CURRENT names {}, which does not exist",
                        files::manifest_name(number)
                    ),
                ));
            }
            Err(e) => return Err(Error::io("reading manifest", &path, e)),
        };
        let replayed = log::replay(&data, &path)?;
        let mut state = replayed.state;
        state.manifest_number = number;
        state.next_file_number = state.next_file_number.max(number.saturating_add(1));

        // A file of an older format version is never appended to (an older build could then
        // open it and meet fields it does not know): the next edit starts a new manifest, as
        // after a torn tail.
        let old_format = data
            .get(8..12)
            .and_then(|b| b.try_into().ok())
            .map(u32::from_le_bytes)
            .is_some_and(|v| v < crate::format::manifest::MANIFEST_FORMAT_VERSION);
        let manifest = Manifest {
            file: open_existing(&*fs, &path)?,
            fs,
            dir: dir.to_path_buf(),
            path,
            file_bytes: replayed.valid_len,
            snapshot_bytes: replayed.snapshot_len,
            rollover_bytes: DEFAULT_ROLLOVER_BYTES,
            state,
            failed: None,
            torn: replayed.torn_at.is_some() || old_format,
        };
        if let Some(torn_at) = replayed.torn_at {
            // Never append after garbage (the next record would make the garbage look like
            // mid-file corruption): the next edit starts a new manifest.
            tracing::warn!(
                manifest = %manifest.path.display(),
                offset = torn_at,
                dropped_bytes = data.len() as u64 - replayed.valid_len,
                "dropping torn last manifest record; the next edit starts a new manifest"
            );
        }
        manifest.remove_stale_files();
        let state = manifest.state.clone();
        Ok((manifest, state))
    }

    /// Reads the state of the manifest CURRENT names without writing anything and without the
    /// directory lock (a read-only open next to a live writer): a torn last record is dropped
    /// (the writer may be mid-append), stale files stay. `None` when there is no CURRENT.
    ///
    /// # Errors
    /// As [`Manifest::open_with_fs`]; a manifest that vanished (the writer rolled over between
    /// reading CURRENT and the manifest) is an [`Error::Io`] of kind `NotFound`, to be retried.
    pub(crate) fn read_state(fs: &dyn FileSystem, dir: &Path) -> Result<Option<ManifestState>> {
        let Some(number) = read_current(fs, &dir.join(CURRENT))? else {
            return Ok(None);
        };
        let path = dir.join(files::manifest_name(number));
        let data = fs
            .read(&path)
            .map_err(|e| Error::io("reading manifest", &path, e))?;
        let mut state = log::replay(&data, &path)?.state;
        state.manifest_number = number;
        Ok(Some(state))
    }

    /// A new database: writes `MANIFEST-000001` and CURRENT.
    fn create(fs: Arc<dyn FileSystem>, dir: &Path) -> Result<(Manifest, ManifestState)> {
        let existing = list_manifests(&*fs, dir)?;
        let blank_leftover =
            existing == [FIRST_MANIFEST_NUMBER] && first_manifest_is_blank(&*fs, dir);
        if let Some(&n) = existing.first()
            && !blank_leftover
        {
            return Err(Error::corruption(
                dir.join(CURRENT),
                0,
                format!(
                    "CURRENT is missing but {} exists; refusing to start a new database over it",
                    files::manifest_name(n)
                ),
            ));
        }
        let state = ManifestState {
            manifest_number: FIRST_MANIFEST_NUMBER,
            next_file_number: FIRST_MANIFEST_NUMBER + 1,
            ..ManifestState::default()
        };
        let written = write_new_manifest(&*fs, dir, &state)?;
        set_current(&*fs, dir, state.manifest_number)?;
        let manifest = Manifest {
            fs,
            dir: dir.to_path_buf(),
            path: written.path,
            file: written.file,
            file_bytes: written.len,
            snapshot_bytes: written.len,
            rollover_bytes: DEFAULT_ROLLOVER_BYTES,
            state: state.clone(),
            failed: None,
            torn: false,
        };
        manifest.remove_stale_files();
        Ok((manifest, state))
    }

    /// Appends `edit`, fsyncs it, and applies it to the in-memory state. The record also carries
    /// `next_file_number` (at least the in-memory counter), persisting numbers handed out by
    /// [`Self::new_file_number`]. If the log would grow past the rollover threshold, the edit goes
    /// into a new manifest instead (snapshot of the state with the edit applied), CURRENT is
    /// switched to it and the old log is deleted.
    ///
    /// On any error the in-memory state is unchanged.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] if the edit does not apply to the state (see
    /// [`ManifestState::apply`]) or is too large; nothing is written and the manifest stays
    /// usable. [`Error::Io`] if a write or fsync fails: the edit may or may not be durable, and
    /// every later call returns [`Error::Poisoned`].
    pub fn log_edit(&mut self, mut edit: VersionEdit) -> Result<()> {
        if let Some(cause) = &self.failed {
            return Err(Error::Poisoned {
                cause: cause.clone(),
            });
        }
        self.state
            .check(&edit)
            .map_err(|r| Error::InvalidArgument(format!("version edit: {r}")))?;
        let next = edit
            .next_file_number
            .unwrap_or(0)
            .max(self.state.next_file_number);
        edit.next_file_number = Some(next);

        let mut payload = Vec::new();
        edit.encode(&mut payload);
        let mut record = Vec::with_capacity(RECORD_HEADER_SIZE + payload.len());
        log::put_record(&mut record, &payload)?;

        let limit = self
            .rollover_bytes
            .max(self.snapshot_bytes.saturating_mul(2));
        if self.torn || self.file_bytes.saturating_add(record.len() as u64) > limit {
            return self.roll_over(Some(&edit));
        }
        let written = self
            .file
            .write_all(&record)
            .and_then(|()| self.file.sync_data());
        if let Err(e) = written {
            return Err(self.fail(Error::io("appending to manifest", &self.path, e)));
        }
        self.file_bytes += record.len() as u64;
        self.state.apply_checked(&edit);
        Ok(())
    }

    /// Starts the manifest of a new database in `dir` (a checkpoint): `MANIFEST-<state.manifest_number>`
    /// holding a snapshot of `state`, fsynced with its directory entry, but *no* CURRENT. Until
    /// [`Manifest::publish`] writes CURRENT the directory does not open: a manifest without
    /// CURRENT is reported as corruption (unless it is a blank `MANIFEST-000001`, so
    /// `state.manifest_number` must not be 1).
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] for manifest number 1; [`Error::Io`].
    pub(crate) fn create_unpublished(
        fs: Arc<dyn FileSystem>,
        dir: &Path,
        state: ManifestState,
    ) -> Result<Manifest> {
        if state.manifest_number <= FIRST_MANIFEST_NUMBER {
            return Err(Error::InvalidArgument(
                "an unpublished manifest needs a number above 1".into(),
            ));
        }
        let written = write_new_manifest(&*fs, dir, &state)?;
        Ok(Manifest {
            fs,
            dir: dir.to_path_buf(),
            path: written.path,
            file: written.file,
            file_bytes: written.len,
            snapshot_bytes: written.len,
            rollover_bytes: DEFAULT_ROLLOVER_BYTES,
            state,
            failed: None,
            torn: false,
        })
    }

    /// Points CURRENT at this manifest (`CURRENT.tmp`, fsync, rename, directory fsync): the last
    /// step of [`Manifest::create_unpublished`]'s database.
    ///
    /// # Errors
    /// [`Error::Io`].
    pub(crate) fn publish(&self) -> Result<()> {
        set_current(&*self.fs, &self.dir, self.state.manifest_number)
    }

    /// Writes the state (with `edit` applied, if any) as the snapshot of a new manifest, switches
    /// CURRENT to it and deletes the old log. The new manifest takes the next file number.
    /// Requires: `edit` passed `state.check`.
    fn roll_over(&mut self, edit: Option<&VersionEdit>) -> Result<()> {
        let mut next = self.state.clone();
        if let Some(edit) = edit {
            next.apply_checked(edit);
        }
        next.manifest_number = next.next_file_number;
        next.next_file_number = next.next_file_number.saturating_add(1);
        let written = match write_new_manifest(&*self.fs, &self.dir, &next) {
            Ok(w) => w,
            Err(e) => return Err(self.fail(e)),
        };
        if let Err(e) = set_current(&*self.fs, &self.dir, next.manifest_number) {
            return Err(self.fail(e));
        }
        let old = std::mem::replace(&mut self.path, written.path);
        self.file = written.file;
        self.file_bytes = written.len;
        self.snapshot_bytes = written.len;
        self.state = next;
        self.torn = false;
        if let Err(e) = self.fs.remove(&old) {
            // Harmless: open deletes manifests that CURRENT does not name.
            tracing::warn!(manifest = %old.display(), error = %e, "could not delete old manifest");
        }
        Ok(())
    }

    /// Records a failure: later edits are refused because the log's tail is unknown.
    fn fail(&mut self, e: Error) -> Error {
        self.failed = Some(e.to_string());
        e
    }

    /// Deletes manifests other than the live one and a leftover `CURRENT.tmp`. Best effort.
    fn remove_stale_files(&self) {
        let Ok(entries) = self.fs.list_dir(&self.dir) else {
            return;
        };
        for name in &entries {
            let stale = match files::parse_name(name) {
                Some(FileKind::Manifest(n)) => n != self.state.manifest_number,
                _ => name == CURRENT_TMP,
            };
            if stale && let Err(e) = self.fs.remove(&self.dir.join(name)) {
                tracing::warn!(file = name, error = %e, "could not delete stale manifest file");
            }
        }
    }

    /// The state after every logged edit.
    pub fn state(&self) -> &ManifestState {
        &self.state
    }

    /// Allocates a file number. Persisted lazily: the next [`Self::log_edit`] records
    /// `next_file_number`. A number handed out but not yet recorded may be handed out again after
    /// a crash, so the db must also call [`Self::mark_file_number_used`] for files it finds.
    pub fn new_file_number(&mut self) -> u64 {
        let n = self.state.next_file_number;
        self.state.next_file_number = n.saturating_add(1);
        n
    }

    /// Makes sure `number` is never handed out by [`Self::new_file_number`] (for files found in
    /// the directory at open). In memory only, like `new_file_number`.
    pub fn mark_file_number_used(&mut self, number: u64) {
        self.state.next_file_number = self.state.next_file_number.max(number.saturating_add(1));
    }

    /// Number of the live manifest file.
    #[cfg(any(test, feature = "internal"))]
    pub fn manifest_number(&self) -> u64 {
        self.state.manifest_number
    }

    /// Path of the live manifest file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Sets the size after which the log rolls over (default [`DEFAULT_ROLLOVER_BYTES`]). The log
    /// also waits until it is twice its starting snapshot, so a large state does not roll on
    /// every edit.
    #[cfg(any(test, feature = "internal"))]
    pub fn set_rollover_bytes(&mut self, bytes: u64) {
        self.rollover_bytes = bytes;
    }
}

/// Reads CURRENT: `None` if it does not exist, else the manifest number it names.
fn read_current(fs: &dyn FileSystem, path: &Path) -> Result<Option<u64>> {
    let data = match fs.read(path) {
        Ok(d) => d,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(Error::io("reading", path, e)),
    };
    let bad = || {
        Error::corruption(
            path,
            0,
            "CURRENT does not hold a manifest name followed by a newline",
        )
    };
    if data.len() > MAX_CURRENT_LEN {
        return Err(bad());
    }
    let text = std::str::from_utf8(&data).map_err(|_| bad())?;
    let name = text.strip_suffix('\n').ok_or_else(bad)?;
    match files::parse_name(name) {
        // Only the canonical spelling: "MANIFEST-1" or "MANIFEST-+01" are not ours.
        Some(FileKind::Manifest(n)) if files::manifest_name(n) == name => Ok(Some(n)),
        _ => Err(bad()),
    }
}

/// Numbers of the `MANIFEST-*` files in `dir`, ascending.
fn list_manifests(fs: &dyn FileSystem, dir: &Path) -> Result<Vec<u64>> {
    let entries = fs.list_dir(dir).map_err(|e| Error::io("listing", dir, e))?;
    let mut out = Vec::new();
    for name in &entries {
        if let Some(FileKind::Manifest(n)) = files::parse_name(name) {
            out.push(n);
        }
    }
    out.sort_unstable();
    Ok(out)
}

/// Whether `MANIFEST-000001` is what a crash while creating a database leaves: unreadable, or a
/// state with no tables and no recorded seqno or WAL progress. Such a file was never named by
/// CURRENT, so it holds nothing that was acknowledged.
fn first_manifest_is_blank(fs: &dyn FileSystem, dir: &Path) -> bool {
    let path = dir.join(files::manifest_name(FIRST_MANIFEST_NUMBER));
    let Ok(data) = fs.read(&path) else {
        return false;
    };
    match log::replay(&data, &path) {
        Ok(r) => r.state.files.is_empty() && r.state.last_seqno == 0 && r.state.log_number == 0,
        Err(_) => true,
    }
}

struct NewManifest {
    path: PathBuf,
    file: Box<dyn WritableFile>,
    len: u64,
}

/// Creates `MANIFEST-<state.manifest_number>` holding the file header and a snapshot of `state`,
/// fsyncs it and the directory. On error a partly written file is removed.
fn write_new_manifest(
    fs: &dyn FileSystem,
    dir: &Path,
    state: &ManifestState,
) -> Result<NewManifest> {
    let path = dir.join(files::manifest_name(state.manifest_number));
    let mut buf = Vec::new();
    log::put_file_header(&mut buf);
    let mut payload = Vec::new();
    state.snapshot_edit().encode(&mut payload);
    log::put_record(&mut buf, &payload)?;
    let file = match write_synced(fs, &path, &buf) {
        Ok(f) => f,
        Err(e) => {
            let _ = fs.remove(&path);
            return Err(Error::io("writing new manifest", &path, e));
        }
    };
    fs.sync_dir(dir)
        .map_err(|e| Error::io("syncing directory", dir, e))?;
    Ok(NewManifest {
        path,
        file,
        len: buf.len() as u64,
    })
}

/// Points CURRENT at `MANIFEST-<number>`: write `CURRENT.tmp`, fsync, rename over CURRENT, fsync
/// the directory. A crash leaves either the old or the new CURRENT, both complete.
fn set_current(fs: &dyn FileSystem, dir: &Path, number: u64) -> Result<()> {
    let tmp = dir.join(CURRENT_TMP);
    let contents = format!("{}\n", files::manifest_name(number));
    write_synced(fs, &tmp, contents.as_bytes()).map_err(|e| Error::io("writing", &tmp, e))?;
    fs.rename(&tmp, &dir.join(CURRENT))
        .map_err(|e| Error::io("renaming", &tmp, e))?;
    fs.sync_dir(dir)
        .map_err(|e| Error::io("syncing directory", dir, e))
}

/// Creates or truncates `path`, writes `bytes` and fsyncs; returns the handle (positioned at the
/// end, so later writes append).
fn write_synced(
    fs: &dyn FileSystem,
    path: &Path,
    bytes: &[u8],
) -> std::io::Result<Box<dyn WritableFile>> {
    let mut f = fs.create(path, CreateMode::Truncate)?;
    f.write_all(bytes)?;
    f.sync_all()?;
    Ok(f)
}

fn open_existing(fs: &dyn FileSystem, path: &Path) -> Result<Box<dyn WritableFile>> {
    fs.open_append(path)
        .map_err(|e| Error::io("opening manifest", path, e))
}

#[cfg(test)]
mod tests;
