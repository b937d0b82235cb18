//! [`ManifestState`]: the result of replaying a manifest's edits: live tables, file-number
//! counter, last durable seqno, oldest needed WAL segment.
//!
//! Invariants after every successful [`ManifestState::apply`]: each live table's metadata passes
//! [`FileMeta::check`]; `next_file_number` is above every live table's number; `last_seqno`,
//! `log_number` and `next_file_number` never decrease.

use std::collections::{BTreeMap, BTreeSet};

use crate::error::{Error, Result};
use crate::key::MAX_SEQNO;

use super::edit::{FileMeta, KeyspaceDef, VersionEdit};

/// The state a manifest describes.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ManifestState {
    /// Live tables by file number.
    pub files: BTreeMap<u64, FileMeta>,
    /// The next unallocated file number (tables, WAL segments and manifests share one counter).
    pub next_file_number: u64,
    /// The largest sequence number recorded as durable.
    pub last_seqno: u64,
    /// WAL segments numbered below this are no longer needed.
    pub log_number: u64,
    /// Number of the manifest file this state was read from / is logged to.
    pub manifest_number: u64,
    /// Live keyspaces other than `default` (id 0, which always exists), by id.
    pub keyspaces: BTreeMap<u32, KeyspaceDef>,
    /// Per keyspace (0 included): WAL entries at or below this seqno are in tables.
    pub flushed: BTreeMap<u32, u64>,
    /// The next unallocated keyspace id (at least 1; ids are never reused).
    pub next_keyspace_id: u32,
}

impl ManifestState {
    /// Applies `edit`: deletions first, then additions; the counters take the larger of the old
    /// and the edit's value. On error the state is unchanged.
    ///
    /// # Errors
    /// [`Error::Corruption`] (file "version edit", offset 0) if the edit deletes a table that is
    /// not live or not in the given level, deletes or adds a number twice, adds a number that is
    /// already live, or carries invalid table metadata. Replay relabels it with the manifest file
    /// and record offset.
    pub fn apply(&mut self, edit: &VersionEdit) -> Result<()> {
        self.check(edit)
            .map_err(|reason| Error::corruption("version edit", 0, reason))?;
        self.apply_checked(edit);
        Ok(())
    }

    /// Whether `edit` can be applied to this state; `Err` says why not. Does not change `self`.
    pub(crate) fn check(&self, edit: &VersionEdit) -> std::result::Result<(), String> {
        let (created, dropped) = self.check_keyspaces(edit)?;
        let live_ks = |id: u32| id == 0 || self.keyspaces.contains_key(&id) || created.contains(&id);
        let mut deleted = BTreeSet::new();
        for &(level, number) in &edit.deleted {
            match self.files.get(&number) {
                None => return Err(format!("deletes file {number}, which is not live")),
                Some(f) if f.level != level => {
                    return Err(format!(
                        "deletes file {number} from level {level}, but it is in level {}",
                        f.level
                    ));
                }
                Some(_) => {}
            }
            if !deleted.insert(number) {
                return Err(format!("deletes file {number} twice"));
            }
        }
        let mut added = BTreeSet::new();
        for f in &edit.added {
            f.check()
                .map_err(|r| format!("added file {}: {r}", f.number))?;
            if self.files.contains_key(&f.number) && !deleted.contains(&f.number) {
                return Err(format!("adds file {}, which is already live", f.number));
            }
            if !added.insert(f.number) {
                return Err(format!("adds file {} twice", f.number));
            }
            if !live_ks(f.keyspace) || dropped.contains(&f.keyspace) {
                return Err(format!(
                    "adds file {} to keyspace {}, which is not live",
                    f.number, f.keyspace
                ));
            }
        }
        if !dropped.is_empty() {
            let left = self
                .files
                .values()
                .find(|f| dropped.contains(&f.keyspace) && !deleted.contains(&f.number));
            if let Some(f) = left {
                return Err(format!(
                    "drops keyspace {} but leaves its file {} live",
                    f.keyspace, f.number
                ));
            }
        }
        if let Some(seqno) = edit.last_seqno
            && seqno > MAX_SEQNO
        {
            return Err(format!("last_seqno {seqno} exceeds 56 bits"));
        }
        Ok(())
    }

    /// The keyspace part of [`Self::check`]: the ids `edit` creates and drops.
    fn check_keyspaces(
        &self,
        edit: &VersionEdit,
    ) -> std::result::Result<(BTreeSet<u32>, BTreeSet<u32>), String> {
        let mut created = BTreeSet::new();
        for k in &edit.keyspaces {
            if k.id == 0 {
                return Err("defines keyspace 0, which is implicit".into());
            }
            match self.keyspaces.get(&k.id) {
                Some(live) if live.name != k.name => {
                    return Err(format!(
                        "renames keyspace {} from {:?} to {:?}",
                        k.id, live.name, k.name
                    ));
                }
                Some(_) => {}
                None => {
                    if k.id < self.next_keyspace_id {
                        return Err(format!("creates keyspace {} with a used id", k.id));
                    }
                    let taken = k.name == crate::format::manifest::DEFAULT_KEYSPACE
                        || self.keyspaces.values().any(|d| d.name == k.name)
                        || edit
                            .keyspaces
                            .iter()
                            .any(|d| d.name == k.name && d.id != k.id);
                    if taken {
                        return Err(format!("keyspace name {:?} is taken", k.name));
                    }
                }
            }
            created.insert(k.id);
        }
        let mut dropped = BTreeSet::new();
        for &id in &edit.dropped_keyspaces {
            if id == 0 || !self.keyspaces.contains_key(&id) || !dropped.insert(id) {
                return Err(format!("drops keyspace {id}, which is not a live keyspace"));
            }
        }
        for &(id, _) in &edit.flushed {
            let live = id == 0 || self.keyspaces.contains_key(&id) || created.contains(&id);
            if !live || dropped.contains(&id) {
                return Err(format!("flushed seqno for keyspace {id}, which is not live"));
            }
        }
        Ok((created, dropped))
    }

