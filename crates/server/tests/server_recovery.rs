//! WAL records dropped by recovery at start-up (`WAL_RECOVERY_MODE=point_in_time`): logged at
//! warn level by the real binary, and shown under `recovery` in `/health`.

mod server_common;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use server_common::TestServer;

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

fn file_name(p: &Path) -> String {
    p.file_name().unwrap().to_string_lossy().into_owned()
}

#[test]
fn health_shows_what_recovery_dropped() {
    let dir = tempfile::tempdir().unwrap();
    let wal = damaged_db(dir.path());
    let s = TestServer::start_in(dir, &[("WAL_RECOVERY_MODE", "point_in_time")]);
    let h = s.get("/health").json();
    assert_eq!(h["status"], "ok", "{h}");
    let rec = &h["recovery"];
    assert_eq!(rec["wal_segments_replayed"], 1, "{h}");
    let replayed = rec["wal_records_replayed"].as_u64().unwrap();
    assert!((1..100).contains(&replayed), "{h}");
    let dropped = rec["dropped"].as_array().unwrap();
    assert_eq!(dropped.len(), 1, "{h}");
    let d = &dropped[0];
    assert_eq!(d["file"], file_name(&wal), "{h}");
    assert!(d["offset"].as_u64().unwrap() > 0, "{h}");
    assert!(d["bytes"].as_u64().unwrap() > 0, "{h}");
    // The damaged record is not counted; every record after it is.
    assert_eq!(d["records"].as_u64().unwrap(), 99 - replayed, "{h}");
    assert!(!d["reason"].as_str().unwrap().is_empty(), "{h}");
    assert_eq!(d["corruption"], true, "{h}");
}

#[test]
fn health_of_a_clean_start_lists_nothing_dropped() {
    let s = TestServer::start(&[]);
    let h = s.get("/health").json();
    assert_eq!(h["status"], "ok");
    assert_eq!(h["recovery"]["dropped"], serde_json::json!([]), "{h}");
}

#[test]
fn the_binary_logs_dropped_records_at_warn_level() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("db");
    let wal = damaged_db(&data);
    let mut child = Command::new(env!("CARGO_BIN_EXE_lsmkv-server"))
        .env_clear()
        .current_dir(dir.path())
        .envs([
            ("DATA_DIR", "db"),
            ("SERVER_HOST", "127.0.0.1"),
            ("SERVER_PORT", "0"),
            ("LOG_FORMAT", "json"),
            ("WAL_RECOVERY_MODE", "point_in_time"),
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // The warning is logged before the address is printed.
    let mut first = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    assert!(first.starts_with("lsmkv-server listening on "), "{first}");
    let ok = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(ok.success());
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "exit status {:?}", out.status);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let warnings: Vec<serde_json::Value> = stderr
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|_| panic!("not JSON: {l}")))
        .filter(|v: &serde_json::Value| {
            v["fields"]["message"]
                .as_str()
                .is_some_and(|m| m.starts_with("recovery dropped "))
        })
        .collect();
    assert_eq!(warnings.len(), 1, "{stderr}");
    let w = &warnings[0];
    assert_eq!(w["level"], "WARN", "{w}");
    let f = &w["fields"];
    assert_eq!(f["file"], file_name(&wal), "{w}");
    assert!(f["offset"].as_u64().unwrap() > 0, "{w}");
    assert!(f["bytes"].as_u64().unwrap() > 0, "{w}");
    assert!(f["records"].as_u64().unwrap() > 0, "{w}");
    let message = f["message"].as_str().unwrap();
    assert!(
        message.contains(&format!(" of {} at offset ", file_name(&wal))),
        "{message}"
    );
}
