//! Tests of [`Manifest`] against real files in a temporary directory.

#![allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)]

use std::fs;

use super::edit::test_meta as meta;
use super::*;
use crate::fs::{FaultFs, FaultOp, FaultRule};

fn dir() -> tempfile::TempDir {
    tempfile::tempdir().unwrap()
}

fn manifest_files(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.starts_with("MANIFEST-"))
        .collect();
    v.sort();
    v
}

/// Logs a flush of table `n` to level 0.
fn flush_edit(m: &mut Manifest, seqno: u64) -> VersionEdit {
    let n = m.new_file_number();
    VersionEdit {
        added: vec![meta(n, 0, b"a", b"k")],
        last_seqno: Some(seqno),
        log_number: Some(n),
        ..VersionEdit::default()
    }
}

/// An edit larger than twice a new manifest's snapshot, so it triggers a rollover when the
/// threshold is 0.
fn big_edit(m: &mut Manifest) -> VersionEdit {
    let n = m.new_file_number();
    VersionEdit {
        added: vec![meta(n, 0, &[b'a'; 100], &[b'z'; 100])],
        ..VersionEdit::default()
    }
}

#[test]
fn new_database_starts_with_manifest_1() {
    let d = dir();
    let (m, s) = Manifest::open(d.path()).unwrap();
    assert_eq!(m.manifest_number(), 1);
    assert_eq!(s.next_file_number, 2);
    assert_eq!(s.manifest_number, 1);
    assert!(s.files.is_empty());
    assert_eq!(
        fs::read_to_string(d.path().join("CURRENT")).unwrap(),
        "MANIFEST-000001\n"
    );
    assert_eq!(manifest_files(d.path()), ["MANIFEST-000001"]);
    drop(m);
    let (m2, s2) = Manifest::open(d.path()).unwrap();
    assert_eq!(s2, s);
    assert_eq!(m2.state(), &s);
}

#[test]
fn log_and_reopen_gives_the_applied_state() {
    let d = dir();
    let (mut m, _) = Manifest::open(d.path()).unwrap();
    for seqno in [10, 20, 30] {
        let e = flush_edit(&mut m, seqno);
        m.log_edit(e).unwrap();
    }
    // Compaction: tables 2 and 3 into a new level-1 table; move 4 down.
    let out = m.new_file_number();
    m.log_edit(VersionEdit {
        deleted: vec![(0, 2), (0, 3), (0, 4)],
        added: vec![meta(out, 1, b"a", b"k"), meta(4, 1, b"a", b"k")],
        ..VersionEdit::default()
    })
    .unwrap();
    // Lazily allocated numbers are recorded by the next edit.
    let unrecorded = m.new_file_number();
    m.log_edit(VersionEdit::default()).unwrap();
    let expected = m.state().clone();
    assert_eq!(expected.files.keys().copied().collect::<Vec<_>>(), [4, out]);
    assert_eq!(expected.last_seqno, 30);
    assert_eq!(expected.log_number, 4);
    drop(m);
    let (m, s) = Manifest::open(d.path()).unwrap();
    assert_eq!(s, expected);
    assert!(s.next_file_number > unrecorded);
    assert_eq!(m.manifest_number(), 1);
}

#[test]
fn numbers_found_on_disk_are_not_reused() {
    let d = dir();
    let (mut m, _) = Manifest::open(d.path()).unwrap();
    m.mark_file_number_used(41);
    assert_eq!(m.new_file_number(), 42);
    m.mark_file_number_used(7);
    assert_eq!(m.new_file_number(), 43);
}

#[test]
fn rollover_keeps_state_and_removes_old_manifest() {
    let d = dir();
    let (mut m, _) = Manifest::open(d.path()).unwrap();
    m.set_rollover_bytes(300);
    let mut numbers = vec![m.manifest_number()];
    for seqno in 1..=20 {
        let e = flush_edit(&mut m, seqno);
        m.log_edit(e).unwrap();
        if numbers.last() != Some(&m.manifest_number()) {
            numbers.push(m.manifest_number());
            // The old log is gone; CURRENT names the new one.
            assert_eq!(
                manifest_files(d.path()),
                [files::manifest_name(m.manifest_number())]
            );
        }
        assert!(m.file_bytes <= 300.max(2 * m.snapshot_bytes));
    }
    assert!(numbers.len() > 2, "expected several rollovers: {numbers:?}");
    // The manifest numbers came from the shared counter and never collide with tables.
    for n in &numbers[1..] {
        assert!(!m.state().files.contains_key(n));
    }
    let expected = m.state().clone();
    assert_eq!(expected.files.len(), 20);
    drop(m);
    let (_, s) = Manifest::open(d.path()).unwrap();
    assert_eq!(s, expected);
}

