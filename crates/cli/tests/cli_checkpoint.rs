//! `lsmkv checkpoint DIR`: a copy that the other subcommands open as a database of its own; a
//! non-empty target is a usage error.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::path::Path;
use std::process::{Command, Output};

use common::{lsmkv_without, output_in_temp_dir};

fn lsmkv(dir: &Path, args: &[&str]) -> Output {
    let mut cmd: Command = lsmkv_without(&["DATA_DIR", "WAL_SYNC_MODE", "MEMTABLE_MAX_SIZE"]);
    output_in_temp_dir(cmd.arg("--data-dir").arg(dir).args(args))
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

#[test]
fn checkpoint_subcommand_makes_an_independent_copy() {
    let d = tempfile::tempdir().unwrap();
    let db = d.path().join("db");
    let copy = d.path().join("copy");
    ok(&lsmkv(&db, &["put", "a", "1"]));
    ok(&lsmkv(&db, &["flush"]));
    ok(&lsmkv(&db, &["put", "b", "2"]));
    assert_eq!(
        ok(&lsmkv(&db, &["checkpoint", copy.to_str().unwrap()])),
        "OK\n"
    );
    ok(&lsmkv(&db, &["put", "c", "3"]));
    assert_eq!(ok(&lsmkv(&copy, &["get", "a"])), "\"1\"\n");
    assert_eq!(ok(&lsmkv(&copy, &["get", "b"])), "\"2\"\n");
    assert_eq!(lsmkv(&copy, &["get", "c"]).status.code(), Some(1));

    // The target is not empty now: a usage error, and nothing in it changes.
    let again = lsmkv(&db, &["checkpoint", copy.to_str().unwrap()]);
    assert_eq!(again.status.code(), Some(2), "{again:?}");
    assert!(String::from_utf8_lossy(&again.stderr).contains("not empty"));
}
