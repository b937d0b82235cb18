//! Dump of a database's manifest (`format-spec/manifest.md`): what `CURRENT` names, every version
//! edit with its offset, and the live tables per level after replaying them.

use std::path::{Path, PathBuf};

use serde::Serialize;

use super::{Problem, read_file, show};
use crate::format::files::{self, CURRENT, FileKind};
use crate::key::decode_internal;
use crate::manifest::{FileMeta, ManifestState, VersionEdit, read_manifest_records};

/// A table as the manifest records it.
#[derive(Debug, Clone, Serialize)]
pub struct TableEntry {
    /// The table's file number (`NNNNNN.sst`).
    pub number: u64,
    /// The level the table is in.
    pub level: u32,
    /// File size in bytes.
    pub file_size: u64,
    /// Smallest and largest user keys, escaped.
    pub smallest_key: String,
    /// Largest user key, escaped.
    pub largest_key: String,
    /// Smallest sequence number in the table.
    pub min_seqno: u64,
    /// Largest sequence number in the table.
    pub max_seqno: u64,
    /// Number of entries, tombstones included.
    pub entries: u64,
    /// Number of tombstones (delete entries).
    pub tombstones: u64,
}

impl From<&FileMeta> for TableEntry {
    fn from(f: &FileMeta) -> Self {
        let user = |k: &[u8]| decode_internal(k).map_or_else(|| show(k), |(u, _)| show(u));
        TableEntry {
            number: f.number,
            level: f.level,
            file_size: f.file_size,
            smallest_key: user(&f.smallest_key),
            largest_key: user(&f.largest_key),
            min_seqno: f.min_seqno,
            max_seqno: f.max_seqno,
            entries: f.entries,
            tombstones: f.tombstones,
        }
    }
}

/// A deleted table reference.
#[derive(Debug, Clone, Serialize)]
pub struct DeletedTable {
    /// The level the table was in.
    pub level: u32,
    /// The table's file number.
    pub number: u64,
}

/// One version edit.
#[derive(Debug, Clone, Serialize)]
pub struct EditInfo {
    /// File offset of the record.
    pub offset: u64,
    /// New next-file-number counter, if the edit sets it.
    pub next_file_number: Option<u64>,
    /// New last sequence number, if the edit sets it.
    pub last_seqno: Option<u64>,
    /// New oldest needed WAL segment number, if the edit sets it.
    pub log_number: Option<u64>,
    /// Tables the edit adds.
    pub added: Vec<TableEntry>,
    /// Tables the edit removes.
    pub deleted: Vec<DeletedTable>,
}

impl EditInfo {
    fn new(offset: u64, e: &VersionEdit) -> Self {
        EditInfo {
            offset,
            next_file_number: e.next_file_number,
            last_seqno: e.last_seqno,
            log_number: e.log_number,
            added: e.added.iter().map(TableEntry::from).collect(),
            deleted: e
                .deleted
                .iter()
                .map(|&(level, number)| DeletedTable { level, number })
                .collect(),
        }
    }
}

/// Live tables of one level.
#[derive(Debug, Clone, Serialize)]
pub struct LevelInfo {
    /// Level number (0 is the newest).
    pub level: u32,
    /// Number of live tables in the level.
    pub files: u64,
    /// Their total size in bytes.
    pub bytes: u64,
    /// The tables: level 0 newest first, other levels in key order.
    pub tables: Vec<TableEntry>,
}

/// The state after every edit.
#[derive(Debug, Clone, Serialize)]
pub struct StateInfo {
    /// The next file number the database will allocate.
    pub next_file_number: u64,
    /// The last sequence number written.
    pub last_seqno: u64,
    /// WAL segments numbered below this are no longer needed.
    pub log_number: u64,
    /// Live tables per level, from level 0 up to the deepest non-empty level.
    pub levels: Vec<LevelInfo>,
}

impl StateInfo {
    fn new(s: &ManifestState) -> Self {
        let mut levels: Vec<LevelInfo> = Vec::new();
        for f in s.files.values() {
            let i = f.level as usize;
            while levels.len() <= i {
                levels.push(LevelInfo {
                    level: u32::try_from(levels.len()).unwrap_or(u32::MAX),
                    files: 0,
                    bytes: 0,
                    tables: Vec::new(),
                });
            }
            if let Some(l) = levels.get_mut(i) {
                l.files += 1;
                l.bytes += f.file_size;
                l.tables.push(TableEntry::from(f));
            }
        }
        // Level 0 newest first (as the engine searches it); other levels in key order.
        for l in &mut levels {
            if l.level == 0 {
                l.tables.sort_by_key(|t| std::cmp::Reverse(t.number));
            } else {
                l.tables.sort_by(|a, b| a.smallest_key.cmp(&b.smallest_key));
            }
        }
        StateInfo {
            next_file_number: s.next_file_number,
            last_seqno: s.last_seqno,
            log_number: s.log_number,
            levels,
        }
    }
}

/// Everything read from a manifest.
#[derive(Debug, Clone, Serialize)]
pub struct ManifestDump {
    /// The database directory.
    pub dir: PathBuf,
    /// The manifest name CURRENT holds, if it could be read.
    pub current: Option<String>,
    /// The manifest file read.
    pub manifest: Option<PathBuf>,
    /// Size of the manifest file in bytes.
    pub file_size: u64,
    /// Every complete edit, in file order.
    pub edits: Vec<EditInfo>,
    /// Offset of a torn last record, which recovery drops.
    pub torn_at: Option<u64>,
    /// `None` when the edits could not all be read or applied.
    pub state: Option<StateInfo>,
    /// Other `MANIFEST-*` files in the directory (left by an interrupted switch; deleted at open).
    pub other_manifests: Vec<String>,
    /// Every problem found; empty for a healthy manifest.
    pub problems: Vec<Problem>,
    /// The replayed state, for [`super::verify`].
    #[serde(skip)]
    pub(crate) raw_state: Option<ManifestState>,
}

