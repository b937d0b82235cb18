//! The one-shot subcommands of the `lsmkv` binary: text, `--json` and `--raw` output and the exit
//! statuses (0 ok, 1 missing key, 2 usage, 3 corruption, 4 other).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::path::Path;
use std::process::{Command, Output};

use common::{lsmkv_without, output_in_temp_dir};

/// Runs `lsmkv --data-dir DIR ARGS...` in a fresh working directory with the configuration
/// variables cleared.
fn lsmkv(dir: &Path, args: &[&str]) -> Output {
    output_in_temp_dir(
        lsmkv_without(&[
            "DATA_DIR",
            "WAL_SYNC_MODE",
            "MEMTABLE_MAX_SIZE",
            "BLOCK_SIZE",
        ])
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

#[test]
fn put_get_delete_and_exit_codes() {
    let d = tempfile::tempdir().unwrap();
    let db = d.path().join("db");
    assert_eq!(ok(&lsmkv(&db, &["put", "k", "v 1"])), "OK\n");
    assert_eq!(ok(&lsmkv(&db, &["get", "k"])), "\"v 1\"\n");
    assert_eq!(ok(&lsmkv(&db, &["--raw", "get", "k"])), "v 1");
    assert_eq!(
        ok(&lsmkv(&db, &["--json", "get", "k"])),
        "{\"key\":\"k\",\"value\":\"v 1\"}\n"
    );

    let missing = lsmkv(&db, &["get", "nope"]);
    assert_eq!(missing.status.code(), Some(1));
    assert_eq!(String::from_utf8_lossy(&missing.stdout), "(nil)\n");
    let missing = lsmkv(&db, &["--json", "get", "nope"]);
    assert_eq!(missing.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&missing.stdout),
        "{\"key\":\"nope\",\"value\":null}\n"
    );

    assert_eq!(ok(&lsmkv(&db, &["delete", "k"])), "OK\n");
    assert_eq!(lsmkv(&db, &["get", "k"]).status.code(), Some(1));
    assert_eq!(ok(&lsmkv(&db, &["--json", "del", "k"])), "{\"ok\":true}\n");
    assert_eq!(ok(&lsmkv(&db, &["--raw", "put", "k", "v"])), "");
}

#[test]
fn escapes_give_binary_keys_and_values() {
    let d = tempfile::tempdir().unwrap();
    ok(&lsmkv(d.path(), &["-e", "put", "b\\xff\\x00", "v\\n"]));
    assert_eq!(
        ok(&lsmkv(d.path(), &["-e", "get", "b\\xff\\x00"])),
        "\"v\\n\"\n"
    );
    let raw = lsmkv(d.path(), &["--raw", "-e", "get", "b\\xff\\x00"]);
    assert_eq!(raw.stdout, b"v\n");
    assert_eq!(
        ok(&lsmkv(d.path(), &["--json", "scan"])),
        "{\"key_base64\":\"Yv8A\",\"value\":\"v\\n\"}\n"
    );
    // Without --escapes the backslashes are literal.
    assert_eq!(
        lsmkv(d.path(), &["get", "b\\xff\\x00"]).status.code(),
        Some(1)
    );
    // A bad escape is a usage error.
    assert_eq!(
        lsmkv(d.path(), &["-e", "get", "\\q"]).status.code(),
        Some(2)
    );
}

#[test]
fn scan_prefix_search_count() {
    let d = tempfile::tempdir().unwrap();
    let db = d.path();
    for (k, v) in [("a1", "x"), ("a2", "yy"), ("b1", "zx"), ("c1", "w")] {
        ok(&lsmkv(db, &["put", k, v]));
    }
    assert_eq!(
        ok(&lsmkv(db, &["scan"])),
        "\"a1\" \"x\"\n\"a2\" \"yy\"\n\"b1\" \"zx\"\n\"c1\" \"w\"\n"
    );
    assert_eq!(
        ok(&lsmkv(db, &["scan", "a2", "c1"])),
        "\"a2\" \"yy\"\n\"b1\" \"zx\"\n"
    );
    assert_eq!(
        ok(&lsmkv(db, &["scan", "--reverse", "--limit", "2"])),
        "\"c1\" \"w\"\n\"b1\" \"zx\"\n"
    );
    assert_eq!(ok(&lsmkv(db, &["--raw", "prefix", "a"])), "a1\tx\na2\tyy\n");
    assert_eq!(
        ok(&lsmkv(db, &["prefix", "a", "-r"])),
        "\"a2\" \"yy\"\n\"a1\" \"x\"\n"
    );
    assert_eq!(
        ok(&lsmkv(db, &["search", "x"])),
        "\"a1\" \"x\"\n\"b1\" \"zx\"\n"
    );
    assert_eq!(
        ok(&lsmkv(db, &["search", "x", "-l", "1"])),
        "\"a1\" \"x\"\n"
    );
    let lines = ok(&lsmkv(db, &["--json", "scan"]));
    for line in lines.lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        assert!(v.get("key").is_some() && v.get("value").is_some());
    }
    assert!(ok(&lsmkv(db, &["count"])).starts_with("4 (estimate "));
    assert_eq!(ok(&lsmkv(db, &["--raw", "count"])), "4\n");
    let c: serde_json::Value = serde_json::from_str(&ok(&lsmkv(db, &["--json", "count"]))).unwrap();
    assert_eq!(c["count"], 4);
}

