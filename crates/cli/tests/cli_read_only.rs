//! The reading subcommands open the database read-only: `lsmkv get` leaves the directory
//! byte-identical (no manifest edit, no new WAL segment), and `lsmkv scan` works while another
//! process (here: this test, standing in for `lsmkv-server`) has the database open for writing.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Output;

use common::{lsmkv_without, output_in_temp_dir};

fn lsmkv(dir: &Path, args: &[&str]) -> Output {
    output_in_temp_dir(
        lsmkv_without(&["DATA_DIR", "WAL_SYNC_MODE", "MEMTABLE_MAX_SIZE"])
            .arg("--data-dir")
            .arg(dir)
            .args(args),
    )
}

fn ok(o: &Output) -> String {
    assert!(
        o.status.success(),
        "status {:?}, stderr: {}",
        o.status,
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8(o.stdout.clone()).unwrap()
}

fn image(dir: &Path) -> BTreeMap<String, Vec<u8>> {
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

#[test]
fn reading_subcommands_leave_the_directory_unchanged() {
    let d = tempfile::tempdir().unwrap();
    let db = d.path().join("db");
    ok(&lsmkv(&db, &["put", "a", "1"]));
    ok(&lsmkv(&db, &["flush"]));
    ok(&lsmkv(&db, &["put", "b", "2"]));
    let before = image(&db);
    assert_eq!(ok(&lsmkv(&db, &["get", "a"])), "\"1\"\n");
    assert_eq!(ok(&lsmkv(&db, &["get", "b"])), "\"2\"\n");
    assert_eq!(lsmkv(&db, &["get", "zz"]).status.code(), Some(1));
    assert_eq!(image(&db), before, "lsmkv get changed the directory");
    for args in [
        &["scan"][..],
        &["prefix", "a"],
        &["search", "1"],
        &["count"],
        &["stats"],
        &["levels"],
        &["export"],
    ] {
        ok(&lsmkv(&db, args));
        assert_eq!(image(&db), before, "lsmkv {args:?} changed the directory");
    }
}

#[test]
fn scan_works_next_to_a_writer_holding_the_database() {
    let d = tempfile::tempdir().unwrap();
    let dir = d.path().join("db");
    let writer = lsmkv::Db::open(&dir, lsmkv::Options::default()).unwrap();
    writer.put("k1", "v1").unwrap();
    writer.put("k2", "v2").unwrap();
    let out = ok(&lsmkv(&dir, &["--raw", "scan"]));
    assert_eq!(out, "k1\tv1\nk2\tv2\n");
    assert_eq!(ok(&lsmkv(&dir, &["get", "k2"])), "\"v2\"\n");
    // A write still needs the lock, which the writer holds.
    let put = lsmkv(&dir, &["put", "k3", "v3"]);
    assert_eq!(put.status.code(), Some(4), "{put:?}");
    writer.put("k3", "v3").unwrap();
    assert!(ok(&lsmkv(&dir, &["count"])).contains('3'));
}
