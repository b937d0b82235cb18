//! Keyspaces in the `lsmkv` binary: `--keyspace NAME` on every command that reads or writes keys,
//! `keyspaces`, `create-keyspace` (with options), `drop-keyspace` (`--yes` without a terminal),
//! the shell's `use` (a batch lands in the keyspace the shell is in), `stats keyspace` and
//! `levels` naming the keyspace; and a directory written by `lsmkv-server` read by the shell
//! with the same keys the server shows.

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

#[test]
fn subcommands_act_on_the_keyspace_given() {
    let d = tempfile::tempdir().unwrap();
    let db = d.path();
    assert_eq!(ok(&run(db, &["put", "k", "in-default"])), "OK\n");
    // A keyspace that does not exist is a usage error, for reads and writes alike.
    for args in [
        &["--keyspace", "logs", "get", "k"][..],
        &["--keyspace", "logs", "put", "k", "v"],
        &["-k", "logs", "scan"],
        &["-k", "logs", "count"],
    ] {
        let o = run(db, args);
        assert_eq!(status(&o), 2, "{args:?}: {}", stderr(&o));
        assert!(
            stderr(&o).contains("keyspace \"logs\" does not exist"),
            "{}",
            stderr(&o)
        );
    }
    assert_eq!(
        ok(&run(
            db,
            &[
                "create-keyspace",
                "logs",
                "compression=none",
                "block_size=8K"
            ]
        )),
        "OK\n"
    );
    let o = run(db, &["create-keyspace", "logs"]);
    assert_eq!(status(&o), 2);
    assert!(stderr(&o).contains("already exists"), "{}", stderr(&o));
    let o = run(db, &["create-keyspace", "x", "compression=zstd"]);
    assert_eq!(status(&o), 2, "{}", stderr(&o));

    // Every key command in `logs`, apart from `default`.
    let k = |args: &[&str]| -> Vec<String> {
        let mut v = vec!["--keyspace".to_string(), "logs".to_string()];
        v.extend(args.iter().map(|s| s.to_string()));
        v
    };
    let runk = |args: &[&str]| {
        let a = k(args);
        let a: Vec<&str> = a.iter().map(String::as_str).collect();
        run(db, &a)
    };
    assert_eq!(ok(&runk(&["put", "k", "in-logs"])), "OK\n");
    assert_eq!(ok(&runk(&["put", "log:1", "boot"])), "OK\n");
    assert_eq!(ok(&runk(&["put", "log:2", "ready"])), "OK\n");
    assert_eq!(ok(&runk(&["get", "k"])), "\"in-logs\"\n");
    assert_eq!(ok(&run(db, &["get", "k"])), "\"in-default\"\n");
    assert_eq!(
        ok(&runk(&["scan"])),
        "\"k\" \"in-logs\"\n\"log:1\" \"boot\"\n\"log:2\" \"ready\"\n"
    );
    assert_eq!(
        ok(&runk(&["--json", "prefix", "log:", "--reverse"])),
        "{\"key\":\"log:2\",\"value\":\"ready\"}\n{\"key\":\"log:1\",\"value\":\"boot\"}\n"
    );
    assert_eq!(ok(&runk(&["--raw", "search", "ead"])), "log:2\tready\n");
    assert_eq!(ok(&runk(&["--raw", "count"])), "3\n");
    assert_eq!(ok(&run(db, &["--raw", "count"])), "1\n");
    assert_eq!(ok(&runk(&["delete", "k"])), "OK\n");
    assert_eq!(status(&runk(&["get", "k"])), 1);
    assert_eq!(ok(&run(db, &["get", "k"])), "\"in-default\"\n");

    // levels, flush, compact and stats name or act on the keyspace.
    assert_eq!(ok(&runk(&["flush"])), "OK\n");
    let text = ok(&runk(&["levels"]));
    assert!(
        text.starts_with("keyspace \"logs\"\n") && text.contains(".. \"log:2\""),
        "{text}"
    );
    let text = ok(&run(db, &["levels"]));
    assert!(
        text.starts_with("keyspace \"default\"\n") && !text.contains("log:"),
        "{text}"
    );
    let tables: serde_json::Value =
        serde_json::from_str(&ok(&runk(&["--json", "levels"]))).unwrap();
    assert_eq!(tables[0]["keyspace"], "logs");
    assert_eq!(ok(&runk(&["compact"])), "OK\n");
    let s: serde_json::Value =
        serde_json::from_str(&ok(&runk(&["--json", "stats", "keyspace"]))).unwrap();
    assert_eq!(s["name"], "logs");
    assert_eq!(s["sst_files"], 1);
    let all: serde_json::Value = serde_json::from_str(&ok(&run(db, &["--json", "stats"]))).unwrap();
    assert_eq!(all["keyspaces"].as_array().unwrap().len(), 2);

    // Export from one keyspace, import into another.
    let exported = ok(&runk(&["export"]));
    assert_eq!(
        exported,
        "{\"key\":\"log:1\",\"value\":\"boot\"}\n{\"key\":\"log:2\",\"value\":\"ready\"}\n"
    );
    ok(&run(db, &["create-keyspace", "copy"]));
    let o = output_with_stdin(
        &mut lsmkv(db, &["--keyspace", "copy", "import", "-"]),
        exported.as_bytes(),
    );
    ok(&o);
    let copied = run(db, &["--keyspace", "copy", "export"]);
    assert_eq!(ok(&copied), exported);

    // keyspaces: each with its exact number of keys, in every output mode.
    assert_eq!(
        ok(&run(db, &["keyspaces"])),
        "\"copy\" 2 keys\n\"default\" 1 key\n\"logs\" 2 keys\n"
    );
    assert_eq!(
        ok(&run(db, &["--json", "keyspaces"])),
        "{\"keys\":2,\"keyspace\":\"copy\"}\n{\"keys\":1,\"keyspace\":\"default\"}\n\
         {\"keys\":2,\"keyspace\":\"logs\"}\n"
    );
    assert_eq!(
        ok(&run(db, &["--raw", "keyspaces"])),
        "copy\t2\ndefault\t1\nlogs\t2\n"
    );

    // drop-keyspace: without a terminal only with --yes; never `default`.
    let o = run(db, &["drop-keyspace", "copy"]);
    assert_eq!(status(&o), 2);
    assert!(stderr(&o).contains("--yes"), "{}", stderr(&o));
    assert_eq!(ok(&run(db, &["drop-keyspace", "copy", "--yes"])), "OK\n");
    assert_eq!(status(&run(db, &["drop-keyspace", "copy", "--yes"])), 2);
    let o = run(db, &["drop-keyspace", "default", "--yes"]);
    assert_eq!(status(&o), 2, "{}", stderr(&o));
    assert_eq!(
        ok(&run(db, &["--raw", "keyspaces"])),
        "default\t1\nlogs\t2\n"
    );
}

