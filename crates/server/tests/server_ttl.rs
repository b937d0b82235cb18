//! Expiring writes over HTTP: `ttl_seconds` in `POST /keys` bodies and batch entries,
//! `?ttl_seconds=N` on `PUT /keys/{key}`, keyspaces with a TTL. Expiry is checked by polling
//! with a generous bound (the server's clock is the real one), never by sleeping a fixed time.

mod server_common;

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use server_common::{Resp, TestServer};

fn code(r: &Resp) -> String {
    r.json()["code"].as_str().unwrap_or_default().to_string()
}

/// Polls `GET path` until it answers 404; panics after 60 s.
fn eventually_gone(s: &TestServer, path: &str) {
    let start = Instant::now();
    loop {
        let r = s.get(path);
        if r.status == 404 {
            return;
        }
        assert_eq!(r.status, 200, "{}", r.body);
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "{path} did not expire within 60 s"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn post_put_and_batch_take_a_ttl() {
    let s = TestServer::start(&[]);
    // A long TTL: readable, with its version.
    let r = s.post(
        "/keys",
        r#"{"key": "session", "value": "alice", "ttl_seconds": 3600}"#,
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let j = r.json();
    assert_eq!(
        (&j["key"], &j["value"], &j["ttl_seconds"]),
        (&json!("session"), &json!("alice"), &json!(3600))
    );
    let version = j["version"].as_u64().expect("a version");
    assert_eq!(r.headers["etag"], format!("\"{version}\""));
    let got = s.get("/keys/session").json();
    assert_eq!(
        (&got["value"], &got["version"]),
        (&json!("alice"), &json!(version))
    );

    // Short TTLs: gone eventually, by POST, PUT and batch.
    let r = s.post("/keys", r#"{"key": "p", "value": "1", "ttl_seconds": 1}"#);
    assert_eq!(r.status, 200, "{}", r.body);
    let r = s.request("PUT", "/keys/q?ttl_seconds=1", &[], b"2");
    assert_eq!(r.status, 204, "{}", r.body);
    let batch = json!([
        {"key": "b1", "value": "x", "ttl_seconds": 1},
        {"key": "b2", "value": "y"},
        {"key": "b3", "value": "z", "ttl_seconds": 3600},
    ]);
    let r = s.post("/keys/batch", &batch.to_string());
    assert_eq!(r.status, 200, "{}", r.body);
    for k in ["p", "q", "b1"] {
        eventually_gone(&s, &format!("/keys/{k}"));
    }
    // The others stay.
    for k in ["b2", "b3", "session"] {
        assert_eq!(s.get(&format!("/keys/{k}")).status, 200, "{k}");
    }
    // A later plain write of an expired key has no expiry.
    assert_eq!(s.put_raw("/keys/p", b"again").status, 204);
    assert_eq!(s.get("/keys/p").json()["value"], "again");
}

#[test]
fn keyspace_writes_expire_too() {
    let s = TestServer::start(&[]);
    let r = s.post("/keyspaces", r#"{"name": "cache", "ttl_seconds": 1}"#);
    assert_eq!(r.status, 201, "{}", r.body);
    // The keyspace's TTL applies to every plain put...
    assert_eq!(s.put_raw("/keyspaces/cache/keys/k", b"v").status, 204);
    // ...and a put's own TTL overrides it.
    let r = s.post(
        "/keyspaces/cache/keys",
        r#"{"key": "long", "value": "v", "ttl_seconds": 3600}"#,
    );
    assert_eq!(r.status, 200, "{}", r.body);
    eventually_gone(&s, "/keyspaces/cache/keys/k");
    assert_eq!(s.get("/keyspaces/cache/keys/long").status, 200);
}

#[test]
fn bad_ttls() {
    let s = TestServer::start(&[]);
    for ttl in [json!(0), json!(-1), json!(1.5), json!("10"), json!(true)] {
        let body = json!({"key": "k", "value": "v", "ttl_seconds": ttl});
        let r = s.post("/keys", &body.to_string());
        assert_eq!(
            (r.status, code(&r).as_str()),
            (400, "bad_request"),
            "{ttl}: {}",
            r.body
        );
        assert!(r.body.contains("ttl_seconds"), "{}", r.body);
        let r = s.post("/keys/batch", &Value::Array(vec![body]).to_string());
        assert_eq!(
            (r.status, code(&r).as_str()),
            (400, "bad_request"),
            "{ttl}: {}",
            r.body
        );
        assert!(r.body.contains("entry 0"), "{}", r.body);
    }
    for q in ["0", "-1", "x", "", "1.5"] {
        let r = s.request("PUT", &format!("/keys/k?ttl_seconds={q}"), &[], b"v");
        assert_eq!(
            (r.status, code(&r).as_str()),
            (400, "bad_request"),
            "{q}: {}",
            r.body
        );
    }
    // The engine has no conditional write with a TTL: refused, nothing written.
    let r = s.request(
        "PUT",
        "/keys/k?ttl_seconds=60",
        &[("If-None-Match", "*")],
        b"v",
    );
    assert_eq!(
        (r.status, code(&r).as_str()),
        (400, "bad_request"),
        "{}",
        r.body
    );
    let r = s.request(
        "POST",
        "/keys",
        &[("If-Match", "\"1\""), ("Content-Type", "application/json")],
        br#"{"key": "k", "value": "v", "ttl_seconds": 60}"#,
    );
    assert_eq!(
        (r.status, code(&r).as_str()),
        (400, "bad_request"),
        "{}",
        r.body
    );
    assert_eq!(s.get("/keys/k").status, 404);
    // `null` is no TTL.
    let r = s.post(
        "/keys",
        r#"{"key": "k", "value": "v", "ttl_seconds": null}"#,
    );
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.json().get("ttl_seconds").is_none(), "{}", r.body);
}
