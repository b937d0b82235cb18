//! Client mode: `lsmkv --url http://127.0.0.1:PORT` against a real `lsmkv-server` run in-process
//! on a loopback port. The same commands give the same output (text, `--json`, `--raw`) as on a
//! local directory holding the same data; binary keys round-trip; a wrong token is status 7, no
//! server status 6; commands that need the files are usage errors (status 2).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::collections::{BTreeSet, HashMap};
use std::path::Path;
use std::process::{Command, Output};

use common::{lsmkv_without, output_in_temp_dir, output_with_stdin};
use lsmkv_server::{RunningServer, ServerConfig};
use serde_json::Value as Json;

const TOKEN: &str = "t0ken-for-tests";

/// A server on 127.0.0.1:0 over a fresh directory, requiring [`TOKEN`].
struct Server {
    _dir: tempfile::TempDir,
    server: RunningServer,
}

impl Server {
    fn start() -> Server {
        let dir = tempfile::tempdir().unwrap();
        let mut m: HashMap<&str, String> = HashMap::new();
        m.insert("DATA_DIR", dir.path().display().to_string());
        m.insert("SERVER_PORT", "0".into());
        m.insert("SERVER_HOST", "127.0.0.1".into());
        m.insert("SERVER_WORKERS", "2".into());
        m.insert("API_TOKEN", TOKEN.into());
        m.insert("ACCESS_LOG", "false".into());
        // Below the 100 KiB value `binary_keys_round_trip` puts (as a raw body).
        m.insert("MAX_JSON_PAYLOAD_SIZE", "64KiB".into());
        // Small pages, so listings cross several of them.
        m.insert("DEFAULT_PAGE_LIMIT", "2".into());
        m.insert("SEARCH_MAX_LIMIT", "3".into());
        // Substring searches answer pages that may hold no items, only a cursor.
        m.insert("SEARCH_SCAN_LIMIT", "2".into());
        let cfg = ServerConfig::parse_from_lookup(&|k| m.get(k).cloned()).unwrap();
        let server = RunningServer::start(cfg).unwrap();
        Server { _dir: dir, server }
    }

    fn url(&self) -> String {
        format!("http://{}", self.server.addr())
    }
}

/// `lsmkv --url URL --token TOKEN ARGS...`.
fn remote(url: &str, token: &str, args: &[&str]) -> Command {
    let mut cmd = lsmkv_without(&["DATA_DIR"]);
    cmd.args(["--url", url, "--token", token]).args(args);
    cmd
}

/// `lsmkv --data-dir DIR ARGS...`.
fn local(dir: &Path, args: &[&str]) -> Command {
    let mut cmd = lsmkv_without(&["DATA_DIR", "WAL_SYNC_MODE", "MEMTABLE_MAX_SIZE"]);
    cmd.arg("--data-dir").arg(dir).args(args);
    cmd
}

fn run(cmd: &mut Command) -> Output {
    output_in_temp_dir(cmd)
}

