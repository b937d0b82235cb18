//! Configuration from the environment: `Options::from_lookup` / `Options::from_env` read every
//! variable, reject bad values naming the variable, and `.env.example` and the README list exactly
//! the variables the code reads, with the code's defaults.
//!
//! The process environment is only changed in a child process (`from_env_child`), never in this
//! one, because tests run in parallel threads.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use common::crash::self_test_command;
use lsmkv::{BlockRead, Compression, Error, Options, SyncMode};

fn from_map(vars: &[(&str, &str)]) -> lsmkv::Result<Options> {
    let m: BTreeMap<String, String> = vars
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    Options::from_lookup(&|k| m.get(k).cloned())
}

/// The variables `from_lookup` asks for, in order.
fn variables_read_by_code() -> BTreeSet<String> {
    let asked = RefCell::new(BTreeSet::new());
    Options::from_lookup(&|k| {
        asked.borrow_mut().insert(k.to_string());
        None
    })
    .unwrap();
    asked.into_inner()
}

fn repo_file(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(name)
}

/// `KEY=VALUE` lines of a dotenv file (comments and blanks skipped).
fn parse_dotenv(text: &str) -> BTreeMap<String, String> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| {
            let (k, v) = l
                .split_once('=')
                .unwrap_or_else(|| panic!("not KEY=VALUE: {l}"));
            (k.trim().to_string(), v.trim().to_string())
        })
        .collect()
}

fn as_json(o: &Options) -> serde_json::Value {
    serde_json::to_value(o).unwrap()
}

#[test]
fn no_variables_gives_defaults() {
    let o = from_map(&[]).unwrap();
    assert_eq!(as_json(&o), as_json(&Options::default()));
}

#[test]
fn every_variable_is_read() {
    let o = from_map(&[
        ("DATA_DIR", "/srv/db"),
        ("WAL_SYNC_MODE", "always"),
        ("WAL_SYNC_INTERVAL_MS", "7"),
        ("MAX_WAL_SIZE", "1MiB"),
        ("MEMTABLE_MAX_SIZE", "2M"),
        ("MAX_IMMUTABLE_MEMTABLES", "5"),
        ("BLOCK_SIZE", "16KiB"),
        ("SPARSE_INDEX_INTERVAL", "8"),
        ("BLOOM_FALSE_POSITIVE_RATE", "0.001"),
        ("BLOCK_CACHE_SIZE_MB", "128"),
        ("COMPRESSION", "none"),
        ("MAX_VALUE_SIZE", "1G"),
        ("PARANOID_CHECKS", "yes"),
        ("MEMORY_BUDGET", "1GiB"),
        ("BLOCK_READ", "MMAP"),
    ])
    .unwrap();
    assert_eq!(o.data_dir, PathBuf::from("/srv/db"));
    assert_eq!(o.sync_mode, SyncMode::Always);
    assert_eq!(o.wal_sync_interval_ms, 7);
    assert_eq!(o.max_wal_size, 1 << 20);
    assert_eq!(o.memtable_max_size, 2 << 20);
    assert_eq!(o.max_immutable_memtables, 5);
    assert_eq!(o.block_size, 16 << 10);
    assert_eq!(o.sparse_index_interval, 8);
    assert_eq!(o.bloom_false_positive_rate, 0.001);
    assert_eq!(o.block_cache_size_mb, 128);
    assert_eq!(o.compression, Compression::None);
    assert_eq!(o.max_value_size, 1 << 30);
    assert!(o.paranoid_checks);
    assert_eq!(o.memory_budget, 1 << 30);
    assert_eq!(o.block_read, BlockRead::Mmap);
    assert_eq!(Options::default().block_read, BlockRead::Pread);
}

#[test]
fn sync_modes_parse() {
    for (s, m) in [
        ("always", SyncMode::Always),
        ("async_batch", SyncMode::AsyncBatch),
        ("none", SyncMode::None),
        ("ALWAYS", SyncMode::Always),
    ] {
        assert_eq!(
            from_map(&[("WAL_SYNC_MODE", s)]).unwrap().sync_mode,
            m,
            "{s}"
        );
    }
}

