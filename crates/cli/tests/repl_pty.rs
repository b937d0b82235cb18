//! The interactive shell in a pseudo-terminal: typing commands, tab completion of commands and
//! keys, hints, Ctrl-C, history recalled with the Up arrow (also in a second session, from the
//! history file), and a clean exit on Ctrl-D.
//!
//! Each `expect` waits (up to a generous timeout) for output the shell must print; nothing waits
//! for background work.

#![cfg(unix)]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use expectrl::process::unix::WaitStatus;
use expectrl::{ControlCode, Expect, Session};

const UP: &str = "\x1b[A";
/// An empty prompt, as drawn when the editor is ready for a new line. Input typed before it
/// appears is discarded by the terminal mode switch, so every step waits for it.
const PROMPT: &str = "lsmkv> \r";
const BATCH_PROMPT: &str = "batch> \r";

fn spawn(dir: &Path, cwd: &Path) -> expectrl::session::OsSession {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_lsmkv"));
    cmd.arg("--data-dir")
        .arg(dir)
        .current_dir(cwd)
        .env_remove("DATA_DIR")
        .env_remove("LSMKV_URL")
        .env("TERM", "xterm")
        .env("WAL_SYNC_MODE", "none");
    let mut s = Session::spawn(cmd).unwrap();
    s.set_expect_timeout(Some(Duration::from_secs(60)));
    s.expect(PROMPT).unwrap();
    s
}

fn exit_with_ctrl_d(mut s: expectrl::session::OsSession) {
    s.send(ControlCode::EndOfTransmission).unwrap();
    s.expect(expectrl::Eof).unwrap();
    let status = s.get_process().wait().unwrap();
    assert!(
        matches!(status, WaitStatus::Exited(_, 0)),
        "status {status:?}"
    );
}

#[test]
fn completion_hints_history_and_ctrl_keys() {
    let d = tempfile::tempdir().unwrap();
    let dir = d.path().join("db");
    {
        let db = lsmkv::Db::open(&dir, lsmkv::Options::default()).unwrap();
        db.put("user:alice", "A").unwrap();
        db.put("user:bob", "B").unwrap();
        db.put("order:1", "O").unwrap();
        db.close().unwrap();
    }

    let mut s = spawn(&dir, d.path());

    // A unique key completes by prefix, read from the database.
    s.send("get user:a\t").unwrap();
    s.expect("user:alice").unwrap();
    s.send("\r").unwrap();
    s.expect("\"A\"").unwrap();
    s.expect(PROMPT).unwrap();

    // Several candidates are listed on a second Tab.
    s.send("get user:\t\t").unwrap();
    s.expect("user:bob").unwrap();
    // Ctrl-C drops the line; the shell goes on.
    s.send(ControlCode::EndOfText).unwrap();
    s.expect(PROMPT).unwrap();

    // Command names complete; the hint shows a command's arguments.
    s.send("fl\t").unwrap();
    s.expect("flush").unwrap();
    s.send("\r").unwrap();
    s.expect("OK").unwrap();
    s.expect(PROMPT).unwrap();
    s.send("pu").unwrap();
    s.expect("KEY VALUE").unwrap();
    s.send("t counter 41\r").unwrap();
    s.expect("OK").unwrap();
    s.expect(PROMPT).unwrap();

    // Up recalls the previous line from the history.
    s.send("get counter\r").unwrap();
    s.expect("\"41\"").unwrap();
    s.expect(PROMPT).unwrap();
    s.send(UP).unwrap();
    s.expect("get counter").unwrap();
    s.send("\r").unwrap();
    s.expect("\"41\"").unwrap();
    s.expect(PROMPT).unwrap();

    // Errors are shown and the shell goes on.
    s.send("frobnicate\r").unwrap();
    s.expect("unknown command").unwrap();
    s.expect(PROMPT).unwrap();

    exit_with_ctrl_d(s);

    let history = std::fs::read_to_string(dir.join(".lsmkv_history")).unwrap();
    assert!(history.contains("get counter"), "{history}");

    // A new session: the history file is loaded and the data is there.
    let mut s = spawn(&dir, d.path());
    s.send(UP).unwrap();
    s.expect("frobnicate").unwrap();
    s.send(UP).unwrap();
    s.expect("get counter").unwrap();
    s.send("\r").unwrap();
    s.expect("\"41\"").unwrap();
    s.expect(PROMPT).unwrap();

    // A batch gets its own prompt; Ctrl-C aborts it.
    s.send("batch\r").unwrap();
    s.expect(BATCH_PROMPT).unwrap();
    s.send("put counter 0\r").unwrap();
    s.expect(BATCH_PROMPT).unwrap();
    s.send(ControlCode::EndOfText).unwrap();
    s.expect("batch aborted (1 operation discarded)").unwrap();
    s.expect(PROMPT).unwrap();
    s.send("get counter\r").unwrap();
    s.expect("\"41\"").unwrap();
    s.expect(PROMPT).unwrap();
    exit_with_ctrl_d(s);
}

