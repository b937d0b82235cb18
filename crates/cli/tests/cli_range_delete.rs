//! `delete-range START END` and `delete-prefix PREFIX`, as subcommands and in the piped shell:
//! one range delete each, `--yes` required without a terminal (the terminal's question is in
//! `repl_pty.rs`), empty bounds meaning no bound, binary bounds, keyspaces, output modes.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::path::Path;
use std::process::{Command, Output};

use common::{lsmkv_without, output_in_temp_dir, output_with_stdin};

fn lsmkv(dir: &Path, args: &[&str]) -> Command {
    let mut cmd = lsmkv_without(&["DATA_DIR", "WAL_SYNC_MODE", "MEMTABLE_MAX_SIZE"]);
    cmd.arg("--data-dir").arg(dir).args(args);
    cmd
}

fn run(dir: &Path, args: &[&str]) -> Output {
    output_in_temp_dir(&mut lsmkv(dir, args))
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn ok(dir: &Path, args: &[&str]) -> String {
    let o = run(dir, args);
    assert!(o.status.success(), "{args:?}: {}", text(&o.stderr));
    text(&o.stdout)
}

/// Every key of the keyspace, `--raw` (KEY<TAB>VALUE lines), keys only.
fn keys(dir: &Path, ks: &str) -> Vec<String> {
    ok(dir, &["--raw", "-k", ks, "scan", "--limit", "0"])
        .lines()
        .map(|l| l.split('\t').next().unwrap().to_string())
        .collect()
}

fn fill(dir: &Path, ks: &str) {
    let mut script = String::new();
    for k in ["a", "b1", "b2", "c", "user:1", "user:2", "users", "z"] {
        script.push_str(&format!("put {k} v\n"));
    }
    let o = output_with_stdin(&mut lsmkv(dir, &["-k", ks]), script.as_bytes());
    assert!(o.status.success(), "{}", text(&o.stderr));
}

#[test]
fn subcommands_delete_one_range() {
    let d = tempfile::tempdir().unwrap();
    let dir = d.path();
    fill(dir, "default");

    // Without --yes and without a terminal: a usage error, nothing deleted.
    for args in [&["delete-range", "b", "c"][..], &["delete-prefix", "user:"]] {
        let o = run(dir, args);
        assert_eq!(o.status.code(), Some(2), "{args:?}");
        assert!(text(&o.stderr).contains("add --yes"), "{}", text(&o.stderr));
    }
    assert_eq!(keys(dir, "default").len(), 8);

    assert_eq!(ok(dir, &["delete-range", "b", "c", "--yes"]), "OK\n");
    assert_eq!(
        keys(dir, "default"),
        ["a", "c", "user:1", "user:2", "users", "z"]
    );
    assert_eq!(
        ok(dir, &["--json", "delete-prefix", "user:", "--yes"]),
        "{\"ok\":true}\n"
    );
    assert_eq!(keys(dir, "default"), ["a", "c", "users", "z"]);
    // An empty bound is no bound.
    assert_eq!(ok(dir, &["--raw", "delete-range", "y", "", "--yes"]), "");
    assert_eq!(keys(dir, "default"), ["a", "c", "users"]);
    assert_eq!(ok(dir, &["delete-range", "", "b", "--yes"]), "OK\n");
    assert_eq!(keys(dir, "default"), ["c", "users"]);

    // START must be below END, checked before anything is asked.
    for args in [
        &["delete-range", "d", "b", "--yes"][..],
        &["delete-range", "b", "b"],
    ] {
        let o = run(dir, args);
        assert_eq!(o.status.code(), Some(2), "{args:?}");
        assert!(text(&o.stderr).contains("below"), "{}", text(&o.stderr));
    }
    // Every key: both bounds empty, or the empty prefix.
    assert_eq!(ok(dir, &["delete-range", "", "", "--yes"]), "OK\n");
    assert!(keys(dir, "default").is_empty());
    fill(dir, "default");
    assert_eq!(ok(dir, &["delete-prefix", "", "--yes"]), "OK\n");
    assert!(keys(dir, "default").is_empty());

    // Wrong arguments, and a directory without a database.
    assert_eq!(run(dir, &["delete-range", "a"]).status.code(), Some(2));
    let empty = tempfile::tempdir().unwrap();
    let o = run(empty.path(), &["delete-prefix", "a", "--yes"]);
    assert_eq!(o.status.code(), Some(4), "{}", text(&o.stderr));
}

#[test]
fn keyspaces_and_binary_bounds() {
    let d = tempfile::tempdir().unwrap();
    let dir = d.path();
    ok(dir, &["create-keyspace", "logs"]);
    fill(dir, "default");
    fill(dir, "logs");
    for k in [r"bin\xff\x01", r"bin\xff\x02", r"bin\xfe"] {
        ok(dir, &["-e", "-k", "logs", "put", k, "v"]);
    }
    ok(
        dir,
        &["-e", "-k", "logs", "delete-prefix", r"bin\xff", "--yes"],
    );
    assert_eq!(
        ok(dir, &["-k", "logs", "prefix", "bin"]),
        "\"bin\\xfe\" \"v\"\n"
    );
    ok(dir, &["-k", "logs", "delete-range", "b", "users", "--yes"]);
    assert_eq!(keys(dir, "logs"), ["a", "users", "z"]);
    // The default keyspace kept everything.
    assert_eq!(keys(dir, "default").len(), 8);
    let o = run(dir, &["-k", "nope", "delete-prefix", "a", "--yes"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o.stderr));
}

#[test]
fn the_piped_shell_needs_yes() {
    let d = tempfile::tempdir().unwrap();
    let dir = d.path();
    fill(dir, "default");
    let script = "\
delete-prefix user:
delete-prefix user: --yes
delete-range a c --yes
batch
delete-range x z --yes
abort
scan
";
    let o = output_with_stdin(&mut lsmkv(dir, &[]), script.as_bytes());
    assert_eq!(o.status.code(), Some(2));
    let err = text(&o.stderr);
    assert!(
        err.contains("error: line 1: delete-prefix deletes every key it covers: add --yes"),
        "{err}"
    );
    assert!(err.contains("error: line 5: inside a batch"), "{err}");
    assert_eq!(
        text(&o.stdout),
        "OK\nOK\naborted (0 operations discarded)\n\"c\" \"v\"\n\"users\" \"v\"\n\"z\" \"v\"\n"
    );
}

/// The README's subcommand examples.
#[test]
fn readme_examples() {
    let d = tempfile::tempdir().unwrap();
    let dir = d.path();
    for k in [
        "log:2026-01-05",
        "log:2026-01-31",
        "log:2026-02-01",
        "tmp/a",
        "tmp/b",
        "x",
    ] {
        ok(dir, &["put", k, "v"]);
    }
    assert_eq!(ok(dir, &["put", "session:42", "alice", "ttl=3600"]), "OK\n");
    assert_eq!(
        ok(
            dir,
            &["delete-range", "log:2026-01", "log:2026-02", "--yes"]
        ),
        "OK\n"
    );
    assert_eq!(ok(dir, &["delete-prefix", "tmp/", "--yes"]), "OK\n");
    assert_eq!(keys(dir, "default"), ["log:2026-02-01", "session:42", "x"]);
}