#[test]
fn torn_last_record_is_dropped_and_a_new_manifest_started() {
    let d = dir();
    let (mut m, _) = Manifest::open(d.path()).unwrap();
    let e = flush_edit(&mut m, 5);
    m.log_edit(e).unwrap();
    let before_last = m.state().clone();
    let len_before_last = m.file_bytes;
    let e = flush_edit(&mut m, 6);
    m.log_edit(e).unwrap();
    drop(m);
    let path = d.path().join("MANIFEST-000001");
    let data = fs::read(&path).unwrap();
    fs::write(&path, &data[..data.len() - 3]).unwrap();

    let (mut m, s) = Manifest::open(d.path()).unwrap();
    assert!(len_before_last < data.len() as u64 - 3);
    assert_eq!(s.files, before_last.files);
    assert_eq!(s.last_seqno, 5);
    // Open changes nothing on disk: the caller may still refuse the database.
    assert_eq!(m.manifest_number(), 1);
    assert_eq!(fs::read(&path).unwrap(), &data[..data.len() - 3]);
    let e = flush_edit(&mut m, 7);
    m.log_edit(e).unwrap();
    assert_ne!(m.manifest_number(), 1, "must not append after a torn tail");
    assert_eq!(
        manifest_files(d.path()),
        [files::manifest_name(m.manifest_number())]
    );
    let expected = m.state().clone();
    drop(m);
    assert_eq!(Manifest::open(d.path()).unwrap().1, expected);
}

#[test]
fn corruption_before_the_last_record_is_reported() {
    let d = dir();
    let (mut m, _) = Manifest::open(d.path()).unwrap();
    let snapshot_end = m.file_bytes as usize;
    for seqno in [1, 2] {
        let e = flush_edit(&mut m, seqno);
        m.log_edit(e).unwrap();
    }
    drop(m);
    let path = d.path().join("MANIFEST-000001");
    let mut data = fs::read(&path).unwrap();
    data[snapshot_end + RECORD_HEADER_SIZE + 2] ^= 0x40;
    fs::write(&path, &data).unwrap();
    let err = Manifest::open(d.path()).unwrap_err();
    assert!(
        matches!(err, Error::Corruption { ref file, offset, .. }
            if file == &path && offset == snapshot_end as u64),
        "{err}"
    );
}

#[test]
fn current_naming_a_missing_manifest_is_a_clear_error() {
    let d = dir();
    drop(Manifest::open(d.path()).unwrap());
    fs::write(d.path().join("CURRENT"), "MANIFEST-000009\n").unwrap();
    let err = Manifest::open(d.path()).unwrap_err();
    assert!(err.is_corruption());
    assert!(err.to_string().contains("MANIFEST-000009"), "{err}");
    assert!(err.to_string().contains("does not exist"), "{err}");
}

#[test]
fn malformed_current_is_corruption() {
    for bad in [
        &b""[..],
        b"MANIFEST-000001",
        b"MANIFEST-1\n",
        b"000001.sst\n",
        b"\xff\xfe\n",
        &[b'M'; 100],
    ] {
        let d = dir();
        drop(Manifest::open(d.path()).unwrap());
        fs::write(d.path().join("CURRENT"), bad).unwrap();
        let err = Manifest::open(d.path()).unwrap_err();
        assert!(err.is_corruption(), "{err}");
    }
}

#[test]
fn leftover_current_tmp_is_ignored() {
    let d = dir();
    let (mut m, _) = Manifest::open(d.path()).unwrap();
    let e = flush_edit(&mut m, 3);
    m.log_edit(e).unwrap();
    let expected = m.state().clone();
    drop(m);
    // An interrupted switch to a manifest that was never completed.
    fs::write(d.path().join(CURRENT_TMP), "MANIFEST-000077\n").unwrap();
    fs::write(d.path().join("MANIFEST-000077"), b"partial").unwrap();
    let (_, s) = Manifest::open(d.path()).unwrap();
    assert_eq!(s, expected);
    assert!(!d.path().join(CURRENT_TMP).exists());
    assert_eq!(manifest_files(d.path()), ["MANIFEST-000001"]);
}