#[test]
fn stats_levels_flush_and_compact() {
    let d = tempfile::tempdir().unwrap();
    let db = d.path();
    ok(&lsmkv(db, &["put", "k", "v"]));
    assert_eq!(ok(&lsmkv(db, &["flush"])), "OK\n");
    let s: serde_json::Value = serde_json::from_str(&ok(&lsmkv(db, &["stats"]))).unwrap();
    assert!(s.get("sst_files").is_some(), "{s}");
    let s: serde_json::Value =
        serde_json::from_str(&ok(&lsmkv(db, &["--json", "stats", "cache"]))).unwrap();
    assert!(
        s.get("block_cache").is_some() && s.get("puts").is_none(),
        "{s}"
    );
    assert_eq!(lsmkv(db, &["stats", "bogus"]).status.code(), Some(2));

    let text = ok(&lsmkv(db, &["levels"]));
    assert!(
        text.contains("L0") && text.contains("\"k\" .. \"k\""),
        "{text}"
    );
    let tables: serde_json::Value =
        serde_json::from_str(&ok(&lsmkv(db, &["--json", "levels"]))).unwrap();
    let tables = tables.as_array().unwrap();
    assert!(!tables.is_empty());
    assert_eq!(tables[0]["level"], 0);
    assert_eq!(tables[0]["smallest_key"], "k");

    // A full compaction leaves every table in the last level.
    let c = lsmkv(db, &["compact"]);
    assert_eq!(c.status.code(), Some(0), "{c:?}");
    let o = lsmkv(db, &["--json", "levels"]);
    assert_eq!(o.status.code(), Some(0), "{o:?}");
    let tables: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let tables = tables.as_array().unwrap();
    assert!(!tables.is_empty());
    assert!(tables.iter().all(|t| t["level"] != 0), "{tables:?}");
}

#[test]
fn usage_and_other_errors() {
    let d = tempfile::tempdir().unwrap();
    // Usage errors (clap): exit status 2.
    assert_eq!(lsmkv(d.path(), &["get"]).status.code(), Some(2));
    assert_eq!(lsmkv(d.path(), &["frobnicate"]).status.code(), Some(2));
    assert_eq!(
        lsmkv(d.path(), &["--json", "--raw", "count"]).status.code(),
        Some(2)
    );
    // Reading commands do not create a database: status 4 with a clear message.
    let missing = d.path().join("missing");
    let o = lsmkv(&missing, &["get", "k"]);
    assert_eq!(o.status.code(), Some(4));
    assert!(String::from_utf8_lossy(&o.stderr).contains("no database at"));
    assert!(!missing.exists());
    let empty = d.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    assert_eq!(lsmkv(&empty, &["scan"]).status.code(), Some(4));
    assert_eq!(
        std::fs::read_dir(&empty).unwrap().count(),
        0,
        "nothing was created"
    );
    // A bad engine option from the environment is a usage error.
    let o = Command::new(env!("CARGO_BIN_EXE_lsmkv"))
        .env("WAL_SYNC_MODE", "sometimes")
        .arg("--data-dir")
        .arg(d.path())
        .args(["put", "a", "b"])
        .output()
        .unwrap();
    assert_eq!(
        o.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
}

/// A writing subcommand needs the lock (reading ones open read-only and do not: see
/// `cli_read_only.rs`).
#[test]
fn a_locked_database_is_status_4() {
    let d = tempfile::tempdir().unwrap();
    let held = lsmkv::Db::open(d.path(), lsmkv::Options::default()).unwrap();
    let o = lsmkv(d.path(), &["put", "k", "v"]);
    assert_eq!(o.status.code(), Some(4));
    assert!(String::from_utf8_lossy(&o.stderr).contains("locked"));
    held.close().unwrap();
}

/// Runs `lsmkv --data-dir DIR ARGS...` with stdout a pipe whose reader is already gone.
fn lsmkv_into_closed_pipe(dir: &Path, args: &[&str]) -> Output {
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let cwd = tempfile::tempdir().unwrap();
    lsmkv_without(&["DATA_DIR", "WAL_SYNC_MODE"])
        .arg("--data-dir")
        .arg(dir)
        .args(args)
        .current_dir(cwd.path())
        .stdout(writer)
        .stderr(std::process::Stdio::piped())
        .output()
        .unwrap()
}

#[test]
fn a_closed_stdout_ends_quietly_with_status_0() {
    let d = tempfile::tempdir().unwrap();
    {
        let db = lsmkv::Db::open(d.path(), lsmkv::Options::default()).unwrap();
        for i in 0..2000 {
            db.put(format!("key:{i:05}"), [b'v'; 100]).unwrap();
        }
        db.flush().unwrap();
        db.close().unwrap();
    }
    for args in [
        &["scan"][..],
        &["--json", "scan"],
        &["export"],
        &["export", "--format", "csv"],
        &["levels"],
        &["--json", "verify"],
        &["stats"],
    ] {
        let o = lsmkv_into_closed_pipe(d.path(), args);
        let stderr = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(0), "{args:?}: {stderr}");
        assert!(!stderr.contains("Broken pipe"), "{args:?}: {stderr}");
    }
    // The shell reading a script stops quietly too.
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let mut cmd = lsmkv_without(&["DATA_DIR", "WAL_SYNC_MODE"]);
    let script = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(script.path(), "scan\nget key:00001\n").unwrap();
    let o = cmd
        .arg("--data-dir")
        .arg(d.path())
        .stdin(std::fs::File::open(script.path()).unwrap())
        .stdout(writer)
        .stderr(std::process::Stdio::piped())
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{o:?}");
    assert!(o.stderr.is_empty(), "{o:?}");
}