#[test]
fn pasted_lines_all_run() {
    let d = tempfile::tempdir().unwrap();
    let dir = d.path().join("db");
    let mut s = spawn(&dir, d.path());

    // A plain paste: several lines arrive at once, each ended by Enter.
    s.send("put p1 one\rput p2 two\rput p3 three\r").unwrap();
    s.expect("OK").unwrap();
    // A bracketed paste: the terminal wraps the text, newlines included, in ESC[200~ .. ESC[201~,
    // and the editor returns it as one line when Enter follows.
    s.send("\x1b[200~put b1 x\nput b2 y\nput b3 z\x1b[201~\r")
        .unwrap();
    s.expect("OK").unwrap();
    s.send("count\r").unwrap();
    s.expect("6 (estimate").unwrap();
    s.expect(PROMPT).unwrap();
    exit_with_ctrl_d(s);

    let db = lsmkv::Db::open(&dir, lsmkv::Options::default()).unwrap();
    for k in ["p1", "p2", "p3", "b1", "b2", "b3"] {
        assert!(db.get(k).unwrap().is_some(), "{k} was not written");
    }
    db.close().unwrap();
}

#[test]
fn key_completion_uses_every_matching_key_and_quoted_words() {
    let d = tempfile::tempdir().unwrap();
    let dir = d.path().join("db");
    {
        let db = lsmkv::Db::open(&dir, lsmkv::Options::default()).unwrap();
        // More keys than one completion lists, under two prefixes.
        for i in 0..150 {
            db.put(format!("item:{i:03}"), "I").unwrap();
            db.put(format!("user:{i:03}"), "U").unwrap();
        }
        db.put("my key 1", "M").unwrap();
        db.put("my key 2", "M").unwrap();
        db.put("only one", "V").unwrap();
        db.close().unwrap();
    }
    let mut s = spawn(&dir, d.path());

    // No prefix is shared by all keys: Tab inserts nothing (it used to insert `item:0`, the
    // prefix of the first 64); a second Tab lists candidates.
    s.send("put \t").unwrap();
    s.send("\t").unwrap();
    s.expect("item:000").unwrap();
    s.send("a1 x\r").unwrap();
    s.expect("OK").unwrap();
    s.expect(PROMPT).unwrap();

    // `user:` is all that user:000 .. user:149 share (not `user:0`).
    s.send("put user:\t").unwrap();
    s.send("zz x\r").unwrap();
    s.expect("OK").unwrap();
    s.expect(PROMPT).unwrap();

    // A quoted word with a blank completes to what the matching keys share, quote kept open.
    s.send("put \"my k\t").unwrap();
    s.send("9\" x\r").unwrap();
    s.expect("OK").unwrap();
    s.expect(PROMPT).unwrap();

    // One matching key completes in full, closing the quote.
    s.send("get \"only o\t").unwrap();
    s.send("\r").unwrap();
    s.expect("\"V\"").unwrap();
    s.expect(PROMPT).unwrap();
    exit_with_ctrl_d(s);

    let db = lsmkv::Db::open(&dir, lsmkv::Options::default()).unwrap();
    for k in ["a1", "user:zz", "my key 9"] {
        assert!(db.get(k).unwrap().is_some(), "{k} was not written");
    }
    for k in ["item:0a1", "user:0zz", "my k9"] {
        assert!(db.get(k).unwrap().is_none(), "{k} was written");
    }
    db.close().unwrap();
}