#[test]
fn the_shell_switches_keyspaces() {
    let d = tempfile::tempdir().unwrap();
    let db = d.path();
    let script = "\
put a default-a
create-keyspace logs ttl_seconds=3600
use logs
put a logs-a
batch
put b logs-b
delete a
commit
scan
use default
scan
keyspaces
use nope
drop-keyspace logs
use logs
drop-keyspace logs --yes
get a
keyspaces
";
    let o = output_with_stdin(&mut lsmkv(db, &[]), script.as_bytes());
    assert_eq!(status(&o), 2, "{}", stderr(&o));
    assert_eq!(
        String::from_utf8_lossy(&o.stdout),
        "OK\nOK\nOK\nOK (2 operations)\n\"b\" \"logs-b\"\n\"a\" \"default-a\"\n\
         \"default\" 1 key\n\"logs\" 1 key\nOK\n\"default-a\"\n\"default\" 1 key\n"
    );
    let err = stderr(&o);
    assert!(
        err.contains("error: line 13: keyspace \"nope\" does not exist"),
        "{err}"
    );
    assert!(
        err.contains("error: line 14: drop-keyspace deletes \"logs\" and all its keys: add --yes"),
        "{err}"
    );
    // Dropping the keyspace the shell is in goes back to `default`.
    assert!(err.contains("(back in keyspace \"default\")"), "{err}");

    // --keyspace picks the shell's first keyspace; `stats keyspace` shows it.
    ok(&run(db, &["create-keyspace", "k2"]));
    let o = output_with_stdin(
        &mut lsmkv(db, &["--keyspace", "k2", "--json"]),
        b"put x 1\nstats keyspace\n",
    );
    let out = ok(&o);
    let second = out.lines().nth(1).unwrap();
    let v: serde_json::Value = serde_json::from_str(second).unwrap();
    assert_eq!(
        (v["name"].as_str(), v["memtable_entries"].as_u64()),
        (Some("k2"), Some(1))
    );
    assert_eq!(ok(&run(db, &["-k", "k2", "get", "x"])), "\"1\"\n");
    // A shell on a keyspace that does not exist does not start.
    let o = output_with_stdin(&mut lsmkv(db, &["--keyspace", "nope"]), b"get x\n");
    assert_eq!(status(&o), 2, "{}", stderr(&o));
}

#[test]
fn the_shell_reads_what_the_server_wrote() {
    use std::collections::HashMap;
    let d = tempfile::tempdir().unwrap();
    let mut m: HashMap<&str, String> = HashMap::new();
    m.insert("DATA_DIR", d.path().display().to_string());
    m.insert("SERVER_PORT", "0".into());
    m.insert("SERVER_HOST", "127.0.0.1".into());
    m.insert("SERVER_WORKERS", "2".into());
    m.insert("ACCESS_LOG", "false".into());
    let cfg = lsmkv_server::ServerConfig::parse_from_lookup(&|k| m.get(k).cloned()).unwrap();
    let server = lsmkv_server::RunningServer::start(cfg).unwrap();
    let url = format!("http://{}", server.addr());
    let http: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let put = |path: &str, body: &str| {
        let r = http
            .put(format!("{url}{path}"))
            .send(body.as_bytes())
            .unwrap();
        assert!(r.status().is_success(), "{path}: {}", r.status());
    };
    put("/keys/user:1", "ann");
    put("/keys/kitten", "meow");
    put("/keyspaces/logs", "");
    put("/keyspaces/logs/keys/log:1", "boot");
    let r = http
        .post(format!("{url}/features/dark-mode"))
        .send(r#"{"enabled": true}"#.as_bytes())
        .unwrap();
    assert_eq!(r.status().as_u16(), 201);
    // While the server runs (a read-only open) and after it stopped: the same, unprefixed keys.
    let check = || {
        assert_eq!(
            ok(&run(d.path(), &["scan"])),
            "\"kitten\" \"meow\"\n\"user:1\" \"ann\"\n"
        );
        assert_eq!(
            ok(&run(d.path(), &["-k", "logs", "get", "log:1"])),
            "\"boot\"\n"
        );
        assert_eq!(
            ok(&run(d.path(), &["--raw", "keyspaces"])),
            "default\t2\nflags\t1\nlogs\t1\n"
        );
    };
    check();
    server.stop().unwrap();
    check();
}