/// Reads the manifest of the database in `path`, or the manifest file `path` itself. Never fails:
/// problems are collected in the dump.
pub fn dump_manifest(path: &Path) -> ManifestDump {
    let (dir, file) = if path.is_dir() {
        (path.to_path_buf(), None)
    } else {
        let dir = path
            .parent()
            .map_or_else(|| PathBuf::from("."), Path::to_path_buf);
        (dir, Some(path.to_path_buf()))
    };
    let mut dump = ManifestDump::new(&dir);
    let manifests = list_manifests(&dir);
    let Some(manifest_path) = file.or_else(|| choose_manifest(&mut dump, &dir, &manifests)) else {
        return dump;
    };
    dump.other_manifests = manifests
        .into_iter()
        .map(|(_, name)| name)
        .filter(|name| manifest_path.file_name().and_then(|n| n.to_str()) != Some(name))
        .collect();
    dump.manifest = Some(manifest_path.clone());
    let data = match read_file(&manifest_path) {
        Ok(d) => d,
        Err(p) => {
            dump.problems.push(p);
            return dump;
        }
    };
    dump.file_size = data.len() as u64;
    let (records, torn_at) = match read_manifest_records(&data, &manifest_path) {
        Ok(r) => r,
        Err(e) => {
            dump.problems.push(Problem::from_error(&manifest_path, &e));
            return dump;
        }
    };
    dump.torn_at = torn_at;
    dump.edits = records.iter().map(|(o, e)| EditInfo::new(*o, e)).collect();
    if let Some(state) = replay(&mut dump, &manifest_path, &records) {
        dump.state = Some(StateInfo::new(&state));
        dump.raw_state = Some(state);
    }
    dump
}

impl ManifestDump {
    /// An empty dump of the database in `dir`.
    fn new(dir: &Path) -> ManifestDump {
        ManifestDump {
            dir: dir.to_path_buf(),
            current: None,
            manifest: None,
            file_size: 0,
            edits: Vec::new(),
            torn_at: None,
            state: None,
            other_manifests: Vec::new(),
            problems: Vec::new(),
            raw_state: None,
        }
    }
}

/// The manifest CURRENT names or, when CURRENT is unusable, the newest of `manifests` (so there
/// is still something to show); `None` when there is none.
fn choose_manifest(
    dump: &mut ManifestDump,
    dir: &Path,
    manifests: &[(u64, String)],
) -> Option<PathBuf> {
    match read_current(dir) {
        Ok(name) => {
            let path = dir.join(&name);
            dump.current = Some(name);
            Some(path)
        }
        Err(p) => {
            dump.problems.push(p);
            match manifests.last() {
                Some((_, name)) => Some(dir.join(name)),
                None => {
                    dump.problems
                        .push(Problem::whole(dir, "no MANIFEST-* file in the directory"));
                    None
                }
            }
        }
    }
}

/// Applies the edits in order; the state after the last, or `None` (with a problem) when one does
/// not apply or there is none.
fn replay(
    dump: &mut ManifestDump,
    path: &Path,
    records: &[(u64, VersionEdit)],
) -> Option<ManifestState> {
    let mut state = ManifestState::default();
    let mut ok = true;
    for (i, (offset, edit)) in records.iter().enumerate() {
        if i == 0
            && (edit.next_file_number.is_none()
                || edit.last_seqno.is_none()
                || edit.log_number.is_none())
        {
            dump.problems.push(Problem::at(
                path,
                *offset,
                "first manifest record is not a snapshot",
            ));
        }
        if let Err(e) = state.apply(edit) {
            let reason = match &e {
                crate::Error::Corruption { reason, .. } => reason.clone(),
                other => other.to_string(),
            };
            dump.problems.push(Problem::at(
                path,
                *offset,
                format!("edit does not apply: {reason}"),
            ));
            ok = false;
            break;
        }
    }
    if records.is_empty() {
        dump.problems.push(Problem::at(
            path,
            crate::manifest::FILE_HEADER_SIZE as u64,
            "manifest holds no complete snapshot record",
        ));
        ok = false;
    }
    ok.then_some(state)
}

/// Reads CURRENT in `dir`: the name of the live manifest.
fn read_current(dir: &Path) -> Result<String, Problem> {
    let path = dir.join(CURRENT);
    let data =
        std::fs::read(&path).map_err(|e| Problem::whole(&path, format!("cannot read: {e}")))?;
    let bad = || {
        Problem::at(
            &path,
            0,
            "CURRENT does not hold a manifest name and a newline",
        )
    };
    let text = std::str::from_utf8(&data).map_err(|_| bad())?;
    let name = text.strip_suffix('\n').ok_or_else(bad)?;
    match files::parse_name(name) {
        Some(FileKind::Manifest(n)) if files::manifest_name(n) == name => Ok(name.to_string()),
        _ => Err(bad()),
    }
}

/// `MANIFEST-*` files in `dir`, by number.
fn list_manifests(dir: &Path) -> Vec<(u64, String)> {
    let mut out: Vec<(u64, String)> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().into_string().ok()?;
            match files::parse_name(&name) {
                Some(FileKind::Manifest(n)) => Some((n, name)),
                _ => None,
            }
        })
        .collect();
    out.sort();
    out
}
