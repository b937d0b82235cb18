//! The `lsmkv` binary with commands piped on stdin (no terminal): plain lines in, results on
//! stdout, errors on stderr, exit status 1 if any line failed; data persists across runs.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};

/// Runs the binary on `dir` with `input` as stdin. The working directory is a fresh temporary one
/// so a developer's `.env` is not picked up, and the configuration variables are cleared.
fn run(dir: &Path, input: &str) -> Output {
    let cwd = tempfile::tempdir().unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_lsmkv"));
    for var in [
        "DATA_DIR",
        "WAL_SYNC_MODE",
        "MEMTABLE_MAX_SIZE",
        "BLOCK_SIZE",
        "MAX_VALUE_SIZE",
    ] {
        cmd.env_remove(var);
    }
    let mut child = cmd
        .arg("--data-dir")
        .arg(dir)
        .current_dir(cwd.path())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

fn stdout(o: &Output) -> String {
    String::from_utf8(o.stdout.clone()).unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn put_get_delete_through_a_pipe() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("db");
    let out = run(
        &db,
        "put a 1\nget a\nput \"key with space\" \"v\\x00\\n\"\nget \"key with space\"\n\
         delete a\nget a\nget never\n# a comment\n\nput \"\" empty-key\nget \"\"\nflush\n",
    );
    assert!(out.status.success(), "stderr: {}", stderr(&out));
    assert_eq!(
        stdout(&out),
        "OK\n\"1\"\nOK\n\"v\\x00\\n\"\nOK\n(nil)\n(nil)\nOK\n\"empty-key\"\nOK\n"
    );
    assert_eq!(stderr(&out), "");

    // A second run on the same directory sees the data.
    let out = run(&db, "get \"key with space\"\nget a\nget \"\"\n");
    assert!(out.status.success(), "stderr: {}", stderr(&out));
    assert_eq!(stdout(&out), "\"v\\x00\\n\"\n(nil)\n\"empty-key\"\n");
}

#[test]
fn stats_prints_json() {
    let dir = tempfile::tempdir().unwrap();
    let out = run(dir.path(), "put a 1\nstats\n");
    assert!(out.status.success(), "stderr: {}", stderr(&out));
    let text = stdout(&out);
    let json = text.strip_prefix("OK\n").expect("put prints OK first");
    let v: serde_json::Value = serde_json::from_str(json).unwrap();
    assert!(v.get("puts").is_some() && v.get("levels").is_some(), "{v}");
}

#[test]
fn errors_go_to_stderr_and_later_lines_still_run() {
    let dir = tempfile::tempdir().unwrap();
    let out = run(
        dir.path(),
        "frobnicate\nput onlykey\nput \"unterminated\nput b 2\nget b\n",
    );
    assert_eq!(
        out.status.code(),
        Some(1),
        "failed lines make the exit status 1"
    );
    assert_eq!(stdout(&out), "OK\n\"2\"\n");
    let err = stderr(&out);
    assert!(err.contains("unknown command"), "{err}");
    assert!(err.contains("usage: put KEY VALUE"), "{err}");
    assert!(err.contains("unterminated"), "{err}");
}

#[test]
fn exit_stops_reading() {
    let dir = tempfile::tempdir().unwrap();
    let out = run(dir.path(), "put a 1\nexit\nput b 2\n");
    assert!(out.status.success());
    assert_eq!(stdout(&out), "OK\n");
    let out = run(dir.path(), "get b\nquit\n");
    assert_eq!(stdout(&out), "(nil)\n");
}

#[test]
fn help_flag_names_data_dir_and_its_variable() {
    let out = Command::new(env!("CARGO_BIN_EXE_lsmkv"))
        .arg("--help")
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = stdout(&out);
    assert!(
        text.contains("--data-dir") && text.contains("DATA_DIR"),
        "{text}"
    );
}
