//! The `lsmkv` binary with commands piped on stdin (no terminal): plain lines in, results on
//! stdout, errors on stderr, the exit status of the first failing line (2 usage, 3 corruption,
//! 4 other), `--bail` stops at the first failure; data persists across runs.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::path::Path;
use std::process::{Command, Output};

use common::{lsmkv_without, output_with_stdin};

/// Runs the binary on `dir` with `input` as stdin and `extra` arguments. The working directory is
/// a fresh temporary one so a developer's `.env` is not picked up, and the configuration
/// variables are cleared.
fn run_with(dir: &Path, extra: &[&str], input: &str) -> Output {
    let cwd = tempfile::tempdir().unwrap();
    let mut cmd = lsmkv_without(&[
        "DATA_DIR",
        "WAL_SYNC_MODE",
        "MEMTABLE_MAX_SIZE",
        "BLOCK_SIZE",
        "MAX_VALUE_SIZE",
    ]);
    cmd.arg("--data-dir")
        .arg(dir)
        .args(extra)
        .current_dir(cwd.path());
    output_with_stdin(&mut cmd, input.as_bytes())
}

fn run(dir: &Path, input: &str) -> Output {
    run_with(dir, &[], input)
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
fn scans_in_both_directions_with_bounds_and_limits() {
    let dir = tempfile::tempdir().unwrap();
    let out = run(
        dir.path(),
        "batch put a 1 put b 2 put c 3 put d 4 put \"10\" ten\n\
         scan\nscan b\nscan b d\nrscan\nrscan a c 1\nscan 2\nscan \"10\" 1\nprefix b\nprefix zz\n",
    );
    assert!(out.status.success(), "stderr: {}", stderr(&out));
    let expected = "OK (5 operations)\n\
        \"10\" \"ten\"\n\"a\" \"1\"\n\"b\" \"2\"\n\"c\" \"3\"\n\"d\" \"4\"\n\
        \"b\" \"2\"\n\"c\" \"3\"\n\"d\" \"4\"\n\
        \"b\" \"2\"\n\"c\" \"3\"\n\
        \"d\" \"4\"\n\"c\" \"3\"\n\"b\" \"2\"\n\"a\" \"1\"\n\"10\" \"ten\"\n\
        \"b\" \"2\"\n\
        \"10\" \"ten\"\n\"a\" \"1\"\n\
        \"10\" \"ten\"\n\
        \"b\" \"2\"\n\
        (empty)\n";
    assert_eq!(stdout(&out), expected);
    // The "limit reached" notes go to stderr, so stdout holds only entries.
    assert_eq!(
        stderr(&out),
        "(limit of 1 reached; give a larger LIMIT, or 0 for all)\n\
         (limit of 2 reached; give a larger LIMIT, or 0 for all)\n\
         (limit of 1 reached; give a larger LIMIT, or 0 for all)\n"
    );
}

#[test]
fn search_count_levels_and_stats_sections() {
    let dir = tempfile::tempdir().unwrap();
    let out = run(
        dir.path(),
        "put apple red\nput banana yellow\nput cherry red\ndelete banana\nflush\n\
         search red\nsearch red 1\ncount\nlevels\nstats wal\n",
    );
    assert!(out.status.success(), "stderr: {}", stderr(&out));
    let text = stdout(&out);
    assert!(
        text.contains("\"apple\" \"red\"\n\"cherry\" \"red\"\n\"apple\" \"red\"\n2 (estimate"),
        "{text}"
    );
    assert!(
        stderr(&out).contains("(limit of 1 reached"),
        "{}",
        stderr(&out)
    );
    assert!(text.contains("\n2 (estimate "), "{text}");
    assert!(text.contains("L0 ") && text.contains(".sst"), "{text}");
    let json_start = text.find("{\n").unwrap();
    let v: serde_json::Value = serde_json::from_str(&text[json_start..]).unwrap();
    assert!(
        v.get("wal_bytes").is_some() && v.get("sst_bytes").is_none(),
        "{v}"
    );
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
fn multi_line_batch_commits_atomically_and_abort_discards() {
    let dir = tempfile::tempdir().unwrap();
    let out = run(
        dir.path(),
        "batch\nput a 1\nput b 2\ndelete a\nget b\ncommit\nget a\nget b\n\
         batch\nput c 3\nabort\nget c\ncommit\n",
    );
    assert_eq!(out.status.code(), Some(2), "stderr: {}", stderr(&out));
    assert_eq!(
        stdout(&out),
        "OK (3 operations)\n(nil)\n\"2\"\n\
         aborted (1 operation discarded)\n(nil)\n"
    );
    let err = stderr(&out);
    // The banner is a note: stderr.
    assert!(
        err.starts_with("batch: enter put/delete lines, then commit (or abort)\n"),
        "{err}"
    );
    assert!(err.contains("line 5: inside a batch only put"), "{err}");
    assert!(err.contains("line 13: no batch is open"), "{err}");
}

#[test]
fn input_ending_inside_a_batch_applies_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let out = run(dir.path(), "batch\nput a 1\n");
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains(
            "error: input ended inside a batch (no commit); its 1 operation was not applied"
        ),
        "{}",
        stderr(&out)
    );
    let out = run(dir.path(), "get a\n");
    assert_eq!(stdout(&out), "(nil)\n");
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
        Some(2),
        "usage errors exit with status 2"
    );
    assert_eq!(stdout(&out), "OK\n\"2\"\n");
    let err = stderr(&out);
    assert!(err.contains("line 1: unknown command"), "{err}");
    assert!(err.contains("line 2: usage: put KEY VALUE"), "{err}");
    assert!(err.contains("unterminated"), "{err}");
}