#[test]
fn missing_current_with_manifests_is_refused_unless_blank_leftover() {
    // A crash while creating the database: MANIFEST-000001 written, CURRENT not yet.
    let d = dir();
    drop(Manifest::open(d.path()).unwrap());
    fs::remove_file(d.path().join("CURRENT")).unwrap();
    assert_eq!(Manifest::open(d.path()).unwrap().0.manifest_number(), 1);
    // Same crash, manifest torn.
    fs::remove_file(d.path().join("CURRENT")).unwrap();
    fs::write(d.path().join("MANIFEST-000001"), b"LSMKV").unwrap();
    assert_eq!(Manifest::open(d.path()).unwrap().0.manifest_number(), 1);

    // CURRENT lost on a database with tables.
    let (mut m, _) = Manifest::open(d.path()).unwrap();
    let e = flush_edit(&mut m, 3);
    m.log_edit(e).unwrap();
    drop(m);
    fs::remove_file(d.path().join("CURRENT")).unwrap();
    let err = Manifest::open(d.path()).unwrap_err();
    assert!(err.is_corruption(), "{err}");
    assert!(d.path().join("MANIFEST-000001").exists());

    // CURRENT lost after a rollover.
    let d = dir();
    let (mut m, _) = Manifest::open(d.path()).unwrap();
    m.set_rollover_bytes(0);
    let e = big_edit(&mut m);
    m.log_edit(e).unwrap();
    assert_ne!(m.manifest_number(), 1);
    drop(m);
    fs::remove_file(d.path().join("CURRENT")).unwrap();
    assert!(Manifest::open(d.path()).unwrap_err().is_corruption());
}

#[test]
fn invalid_edit_is_rejected_without_writing() {
    let d = dir();
    let (mut m, _) = Manifest::open(d.path()).unwrap();
    let before = (m.state().clone(), m.file_bytes);
    let err = m
        .log_edit(VersionEdit {
            deleted: vec![(0, 99)],
            ..VersionEdit::default()
        })
        .unwrap_err();
    assert!(matches!(err, Error::InvalidArgument(_)), "{err}");
    let mut bad_meta = meta(5, 0, b"a", b"b");
    bad_meta.summary.smallest_key.clear();
    let err = m
        .log_edit(VersionEdit {
            added: vec![bad_meta],
            ..VersionEdit::default()
        })
        .unwrap_err();
    assert!(matches!(err, Error::InvalidArgument(_)), "{err}");
    assert_eq!((m.state().clone(), m.file_bytes), before);
    // Still usable.
    let e = flush_edit(&mut m, 1);
    m.log_edit(e).unwrap();
}

#[test]
fn failed_append_leaves_state_unchanged_and_poisons() {
    let d = dir();
    let ffs = FaultFs::new(crate::fs::default_fs());
    let (mut m, _) = Manifest::open_with_fs(ffs.clone(), d.path()).unwrap();
    let before = m.state().clone();
    // The append fails like on a full disk.
    let _g = ffs.inject(FaultRule::new(FaultOp::Write, 28));
    let e = flush_edit(&mut m, 1);
    let err = m.log_edit(e).unwrap_err();
    assert!(matches!(err, Error::Io { .. }), "{err}");
    let mut after = m.state().clone();
    // Only the number allocated by `flush_edit` moved.
    after.next_file_number = before.next_file_number;
    assert_eq!(after, before);
    let err = m.log_edit(VersionEdit::default()).unwrap_err();
    assert!(matches!(err, Error::Poisoned { .. }), "{err}");
}

#[test]
fn failed_rollover_leaves_state_unchanged_and_poisons() {
    let d = dir();
    let (mut m, _) = Manifest::open(d.path()).unwrap();
    m.set_rollover_bytes(0);
    m.dir = d.path().join("missing");
    let e = big_edit(&mut m);
    let before = m.state().clone();
    let err = m.log_edit(e).unwrap_err();
    assert!(matches!(err, Error::Io { .. }), "{err}");
    assert_eq!(m.state(), &before);
    assert!(matches!(
        m.log_edit(VersionEdit::default()).unwrap_err(),
        Error::Poisoned { .. }
    ));
    drop(m);
    let (_, s) = Manifest::open(d.path()).unwrap();
    assert_eq!((s.files, s.last_seqno), (before.files, before.last_seqno));
    assert_eq!(manifest_files(d.path()), ["MANIFEST-000001"]);
}