    /// Applies an edit that [`Self::check`] accepted.
    pub(crate) fn apply_checked(&mut self, edit: &VersionEdit) {
        for k in &edit.keyspaces {
            self.next_keyspace_id = self.next_keyspace_id.max(k.id.saturating_add(1));
            self.keyspaces.insert(k.id, k.clone());
        }
        for id in &edit.dropped_keyspaces {
            self.keyspaces.remove(id);
            self.flushed.remove(id);
        }
        for &(id, seqno) in &edit.flushed {
            let f = self.flushed.entry(id).or_insert(0);
            *f = (*f).max(seqno);
        }
        if let Some(n) = edit.next_keyspace_id {
            self.next_keyspace_id = self.next_keyspace_id.max(n);
        }
        for (_, number) in &edit.deleted {
            self.files.remove(number);
        }
        for f in &edit.added {
            self.next_file_number = self.next_file_number.max(f.number.saturating_add(1));
            self.files.insert(f.number, f.clone());
        }
        if let Some(n) = edit.next_file_number {
            self.next_file_number = self.next_file_number.max(n);
        }
        if let Some(s) = edit.last_seqno {
            self.last_seqno = self.last_seqno.max(s);
        }
        if let Some(n) = edit.log_number {
            self.log_number = self.log_number.max(n);
        }
    }

    /// An edit that, applied to an empty state, reproduces this one (except `manifest_number`,
    /// which is the file's own name): every live table in number order and all three counters.
    pub fn snapshot_edit(&self) -> VersionEdit {
        VersionEdit {
            added: self.files.values().cloned().collect(),
            deleted: Vec::new(),
            next_file_number: Some(self.next_file_number),
            last_seqno: Some(self.last_seqno),
            log_number: Some(self.log_number),
            keyspaces: self.keyspaces.values().cloned().collect(),
            dropped_keyspaces: Vec::new(),
            flushed: self.flushed.iter().map(|(k, v)| (*k, *v)).collect(),
            next_keyspace_id: (self.next_keyspace_id > 1).then_some(self.next_keyspace_id),
        }
    }

    /// Live tables of one level, in file-number order.
    #[cfg(any(test, feature = "internal"))]
    pub fn level_files(&self, level: u32) -> impl Iterator<Item = &FileMeta> + '_ {
        self.files.values().filter(move |f| f.level == level)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)]
mod tests {
    use super::*;
    use crate::manifest::edit::test_meta as meta;

    #[test]
    fn apply_adds_deletes_and_raises_counters() {
        let mut s = ManifestState::default();
        s.apply(&VersionEdit {
            added: vec![meta(5, 0, b"a", b"c"), meta(6, 0, b"d", b"f")],
            last_seqno: Some(10),
            log_number: Some(4),
            ..VersionEdit::default()
        })
        .unwrap();
        assert_eq!(s.next_file_number, 7);
        // Trivial move of 5 to level 1, compaction of 6 into 8.
        s.apply(&VersionEdit {
            deleted: vec![(0, 5), (0, 6)],
            added: vec![meta(5, 1, b"a", b"c"), meta(8, 1, b"d", b"f")],
            next_file_number: Some(3),
            last_seqno: Some(2),
            log_number: Some(9),
            ..VersionEdit::default()
        })
        .unwrap();
        assert_eq!(s.files.keys().copied().collect::<Vec<_>>(), vec![5, 8]);
        assert_eq!(s.level_files(1).count(), 2);
        assert_eq!((s.next_file_number, s.last_seqno, s.log_number), (9, 10, 9));

        let mut rebuilt = ManifestState::default();
        rebuilt.apply(&s.snapshot_edit()).unwrap();
        assert_eq!(rebuilt, s);
    }

    #[test]
    fn invalid_edits_leave_state_unchanged() {
        let mut s = ManifestState::default();
        s.apply(&VersionEdit {
            added: vec![meta(5, 0, b"a", b"c")],
            ..VersionEdit::default()
        })
        .unwrap();
        let before = s.clone();
        let bad = [
            VersionEdit {
                added: vec![meta(5, 0, b"a", b"c")],
                ..VersionEdit::default()
            },
            VersionEdit {
                deleted: vec![(0, 9)],
                ..VersionEdit::default()
            },
            VersionEdit {
                deleted: vec![(2, 5)],
                ..VersionEdit::default()
            },
            VersionEdit {
                deleted: vec![(0, 5), (0, 5)],
                ..VersionEdit::default()
            },
            VersionEdit {
                added: vec![meta(7, 0, b"a", b"c"), meta(7, 1, b"a", b"c")],
                ..VersionEdit::default()
            },
            VersionEdit {
                // Valid first part, invalid second part: nothing may be applied.
                added: vec![meta(8, 0, b"a", b"c"), meta(9, 0, b"z", b"a")],
                last_seqno: Some(100),
                ..VersionEdit::default()
            },
            VersionEdit {
                last_seqno: Some(MAX_SEQNO + 1),
                ..VersionEdit::default()
            },
        ];
        for e in &bad {
            let err = s.apply(e).unwrap_err();
            assert!(err.is_corruption(), "{err}");
            assert_eq!(s, before);
        }
    }
}
