//! `lsmkv verify DIR`: checks the manifest, every live SSTable and every WAL segment still
//! needed, without opening the database (which would write to it), and reports every problem.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use serde::Serialize;

use super::Problem;
use super::manifest::{ManifestDump, dump_manifest};
use super::sst::{SstOptions, dump_sst};
use super::wal::{WalOptions, dump_wal};
use crate::format::files::{self, FileKind};
use crate::key::decode_internal;
use crate::manifest::FileMeta;

/// The verdict on one file.
#[derive(Debug, Clone, Serialize)]
pub struct FileCheck {
    /// The file checked.
    pub file: PathBuf,
    /// `manifest`, `sst` or `wal`.
    pub kind: String,
    /// True when no problem was found in it.
    pub ok: bool,
    /// A one-line summary (entries, records, tail).
    pub detail: String,
}

/// The result of [`verify_dir`].
#[derive(Debug, Clone, Serialize)]
pub struct VerifyReport {
    /// The database directory checked.
    pub dir: PathBuf,
    /// The verdict on each file checked, manifest first.
    pub files: Vec<FileCheck>,
    /// Every problem found; empty when the database is healthy.
    pub problems: Vec<Problem>,
    /// Facts worth knowing that are not damage (a torn WAL tail, files no version references).
    pub notes: Vec<String>,
}

impl VerifyReport {
    /// True when no problem was found.
    pub fn ok(&self) -> bool {
        self.problems.is_empty()
    }
}

/// Checks the database in `dir`. `progress` is called with (files done, files total) after each
/// file. Reads only; never fails (an unreadable directory is a problem in the report).
pub fn verify_dir(dir: &Path, progress: &mut dyn FnMut(u64, u64)) -> VerifyReport {
    let mut report = VerifyReport {
        dir: dir.to_path_buf(),
        files: Vec::new(),
        problems: Vec::new(),
        notes: Vec::new(),
    };
    let names = match list_names(dir) {
        Ok(names) => names,
        Err(p) => {
            report.problems.push(p);
            return report;
        }
    };
    let m = check_manifest(dir, &mut report);
    let live: Vec<FileMeta> = m
        .raw_state
        .as_ref()
        .map(|s| s.files.values().cloned().collect())
        .unwrap_or_default();
    if let Some(state) = &m.raw_state {
        let manifest_file = m
            .manifest
            .clone()
            .unwrap_or_else(|| dir.join(files::CURRENT));
        let known: BTreeSet<u32> = state.keyspaces.keys().copied().chain([0]).collect();
        for reason in cross_file_problems(&live, state.last_seqno, &known) {
            report.problems.push(Problem::whole(&manifest_file, reason));
        }
    }
    let log_number = m.raw_state.as_ref().map_or(0, |s| s.log_number);
    let wals = needed_wals(&names, log_number);
    let total = (live.len() + wals.len()) as u64;
    let mut done = 0u64;
    for meta in &live {
        check_table(dir, meta, &mut report);
        done += 1;
        progress(done, total);
    }
    let last_wal = wals.last().copied();
    for &n in &wals {
        check_wal(dir, n, Some(n) == last_wal, &mut report);
        done += 1;
        progress(done, total);
    }
    if m.raw_state.is_some() {
        note_unreferenced_tables(&names, &live, &mut report);
    }
    report
}

/// The database files in `dir`, by kind and number.
fn list_names(dir: &Path) -> Result<Vec<FileKind>, Problem> {
    match std::fs::read_dir(dir) {
        Ok(entries) => Ok(entries
            .flatten()
            .filter_map(|e| e.file_name().into_string().ok())
            .filter_map(|n| files::parse_name(&n))
            .collect()),
        Err(e) => Err(Problem::whole(
            dir,
            format!("cannot list the directory: {e}"),
        )),
    }
}

/// Checks the manifest (its verdict, a torn-tail note and its problems go into `report`) and
/// returns its dump, whose replayed state names the live files.
fn check_manifest(dir: &Path, report: &mut VerifyReport) -> ManifestDump {
    let m = dump_manifest(dir);
    let manifest_file = m
        .manifest
        .clone()
        .unwrap_or_else(|| dir.join(files::CURRENT));
    report.files.push(FileCheck {
        file: manifest_file,
        kind: "manifest".into(),
        ok: m.problems.is_empty(),
        detail: format!(
            "{} edits{}",
            m.edits.len(),
            m.torn_at
                .map(|o| format!(", torn last record at {o} (dropped at open)"))
                .unwrap_or_default()
        ),
    });
    if let Some(o) = m.torn_at {
        report.notes.push(format!(
            "the manifest's last record (offset {o}) is torn; opening the database drops it"
        ));
    }
    report.problems.extend(m.problems.iter().cloned());
    m
}

