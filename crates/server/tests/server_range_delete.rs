//! Range deletes over HTTP: `DELETE /keys?prefix=P` and `DELETE /keys?start=A&end=B` (end
//! exclusive, `_base64` forms for bytes that are not UTF-8), under `/keyspaces/{ks}/keys` too;
//! the refusals that keep a bare `DELETE /keys` from deleting everything.

mod server_common;

use serde_json::{Value, json};
use server_common::{Resp, TestServer, enc};

fn code(r: &Resp) -> String {
    r.json()["code"].as_str().unwrap_or_default().to_string()
}

/// Every key of `/keys` (or another listing path), in order.
fn keys(s: &TestServer, path: &str) -> Vec<String> {
    let r = s.get(&format!("{path}?keys_only=true&limit=1000"));
    assert_eq!(r.status, 200, "{}", r.body);
    r.json()["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["key"].as_str().unwrap().to_string())
        .collect()
}

fn put_all(s: &TestServer, path: &str, names: &[&str]) {
    let batch: Vec<Value> = names
        .iter()
        .map(|k| json!({"key": k, "value": "v"}))
        .collect();
    let r = s.post(&format!("{path}/batch"), &Value::Array(batch).to_string());
    assert_eq!(r.status, 200, "{}", r.body);
}

const KEYS: &[&str] = &["a", "b1", "b2", "b3", "c", "user:1", "user:2", "users", "z"];

#[test]
fn prefix_and_bounds_delete_one_range() {
    let s = TestServer::start(&[]);
    put_all(&s, "/keys", KEYS);

    let r = s.delete("/keys?prefix=user%3A");
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        r.json(),
        json!({"deleted_range": {"keyspace": "default", "prefix": "user:"}})
    );
    assert_eq!(
        keys(&s, "/keys"),
        ["a", "b1", "b2", "b3", "c", "users", "z"]
    );

    // `end` is exclusive.
    let r = s.delete("/keys?start=b2&end=c");
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        r.json(),
        json!({"deleted_range": {"keyspace": "default", "start": "b2", "end": "c"}})
    );
    assert_eq!(keys(&s, "/keys"), ["a", "b1", "c", "users", "z"]);

    // One bound only: from `start` on, or up to `end`.
    let r = s.delete("/keys?start=x");
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["deleted_range"]["end"], Value::Null);
    assert_eq!(keys(&s, "/keys"), ["a", "b1", "c", "users"]);
    let r = s.delete("/keys?end=b");
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["deleted_range"]["start"], Value::Null);
    assert_eq!(keys(&s, "/keys"), ["b1", "c", "users"]);

    // A key written after the range delete is live.
    assert_eq!(s.put_raw("/keys/b0", b"new").status, 204);
    assert_eq!(s.get("/keys/b0").json()["value"], "new");

    // Deletes are writes: counted under their own route label.
    let m = s.get("/metrics").body;
    assert!(
        m.contains("lsmkv_http_requests_total{route=\"DELETE /keys\",status=\"200\"} 4"),
        "{m}"
    );
}

#[test]
fn deleting_everything_needs_all_true() {
    let s = TestServer::start(&[]);
    put_all(&s, "/keys", KEYS);
    for refused in [
        "/keys",
        "/keys?limit=5",
        "/keys?prefix=",
        "/keys?start=",
        "/keys?start=&end=",
        "/keys?all=false&prefix=",
    ] {
        let r = s.delete(refused);
        assert_eq!(
            (r.status, code(&r).as_str()),
            (400, "range_required"),
            "{refused}: {}",
            r.body
        );
    }
    assert_eq!(keys(&s, "/keys").len(), KEYS.len());

    let r = s.delete("/keys?prefix=&all=true");
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        r.json(),
        json!({"deleted_range": {"keyspace": "default", "prefix": ""}})
    );
    assert!(keys(&s, "/keys").is_empty());

    put_all(&s, "/keys", KEYS);
    let r = s.delete("/keys?all=true");
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        r.json(),
        json!({"deleted_range": {"keyspace": "default", "start": null, "end": null}})
    );
    assert!(keys(&s, "/keys").is_empty());
}

