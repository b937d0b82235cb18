//! Configuration of lsmkv-server: every variable in `--help`, bad values stop start-up naming the
//! variable, `.env` and precedence, logging variables, engine variables reaching the engine, and
//! SIGTERM handling of the real binary.

mod server_common;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;

use serde_json::json;

const BIN: &str = env!("CARGO_BIN_EXE_lsmkv-server");

/// The binary with a clean environment, run in `cwd` (so no stray `.env` is read).
fn cmd(cwd: &Path, vars: &[(&str, &str)]) -> Command {
    let mut c = Command::new(BIN);
    c.env_clear().current_dir(cwd);
    for (k, v) in vars {
        c.env(k, v);
    }
    c
}

/// Spawns the server and returns it, its address (the line it prints on stdout), and its stderr
/// lines.
fn spawn(c: &mut Command) -> (Child, String, mpsc::Receiver<String>) {
    let mut child = c
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn lsmkv-server");
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut first = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    let addr = first
        .trim()
        .strip_prefix("lsmkv-server listening on ")
        .unwrap_or_else(|| {
            panic!(
                "unexpected first line {first:?}: {:?}",
                rx.try_iter().collect::<Vec<_>>()
            )
        })
        .to_string();
    (child, addr, rx)
}

fn sigterm(child: &Child) {
    let ok = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(ok.success());
}

#[test]
fn help_lists_every_variable() {
    let dir = tempfile::tempdir().unwrap();
    let out = cmd(dir.path(), &[]).arg("--help").output().unwrap();
    assert!(out.status.success());
    let help = String::from_utf8_lossy(&out.stdout);
    let cmd = lsmkv_server::config::command();
    let names: Vec<String> = cmd
        .get_arguments()
        .filter_map(|a| a.get_env().map(|e| e.to_string_lossy().into_owned()))
        .collect();
    assert!(names.len() >= 35, "{}", names.len());
    for n in &names {
        assert!(help.contains(n.as_str()), "--help lacks {n}");
    }
    for group in [
        "Server HTTP",
        "LSM engine",
        "Compaction",
        "Advanced tuning",
        "Monitoring",
        "Replication",
    ] {
        assert!(help.contains(group), "--help lacks group {group}");
    }
    // .env.example documents every one of them.
    let example =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../.env.example"))
            .unwrap();
    for n in &names {
        assert!(example.contains(&format!("{n}=")), ".env.example lacks {n}");
    }
}

#[test]
fn bad_values_stop_startup_naming_the_variable() {
    let dir = tempfile::tempdir().unwrap();
    for (k, v, accepts) in [
        ("SERVER_PORT", "http", "SERVER_PORT"),
        ("WAL_SYNC_MODE", "sometimes", "always"),
        ("MAX_CONNECTIONS", "0", "at least 1"),
        ("LOG_FORMAT", "xml", "json"),
        ("BLOCK_SIZE", "huge", "byte size"),
        ("COMPACTION_STRATEGY", "random", "leveled"),
        ("RAFT_PEERS", "1=127.0.0.1", "host:port"),
        ("RAFT_NODE_ID", "x", "positive integer"),
        ("RAFT_ELECTION_TIMEOUT_MS", "10", "RAFT_HEARTBEAT_MS"),
    ] {
        let out = cmd(dir.path(), &[(k, v), ("DATA_DIR", "d")])
            .output()
            .unwrap();
        assert!(!out.status.success(), "{k}={v} was accepted");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(k), "{k}: {err}");
        assert!(err.contains(accepts), "{k}: {err}");
    }
    assert!(
        !dir.path().join("d").exists(),
        "nothing is created on a bad configuration"
    );
}