/// Every truncation of a small manifest, opened for real: the state of a prefix of the logged
/// edits, or corruption; never a panic.
#[test]
fn every_truncation_opens_to_a_prefix_or_corruption() {
    let d = dir();
    let (mut m, s0) = Manifest::open(d.path()).unwrap();
    let mut prefixes = vec![s0];
    for seqno in [1, 2] {
        let e = flush_edit(&mut m, seqno);
        m.log_edit(e).unwrap();
        prefixes.push(m.state().clone());
    }
    drop(m);
    let data = fs::read(d.path().join("MANIFEST-000001")).unwrap();
    for cut in 0..data.len() {
        let t = dir();
        fs::write(t.path().join("MANIFEST-000001"), &data[..cut]).unwrap();
        fs::write(t.path().join("CURRENT"), "MANIFEST-000001\n").unwrap();
        match Manifest::open(t.path()) {
            Ok((_, s)) => assert!(
                prefixes
                    .iter()
                    .any(|p| p.files == s.files && p.last_seqno == s.last_seqno),
                "cut {cut}: {s:?}"
            ),
            Err(e) => assert!(e.is_corruption(), "cut {cut}: {e}"),
        }
    }
}

/// The manifest of the worked example in `format-spec/manifest.md`: a new database, then a flush
/// of table 2 (keys "a"@1 .. "c"@2) that also switches to WAL segment 3.
fn golden_manifest() -> Vec<u8> {
    use crate::key::{ValueKind, encode_internal, pack_trailer};
    use crate::sstable::TableSummary;
    let d = dir();
    let (mut m, _) = Manifest::open(d.path()).unwrap();
    let table = m.new_file_number();
    let wal = m.new_file_number();
    m.log_edit(VersionEdit {
        added: vec![FileMeta {
            number: table,
            level: 0,
            keyspace: 0,
            summary: TableSummary {
                file_size: 1000,
                smallest_key: encode_internal(b"a", pack_trailer(1, ValueKind::Put)),
                largest_key: encode_internal(b"c", pack_trailer(2, ValueKind::Put)),
                min_seqno: 1,
                max_seqno: 2,
                entries: 2,
                tombstones: 0,
            },
        }],
        last_seqno: Some(2),
        log_number: Some(wal),
        ..VersionEdit::default()
    })
    .unwrap();
    fs::read(m.path()).unwrap()
}

/// `offset: hex bytes`, 16 per line, as in the spec.
fn hex_dump(data: &[u8]) -> String {
    data.chunks(16)
        .enumerate()
        .map(|(i, chunk)| {
            let bytes: Vec<String> = chunk.iter().map(|b| format!("{b:02x}")).collect();
            format!("{:04x}: {}\n", i * 16, bytes.join(" "))
        })
        .collect()
}

/// The worked example in the spec is what this code writes. `LSMKV_BLESS=1` prints the dump to
/// paste into the spec after reviewing it.
#[test]
fn spec_worked_example_matches_the_code() {
    let data = golden_manifest();
    let dump = hex_dump(&data);
    if std::env::var_os("LSMKV_BLESS").is_some() {
        println!("{dump}");
    }
    let spec = spec();
    let start = spec.find("<!-- golden:manifest -->").unwrap();
    let block = &spec[start..];
    let block = &block[block.find("```text\n").unwrap() + 8..];
    let block = &block[..block.find("```").unwrap()];
    assert_eq!(block, dump);
    // And it replays to the state the example describes.
    let edits = read_manifest(&data, Path::new("golden")).unwrap();
    assert_eq!(edits.len(), 2);
    let mut state = ManifestState::default();
    for e in &edits {
        state.apply(e).unwrap();
    }
    assert_eq!(state.files.keys().copied().collect::<Vec<_>>(), [2]);
    assert_eq!(
        (state.next_file_number, state.last_seqno, state.log_number),
        (4, 2, 3)
    );
}

fn spec() -> String {
    fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("format-spec/manifest.md"))
        .unwrap()
}