#[test]
fn invalid_values_are_invalid_argument_naming_the_variable() {
    for (var, bad) in [
        ("WAL_SYNC_MODE", "sometimes"),
        ("WAL_SYNC_INTERVAL_MS", "-1"),
        ("MAX_WAL_SIZE", "lots"),
        ("MEMTABLE_MAX_SIZE", "10"),
        ("MAX_IMMUTABLE_MEMTABLES", "0"),
        ("BLOCK_SIZE", "1"),
        ("SPARSE_INDEX_INTERVAL", "0"),
        ("BLOOM_FALSE_POSITIVE_RATE", "1.5"),
        ("BLOCK_CACHE_SIZE_MB", "x"),
        ("COMPRESSION", "zstd"),
        ("MAX_VALUE_SIZE", "2G"),
        ("PARANOID_CHECKS", "maybe"),
        ("BLOCK_READ", "direct"),
        ("MEMORY_BUDGET", "512KiB"),
        ("MEMORY_BUDGET", "much"),
    ] {
        let e = from_map(&[(var, bad)]).unwrap_err();
        assert!(matches!(e, Error::InvalidArgument(_)), "{var}={bad}: {e:?}");
        assert!(
            e.to_string().contains(var),
            "{var}={bad}: message {e} must name the variable"
        );
    }
}

#[test]
fn env_example_lists_every_variable_with_its_default() {
    let text = std::fs::read_to_string(repo_file(".env.example")).unwrap();
    // The lsmkv-server section at the end lists the server's own variables; tests/server_config.rs
    // checks those.
    let engine_part = text.split("# ==== lsmkv-server").next().unwrap_or_default();
    let vars = parse_dotenv(engine_part);
    let listed: BTreeSet<String> = vars.keys().cloned().collect();
    assert_eq!(
        listed,
        variables_read_by_code(),
        ".env.example vs Options::from_lookup"
    );
    let o = Options::from_lookup(&|k| vars.get(k).cloned()).unwrap();
    assert_eq!(
        as_json(&o),
        as_json(&Options::default()),
        ".env.example values must be the defaults"
    );
}

#[test]
fn readme_documents_every_variable() {
    let readme = std::fs::read_to_string(repo_file("README.md")).unwrap();
    for var in variables_read_by_code() {
        assert!(
            readme.contains(&format!("`{var}`")),
            "README.md does not document `{var}`"
        );
    }
}

/// Child half of `from_env_reads_the_process_environment`.
#[test]
#[ignore = "child process; runs only when LSMKV_OPTIONS_CHILD is set"]
fn from_env_child() {
    if std::env::var_os("LSMKV_OPTIONS_CHILD").is_none() {
        return;
    }
    let o = Options::from_env().unwrap();
    assert_eq!(o.sync_mode, SyncMode::None);
    assert_eq!(o.block_size, 1024);
    assert_eq!(o.data_dir, PathBuf::from("/tmp/from-env"));
    assert_eq!(o.memtable_max_size, Options::default().memtable_max_size);
}

#[test]
fn from_env_reads_the_process_environment() {
    let mut cmd = self_test_command("from_env_child");
    for var in variables_read_by_code() {
        cmd.env_remove(var);
    }
    let out = cmd
        .env("LSMKV_OPTIONS_CHILD", "1")
        .env("WAL_SYNC_MODE", "none")
        .env("BLOCK_SIZE", "1KiB")
        .env("DATA_DIR", "/tmp/from-env")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains("1 passed"),
        "child failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // And a bad value fails with the variable's name.
    let mut cmd = self_test_command("from_env_child");
    let out = cmd
        .env("LSMKV_OPTIONS_CHILD", "1")
        .env("WAL_SYNC_MODE", "bogus")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("WAL_SYNC_MODE"));
}
