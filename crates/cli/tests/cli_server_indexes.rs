//! The shell on the directory of an `lsmkv-server` that made secondary indexes (`/indexes`):
//! it declares them before writing (the engine refuses writes to an indexed keyspace whose
//! indexes the process has not declared), so its puts, deletes and range deletes keep the
//! indexes current, as the server sees after its next start.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::collections::HashMap;
use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use common::{lsmkv_without, output_in_temp_dir, output_with_stdin};
use lsmkv_server::{RunningServer, ServerConfig};
use serde_json::{Value as Json, json};

fn start(dir: &Path) -> RunningServer {
    let mut m: HashMap<&str, String> = HashMap::new();
    m.insert("DATA_DIR", dir.display().to_string());
    m.insert("SERVER_PORT", "0".into());
    m.insert("SERVER_HOST", "127.0.0.1".into());
    m.insert("SERVER_WORKERS", "2".into());
    m.insert("ACCESS_LOG", "false".into());
    let cfg = ServerConfig::parse_from_lookup(&|k| m.get(k).cloned()).unwrap();
    RunningServer::start(cfg).unwrap()
}

/// `method path` with an optional JSON body: status and JSON answer.
fn call(s: &RunningServer, method: &str, path: &str, body: Option<Json>) -> (u16, Json) {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let url = format!("http://{}{path}", s.addr());
    let req = ureq::http::Request::builder().method(method).uri(url);
    let mut resp = match body {
        Some(b) => agent.run(req.body(b.to_string().into_bytes()).unwrap()),
        None => agent.run(req.body(()).unwrap()),
    }
    .unwrap();
    let status = resp.status().as_u16();
    let text = resp.body_mut().read_to_string().unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Json::Null))
}

fn wait_ready(s: &RunningServer, name: &str) {
    let start = Instant::now();
    loop {
        let (_, v) = call(s, "GET", "/indexes", None);
        let ready = v["indexes"]
            .as_array()
            .unwrap()
            .iter()
            .any(|i| i["name"] == name && i["ready"] == true);
        if ready {
            return;
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "{name} never got ready"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn keys_with(s: &RunningServer, query: &str) -> Vec<String> {
    let (status, v) = call(
        s,
        "GET",
        &format!("/indexes/by_city?{query}&limit=100"),
        None,
    );
    assert_eq!(status, 200, "{v}");
    v["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["key"].as_str().unwrap().to_string())
        .collect()
}

fn lsmkv(dir: &Path, args: &[&str]) -> Command {
    let mut cmd = lsmkv_without(&["DATA_DIR", "WAL_SYNC_MODE", "MEMTABLE_MAX_SIZE"]);
    cmd.arg("--data-dir").arg(dir).args(args);
    cmd
}

fn ok(o: &Output) -> String {
    assert!(
        o.status.success(),
        "status {:?}: {}",
        o.status,
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[test]
fn the_shell_keeps_the_servers_indexes_current() {
    let d = tempfile::tempdir().unwrap();
    let dir = d.path();
    let s = start(dir);
    let users = json!([
        {"key": "u1", "value": r#"{"city": "paris"}"#},
        {"key": "u2", "value": r#"{"city": "lyon"}"#},
        {"key": "u3", "value": r#"{"city": "paris"}"#},
    ]);
    assert_eq!(call(&s, "POST", "/keys/batch", Some(users)).0, 200);
    let (status, v) = call(
        &s,
        "POST",
        "/indexes",
        Some(json!({"name": "by_city", "field": "city"})),
    );
    assert_eq!(status, 201, "{v}");
    wait_ready(&s, "by_city");
    s.stop().unwrap();

    // Reading needs no declaration; writing declares the server's indexes first.
    assert_eq!(
        ok(&output_in_temp_dir(&mut lsmkv(dir, &["get", "u1"]))),
        "\"{\\\"city\\\": \\\"paris\\\"}\"\n"
    );
    ok(&output_in_temp_dir(&mut lsmkv(
        dir,
        &["put", "u4", r#"{"city": "paris"}"#],
    )));
    ok(&output_in_temp_dir(&mut lsmkv(dir, &["delete", "u1"])));
    ok(&output_in_temp_dir(&mut lsmkv(
        dir,
        &["delete-range", "u2", "u3", "--yes"],
    )));
    let script =
        "put u5 \"{\\\"city\\\": \\\"lyon\\\"}\"\nput u3 \"{\\\"city\\\": \\\"rome\\\"}\"\n";
    ok(&output_with_stdin(&mut lsmkv(dir, &[]), script.as_bytes()));
    let import = "{\"key\":\"u6\",\"value\":\"{\\\"city\\\": \\\"paris\\\"}\"}\n";
    ok(&output_with_stdin(
        &mut lsmkv(dir, &["import", "-"]),
        import.as_bytes(),
    ));

    // The server, started again, finds the index as the shell left it.
    let s = start(dir);
    wait_ready(&s, "by_city");
    assert_eq!(keys_with(&s, "eq=paris"), ["u4", "u6"]);
    assert_eq!(keys_with(&s, "eq=lyon"), ["u5"]);
    assert_eq!(keys_with(&s, "eq=rome"), ["u3"]);
    assert_eq!(keys_with(&s, "start=a"), ["u5", "u4", "u6", "u3"]);
    s.stop().unwrap();
}