/// Rows `(offset, size, field)` of the first `| offset | size | ...` table after `heading`.
fn spec_layout(spec: &str, heading: &str) -> Vec<(usize, usize, String)> {
    let section = &spec[spec.find(heading).unwrap()..];
    let table = &section[section.find("| offset | size |").unwrap()..];
    table
        .lines()
        .skip(2)
        .take_while(|l| l.starts_with('|'))
        .map(|l| {
            let cells: Vec<&str> = l.split('|').map(str::trim).collect();
            (
                cells[1].parse().unwrap(),
                cells[2].parse().unwrap(),
                cells[4].to_string(),
            )
        })
        .collect()
}

#[test]
fn spec_layouts_and_constants_match_the_code() {
    use std::mem::{offset_of, size_of};
    let spec = spec();
    assert_eq!(
        spec_layout(&spec, "### File header"),
        [
            (offset_of!(FileHeader, magic), 8, "magic".to_string()),
            (
                offset_of!(FileHeader, format_version),
                4,
                "format_version".into()
            ),
            (offset_of!(FileHeader, header_crc), 4, "header_crc".into()),
        ]
    );
    assert_eq!(size_of::<FileHeader>(), FILE_HEADER_SIZE);
    assert_eq!(
        spec_layout(&spec, "### Record"),
        [
            (
                offset_of!(RecordHeader, payload_len),
                4,
                "payload_len".to_string()
            ),
            (
                offset_of!(RecordHeader, payload_crc),
                4,
                "payload_crc".into()
            ),
            (offset_of!(RecordHeader, header_crc), 4, "header_crc".into()),
        ]
    );
    assert_eq!(size_of::<RecordHeader>(), RECORD_HEADER_SIZE);

    // Constants table: `| name | value | code |`; the value starts with the number.
    let constant = |code: &str| -> String {
        let row = spec
            .lines()
            .find(|l| l.contains(&format!("manifest::{code}`")))
            .unwrap();
        row.split('|').nth(2).unwrap().trim().to_string()
    };
    let number = |code: &str| -> u64 {
        let v = constant(code);
        v.split(|c: char| !c.is_ascii_digit())
            .next()
            .unwrap()
            .parse()
            .unwrap()
    };
    let magic_hex: Vec<String> = MANIFEST_MAGIC.iter().map(|b| format!("{b:02x}")).collect();
    assert!(constant("MANIFEST_MAGIC").starts_with(&format!("`{}`", magic_hex.join(" "))));
    assert_eq!(
        number("MANIFEST_FORMAT_VERSION"),
        u64::from(MANIFEST_FORMAT_VERSION)
    );
    assert_eq!(number("FILE_HEADER_SIZE"), FILE_HEADER_SIZE as u64);
    assert_eq!(number("RECORD_HEADER_SIZE"), RECORD_HEADER_SIZE as u64);
    assert_eq!(number("MAX_RECORD_SIZE"), u64::from(MAX_RECORD_SIZE));
    assert_eq!(number("FIRST_MANIFEST_NUMBER"), FIRST_MANIFEST_NUMBER);
    assert_eq!(number("DEFAULT_ROLLOVER_BYTES"), DEFAULT_ROLLOVER_BYTES);
    assert!(constant("MAX_LEVELS").contains(&format!("`MAX_LEVELS` = {MAX_LEVELS}")));

    // Tag table: `| tag | NAME | ...`.
    for (value, name) in [
        (tag::NEXT_FILE_NUMBER, "NEXT_FILE_NUMBER"),
        (tag::LAST_SEQNO, "LAST_SEQNO"),
        (tag::LOG_NUMBER, "LOG_NUMBER"),
        (tag::ADDED_FILE, "ADDED_FILE"),
        (tag::DELETED_FILE, "DELETED_FILE"),
        (tag::RESERVED_COMPARATOR, "RESERVED_COMPARATOR"),
        (
            tag::RESERVED_COMPACTION_STRATEGY,
            "RESERVED_COMPACTION_STRATEGY",
        ),
    ] {
        let row = format!("| {value} | {name} |");
        assert!(spec.contains(&row), "spec lacks {row}");
    }
    assert!(spec.contains(&format!("`tag & 0x{:x} != 0`", tag::SKIPPABLE_BIT)));
}
