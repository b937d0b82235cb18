//! `put KEY VALUE ttl=SECS`, as a subcommand and in the piped shell: the value expires (polled
//! with a generous bound: the engine's clock is the real one), a long TTL keeps it readable, bad
//! TTLs are usage errors, and a batch does not take one.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

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

/// Runs `get KEY` until it says the key does not exist (status 1); panics after 60 s.
fn eventually_gone(dir: &Path, ks: &str, key: &str) {
    let start = Instant::now();
    loop {
        let o = run(dir, &["-k", ks, "get", key]);
        match o.status.code() {
            Some(1) => return,
            Some(0) => {}
            other => panic!("get {key}: {other:?} {}", text(&o.stderr)),
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "{key} never expired"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn put_takes_a_ttl() {
    let d = tempfile::tempdir().unwrap();
    let dir = d.path();
    let o = run(dir, &["put", "short", "v", "ttl=1"]);
    assert_eq!(text(&o.stdout), "OK\n", "{}", text(&o.stderr));
    let o = run(dir, &["--json", "put", "long", "v", "ttl=3600"]);
    assert_eq!(text(&o.stdout), "{\"ok\":true}\n", "{}", text(&o.stderr));
    eventually_gone(dir, "default", "short");
    assert_eq!(text(&run(dir, &["get", "long"]).stdout), "\"v\"\n");

    for (args, needle) in [
        (&["put", "k", "v", "ttl=0"][..], "whole number"),
        (&["put", "k", "v", "ttl=soon"], "whole number"),
        (&["put", "k", "v", "ttl="], "whole number"),
        (&["put", "k", "v", "expire=1"], "expected ttl=SECS"),
    ] {
        let o = run(dir, args);
        assert_eq!(o.status.code(), Some(2), "{args:?}");
        assert!(
            text(&o.stderr).contains(needle),
            "{args:?}: {}",
            text(&o.stderr)
        );
    }
    assert_eq!(run(dir, &["get", "k"]).status.code(), Some(1));

    // In a keyspace, and in the piped shell.
    assert!(run(dir, &["create-keyspace", "cache"]).status.success());
    let script = "\
put s v ttl=1
put kept v
batch
put b v ttl=5
abort
get kept
";
    let o = output_with_stdin(&mut lsmkv(dir, &["-k", "cache"]), script.as_bytes());
    assert_eq!(o.status.code(), Some(2));
    assert!(
        text(&o.stderr).contains("error: line 4: ttl= is not taken inside a batch"),
        "{}",
        text(&o.stderr)
    );
    assert_eq!(
        text(&o.stdout),
        "OK\nOK\naborted (0 operations discarded)\n\"v\"\n"
    );
    eventually_gone(dir, "cache", "s");
    assert_eq!(
        run(dir, &["-k", "cache", "get", "kept"]).status.code(),
        Some(0)
    );
}