#[test]
fn bail_stops_at_the_first_error() {
    let dir = tempfile::tempdir().unwrap();
    let out = run_with(dir.path(), &["--bail"], "put a 1\nget\nput b 2\n");
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(stdout(&out), "OK\n");
    let out = run(dir.path(), "get b\n");
    assert_eq!(stdout(&out), "(nil)\n", "lines after the error did not run");
}

#[test]
fn engine_errors_are_reported_with_their_status() {
    let dir = tempfile::tempdir().unwrap();
    let big_key = "k".repeat(70_000);
    let out = run(dir.path(), &format!("put {big_key} v\ncompact\n"));
    // KeyTooLarge is a usage error; it is the first failure.
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("exceeds the maximum"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn help_timer_and_exit() {
    let dir = tempfile::tempdir().unwrap();
    let out = run(
        dir.path(),
        "help\nhelp scan\n.timer on\nget a\n.timer off\nget a\nexit\nput b 2\n",
    );
    assert!(out.status.success(), "stderr: {}", stderr(&out));
    let text = stdout(&out);
    for cmd in [
        "put KEY VALUE",
        "rscan",
        "prefix P",
        "search TEXT",
        "levels",
        "batch",
        "keyspaces",
        "use NAME",
        "create-keyspace NAME [OPTION=VALUE]...",
        "drop-keyspace NAME [--yes]",
        "stats [memory|disk|wal|cache|keyspace]",
    ] {
        assert!(text.contains(cmd), "help lacks {cmd}: {text}");
    }
    let more = stdout(&run(
        dir.path(),
        "help create-keyspace\nhelp drop-keyspace\n",
    ));
    assert!(
        more.contains("compaction_strategy=leveled|tiered|lazy_leveling") && more.contains("--yes"),
        "{more}"
    );
    assert!(text.contains("usage: scan [START [END]] [LIMIT]"), "{text}");
    assert!(text.contains("timer on\n(nil)\nTime: "), "{text}");
    assert!(text.ends_with("timer off\n(nil)\n"), "{text}");
    let out = run(dir.path(), "get b\nquit\n");
    assert_eq!(stdout(&out), "(nil)\n", "exit stopped reading");
}

#[test]
fn help_flag_names_data_dir_its_variable_and_exit_codes() {
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
    assert!(
        text.contains("exit status") && text.contains("3  corruption"),
        "{text}"
    );
}

#[test]
fn json_and_raw_apply_to_the_piped_shell() {
    let dir = tempfile::tempdir().unwrap();
    let out = run_with(
        dir.path(),
        &["--json"],
        "put a 1\nget a\nget nope\nbatch put b 2\nscan\ncount\nscan zz\n",
    );
    assert!(out.status.success(), "stderr: {}", stderr(&out));
    let lines: Vec<serde_json::Value> = stdout(&out)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 7, "{}", stdout(&out));
    assert_eq!(lines[0], serde_json::json!({"ok": true}));
    assert_eq!(lines[1], serde_json::json!({"key": "a", "value": "1"}));
    assert_eq!(lines[2], serde_json::json!({"key": "nope", "value": null}));
    assert_eq!(lines[3], serde_json::json!({"ok": true, "operations": 1}));
    assert_eq!(lines[4], serde_json::json!({"key": "a", "value": "1"}));
    assert_eq!(lines[5], serde_json::json!({"key": "b", "value": "2"}));
    assert_eq!(lines[6]["count"], 2);

    let out = run_with(dir.path(), &["--raw"], "get a\nscan\nput c 3\n");
    assert!(out.status.success(), "stderr: {}", stderr(&out));
    assert_eq!(stdout(&out), "1a\t1\nb\t2\n");
}

#[test]
fn one_operation_is_singular_and_batch_errors_count_from_1() {
    let dir = tempfile::tempdir().unwrap();
    let out = run(
        dir.path(),
        "batch put a 1\nbatch\ndelete a\ncommit\nbatch put b 2 delete\nbatch put b 2 frob x\n",
    );
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(stdout(&out), "OK (1 operation)\nOK (1 operation)\n");
    let err = stderr(&out);
    assert!(
        err.contains("line 5: operation 2: delete needs a key"),
        "{err}"
    );
    assert!(
        err.contains("line 6: operation 2: expected put or delete"),
        "{err}"
    );
}

#[test]
fn limit_0_lists_everything_and_the_default_is_100() {
    let dir = tempfile::tempdir().unwrap();
    let mut script = String::from("batch");
    for i in 0..150 {
        script.push_str(&format!(" put k{i:03} v"));
    }
    script.push_str("\nscan\nscan 0\nprefix k1 0\nsearch k 0\n");
    let out = run(dir.path(), &script);
    assert!(out.status.success(), "stderr: {}", stderr(&out));
    assert_eq!(stdout(&out).lines().count(), 1 + 100 + 150 + 50 + 150);
    assert_eq!(stderr(&out).matches("(limit of 100 reached").count(), 1);

    // The subcommand agrees: 100 by default (with the note on stderr), --limit 0 or all for all.
    let lsmkv = |args: &[&str]| {
        let cwd = tempfile::tempdir().unwrap();
        lsmkv_without(&["DATA_DIR", "WAL_SYNC_MODE"])
            .arg("--data-dir")
            .arg(dir.path())
            .args(args)
            .current_dir(cwd.path())
            .output()
            .unwrap()
    };
    let o = lsmkv(&["scan"]);
    assert!(o.status.success());
    assert_eq!(stdout(&o).lines().count(), 100);
    assert!(stderr(&o).contains("(limit of 100 reached; --limit N for more, --limit 0 for all)"));
    for limit in ["0", "all"] {
        let o = lsmkv(&["scan", "--limit", limit]);
        assert_eq!(stdout(&o).lines().count(), 150, "--limit {limit}");
        assert_eq!(stderr(&o), "");
    }
    let o = lsmkv(&["search", "k", "-l", "0"]);
    assert_eq!(stdout(&o).lines().count(), 150);
    let o = lsmkv(&["prefix", "k", "--limit", "120"]);
    assert_eq!(stdout(&o).lines().count(), 120);
}

#[cfg(unix)]
#[test]
fn sigterm_and_sigint_end_the_piped_shell_closing_the_database() {
    use std::io::{BufRead, BufReader, Write};
    use std::os::unix::process::ExitStatusExt;
    use std::process::Stdio;

    let dir = tempfile::tempdir().unwrap();
    for (sig, status) in [("-TERM", 143), ("-INT", 130), ("-HUP", 129)] {
        let cwd = tempfile::tempdir().unwrap();
        let mut child = lsmkv_without(&["DATA_DIR", "MEMTABLE_MAX_SIZE"])
            .arg("--data-dir")
            .arg(dir.path())
            .env("WAL_SYNC_MODE", "none")
            .current_dir(cwd.path())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        // Stdin stays open: the shell waits for the next line when the signal comes.
        let mut stdin = child.stdin.take().unwrap();
        writeln!(stdin, "put {sig} v").unwrap();
        let mut out = BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        out.read_line(&mut line).unwrap();
        assert_eq!(line, "OK\n");
        let pid = child.id().to_string();
        assert!(
            Command::new("kill")
                .args([sig, &pid])
                .status()
                .unwrap()
                .success()
        );
        let st = child.wait().unwrap();
        assert_eq!(
            st.code(),
            Some(status),
            "{sig}: {st:?} (signal {:?})",
            st.signal()
        );
        drop(stdin);

        let db = lsmkv::Db::open(dir.path(), lsmkv::Options::default()).unwrap();
        assert!(
            db.get(sig).unwrap().is_some(),
            "{sig}: the OK'd write was lost"
        );
        db.close().unwrap();
    }
}