#[test]
fn bad_range_deletes() {
    let s = TestServer::start(&[]);
    put_all(&s, "/keys", KEYS);
    for (path, status, c) in [
        ("/keys?prefix=a&start=b", 400, "bad_request"),
        ("/keys?start=c&end=b", 400, "bad_request"),
        ("/keys?start=b&end=b", 400, "bad_request"),
        ("/keys?prefix=a&prefix_base64=YQ%3D%3D", 400, "bad_request"),
        ("/keys?prefix_base64=%21%21", 400, "bad_request"),
        ("/keys?prefix=a&all=maybe", 400, "bad_request"),
        ("/keyspaces/nope/keys?prefix=a", 404, "keyspace_not_found"),
        ("/keyspaces/flags/keys?prefix=a", 403, "keyspace_reserved"),
    ] {
        let r = s.delete(path);
        assert_eq!(
            (r.status, code(&r).as_str()),
            (status, c),
            "{path}: {}",
            r.body
        );
    }
    let r = s.request("DELETE", "/keys?prefix=a", &[("If-Match", "\"1\"")], b"");
    assert_eq!(
        (r.status, code(&r).as_str()),
        (400, "bad_request"),
        "{}",
        r.body
    );
    assert_eq!(keys(&s, "/keys").len(), KEYS.len());
}

#[test]
fn binary_bounds_and_keyspaces() {
    let s = TestServer::start(&[]);
    assert_eq!(s.request("PUT", "/keyspaces/logs", &[], b"").status, 201);
    put_all(&s, "/keyspaces/logs/keys", KEYS);
    put_all(&s, "/keys", KEYS);
    // Binary keys, stored through PUT.
    for k in [&b"bin\xff\x01"[..], b"bin\xff\x02", b"bin\xfe", b"bio"] {
        assert_eq!(
            s.put_raw(&format!("/keyspaces/logs/keys/{}", enc(k)), b"v")
                .status,
            204
        );
    }
    // `bin\xff` as base64 (percent-encoded, as any query value).
    let r = s.delete("/keyspaces/logs/keys?prefix_base64=YmluLw%3D%3D");
    assert_eq!(r.status, 200, "{}", r.body); // "bin/": nothing of it
    let r = s.delete("/keyspaces/logs/keys?prefix_base64=YmJpbv8%3D");
    assert_eq!(r.status, 200, "{}", r.body); // "bbin\xff": nothing either
    let r = s.delete("/keyspaces/logs/keys?prefix_base64=Ymlu%2Fw%3D%3D");
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        r.json(),
        json!({"deleted_range": {"keyspace": "logs", "prefix_base64": "Ymlu/w=="}})
    );
    let page = s
        .get("/keyspaces/logs/keys?prefix=bi&keys_only=true")
        .json();
    let left: Vec<Value> = page["items"].as_array().unwrap().clone();
    assert_eq!(
        left,
        vec![json!({"key_base64": "Ymlu/g=="}), json!({"key": "bio"})]
    );
    // Listings take the same `_base64` bounds.
    let page = s
        .get("/keyspaces/logs/keys?start_base64=Ymlu%2Fw%3D%3D&keys_only=true&limit=1")
        .json();
    assert_eq!(page["items"], json!([{"key": "bio"}]));

    let r = s.delete("/keyspaces/logs/keys?start=b&end_base64=Yw%3D%3D");
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        r.json(),
        json!({"deleted_range": {"keyspace": "logs", "start": "b", "end": "c"}})
    );
    assert_eq!(
        keys(&s, "/keyspaces/logs/keys"),
        ["a", "c", "user:1", "user:2", "users", "z"]
    );
    // The default keyspace kept everything.
    assert_eq!(keys(&s, "/keys").len(), KEYS.len());
    let m = s.get("/metrics").body;
    assert!(
        m.contains("route=\"DELETE /keyspaces/{ks}/keys\",status=\"200\"} 4"),
        "{m}"
    );
}
