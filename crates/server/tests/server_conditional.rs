//! Versions and conditional requests on `/keys`: `ETag` and `"version"` on reads and writes,
//! `If-Match` / `If-None-Match` on `PUT`, `POST` and `DELETE`, 412 `precondition_failed`.

mod server_common;

use serde_json::json;
use server_common::TestServer;

fn etag(r: &server_common::Resp) -> String {
    r.headers
        .get("etag")
        .unwrap_or_else(|| panic!("no ETag: {r:?}"))
        .clone()
}

#[test]
fn get_etag_is_the_json_version() {
    let s = TestServer::start(&[]);
    let w = s.post("/keys", r#"{"key": "a", "value": "1"}"#);
    assert_eq!(w.status, 200, "{}", w.body);
    let v = w.json()["version"].as_u64().unwrap();
    assert_eq!(etag(&w), format!("\"{v}\""));
    let r = s.get("/keys/a");
    assert_eq!(r.json()["version"], v);
    assert_eq!(etag(&r), format!("\"{v}\""));
    // The raw representation carries the same ETag.
    let raw = s.get_with("/keys/a", ("Accept", "application/octet-stream"));
    assert_eq!(raw.body, "1");
    assert_eq!(etag(&raw), format!("\"{v}\""));
    // PUT returns the new version as its ETag, and GET then reports it.
    let p = s.put_raw("/keys/a", b"2");
    assert_eq!(p.status, 204);
    let tag = etag(&p);
    assert_ne!(tag, format!("\"{v}\""));
    assert_eq!(etag(&s.get("/keys/a")), tag);
}

#[test]
fn put_with_if_match() {
    let s = TestServer::start(&[]);
    assert_eq!(s.put_raw("/keys/k", b"one").status, 204);
    let stale = etag(&s.get("/keys/k"));
    assert_eq!(s.put_raw("/keys/k", b"two").status, 204);
    let current = etag(&s.get("/keys/k"));

    // Stale: 412, value unchanged.
    let r = s.request("PUT", "/keys/k", &[("If-Match", &stale)], b"three");
    assert_eq!(r.status, 412, "{}", r.body);
    let body = r.json();
    assert_eq!(body["code"], "precondition_failed");
    assert!(body["error"].is_string());
    assert_eq!(
        format!("\"{}\"", body["current_version"].as_u64().unwrap()),
        current
    );
    let g = s.get("/keys/k");
    assert_eq!(g.json()["value"], "two");
    assert_eq!(etag(&g), current);

    // Current: written, with a new ETag.
    let r = s.request("PUT", "/keys/k", &[("If-Match", &current)], b"three");
    assert_eq!(r.status, 204, "{}", r.body);
    let newer = etag(&r);
    assert_ne!(newer, current);
    let g = s.get("/keys/k");
    assert_eq!(g.json()["value"], "three");
    assert_eq!(etag(&g), newer);

    // `*` needs the key to exist; a weak tag never matches.
    let r = s.request("PUT", "/keys/k", &[("If-Match", "*")], b"four");
    assert_eq!(r.status, 204);
    let weak = format!("W/{}", etag(&r));
    assert_eq!(
        s.request("PUT", "/keys/k", &[("If-Match", &weak)], b"five")
            .status,
        412
    );
    assert_eq!(
        s.request("PUT", "/keys/absent", &[("If-Match", "*")], b"x")
            .status,
        412
    );
    assert_eq!(s.get("/keys/absent").status, 404);
}

#[test]
fn if_none_match_star_creates_only() {
    let s = TestServer::start(&[]);
    let r = s.request("PUT", "/keys/new", &[("If-None-Match", "*")], b"first");
    assert_eq!(r.status, 204, "{}", r.body);
    let tag = etag(&r);
    let r = s.request("PUT", "/keys/new", &[("If-None-Match", "*")], b"second");
    assert_eq!(r.status, 412);
    assert_eq!(r.json()["code"], "precondition_failed");
    let g = s.get("/keys/new");
    assert_eq!(g.json()["value"], "first");
    assert_eq!(etag(&g), tag);

    // The same through POST /keys.
    let body = json!({"key": "p", "value": "1"}).to_string();
    let h = [("If-None-Match", "*"), ("Content-Type", "application/json")];
    let r = s.request("POST", "/keys", &h, body.as_bytes());
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(etag(&r), format!("\"{}\"", r.json()["version"]));
    let r = s.request("POST", "/keys", &h, body.as_bytes());
    assert_eq!(r.status, 412);
    // After a delete the key is absent again.
    assert_eq!(s.delete("/keys/p").status, 204);
    assert_eq!(s.request("POST", "/keys", &h, body.as_bytes()).status, 200);
}

#[test]
fn post_with_if_match() {
    let s = TestServer::start(&[]);
    let v = s.post("/keys", r#"{"key": "c", "value": "1"}"#).json()["version"]
        .as_u64()
        .unwrap();
    let body = json!({"key": "c", "value": "2"}).to_string();
    let stale = format!("\"{}\"", v + 1000);
    let r = s.request("POST", "/keys", &[("If-Match", &stale)], body.as_bytes());
    assert_eq!(r.status, 412);
    assert_eq!(r.json()["current_version"], v);
    let cur = format!("\"{v}\"");
    let r = s.request("POST", "/keys", &[("If-Match", &cur)], body.as_bytes());
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.json()["version"].as_u64().unwrap() > v);
    assert_eq!(s.get("/keys/c").json()["value"], "2");
}

#[test]
fn delete_with_preconditions() {
    let s = TestServer::start(&[]);
    s.put_raw("/keys/d", b"x");
    let tag = etag(&s.get("/keys/d"));
    s.put_raw("/keys/d", b"y");
    let r = s.request("DELETE", "/keys/d", &[("If-Match", &tag)], b"");
    assert_eq!(r.status, 412);
    assert_eq!(s.get("/keys/d").json()["value"], "y");
    let r = s.request("DELETE", "/keys/d", &[("If-None-Match", "*")], b"");
    assert_eq!(r.status, 412);
    let cur = etag(&s.get("/keys/d"));
    let r = s.request("DELETE", "/keys/d", &[("If-Match", &cur)], b"");
    assert_eq!(r.status, 204);
    assert_eq!(s.get("/keys/d").status, 404);
    // Absent now: If-Match fails.
    let r = s.request("DELETE", "/keys/d", &[("If-Match", &cur)], b"");
    assert_eq!(r.status, 412);
    assert!(r.json()["current_version"].is_null());
}

/// Versions survive a restart (reopen) and a compaction: an ETag read before still matches.
#[test]
fn etag_survives_restart() {
    let mut s = TestServer::start(&[]);
    s.put_raw("/keys/r", b"v");
    let tag = etag(&s.get("/keys/r"));
    s.restart();
    assert_eq!(etag(&s.get("/keys/r")), tag);
    let r = s.request("PUT", "/keys/r", &[("If-Match", &tag)], b"w");
    assert_eq!(r.status, 204, "{}", r.body);
}

/// GET with `If-None-Match` naming the current version: 304 without a body; with `If-Match` naming
/// another: 412.
#[test]
fn conditional_get() {
    let s = TestServer::start(&[]);
    s.put_raw("/keys/g", b"v");
    let tag = etag(&s.get("/keys/g"));
    let r = s.get_with("/keys/g", ("If-None-Match", &tag));
    assert_eq!(r.status, 304);
    assert_eq!(r.body, "");
    assert_eq!(etag(&r), tag);
    let r = s.get_with("/keys/g", ("If-None-Match", "\"999998\", \"999999\""));
    assert_eq!(r.status, 200);
    assert_eq!(s.get_with("/keys/g", ("If-Match", &tag)).status, 200);
    let r = s.get_with("/keys/g", ("If-Match", "\"999999\""));
    assert_eq!(r.status, 412);
    assert_eq!(r.json()["code"], "precondition_failed");
    // Absent: 404 whatever the preconditions.
    assert_eq!(s.get_with("/keys/none", ("If-Match", &tag)).status, 404);
}

/// Concurrent PUTs with the same `If-Match`: exactly one is applied, the others get 412.
#[test]
fn racing_conditional_puts_have_one_winner() {
    let s = TestServer::start(&[]);
    for round in 0..5 {
        s.put_raw("/keys/race", format!("start{round}").as_bytes());
        let tag = etag(&s.get("/keys/race"));
        let statuses: Vec<u16> = std::thread::scope(|sc| {
            let hs: Vec<_> = (0..6)
                .map(|t| {
                    let (s, tag) = (&s, &tag);
                    sc.spawn(move || {
                        s.request(
                            "PUT",
                            "/keys/race",
                            &[("If-Match", tag)],
                            format!("t{t}").as_bytes(),
                        )
                        .status
                    })
                })
                .collect();
            hs.into_iter().map(|h| h.join().unwrap()).collect()
        });
        assert_eq!(
            statuses.iter().filter(|&&c| c == 204).count(),
            1,
            "{statuses:?}"
        );
        assert!(
            statuses.iter().all(|&c| c == 204 || c == 412),
            "{statuses:?}"
        );
    }
}
