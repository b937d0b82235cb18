//! A manifest that lost its last edits (cut inside them, or zeroed) after the WAL segments those
//! edits made obsolete were deleted: the flushes they recorded are in no segment any more, so
//! `Db::open` must refuse the database with `Error::Corruption` naming the manifest instead of
//! opening it without those flushes' data. A crash cannot leave this state: segments are deleted
//! only after the edit that covers them is durable.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::path::{Path, PathBuf};

use common::dir::{copy_db_dir, tempdir};
use lsmkv::{Db, Error, Options, SyncMode};

fn options() -> Options {
    Options {
        sync_mode: SyncMode::None,
        ..Options::default()
    }
}

fn manifest(dir: &Path) -> PathBuf {
    let mut found: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("MANIFEST-"))
        })
        .collect();
    assert_eq!(found.len(), 1, "one manifest in {}", dir.display());
    found.pop().unwrap()
}

fn put_range(db: &Db, prefix: &str, n: usize) {
    for i in 0..n {
        db.put(format!("{prefix}{i:04}"), format!("value-{prefix}-{i}"))
            .unwrap();
    }
}

/// The shape that defeats the seqno continuity check: keyspace `b` writes after `default` and is
/// flushed first, which puts the manifest's last seqno past `default`'s writes; then `default`
/// is flushed (its edit raises `log_number`, and the segments holding both keyspaces' writes are
/// deleted), and later writes stay in the newest segment. Without `default`'s flush edit the
/// manifest's last seqno is still right below the surviving segment's first record. Returns the
/// length of the manifest before that edit.
fn build(dir: &Path) -> u64 {
    let db = Db::open(dir, options()).unwrap();
    let b = db.keyspace("b").unwrap();
    put_range(&db, "a", 200);
    for i in 0..200 {
        b.put(format!("b{i:04}"), "in b").unwrap();
    }
    b.flush().unwrap();
    let before_last = std::fs::metadata(manifest(dir)).unwrap().len();
    db.flush().unwrap();
    put_range(&db, "c", 50);
    db.sync().unwrap();
    drop(b);
    drop(db);
    before_last
}

fn count(dir: &Path, prefix: &str) -> usize {
    let db = Db::open(dir, options()).unwrap();
    db.prefix(prefix)
        .inspect(|kv| assert!(kv.is_ok(), "{kv:?}"))
        .count()
}

#[test]
fn the_intact_database_reopens_with_every_write() {
    let dir = tempdir();
    build(dir.path());
    assert_eq!(count(dir.path(), "a"), 200);
    assert_eq!(count(dir.path(), "c"), 50);
    let db = Db::open(dir.path(), options()).unwrap();
    assert_eq!(db.keyspace("b").unwrap().prefix("b").count(), 200);
}

#[test]
fn a_manifest_cut_inside_the_last_flush_edit_is_corruption() {
    let dir = tempdir();
    let cut = build(dir.path());
    let path = manifest(dir.path());
    let len = std::fs::metadata(&path).unwrap().len();
    assert!(cut < len, "the second flush appended an edit");
    // Every cut from the start of the lost edit to just before the manifest's end.
    for at in cut..len {
        let copy = tempdir();
        copy_db_dir(dir.path(), copy.path());
        let f = std::fs::OpenOptions::new()
            .write(true)
            .open(copy.path().join(path.file_name().unwrap()))
            .unwrap();
        f.set_len(at).unwrap();
        drop(f);
        match Db::open(copy.path(), options()) {
            Err(Error::Corruption { file, .. }) => {
                assert!(
                    file.to_string_lossy().contains("MANIFEST-"),
                    "cut at {at}: corruption names {}",
                    file.display()
                );
            }
            Err(e) => panic!("cut at {at}: unexpected error {e}"),
            Ok(db) => {
                let a = db.prefix("a").count();
                panic!("cut at {at}: opened without an error, {a} of 200 keys `a*`");
            }
        }
    }
}
