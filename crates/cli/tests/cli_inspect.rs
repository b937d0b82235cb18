//! `lsmkv inspect sst|wal|manifest` and `lsmkv verify` on healthy files and on files with a
//! flipped byte: every problem is reported with file and offset, the exit status is 3 when
//! anything is damaged, and the tools never write to the database directory.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Output;

use lsmkv::{Db, Options, SyncMode};

use common::{lsmkv_without, output_in_temp_dir};

fn lsmkv(args: &[&str]) -> Output {
    output_in_temp_dir(lsmkv_without(&["DATA_DIR"]).args(args))
}

fn text(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// A database with three flushed tables (small blocks, so each has several) and unflushed
/// writes in the WAL.
fn make_db(dir: &Path) {
    let opts = Options {
        block_size: 256,
        sync_mode: SyncMode::None,
        ..Options::default()
    };
    let db = Db::open(dir, opts).unwrap();
    for t in 0..3 {
        for i in 0..100 {
            db.put(
                format!("key{t}-{i:03}"),
                format!("value {i} {}", "x".repeat(30)),
            )
            .unwrap();
        }
        db.delete(format!("key{t}-000")).unwrap();
        db.flush().unwrap();
    }
    for i in 0..10 {
        db.put(format!("wal-{i}"), "in the log").unwrap();
    }
    db.close().unwrap();
}

fn files_with(dir: &Path, ext: &str) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == ext))
        .collect();
    v.sort();
    v
}

/// Every file's name and bytes: the tools must leave this unchanged.
fn snapshot(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            (
                e.file_name().into_string().unwrap(),
                std::fs::read(e.path()).unwrap(),
            )
        })
        .collect()
}

fn flip(path: &Path, offset: usize) {
    let mut data = std::fs::read(path).unwrap();
    data[offset] ^= 0x10;
    std::fs::write(path, data).unwrap();
}