/// Sends `sig` to the shell's process.
fn kill(s: &mut expectrl::session::OsSession, sig: &str) {
    let pid = s.get_process().pid().to_string();
    let ok = Command::new("kill")
        .args([sig, &pid])
        .status()
        .unwrap()
        .success();
    assert!(ok, "kill {sig} {pid}");
}

#[test]
fn ctrl_c_stops_a_command_and_sigterm_closes_the_database() {
    let d = tempfile::tempdir().unwrap();
    let dir = d.path().join("db");
    {
        // Enough entries that a full scan is still printing when Ctrl-C arrives.
        let db = lsmkv::Db::open(&dir, lsmkv::Options::default()).unwrap();
        for i in 0..50_000 {
            db.put(format!("big:{i:06}"), "some value").unwrap();
        }
        db.close().unwrap();
    }
    // `spawn` sets WAL_SYNC_MODE=none: a write answered OK is durable only once the database
    // is closed (or its WAL synced).
    let mut s = spawn(&dir, d.path());
    for k in ["w1", "w2", "w3"] {
        s.send(format!("put {k} v\r")).unwrap();
        s.expect("OK").unwrap();
        s.expect(PROMPT).unwrap();
    }
    s.send("scan 0\r").unwrap();
    s.expect("big:000100").unwrap();
    s.send(ControlCode::EndOfText).unwrap();
    s.expect("interrupted").unwrap();
    s.expect(PROMPT).unwrap();
    // The shell goes on.
    s.send("put w4 v\r").unwrap();
    s.expect("OK").unwrap();
    s.expect(PROMPT).unwrap();

    // SIGTERM while the editor waits for a key: the database is closed, the status is 143.
    kill(&mut s, "-TERM");
    s.expect(expectrl::Eof).unwrap();
    let status = s.get_process().wait().unwrap();
    assert!(
        matches!(status, WaitStatus::Exited(_, 143)),
        "status {status:?}"
    );

    let history = std::fs::read_to_string(dir.join(".lsmkv_history")).unwrap();
    assert!(history.contains("put w4 v"), "{history}");

    let db = lsmkv::Db::open(&dir, lsmkv::Options::default()).unwrap();
    for k in ["w1", "w2", "w3", "w4"] {
        assert!(db.get(k).unwrap().is_some(), "{k} was lost");
    }
    db.close().unwrap();
}

#[test]
fn keyspaces_show_in_the_prompt_complete_and_ask_before_a_drop() {
    let d = tempfile::tempdir().unwrap();
    let dir = d.path().join("db");
    {
        let db = lsmkv::Db::open(&dir, lsmkv::Options::default()).unwrap();
        db.put("user:1", "in default").unwrap();
        let logs = db.keyspace("logs").unwrap();
        logs.put("log:alpha", "A").unwrap();
        drop(logs);
        db.keyspace("metrics").unwrap();
        db.close().unwrap();
    }
    const LOGS_PROMPT: &str = "lsmkv:logs> \r";
    let mut s = spawn(&dir, d.path());

    // `use` completes keyspace names; the prompt then shows the keyspace.
    s.send("use lo\t").unwrap();
    s.expect("logs").unwrap();
    s.send("\r").unwrap();
    s.expect(LOGS_PROMPT).unwrap();
    // Keys complete from the keyspace the shell is in.
    s.send("get log:a\t").unwrap();
    s.expect("log:alpha").unwrap();
    s.send("\r").unwrap();
    s.expect("\"A\"").unwrap();
    s.expect(LOGS_PROMPT).unwrap();
    s.send("batch\r").unwrap();
    s.expect("batch:logs> \r").unwrap();
    s.send("abort\r").unwrap();
    s.expect(LOGS_PROMPT).unwrap();

    // drop-keyspace asks on a terminal: no keeps it, yes drops it.
    s.send("drop-keyspace metrics\r").unwrap();
    s.expect("drop keyspace \"metrics\" and all its keys? [y/N] ")
        .unwrap();
    s.send("n\r").unwrap();
    s.expect("not dropped").unwrap();
    s.expect(LOGS_PROMPT).unwrap();
    s.send("drop-keyspace logs\r").unwrap();
    s.expect("[y/N] ").unwrap();
    s.send("y\r").unwrap();
    s.expect("back in keyspace \"default\"").unwrap();
    s.expect(PROMPT).unwrap();
    s.send("keyspaces\r").unwrap();
    s.expect("\"metrics\" 0 keys").unwrap();
    s.expect(PROMPT).unwrap();
    exit_with_ctrl_d(s);

    let db = lsmkv::Db::open(&dir, lsmkv::Options::default()).unwrap();
    assert_eq!(db.keyspaces().unwrap(), vec!["default", "metrics"]);
    db.close().unwrap();
}