#[test]
fn env_file_precedence_logging_and_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join(".env"),
        "SERVER_WORKERS=3\nWAL_SYNC_MODE=always\nMEMTABLE_MAX_SIZE=2MiB\nLOG_FORMAT=json\n",
    )
    .unwrap();
    let mut c = cmd(
        dir.path(),
        &[
            ("DATA_DIR", "db"),
            ("SERVER_HOST", "127.0.0.1"),
            ("SERVER_PORT", "0"),
            ("MEMTABLE_MAX_SIZE", "4MiB"), // environment beats .env
            ("COMPACTION_STRATEGY", "leveled"),
        ],
    );
    c.args(["--compaction-strategy", "tiered"]); // flag beats environment
    let (child, addr, logs) = spawn(&mut c);
    let agent = server_common::agent();
    let base = format!("http://{addr}");
    let mut r = agent
        .post(format!("{base}/keys"))
        .send(r#"{"key":"durable","value":"yes"}"#)
        .unwrap();
    assert_eq!(r.status(), 200);
    let _ = r.body_mut().read_to_string();
    let all: serde_json::Value = serde_json::from_str(
        &agent
            .get(format!("{base}/stats/all"))
            .call()
            .unwrap()
            .body_mut()
            .read_to_string()
            .unwrap(),
    )
    .unwrap();
    assert_eq!(all["server"]["workers"], 3, "{all}");
    assert_eq!(all["options"]["sync_mode"], "always");
    assert_eq!(all["options"]["memtable_max_size"], 4 << 20);
    assert_eq!(all["options"]["compaction_strategy"], "tiered");
    assert!(all["options"]["data_dir"].as_str().unwrap().ends_with("db"));

    sigterm(&child);
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "exit status {:?}", out.status);
    // Every line the server wrote: the reader thread stops at the end of its stderr, so the
    // lines still on their way are waited for.
    let lines: Vec<String> = logs.iter().collect();
    // LOG_FORMAT=json: every line is a JSON object; one access line per request.
    let mut access = 0;
    for l in &lines {
        let v: serde_json::Value =
            serde_json::from_str(l).unwrap_or_else(|_| panic!("not JSON: {l}"));
        if v["target"] == "lsmkv::access" {
            access += 1;
            assert!(v["fields"]["status"].is_u64(), "{l}");
            assert!(v["fields"]["latency_us"].is_u64(), "{l}");
            assert!(v["fields"]["method"].is_string(), "{l}");
            assert!(v["fields"]["path"].is_string(), "{l}");
        }
    }
    assert_eq!(access, 2, "{lines:?}");
    // User keys are stored as they are, in keyspace `default`.
    let db = lsmkv::Db::open(dir.path().join("db"), lsmkv::Options::default()).unwrap();
    assert_eq!(db.get(b"durable").unwrap().as_deref(), Some(&b"yes"[..]));
}

#[test]
fn log_level_and_access_log_silence_request_lines() {
    let dir = tempfile::tempdir().unwrap();
    for vars in [
        [("LOG_LEVEL", "warn"), ("ACCESS_LOG", "true")],
        [("LOG_LEVEL", "info"), ("ACCESS_LOG", "false")],
    ] {
        let mut all = vec![("DATA_DIR", "db"), ("SERVER_PORT", "0")];
        all.extend(vars);
        let (child, addr, logs) = spawn(&mut cmd(dir.path(), &all));
        let mut r = server_common::agent()
            .get(format!("http://{addr}/health"))
            .call()
            .unwrap();
        assert_eq!(r.status(), 200);
        let _ = r.body_mut().read_to_string();
        sigterm(&child);
        assert!(child.wait_with_output().unwrap().status.success());
        let lines: Vec<String> = logs.iter().collect();
        assert!(
            !lines.iter().any(|l| l.contains("lsmkv::access")),
            "{vars:?}: {lines:?}"
        );
    }
}

