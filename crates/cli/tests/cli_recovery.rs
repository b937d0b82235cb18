//! WAL records dropped by recovery are reported on stderr, by the subcommands and the shell alike:
//! one `warning: recovery dropped ...` line per dropped region, and nothing after a clean open.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::{lsmkv_without, output_in_temp_dir, output_with_stdin};

/// `lsmkv --data-dir DIR` with `WAL_RECOVERY_MODE=point_in_time` and the other configuration
/// variables cleared.
fn lsmkv(dir: &Path) -> Command {
    let mut c = lsmkv_without(&[
        "DATA_DIR",
        "WAL_SYNC_MODE",
        "MEMTABLE_MAX_SIZE",
        "BLOCK_SIZE",
    ]);
    c.env("WAL_RECOVERY_MODE", "point_in_time")
        .arg("--data-dir")
        .arg(dir);
    c
}

/// Writes 100 keys (one WAL record each), closes, and flips a byte in the middle of the log's
/// data. Returns the WAL segment.
fn damaged_db(dir: &Path) -> PathBuf {
    let db = lsmkv::Db::open(dir, lsmkv::Options::default()).unwrap();
    for i in 0..100u32 {
        db.put(format!("k{i:03}"), format!("v{i}")).unwrap();
    }
    db.close().unwrap();
    let wal = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "wal"))
        .max()
        .unwrap();
    let mut data = std::fs::read(&wal).unwrap();
    // The data ends before any preallocated zero fill.
    let end = data.iter().rposition(|&b| b != 0).unwrap();
    data[end / 2] ^= 0x55;
    std::fs::write(&wal, &data).unwrap();
    wal
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// The `warning: recovery dropped` lines of `text`.
fn warnings(text: &str) -> Vec<&str> {
    text.lines()
        .filter(|l| l.starts_with("warning: recovery dropped "))
        .collect()
}

/// Checks the one warning line: `N bytes (R records) of FILE at offset X: reason`.
fn check_warning(o: &Output, wal: &Path) {
    let err = stderr(o);
    let lines = warnings(&err);
    assert_eq!(lines.len(), 1, "stderr: {err}");
    let line = lines[0];
    let name = wal.file_name().unwrap().to_str().unwrap();
    assert!(line.contains(&format!(" of {name} at offset ")), "{line}");
    let rest = line.strip_prefix("warning: recovery dropped ").unwrap();
    let (bytes, rest) = rest.split_once(" bytes (").unwrap();
    assert!(bytes.parse::<u64>().unwrap() > 0, "{line}");
    let (records, rest) = rest.split_once(" records) of ").unwrap();
    assert!(records.parse::<u64>().unwrap() > 0, "{line}");
    let (_, rest) = rest.split_once(" at offset ").unwrap();
    let (offset, reason) = rest.split_once(": ").unwrap();
    assert!(offset.parse::<u64>().unwrap() > 0, "{line}");
    assert!(!reason.is_empty(), "{line}");
}

#[test]
fn a_subcommand_warns_about_dropped_records_once() {
    let dir = tempfile::tempdir().unwrap();
    let wal = damaged_db(dir.path());
    let o = output_in_temp_dir(lsmkv(dir.path()).args(["get", "k000"]));
    assert!(o.status.success(), "stderr: {}", stderr(&o));
    assert!(String::from_utf8_lossy(&o.stdout).contains("v0"));
    check_warning(&o, &wal);
    // `get` opens read-only and repairs nothing: the next one reports the same region.
    let o = output_in_temp_dir(lsmkv(dir.path()).args(["get", "k000"]));
    assert!(o.status.success(), "stderr: {}", stderr(&o));
    check_warning(&o, &wal);
    // A writing subcommand recovers for good (warning once); after it there is nothing to report.
    let o = output_in_temp_dir(lsmkv(dir.path()).args(["flush"]));
    assert!(o.status.success(), "stderr: {}", stderr(&o));
    check_warning(&o, &wal);
    let o = output_in_temp_dir(lsmkv(dir.path()).args(["get", "k000"]));
    assert!(o.status.success(), "stderr: {}", stderr(&o));
    assert_eq!(warnings(&stderr(&o)), Vec::<&str>::new());
}

#[test]
fn the_shell_warns_about_dropped_records() {
    let dir = tempfile::tempdir().unwrap();
    let wal = damaged_db(dir.path());
    let cwd = tempfile::tempdir().unwrap();
    let o = output_with_stdin(lsmkv(dir.path()).current_dir(cwd.path()), b"get k000\n");
    assert!(o.status.success(), "stderr: {}", stderr(&o));
    assert!(String::from_utf8_lossy(&o.stdout).contains("v0"));
    check_warning(&o, &wal);
}

#[test]
fn a_clean_database_opens_without_warnings() {
    let dir = tempfile::tempdir().unwrap();
    let o = output_in_temp_dir(lsmkv(dir.path()).args(["put", "a", "1"]));
    assert!(o.status.success(), "stderr: {}", stderr(&o));
    let o = output_in_temp_dir(lsmkv(dir.path()).args(["get", "a"]));
    assert!(o.status.success(), "stderr: {}", stderr(&o));
    assert_eq!(warnings(&stderr(&o)), Vec::<&str>::new());
}