#[test]
fn range_deletes_ask_on_a_terminal() {
    let d = tempfile::tempdir().unwrap();
    let dir = d.path().join("db");
    {
        let db = lsmkv::Db::open(&dir, lsmkv::Options::default()).unwrap();
        for k in ["a", "b", "c", "user:1", "user:2", "z"] {
            db.put(k, "v").unwrap();
        }
        db.close().unwrap();
    }
    // The shell: no keeps the keys, yes deletes them.
    let mut s = spawn(&dir, d.path());
    s.send("delete-prefix user:\r").unwrap();
    s.expect("delete every key starting with \"user:\" in keyspace \"default\"? [y/N] ")
        .unwrap();
    s.send("n\r").unwrap();
    s.expect("not deleted").unwrap();
    s.expect(PROMPT).unwrap();
    s.send("delete-range \"\" b\r").unwrap();
    s.expect("delete every key in [first key, \"b\") of keyspace \"default\"? [y/N] ")
        .unwrap();
    s.send("y\r").unwrap();
    s.expect("OK").unwrap();
    s.expect(PROMPT).unwrap();
    s.send("count\r").unwrap();
    s.expect("5 (estimate").unwrap();
    s.expect(PROMPT).unwrap();
    exit_with_ctrl_d(s);

    // The subcommand asks too; anything but y or yes keeps the keys (status 4).
    let subcommand = |args: &[&str]| {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_lsmkv"));
        cmd.arg("--data-dir")
            .arg(&dir)
            .args(args)
            .current_dir(d.path())
            .env_remove("DATA_DIR")
            .env_remove("LSMKV_URL")
            .env("WAL_SYNC_MODE", "none");
        let mut s = Session::spawn(cmd).unwrap();
        s.set_expect_timeout(Some(Duration::from_secs(60)));
        s
    };
    let mut s = subcommand(&["delete-range", "user:", ""]);
    s.expect("delete every key in [\"user:\", end) of keyspace \"default\"? [y/N] ")
        .unwrap();
    s.send("nope\r").unwrap();
    s.expect("not deleted").unwrap();
    s.expect(expectrl::Eof).unwrap();
    let status = s.get_process().wait().unwrap();
    assert!(
        matches!(status, WaitStatus::Exited(_, 4)),
        "status {status:?}"
    );
    let mut s = subcommand(&["delete-prefix", ""]);
    s.expect("delete every key of keyspace \"default\"? [y/N] ")
        .unwrap();
    s.send("yes\r").unwrap();
    s.expect("OK").unwrap();
    s.expect(expectrl::Eof).unwrap();
    let status = s.get_process().wait().unwrap();
    assert!(
        matches!(status, WaitStatus::Exited(_, 0)),
        "status {status:?}"
    );

    let db = lsmkv::Db::open(&dir, lsmkv::Options::default()).unwrap();
    assert_eq!(db.range::<&[u8], _>(..).count(), 0);
    db.close().unwrap();
}