#[test]
fn every_engine_variable_reaches_the_engine() {
    let s = server_common::TestServer::start(&[
        ("MEMTABLE_MAX_SIZE", "1MiB"),
        ("BLOCK_SIZE", "8192"),
        ("BLOCK_CACHE_SIZE_MB", "8"),
        ("SPARSE_INDEX_INTERVAL", "4"),
        ("BLOOM_FALSE_POSITIVE_RATE", "0.05"),
        ("WAL_SYNC_MODE", "none"),
        ("WAL_SYNC_INTERVAL_MS", "5"),
        ("WAL_RECOVERY_MODE", "point_in_time"),
        ("MAX_WAL_SIZE", "1GiB"),
        ("MAX_IMMUTABLE_MEMTABLES", "3"),
        ("COMPRESSION", "none"),
        ("MAX_VALUE_SIZE", "1KiB"),
        ("PARANOID_CHECKS", "true"),
        ("BLOCK_READ", "mmap"),
        ("COMPACTION_STRATEGY", "lazy_leveling"),
        ("COMPACTION_THREADS", "2"),
        ("L0_COMPACTION_TRIGGER", "3"),
        ("L0_SLOWDOWN_WRITES_TRIGGER", "8"),
        ("L0_STOP_WRITES_TRIGGER", "12"),
        ("LEVEL_SIZE_RATIO", "8"),
        ("LEVEL_BASE_SIZE", "1MiB"),
        ("TARGET_FILE_SIZE", "512KiB"),
        ("MAX_LEVELS", "5"),
        ("TIERED_MIN_MERGE_WIDTH", "3"),
        ("COMPACTION_MAX_BYTES_PER_SEC", "10MiB"),
        ("SOFT_PENDING_COMPACTION_BYTES", "1GiB"),
        ("HARD_PENDING_COMPACTION_BYTES", "2GiB"),
    ]);
    let o = &s.get("/stats/all").json()["options"];
    let expect = json!({
        "memtable_max_size": 1 << 20, "block_size": 8192, "block_cache_size_mb": 8,
        "sparse_index_interval": 4, "bloom_false_positive_rate": 0.05, "sync_mode": "none",
        "wal_sync_interval_ms": 5, "wal_recovery_mode": "point_in_time",
        "max_wal_size": 1u64 << 30, "max_immutable_memtables": 3,
        "compression": "none", "max_value_size": 1024, "paranoid_checks": true,
        "block_read": "mmap", "compaction_strategy": "lazy_leveling", "compaction_threads": 2,
        "l0_compaction_trigger": 3, "l0_slowdown_writes_trigger": 8, "l0_stop_writes_trigger": 12,
        "level_size_ratio": 8, "level_base_size": 1 << 20, "target_file_size": 512 << 10,
        "max_levels": 5, "tiered_min_merge_width": 3, "compaction_max_bytes_per_sec": 10 << 20,
        "soft_pending_compaction_bytes": 1u64 << 30, "hard_pending_compaction_bytes": 2u64 << 30,
    });
    for (k, v) in expect.as_object().unwrap() {
        assert_eq!(&o[k], v, "{k}");
    }
    // The server knows every engine variable: the same set as .env.example's engine section.
    let example =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../.env.example"))
            .unwrap();
    let engine_section = example.split("# ==== lsmkv-server").next().unwrap();
    let documented: std::collections::BTreeSet<&str> = engine_section
        .lines()
        .filter_map(|l| l.split_once('=').map(|(k, _)| k.trim()))
        .filter(|k| !k.starts_with('#') && !k.is_empty())
        .collect();
    let known: std::collections::BTreeSet<&str> = lsmkv_server::config::ENGINE_VARS
        .iter()
        .map(|v| v.name)
        .collect();
    assert_eq!(documented, known, "ENGINE_VARS vs .env.example");
    // And they take effect: MAX_VALUE_SIZE bounds what a request may store.
    let big = "v".repeat(2000);
    let r = s.post("/keys", &json!({"key": "k", "value": big}).to_string());
    assert_eq!(r.status, 413, "{}", r.body);
    let r = s.put_raw("/keys/k", big.as_bytes());
    assert_eq!(r.status, 413, "{}", r.body);
}

#[test]
fn help_describes_the_program_and_counts_its_variables() {
    let dir = tempfile::tempdir().unwrap();
    let out = cmd(dir.path(), &[]).arg("--help").output().unwrap();
    assert!(out.status.success());
    let help = String::from_utf8_lossy(&out.stdout);
    let first = help.lines().next().unwrap();
    assert!(
        first.contains("HTTP server") && !first.contains("ENGINE_VARS"),
        "first line: {first}"
    );
    let n = lsmkv_server::config::command()
        .get_arguments()
        .filter(|a| a.get_env().is_some())
        .count();
    assert!(help.contains(&format!("{n} variables in all")), "{help}");
    // The README's count is the same.
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../README.md")).unwrap();
    assert!(
        readme.contains(&format!("-- {n} in all")),
        "README count is not {n}"
    );
}

#[test]
fn startup_errors_print_once() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("not-a-dir"), b"x").unwrap();
    let out = cmd(
        dir.path(),
        &[("DATA_DIR", "not-a-dir/db"), ("SERVER_PORT", "0")],
    )
    .output()
    .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.matches("cannot open the database").count(), 1, "{err}");
}

#[test]
fn server_host_takes_a_host_name() {
    let dir = tempfile::tempdir().unwrap();
    let (child, addr, _logs) = spawn(&mut cmd(
        dir.path(),
        &[
            ("DATA_DIR", "db"),
            ("SERVER_HOST", "localhost"),
            ("SERVER_PORT", "0"),
        ],
    ));
    let sa: std::net::SocketAddr = addr.parse().unwrap();
    assert!(sa.ip().is_loopback(), "{addr}");
    let mut r = server_common::agent()
        .get(format!("http://{addr}/health"))
        .call()
        .unwrap();
    assert_eq!(r.status(), 200);
    let _ = r.body_mut().read_to_string();
    sigterm(&child);
    assert!(child.wait_with_output().unwrap().status.success());
}
