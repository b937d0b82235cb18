//! Golden output of `lsmkv inspect` on the v1 fixture (`tests/fixtures/v1/`): the text rendering of
//! an SSTable dump (LZ4 blocks, a tombstone, every block and entry), of a prefix-bloom table
//! (filter format 2), and of the manifest must stay byte for byte what `tests/golden/` holds.
//! Regenerate with `LSMKV_BLESS=1 cargo test --test golden_inspect` and review the diff.
//!
//! The files are copied to a temporary directory and named by relative paths from there, so the
//! output holds no absolute or machine-dependent path.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};
use std::process::Command;

/// The fixture directory, relative to the package root. The only thing to change when this test
/// moves to another crate.
const FIXTURE_DIR: &str = "../../tests/fixtures/v1";

/// Where the golden files live, relative to this package's root.
const GOLDEN_DIR: &str = "tests/golden";

fn fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(FIXTURE_DIR)
}

/// Runs `lsmkv <args>` in a temporary copy of the fixture directory; returns stdout.
fn inspect(args: &[&str]) -> String {
    let tmp = tempfile::tempdir().unwrap();
    for e in std::fs::read_dir(fixture()).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), tmp.path().join(e.file_name())).unwrap();
    }
    let out = Command::new(env!("CARGO_BIN_EXE_lsmkv"))
        .env_remove("DATA_DIR")
        .env("NO_COLOR", "1")
        .args(args)
        .current_dir(tmp.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "lsmkv {args:?}: {:?}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// Compares `got` with `tests/golden/<name>`, or rewrites it under `LSMKV_BLESS=1`.
fn check_golden(name: &str, got: &str) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join(GOLDEN_DIR)
        .join(name);
    if std::env::var_os("LSMKV_BLESS").is_some_and(|v| v == "1") {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, got).unwrap();
        return;
    }
    let want = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e}; run with LSMKV_BLESS=1 to create it",
            path.display()
        )
    });
    assert!(
        !got.contains(env!("CARGO_MANIFEST_DIR")),
        "output holds an absolute path:\n{got}"
    );
    if got != want {
        panic!(
            "`{name}` differs from {} (LSMKV_BLESS=1 rewrites it; review the diff).\n--- want\n{want}\n--- got\n{got}",
            path.display()
        );
    }
}

/// LZ4 table with a tombstone: footer, meta, filter format 1, index, each block and each entry.
#[test]
fn inspect_sst_matches_golden() {
    let got = inspect(&["inspect", "sst", "--blocks", "--keys", "000008.sst"]);
    assert!(got.contains("problems: none"), "{got}");
    check_golden("inspect_sst.txt", &got);
}

/// Prefix-bloom table: the filter is reported as format 2 with its prefix length, not as
/// "unknown(2)" (the bug that made `debug::sst` share the engine's filter decoder).
#[test]
fn inspect_sst_prefix_bloom_matches_golden() {
    let got = inspect(&["inspect", "sst", "--blocks", "000011.sst"]);
    assert!(got.contains("fastbloom-xxh3-prefix(len 4)"), "{got}");
    assert!(!got.contains("unknown("), "{got}");
    check_golden("inspect_sst_prefix.txt", &got);
}

/// The manifest's version history and live state.
#[test]
fn inspect_manifest_matches_golden() {
    let got = inspect(&["inspect", "manifest", "."]);
    assert!(got.contains("problems: none"), "{got}");
    check_golden("inspect_manifest.txt", &got);
}