/// The WAL segments recovery would replay (numbered `log_number` or above), oldest first.
fn needed_wals(names: &[FileKind], log_number: u64) -> Vec<u64> {
    let mut wals: Vec<u64> = names
        .iter()
        .filter_map(|k| match k {
            FileKind::Wal(n) if *n >= log_number => Some(*n),
            _ => None,
        })
        .collect();
    wals.sort_unstable();
    wals
}

/// Checks WAL segment `n` (`newest`: the last one); a torn tail is a note, not a problem.
fn check_wal(dir: &Path, n: u64, newest: bool, report: &mut VerifyReport) {
    let path = dir.join(files::wal_name(n));
    let d = dump_wal(
        &path,
        WalOptions {
            entries: false,
            value_preview_bytes: 0,
        },
    );
    if d.tail.kind == "torn" {
        let at = d.tail.offset.unwrap_or(0);
        let where_ = if newest {
            "the newest segment"
        } else {
            "an older segment"
        };
        report.notes.push(format!(
            "{} ({where_}) ends in a torn write at offset {at}; recovery drops those {} bytes",
            path.display(),
            d.tail.bytes_after.unwrap_or(0)
        ));
    }
    let mut problems = d.problems;
    let has_seals = d
        .format_version
        .is_some_and(|v| v >= crate::wal::WAL_SEAL_VERSION);
    if !newest && has_seals && problems.is_empty() && d.tail.kind != "sealed" {
        // Recovery refuses it: a finished segment without its seal was cut short.
        let at = d.tail.offset.unwrap_or(d.file_size);
        problems.push(Problem::at(
            &path,
            at,
            "WAL segment has no seal but a later segment exists: it was cut short and records at its end may be missing",
        ));
    }
    report.files.push(FileCheck {
        file: path,
        kind: "wal".into(),
        ok: problems.is_empty(),
        detail: format!(
            "{} records, {} entries, tail {}",
            d.record_count, d.entry_count, d.tail.kind
        ),
    });
    report.problems.extend(problems);
}

/// Notes every SSTable in the directory that the manifest does not reference.
fn note_unreferenced_tables(names: &[FileKind], live: &[FileMeta], report: &mut VerifyReport) {
    let live_numbers: BTreeSet<u64> = live.iter().map(|f| f.number).collect();
    for k in names {
        if let FileKind::Sst(n) = k
            && !live_numbers.contains(n)
        {
            report.notes.push(format!(
                "{} is not referenced by the manifest (left over; deleted at open)",
                files::sst_name(*n)
            ));
        }
    }
}

/// Checks one live table: present, the size the manifest records, every checksum, and metadata
/// that agrees with the manifest.
fn check_table(dir: &Path, meta: &FileMeta, report: &mut VerifyReport) {
    let path = dir.join(files::sst_name(meta.number));
    if !path.exists() {
        report.problems.push(Problem::whole(
            &path,
            format!("live table (level {}) is missing", meta.level),
        ));
        report.files.push(FileCheck {
            file: path,
            kind: "sst".into(),
            ok: false,
            detail: "missing".into(),
        });
        return;
    }
    let d = dump_sst(&path, SstOptions::default());
    let mut problems = d.problems;
    if d.file_size != meta.file_size && d.file_size != 0 {
        problems.push(Problem::whole(
            &path,
            format!(
                "file is {} bytes but the manifest records {}",
                d.file_size, meta.file_size
            ),
        ));
    }
    if let Some(m) = &d.meta {
        if m.entries != meta.entries || m.tombstones != meta.tombstones {
            problems.push(Problem::whole(
                &path,
                format!(
                    "table holds {} entries ({} tombstones) but the manifest records {} ({})",
                    m.entries, m.tombstones, meta.entries, meta.tombstones
                ),
            ));
        }
        let user = |k: &[u8]| decode_internal(k).map(|(u, _)| super::show(u));
        if m.smallest_key != user(&meta.smallest_key) || m.largest_key != user(&meta.largest_key) {
            problems.push(Problem::whole(
                &path,
                "table key range differs from the manifest's",
            ));
        }
    }
    let entries = d.meta.as_ref().map_or(0, |m| m.entries);
    let blocks = d.data.as_ref().map_or(0, |s| s.blocks);
    report.files.push(FileCheck {
        file: path,
        kind: "sst".into(),
        ok: problems.is_empty(),
        detail: format!("level {}, {entries} entries, {blocks} blocks", meta.level),
    });
    report.problems.extend(problems);
}

