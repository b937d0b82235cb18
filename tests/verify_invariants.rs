//! `Db::verify` and `lsmkv verify` (`debug::verify::verify_dir`) check what holds between files,
//! not only each file: the manifest against the tables in the directory (missing, size), every
//! level from 1 down one sorted run, seqnos within the manifest's, keyspaces the manifest knows
//! (the last three are unit-tested on crafted manifests in `src/debug/verify.rs`). A checkpoint
//! of a verified database verifies. Deliberately broken directories fail with the damage named.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::path::{Path, PathBuf};

use lsmkv::debug::verify::verify_dir;
use lsmkv::{CompactionStrategy, Db};

/// A database with tables in several levels of two keyspaces, closed.
fn build(dir: &Path) {
    let db = Db::open(
        dir,
        common::opts::compaction_heavy(CompactionStrategy::Leveled),
    )
    .unwrap();
    let side = db.keyspace("side").unwrap();
    for i in 0..3000u32 {
        db.put(format!("k{:05}", (i * 7919) % 3000), format!("v{i}"))
            .unwrap();
        if i % 3 == 0 {
            side.put(format!("s{i:05}"), "x").unwrap();
        }
    }
    db.flush().unwrap();
    db.compact().unwrap();
    db.verify().unwrap();
    assert!(
        db.tables().iter().any(|t| t.level >= 1),
        "the test needs tables below level 0"
    );
    db.close().unwrap();
}

fn tables(dir: &Path) -> Vec<PathBuf> {
    common::dir::files_with_ext(dir, "sst")
}

fn problems(dir: &Path) -> Vec<String> {
    verify_dir(dir, &mut |_, _| {})
        .problems
        .iter()
        .map(|p| format!("{}: {}", p.file.display(), p.reason))
        .collect()
}

#[test]
fn a_checkpoint_of_a_verified_database_verifies() {
    let dir = common::dir::tempdir();
    build(dir.path());
    assert_eq!(problems(dir.path()), Vec::<String>::new());
    let db = Db::open(dir.path(), common::opts::no_sync()).unwrap();
    db.verify().unwrap();
    let ckpt = dir.path().join("ckpt");
    db.checkpoint(&ckpt).unwrap();
    assert_eq!(problems(&ckpt), Vec::<String>::new());
    let copy = Db::open(&ckpt, common::opts::no_sync()).unwrap();
    copy.verify().unwrap();
    assert_eq!(copy.get("k00001").unwrap(), db.get("k00001").unwrap());
}

#[test]
fn a_missing_table_fails_both_checks() {
    let dir = common::dir::tempdir();
    build(dir.path());
    let db = Db::open(dir.path(), common::opts::no_sync()).unwrap();
    let victim = tables(dir.path()).pop().unwrap();
    std::fs::remove_file(&victim).unwrap();
    // The open database still maps it: only the directory tells.
    let err = db.verify().unwrap_err().to_string();
    let name = victim.file_name().unwrap().to_string_lossy().to_string();
    assert!(err.contains(&name) && err.contains("missing"), "{err}");
    drop(db);
    let p = problems(dir.path());
    assert!(
        p.iter().any(|p| p.contains(&name) && p.contains("missing")),
        "{p:?}"
    );
}

#[test]
fn a_table_of_the_wrong_size_fails_verify_dir() {
    let dir = common::dir::tempdir();
    build(dir.path());
    let victim = tables(dir.path()).remove(0);
    let mut bytes = std::fs::read(&victim).unwrap();
    bytes.extend_from_slice(b"trailing garbage");
    std::fs::write(&victim, bytes).unwrap();
    let p = problems(dir.path());
    assert!(p.iter().any(|p| p.contains("manifest records")), "{p:?}");
}

#[test]
fn a_table_the_manifest_does_not_name_is_a_note_not_a_problem() {
    let dir = common::dir::tempdir();
    build(dir.path());
    let t = tables(dir.path()).remove(0);
    std::fs::copy(&t, dir.path().join("999999.sst")).unwrap();
    let r = verify_dir(dir.path(), &mut |_, _| {});
    assert!(r.ok(), "{:?}", r.problems);
    assert!(
        r.notes.iter().any(|n| n.contains("999999.sst")),
        "{:?}",
        r.notes
    );
}