fn ok(o: &Output) -> String {
    assert!(
        o.status.success(),
        "status {:?}, stderr: {}",
        o.status,
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn status(o: &Output) -> i32 {
    o.status.code().unwrap_or(-1)
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

const DATA: &[(&str, &str)] = &[
    ("apple", "red"),
    ("banana", "yellow"),
    ("blueberry", "blue"),
    ("cherry", "dark red"),
    ("user:1", "ann"),
    ("user:2", "bob"),
    ("user:3", "cy"),
    ("with space/slash%", "x+y"),
];

/// The same listings and reads, in every output mode, remotely and locally.
const QUERIES: &[&[&str]] = &[
    &["get", "banana"],
    &["get", "with space/slash%"],
    &["get", "nope"],
    &["scan"],
    &["scan", "b", "d"],
    &["scan", "--reverse", "--limit", "3"],
    &["scan", "--limit", "2"],
    &["prefix", "user:"],
    &["prefix", "user:", "--reverse"],
    &["search", "red"],
    &["search", "e", "--limit", "4"],
];

#[test]
fn subcommands_print_what_local_mode_prints() {
    let s = Server::start();
    let url = s.url();
    let dir = tempfile::tempdir().unwrap();
    for (k, v) in DATA {
        assert_eq!(ok(&run(&mut remote(&url, TOKEN, &["put", k, v]))), "OK\n");
        ok(&run(&mut local(dir.path(), &["put", k, v])));
    }
    for mode in [None, Some("--json"), Some("--raw")] {
        for q in QUERIES {
            let mut args: Vec<&str> = mode.into_iter().collect();
            args.extend_from_slice(q);
            let r = run(&mut remote(&url, TOKEN, &args));
            let l = run(&mut local(dir.path(), &args));
            assert_eq!(r.status.code(), l.status.code(), "{args:?}: {}", stderr(&r));
            assert_eq!(
                String::from_utf8_lossy(&r.stdout),
                String::from_utf8_lossy(&l.stdout),
                "{args:?}"
            );
            assert_eq!(stderr(&r), stderr(&l), "{args:?}");
        }
    }
    // get of a missing key: status 1 in both.
    assert_eq!(status(&run(&mut remote(&url, TOKEN, &["get", "nope"]))), 1);

    // count: exact; remotely the estimate is the exact count too.
    let c = ok(&run(&mut remote(&url, TOKEN, &["--json", "count"])));
    let c: Json = serde_json::from_str(&c).unwrap();
    assert_eq!(c["count"], DATA.len());
    assert_eq!(c["estimate"], DATA.len());
    assert_eq!(
        ok(&run(&mut remote(&url, TOKEN, &["--raw", "count"]))),
        format!("{}\n", DATA.len())
    );

    // stats: the same fields as the local engine's, whole and by section.
    for section in [
        None,
        Some("wal"),
        Some("memory"),
        Some("disk"),
        Some("cache"),
    ] {
        let mut args = vec!["--json", "stats"];
        args.extend(section);
        let fields = |o: &Output| -> BTreeSet<String> {
            let v: Json = serde_json::from_str(&ok(o)).unwrap();
            v.as_object().unwrap().keys().cloned().collect()
        };
        let r = fields(&run(&mut remote(&url, TOKEN, &args)));
        let l = fields(&run(&mut local(dir.path(), &args)));
        assert!(!r.is_empty());
        assert_eq!(r, l, "{args:?}");
    }

    // delete, then the key is gone.
    let out = ok(&run(&mut remote(
        &url,
        TOKEN,
        &["--json", "delete", "apple"],
    )));
    assert_eq!(out.trim(), r#"{"ok":true}"#);
    let g = run(&mut remote(&url, TOKEN, &["--json", "get", "apple"]));
    assert_eq!(status(&g), 1);
    assert_eq!(
        String::from_utf8_lossy(&g.stdout).trim(),
        r#"{"key":"apple","value":null}"#
    );
}

#[test]
fn binary_keys_round_trip() {
    let s = Server::start();
    let url = s.url();
    let dir = tempfile::tempdir().unwrap();
    let puts: &[(&str, &str)] = &[
        (r"\xff\x00k", r"\xfe\x01"),
        (r"\xc3(", "latin"),
        (r"k\xff", r"v\x80"),
        ("k", "plain"),
        (r"k\x7f\xff", "end"),
    ];
    for (k, v) in puts {
        ok(&run(&mut remote(&url, TOKEN, &["-e", "put", k, v])));
        ok(&run(&mut local(dir.path(), &["-e", "put", k, v])));
    }
    let got = run(&mut remote(
        &url,
        TOKEN,
        &["-e", "--raw", "get", r"\xff\x00k"],
    ));
    ok(&got);
    assert_eq!(got.stdout, b"\xfe\x01");
    // Bounds and prefixes that are not UTF-8 are applied through the cursor or on this side.
    let queries: &[&[&str]] = &[
        &["--json", "scan"],
        &["--json", "-e", "scan", r"k\xff"],
        &["--json", "-e", "scan", "a", r"k\xff"],
        &["--json", "-e", "scan", "--reverse", r"\xc3(", r"k\xff"],
        &["--json", "-e", "scan", "--reverse", r"k\x00", r"\xff"],
        &["--json", "-e", "prefix", r"k\x7f"],
        &["--json", "-e", "prefix", r"\xff"],
        &["-e", "scan", r"\xc3"],
        &["-e", "get", r"k\xff"],
        &["--json", "-e", "get", r"\xc3("],
    ];
    for q in queries {
        let r = run(&mut remote(&url, TOKEN, q));
        let l = run(&mut local(dir.path(), q));
        assert_eq!(ok(&r), ok(&l), "{q:?}");
    }
    // A key too long for a path goes in a JSON body; a large value as a raw body.
    let long_key = "L".repeat(3000);
    // (Larger than the test server's MAX_JSON_PAYLOAD_SIZE.)
    let big_value = "b".repeat(100 << 10);
    ok(&run(&mut remote(&url, TOKEN, &["put", &long_key, "v"])));
    ok(&run(&mut remote(&url, TOKEN, &["put", "big", &big_value])));
    let got = ok(&run(&mut remote(&url, TOKEN, &["--raw", "get", &long_key])));
    assert_eq!(got, "v");
    let got = ok(&run(&mut remote(&url, TOKEN, &["--raw", "get", "big"])));
    assert_eq!(got.len(), 100 << 10);
    ok(&run(&mut remote(&url, TOKEN, &["delete", &long_key])));
    ok(&run(&mut remote(&url, TOKEN, &["delete", "big"])));
    let listed = ok(&run(&mut remote(&url, TOKEN, &["--json", "scan"])));
    assert!(listed.contains(r#""key_base64":"/wBr""#), "{listed}");
    ok(&run(&mut remote(
        &url,
        TOKEN,
        &["-e", "delete", r"\xff\x00k"],
    )));
    let g = run(&mut remote(&url, TOKEN, &["-e", "get", r"\xff\x00k"]));
    assert_eq!(status(&g), 1);
}

#[test]
fn the_piped_shell_runs_the_same_script() {
    let s = Server::start();
    let url = s.url();
    let dir = tempfile::tempdir().unwrap();
    let script = "\
put a 1
put \"b c\" \"\\xff\"
batch put u:1 x put u:2 y put u:3 z
get \"b c\"
batch
put v:1 one
put v:2 two
commit
scan
scan u: v 2
rscan
prefix v:
search two
delete a
get a
count
stats wal
help get
";
    let r = output_with_stdin(&mut remote(&url, TOKEN, &[]), script.as_bytes());
    let l = output_with_stdin(&mut local(dir.path(), &[]), script.as_bytes());
    assert_eq!(stderr(&r), stderr(&l));
    let (r, l) = (ok(&r), ok(&l));
    // All but `count` (the local estimate may differ) and `stats wal` (the numbers differ).
    let cut = |s: &str| {
        s.split("\n6 (estimate")
            .next()
            .unwrap_or_default()
            .to_string()
    };
    assert_eq!(cut(&r), cut(&l));
    assert!(r.contains("\n6 (estimate 6)\n"), "{r}");
    assert!(r.contains("\"wal_bytes\""), "{r}");
    assert!(
        r.contains("OK (3 operations)") && r.contains("OK (2 operations)"),
        "{r}"
    );

    // JSON lines in the shell too.
    let script = "put k v\nget k\nprefix k\n";
    let r = output_with_stdin(&mut remote(&url, TOKEN, &["--json"]), script.as_bytes());
    assert_eq!(
        ok(&r),
        "{\"ok\":true}\n{\"key\":\"k\",\"value\":\"v\"}\n{\"key\":\"k\",\"value\":\"v\"}\n"
    );

    // Commands that need the files fail as usage errors; the shell goes on.
    let script =
        "levels\nflush\ncompact\nbatch put x 1 delete a\nbatch\nput y 2\ndelete b\ncommit\nget x\n";
    let r = output_with_stdin(&mut remote(&url, TOKEN, &[]), script.as_bytes());
    assert_eq!(status(&r), 2);
    let err = stderr(&r);
    for line in 1..=4 {
        assert!(err.contains(&format!("error: line {line}: ")), "{err}");
    }
    assert!(
        err.contains("levels is not available in client mode"),
        "{err}"
    );
    assert!(err.contains("line 8: a batch with delete"), "{err}");
    // Nothing of either batch was written.
    assert_eq!(
        String::from_utf8_lossy(&r.stdout).lines().last(),
        Some("(nil)")
    );
}

#[test]
fn offline_commands_are_usage_errors() {
    let s = Server::start();
    let url = s.url();
    for args in [
        &["levels"][..],
        &["flush"],
        &["compact"],
        &["verify"],
        &["inspect", "manifest"],
    ] {
        let o = run(&mut remote(&url, TOKEN, args));
        assert_eq!(status(&o), 2, "{args:?}: {}", stderr(&o));
        assert!(
            stderr(&o).contains("not available in client mode"),
            "{args:?}"
        );
    }
}

#[test]
fn import_and_export_go_through_the_server() {
    let s = Server::start();
    let url = s.url();
    let dir = tempfile::tempdir().unwrap();
    let mut input = String::new();
    for i in 0..2500 {
        input.push_str(&format!("{{\"key\":\"k{i:05}\",\"value\":\"v{i}\"}}\n"));
    }
    input.push_str("{\"key_base64\":\"/wA=\",\"value_base64\":\"gA==\"}\n");
    let args = ["--json", "import", "-", "--batch-size", "1000"];
    let r = output_with_stdin(&mut remote(&url, TOKEN, &args), input.as_bytes());
    assert_eq!(ok(&r).trim(), r#"{"batches":3,"records":2501}"#);
    let l = output_with_stdin(&mut local(dir.path(), &args), input.as_bytes());
    assert_eq!(ok(&l).trim(), r#"{"batches":3,"records":2501}"#);
    for args in [
        &["export"][..],
        &["export", "--format", "csv"],
        &["export", "--prefix", "k01"],
    ] {
        let r = run(&mut remote(&url, TOKEN, args));
        let l = run(&mut local(dir.path(), args));
        assert_eq!(ok(&r), ok(&l), "{args:?}");
        assert_eq!(stderr(&r), stderr(&l), "{args:?}");
    }
    // A bad record stops it with status 2, as locally.
    let r = output_with_stdin(&mut remote(&url, TOKEN, &["import", "-"]), b"{\"key\":1}\n");
    assert_eq!(status(&r), 2, "{}", stderr(&r));
    // The server refuses an empty key (a usage error, status 2).
    let r = output_with_stdin(
        &mut remote(&url, TOKEN, &["import", "-"]),
        b"{\"key\":\"\",\"value\":\"x\"}\n",
    );
    assert_eq!(status(&r), 2, "{}", stderr(&r));
    assert!(stderr(&r).contains("bad_request"), "{}", stderr(&r));
}

#[test]
fn a_wrong_token_is_status_7_and_no_server_status_6() {
    let s = Server::start();
    let url = s.url();
    for args in [&["get", "k"][..], &["scan"], &["put", "k", "v"], &["count"]] {
        let o = run(&mut remote(&url, "wrong", args));
        assert_eq!(status(&o), 7, "{args:?}: {}", stderr(&o));
        assert!(stderr(&o).contains("unauthorized"), "{}", stderr(&o));
        assert!(o.stdout.is_empty());
    }
    // The shell checks the token before reading a line.
    let o = output_with_stdin(&mut remote(&url, "wrong", &[]), b"put k v\n");
    assert_eq!(status(&o), 7, "{}", stderr(&o));
    // The token and the URL from the environment.
    let mut cmd = lsmkv_without(&["DATA_DIR"]);
    cmd.env("LSMKV_URL", &url)
        .env("API_TOKEN", TOKEN)
        .args(["put", "e", "nv"]);
    assert_eq!(ok(&run(&mut cmd)), "OK\n");
    // An empty LSMKV_URL is local mode.
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = local(dir.path(), &["put", "l", "ocal"]);
    cmd.env("LSMKV_URL", "");
    assert_eq!(ok(&run(&mut cmd)), "OK\n");
    assert_eq!(
        ok(&run(&mut local(dir.path(), &["get", "l"]))),
        "\"ocal\"\n"
    );
    drop(s);

    // A port nobody listens on.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let url = format!("http://127.0.0.1:{port}");
    let o = run(&mut remote(&url, TOKEN, &["get", "k"]));
    assert_eq!(status(&o), 6, "{}", stderr(&o));
    assert!(
        stderr(&o).contains("cannot reach the server"),
        "{}",
        stderr(&o)
    );
    let o = output_with_stdin(&mut remote(&url, TOKEN, &[]), b"get k\n");
    assert_eq!(status(&o), 6, "{}", stderr(&o));
    // No TLS.
    let o = run(&mut remote("https://127.0.0.1:1", TOKEN, &["get", "k"]));
    assert_eq!(status(&o), 2, "{}", stderr(&o));
}

/// The interactive shell in a pseudo-terminal completes keys read from the server; its history
/// goes to ~/.lsmkv_client_history.
#[cfg(unix)]
#[test]
fn the_interactive_shell_completes_keys_from_the_server() {
    use expectrl::process::unix::WaitStatus;
    use expectrl::{ControlCode, Expect, Session};

    const PROMPT: &str = "lsmkv> \r";
    let s = Server::start();
    let url = s.url();
    for (k, v) in [("user:alice", "A"), ("user:bob", "B"), ("order:1", "O")] {
        ok(&run(&mut remote(&url, TOKEN, &["put", k, v])));
    }
    let home = tempfile::tempdir().unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_lsmkv"));
    cmd.args(["--url", &url, "--token", TOKEN])
        .current_dir(home.path())
        .env("HOME", home.path())
        .env_remove("LSMKV_URL")
        .env_remove("API_TOKEN")
        .env("TERM", "xterm");
    let mut p = Session::spawn(cmd).unwrap();
    p.set_expect_timeout(Some(std::time::Duration::from_secs(60)));
    p.expect(PROMPT).unwrap();
    p.send("get user:a\t").unwrap();
    p.expect("user:alice").unwrap();
    p.send("\r").unwrap();
    p.expect("\"A\"").unwrap();
    p.expect(PROMPT).unwrap();
    p.send("get user:\t\t").unwrap();
    p.expect("user:bob").unwrap();
    p.send(ControlCode::EndOfText).unwrap();
    p.expect(PROMPT).unwrap();
    p.send(ControlCode::EndOfTransmission).unwrap();
    p.expect(expectrl::Eof).unwrap();
    let status = p.get_process().wait().unwrap();
    assert!(
        matches!(status, WaitStatus::Exited(_, 0)),
        "status {status:?}"
    );
    let history = std::fs::read_to_string(home.path().join(".lsmkv_client_history")).unwrap();
    assert!(history.contains("get user:alice"), "{history}");
}

/// Keyspaces in client mode: `--keyspace`, `keyspaces`, `create-keyspace`, `drop-keyspace` and
/// the shell's `use` go through `/keyspaces...` and print what local mode prints.
#[test]
fn keyspaces_work_as_in_local_mode() {
    let s = Server::start();
    let url = s.url();
    let dir = tempfile::tempdir().unwrap();
    // The server has its `flags` keyspace; give the local database one too, to compare lists.
    ok(&run(&mut local(dir.path(), &["create-keyspace", "flags"])));
    let both = |args: &[&str]| -> (Output, Output) {
        (
            run(&mut remote(&url, TOKEN, args)),
            run(&mut local(dir.path(), args)),
        )
    };
    let same = |args: &[&str]| {
        let (r, l) = both(args);
        assert_eq!(
            status(&r),
            status(&l),
            "{args:?}: {} / {}",
            stderr(&r),
            stderr(&l)
        );
        assert_eq!(
            String::from_utf8_lossy(&r.stdout),
            String::from_utf8_lossy(&l.stdout),
            "{args:?}"
        );
        status(&r)
    };
    assert_eq!(
        same(&[
            "create-keyspace",
            "logs",
            "compression=none",
            "block_size=8K"
        ]),
        0
    );
    assert_eq!(same(&["create-keyspace", "logs"]), 2);
    assert_eq!(same(&["create-keyspace", "x", "nope=1"]), 2);
    for (k, v) in [("log:1", "boot"), ("log:2", "ready"), ("log:3", "x y")] {
        assert_eq!(same(&["-k", "logs", "put", k, v]), 0);
    }
    assert_eq!(same(&["put", "log:1", "in-default"]), 0);
    for mode in [None, Some("--json"), Some("--raw")] {
        for q in [
            &["-k", "logs", "get", "log:1"][..],
            &["get", "log:1"],
            &["-k", "logs", "scan"],
            &["-k", "logs", "scan", "--reverse", "--limit", "2"],
            &["-k", "logs", "prefix", "log:"],
            &["-k", "logs", "search", "ead"],
            &["keyspaces"],
        ] {
            let mut args: Vec<&str> = mode.into_iter().collect();
            args.extend_from_slice(q);
            assert_eq!(same(&args), 0, "{args:?}");
        }
    }
    assert_eq!(same(&["--raw", "-k", "logs", "count"]), 0);
    assert_eq!(same(&["-k", "logs", "export"]), 0);
    // `stats keyspace`: the same fields.
    let (r, l) = both(&["--json", "-k", "logs", "stats", "keyspace"]);
    let fields = |o: &Output| -> BTreeSet<String> {
        let v: Json = serde_json::from_str(&ok(o)).unwrap();
        v.as_object().unwrap().keys().cloned().collect()
    };
    assert_eq!(fields(&r), fields(&l));
    // A keyspace that does not exist: a usage error in both.
    assert_eq!(same(&["-k", "nope", "get", "x"]), 2);
    assert_eq!(same(&["-k", "nope", "put", "x", "y"]), 2);
    let r = run(&mut remote(&url, TOKEN, &["-k", "nope", "scan"]));
    assert!(stderr(&r).contains("keyspace_not_found"), "{}", stderr(&r));

    // The shell: `use`, a batch in the keyspace, `keyspaces`, dropping the current keyspace.
    let script = "\
use logs
batch put log:4 four put log:5 five
scan log:4
use default
get log:4
create-keyspace tmp
use tmp
put t 1
keyspaces
drop-keyspace tmp --yes
get log:1
";
    let r = output_with_stdin(&mut remote(&url, TOKEN, &[]), script.as_bytes());
    let l = output_with_stdin(&mut local(dir.path(), &[]), script.as_bytes());
    assert_eq!(ok(&r), ok(&l));
    assert_eq!(stderr(&r), stderr(&l));
    assert!(
        ok(&r).contains("\"tmp\" 1 key\n") && ok(&r).ends_with("OK\n\"in-default\"\n"),
        "{}",
        ok(&r)
    );
    assert!(stderr(&r).contains("back in keyspace"), "{}", stderr(&r));
    // A shell on a keyspace that does not exist does not start.
    let r = output_with_stdin(&mut remote(&url, TOKEN, &["-k", "nope"]), b"get x\n");
    assert_eq!(status(&r), 2, "{}", stderr(&r));

    // Dropping: --yes without a terminal, never `default`.
    assert_eq!(same(&["drop-keyspace", "logs"]), 2);
    assert_eq!(same(&["drop-keyspace", "default", "--yes"]), 2);
    assert_eq!(same(&["drop-keyspace", "logs", "--yes"]), 0);
    assert_eq!(same(&["-k", "logs", "get", "log:1"]), 2);
    assert_eq!(same(&["--raw", "keyspaces"]), 0);
}

/// `delete-range`, `delete-prefix` and `put ... ttl=SECS` in client mode go through
/// `DELETE /keys?...` and `PUT /keys/{key}?ttl_seconds=N` and do what local mode does: the same
/// output, statuses and remaining keys, binary bounds (as `_base64` parameters) included.
#[test]
fn range_deletes_and_ttls_work_as_in_local_mode() {
    let s = Server::start();
    let url = s.url();
    let dir = tempfile::tempdir().unwrap();
    ok(&run(&mut local(dir.path(), &["create-keyspace", "flags"])));
    let same = |args: &[&str]| -> i32 {
        let r = run(&mut remote(&url, TOKEN, args));
        let l = run(&mut local(dir.path(), args));
        assert_eq!(
            status(&r),
            status(&l),
            "{args:?}: {} / {}",
            stderr(&r),
            stderr(&l)
        );
        assert_eq!(
            String::from_utf8_lossy(&r.stdout),
            String::from_utf8_lossy(&l.stdout),
            "{args:?}"
        );
        status(&r)
    };
    let fill = || {
        for (k, v) in DATA {
            assert_eq!(same(&["put", k, v]), 0);
        }
        for k in [r"bin\xff\x01", r"bin\xff\x02", r"bin\xfe"] {
            assert_eq!(same(&["-e", "put", k, "v"]), 0);
        }
    };
    let listing = || assert_eq!(same(&["--raw", "scan", "--limit", "0"]), 0);
    fill();
    assert_eq!(same(&["delete-range", "b", "c"]), 2);
    assert_eq!(same(&["delete-range", "c", "b", "--yes"]), 2);
    assert_eq!(same(&["delete-range", "banana", "c", "--yes"]), 0);
    listing();
    assert_eq!(same(&["--json", "delete-prefix", "user:", "--yes"]), 0);
    listing();
    assert_eq!(same(&["-e", "delete-prefix", r"bin\xff", "--yes"]), 0);
    listing();
    assert_eq!(
        same(&[
            "-e",
            "--raw",
            "delete-range",
            r"bin\xfe",
            r"bin\xff",
            "--yes"
        ]),
        0
    );
    listing();
    assert_eq!(same(&["delete-range", "w", "", "--yes"]), 0);
    listing();
    // Every key: the client adds `all=true` once --yes has confirmed it.
    assert_eq!(same(&["delete-range", "", "", "--yes"]), 0);
    listing();
    assert_eq!(same(&["--raw", "count"]), 0);
    fill();
    assert_eq!(same(&["delete-prefix", "", "--yes"]), 0);
    assert_eq!(same(&["--raw", "count"]), 0);
    // In a keyspace, through the piped shell.
    assert_eq!(same(&["create-keyspace", "logs"]), 0);
    let script = "\
use logs
put log:1 a
put log:2 b
put other c
delete-prefix log:
delete-prefix log: --yes
scan
put t v ttl=3600
get t
";
    let r = output_with_stdin(&mut remote(&url, TOKEN, &[]), script.as_bytes());
    let l = output_with_stdin(&mut local(dir.path(), &[]), script.as_bytes());
    assert_eq!((status(&r), ok_or_err(&r)), (status(&l), ok_or_err(&l)));
    assert_eq!(stderr(&r), stderr(&l));
    assert_eq!(
        ok_or_err(&r),
        "OK\nOK\nOK\nOK\n\"other\" \"c\"\nOK\n\"v\"\n"
    );

    // A value with a short TTL expires on the server.
    assert_eq!(same(&["put", "short", "v", "ttl=1"]), 0);
    assert_eq!(same(&["put", "bad", "v", "ttl=0"]), 2);
    let start = std::time::Instant::now();
    while status(&run(&mut remote(&url, TOKEN, &["get", "short"]))) != 1 {
        assert!(
            start.elapsed() < std::time::Duration::from_secs(60),
            "never expired"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    // A key too long for a path goes by POST /keys, with its TTL.
    let long = "k".repeat(3000);
    ok(&run(&mut remote(
        &url,
        TOKEN,
        &["put", &long, "v", "ttl=3600"],
    )));
    assert_eq!(
        ok(&run(&mut remote(&url, TOKEN, &["get", &long]))),
        "\"v\"\n"
    );
}

/// Stdout of a run that may have failed.
fn ok_or_err(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}