/// Invariants that hold between the live tables and the manifest, beyond each file on its own:
/// per keyspace, every level from 1 down holds one sorted run (tables in key order, no two
/// overlapping); no table holds a seqno above the manifest's last seqno; every table belongs to
/// a keyspace the manifest knows (`known`, `default` included). Returns what is wrong.
pub(crate) fn cross_file_problems(
    live: &[FileMeta],
    last_seqno: u64,
    known: &BTreeSet<u32>,
) -> Vec<String> {
    let mut problems = Vec::new();
    for f in live {
        let name = files::sst_name(f.number);
        if f.max_seqno > last_seqno {
            problems.push(format!(
                "{name} holds seqno {} but the manifest's last seqno is {last_seqno}",
                f.max_seqno
            ));
        }
        if !known.contains(&f.keyspace) {
            problems.push(format!(
                "{name} belongs to keyspace id {}, which the manifest does not know",
                f.keyspace
            ));
        }
    }
    let user = |k: &[u8]| {
        decode_internal(k)
            .map(|(u, _)| u.to_vec())
            .unwrap_or_default()
    };
    // (keyspace, level) -> (smallest user key, largest user key, file number) of each table.
    type Run = Vec<(Vec<u8>, Vec<u8>, u64)>;
    let mut runs: std::collections::BTreeMap<(u32, u32), Run> = Default::default();
    for f in live.iter().filter(|f| f.level >= 1) {
        runs.entry((f.keyspace, f.level)).or_default().push((
            user(&f.smallest_key),
            user(&f.largest_key),
            f.number,
        ));
    }
    for ((ks, level), mut tables) in runs {
        tables.sort();
        for pair in tables.windows(2) {
            let [(_, a_hi, a), (b_lo, _, b)] = pair else {
                continue;
            };
            // A range tombstone's exclusive end may equal the next table's first key.
            if a_hi > b_lo {
                problems.push(format!(
                    "level {level} of keyspace id {ks}: {} and {} overlap",
                    files::sst_name(*a),
                    files::sst_name(*b)
                ));
            }
        }
    }
    problems
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::ValueKind;
    use crate::key::{encode_internal, pack_trailer};
    use crate::sstable::TableSummary;

    fn table(
        number: u64,
        keyspace: u32,
        level: u32,
        keys: (&str, &str),
        seqnos: (u64, u64),
    ) -> FileMeta {
        let ik = |k: &str, s| encode_internal(k.as_bytes(), pack_trailer(s, ValueKind::Put));
        FileMeta {
            number,
            keyspace,
            level,
            summary: TableSummary {
                file_size: 100,
                entries: 2,
                tombstones: 0,
                smallest_key: ik(keys.0, seqnos.0),
                largest_key: ik(keys.1, seqnos.1),
                min_seqno: seqnos.0,
                max_seqno: seqnos.1,
            },
        }
    }

    #[test]
    fn cross_file_invariants() {
        let known = BTreeSet::from([0, 1]);
        let good = vec![
            table(1, 0, 0, ("a", "z"), (20, 30)),
            table(2, 0, 0, ("b", "c"), (31, 32)),
            table(3, 0, 1, ("a", "f"), (1, 10)),
            table(4, 0, 1, ("f", "k"), (2, 9)),
            table(5, 1, 1, ("a", "z"), (11, 12)),
        ];
        assert_eq!(cross_file_problems(&good, 32, &known), Vec::<String>::new());

        let overlap = vec![
            table(3, 0, 2, ("a", "g"), (1, 10)),
            table(4, 0, 2, ("f", "k"), (2, 9)),
        ];
        let p = cross_file_problems(&overlap, 32, &known);
        assert!(p.len() == 1 && p[0].contains("overlap"), "{p:?}");

        let p = cross_file_problems(&good, 31, &known);
        assert!(p.len() == 1 && p[0].contains("last seqno is 31"), "{p:?}");

        let stray = vec![table(9, 7, 1, ("a", "b"), (1, 1))];
        let p = cross_file_problems(&stray, 32, &known);
        assert!(p.len() == 1 && p[0].contains("keyspace id 7"), "{p:?}");
    }
}