#[test]
fn healthy_database_inspects_and_verifies_clean_without_writing() {
    let d = tempfile::tempdir().unwrap();
    make_db(d.path());
    let before = snapshot(d.path());
    let dir = d.path().to_str().unwrap();

    let ssts = files_with(d.path(), "sst");
    assert_eq!(ssts.len(), 3);
    let sst = ssts[0].to_str().unwrap();
    let o = lsmkv(&["inspect", "sst", sst, "--blocks", "--keys"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let t = text(&o);
    for want in [
        "footer at",
        "meta: 101 entries (1 tombstones, 100 distinct keys)",
        "filter: fastbloom",
        "bits/key",
        "index:",
        "ratio",
        "problems: none",
    ] {
        assert!(t.contains(want), "missing {want:?} in\n{t}");
    }
    assert!(t.contains("delete \"key0-000\""), "{t}");
    let j: serde_json::Value = serde_json::from_str(&text(&lsmkv(&[
        "--json", "inspect", "sst", sst, "--blocks",
    ])))
    .unwrap();
    assert!(j["blocks"].as_array().unwrap().len() > 3, "{j}");
    assert_eq!(j["meta"]["entries"], 101);

    let wals = files_with(d.path(), "wal");
    let wal = wals.last().unwrap().to_str().unwrap();
    let o = lsmkv(&["inspect", "wal", wal]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let t = text(&o);
    assert!(
        t.contains("records: 10, entries: 10") && t.contains("put    \"wal-3\" \"in the log\""),
        "{t}"
    );
    assert!(t.contains("tail: clean"), "{t}");

    let o = lsmkv(&["--data-dir", dir, "inspect", "manifest"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let t = text(&o);
    assert!(
        t.contains("CURRENT: MANIFEST-") && t.contains("L0: 3 files"),
        "{t}"
    );

    let o = lsmkv(&["verify", dir]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(text(&o).contains("no problems"), "{}", text(&o));
    let j: serde_json::Value =
        serde_json::from_str(&text(&lsmkv(&["--json", "verify", dir]))).unwrap();
    assert_eq!(j["problems"].as_array().unwrap().len(), 0);
    assert!(j["files"].as_array().unwrap().len() >= 5, "{j}");

    assert_eq!(
        snapshot(d.path()),
        before,
        "inspection changed the directory"
    );
}

#[test]
fn a_flipped_byte_in_an_sstable_is_reported_with_file_and_offset() {
    let d = tempfile::tempdir().unwrap();
    make_db(d.path());
    let ssts = files_with(d.path(), "sst");
    let victim = &ssts[1];
    flip(victim, 300); // inside the second data block
    let before = snapshot(d.path());
    let dir = d.path().to_str().unwrap();

    let o = lsmkv(&["verify", dir]);
    assert_eq!(o.status.code(), Some(3), "{}", text(&o));
    let t = text(&o);
    let name = victim.file_name().unwrap().to_str().unwrap();
    let line = t
        .lines()
        .find(|l| l.contains(name) && l.contains("at offset"))
        .unwrap_or_else(|| panic!("no problem line for {name}:\n{t}"));
    assert!(line.contains("checksum"), "{line}");
    assert!(t.contains(&format!("CORRUPT {}", victim.display())), "{t}");

    let j: serde_json::Value =
        serde_json::from_str(&text(&lsmkv(&["--json", "verify", dir]))).unwrap();
    let p = &j["problems"][0];
    assert!(p["file"].as_str().unwrap().ends_with(name));
    let offset = p["offset"].as_u64().unwrap();
    assert!((256..400).contains(&offset), "offset {offset}");

    let o = lsmkv(&["inspect", "sst", victim.to_str().unwrap(), "--blocks"]);
    assert_eq!(o.status.code(), Some(3));
    let t = text(&o);
    assert!(t.contains("DAMAGED") && t.contains("problems: 1"), "{t}");
    // The other blocks are still listed.
    assert!(
        t.matches("none  ").count() + t.matches("lz4  ").count() > 2,
        "{t}"
    );

    assert_eq!(snapshot(d.path()), before, "verify changed the directory");
}

#[test]
fn damaged_footer_wal_and_manifest_are_reported() {
    let d = tempfile::tempdir().unwrap();
    make_db(d.path());
    let dir = d.path().to_str().unwrap();

    // Footer of one table, middle of the WAL, and one manifest record.
    let ssts = files_with(d.path(), "sst");
    let len = std::fs::metadata(&ssts[0]).unwrap().len() as usize;
    flip(&ssts[0], len - 10);
    let wal = files_with(d.path(), "wal").pop().unwrap();
    flip(&wal, 60);
    let manifest = std::fs::read_dir(d.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| {
            p.file_name()
                .unwrap()
                .to_str()
                .unwrap()
                .starts_with("MANIFEST-")
        })
        .unwrap();
    flip(&manifest, 20);

    let o = lsmkv(&["verify", dir]);
    assert_eq!(o.status.code(), Some(3), "{}", text(&o));
    let j: serde_json::Value =
        serde_json::from_str(&text(&lsmkv(&["--json", "verify", dir]))).unwrap();
    let files: Vec<String> = j["problems"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["file"].as_str().unwrap().to_string())
        .collect();
    // With the manifest damaged, the live set is unknown: the WAL is still checked.
    assert!(files.iter().any(|f| f.contains("MANIFEST-")), "{files:?}");
    assert!(files.iter().any(|f| f.ends_with(".wal")), "{files:?}");

    let o = lsmkv(&["inspect", "sst", ssts[0].to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(3));
    assert!(text(&o).contains("footer"), "{}", text(&o));

    let o = lsmkv(&["inspect", "wal", wal.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(3));
    let t = text(&o);
    assert!(
        t.contains("tail: corrupt at offset") && t.contains("followed by a valid record"),
        "{t}"
    );

    let o = lsmkv(&["inspect", "manifest", dir]);
    assert_eq!(o.status.code(), Some(3));
}

#[test]
fn torn_wal_tail_is_shown_but_is_not_corruption() {
    let d = tempfile::tempdir().unwrap();
    make_db(d.path());
    let wal = files_with(d.path(), "wal").pop().unwrap();
    let len = std::fs::metadata(&wal).unwrap().len();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&wal)
        .unwrap()
        .set_len(len - 5)
        .unwrap();
    let o = lsmkv(&["inspect", "wal", wal.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0));
    assert!(text(&o).contains("records: 9") && text(&o).contains("tail: torn write at offset"));
    let o = lsmkv(&["verify", d.path().to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(
        text(&o).contains("note:") && text(&o).contains("torn write"),
        "{}",
        text(&o)
    );
}

#[test]
fn a_missing_live_table_is_reported() {
    let d = tempfile::tempdir().unwrap();
    make_db(d.path());
    let ssts = files_with(d.path(), "sst");
    std::fs::remove_file(&ssts[2]).unwrap();
    let o = lsmkv(&["verify", d.path().to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(3));
    assert!(text(&o).contains("is missing"), "{}", text(&o));
}

#[test]
fn unreadable_inputs_are_problems_not_crashes() {
    let d = tempfile::tempdir().unwrap();
    let junk = d.path().join("junk.sst");
    std::fs::write(&junk, b"not a table").unwrap();
    let o = lsmkv(&["inspect", "sst", junk.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(3));
}

#[test]
fn a_missing_path_is_status_5_not_corruption() {
    let d = tempfile::tempdir().unwrap();
    let absent = d.path().join("absent.sst");
    let nothing = d.path().join("nothing");
    for args in [
        vec!["inspect", "sst", absent.to_str().unwrap()],
        vec!["inspect", "wal", absent.to_str().unwrap()],
        vec!["inspect", "manifest", nothing.to_str().unwrap()],
        vec!["verify", nothing.to_str().unwrap()],
        vec!["--json", "verify", nothing.to_str().unwrap()],
    ] {
        let o = lsmkv(&args);
        let stderr = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(5), "{args:?}: {stderr}");
        assert!(stderr.contains("no such file or directory"), "{stderr}");
        assert!(o.stdout.is_empty(), "{args:?}");
    }
}

#[test]
fn inspect_manifest_file_finds_current_in_its_directory() {
    let d = tempfile::tempdir().unwrap();
    make_db(d.path());
    let current = std::fs::read_to_string(d.path().join("CURRENT")).unwrap();
    let name = current.trim_end();
    let o = lsmkv(&["inspect", "manifest", d.path().join(name).to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(
        text(&o).contains(&format!("CURRENT: {name}\n")),
        "{}",
        text(&o)
    );
}

/// An older WAL segment (kept because keyspace `default` is not flushed) ends with its seal:
/// `inspect wal` shows it; cut at a record boundary, the seal is gone and `verify` reports the
/// segment (recovery would refuse it), while `inspect wal` alone, which sees one file, does not.
#[test]
fn sealed_older_wal_segment_is_shown_and_a_cut_one_is_reported() {
    let d = tempfile::tempdir().unwrap();
    let opts = Options {
        sync_mode: SyncMode::None,
        ..Options::default()
    };
    let db = Db::open(d.path(), opts).unwrap();
    let other = db.keyspace("other").unwrap();
    for i in 0..5 {
        db.put(format!("a{i}"), "in the older segment").unwrap();
    }
    other.put("o", "flushed").unwrap();
    other.flush().unwrap();
    drop(other);
    db.close().unwrap();
    let wals = files_with(d.path(), "wal");
    assert_eq!(wals.len(), 2, "{wals:?}");
    let older = wals[0].to_str().unwrap();
    let o = lsmkv(&["inspect", "wal", older]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let t = text(&o);
    assert!(t.contains("format version 3"), "{t}");
    assert!(
        t.contains("tail: sealed at offset") && t.contains("its 6 records"),
        "{t}"
    );
    let o = lsmkv(&["verify", d.path().to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));

    // Cut right after the header.
    let len = std::fs::metadata(&wals[0]).unwrap().len();
    assert!(len > 24);
    std::fs::OpenOptions::new()
        .write(true)
        .open(&wals[0])
        .unwrap()
        .set_len(24)
        .unwrap();
    let t = text(&lsmkv(&["inspect", "wal", older]));
    assert!(t.contains("records: 0") && t.contains("tail: clean"), "{t}");
    let o = lsmkv(&["verify", d.path().to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(3), "{}", text(&o));
    assert!(text(&o).contains("has no seal"), "{}", text(&o));
}
