//! Keyspaces over HTTP: creating (`PUT /keyspaces/{ks}`, `POST /keyspaces`, with options),
//! listing with statistics, dropping, the reserved keyspaces, and every key route under
//! `/keyspaces/{ks}/keys` (isolated from `/keys`, which is `default`); `keys_only` and `count`
//! listings; `DELETE` answering whether the key existed; per-keyspace metrics.

mod server_common;

use serde_json::{Value, json};
use server_common::{Resp, TestServer, enc};

fn code(r: &Resp) -> String {
    r.json()["code"].as_str().unwrap_or_default().to_string()
}

fn names(s: &TestServer) -> Vec<String> {
    let r = s.get("/keyspaces");
    assert_eq!(r.status, 200, "{}", r.body);
    r.json()["keyspaces"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["name"].as_str().unwrap().to_string())
        .collect()
}

fn keys_of(page: &Value) -> Vec<String> {
    page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["key"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn create_list_and_drop() {
    let mut s = TestServer::start(&[]);
    assert_eq!(names(&s), vec!["default", "flags"]);

    // PUT without a body: created (201), then it exists (200).
    let r = s.request("PUT", "/keyspaces/logs", &[], b"");
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(r.json()["name"], "logs");
    assert_eq!(r.json()["reserved"], false);
    assert!(r.json()["len_estimate"].is_u64(), "{}", r.body);
    assert_eq!(s.request("PUT", "/keyspaces/logs", &[], b"").status, 200);
    // With options.
    let opts = json!({
        "compression": "none", "block_size": 16384, "bloom_false_positive_rate": 0.05,
        "prefix_bloom_length": 4, "compaction_strategy": "tiered", "ttl_seconds": 3600,
    });
    let r = s.request("PUT", "/keyspaces/events", &[], opts.to_string().as_bytes());
    assert_eq!(r.status, 201, "{}", r.body);
    // POST: create only.
    let r = s.post("/keyspaces", r#"{"name": "a/b", "compression": "lz4"}"#);
    assert_eq!(r.status, 201, "{}", r.body);
    let r = s.post("/keyspaces", r#"{"name": "a/b"}"#);
    assert_eq!((r.status, code(&r).as_str()), (409, "keyspace_exists"));
    assert_eq!(names(&s), vec!["a/b", "default", "events", "flags", "logs"]);
    let one = s.get("/keyspaces/a%2Fb");
    assert_eq!(one.status, 200, "{}", one.body);
    assert_eq!(one.json()["name"], "a/b");

    // Stats per keyspace: writes show up in its memtable only.
    assert_eq!(s.put_raw("/keyspaces/logs/keys/x", b"1").status, 204);
    let all = s.get("/keyspaces").json();
    let of = |name: &str| -> Value {
        all["keyspaces"]
            .as_array()
            .unwrap()
            .iter()
            .find(|k| k["name"] == name)
            .cloned()
            .unwrap()
    };
    assert_eq!(of("logs")["memtable_entries"], 1);
    assert_eq!(of("events")["memtable_entries"], 0);
    assert_eq!(of("flags")["reserved"], true);

    // They survive a restart, with their data.
    s.restart();
    assert_eq!(names(&s), vec!["a/b", "default", "events", "flags", "logs"]);
    assert_eq!(s.get("/keyspaces/logs/keys/x").json()["value"], "1");

    // Drop: gone with its data; a new keyspace of the same name starts empty.
    let r = s.request("DELETE", "/keyspaces/logs", &[], b"");
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json(), json!({"dropped": "logs"}));
    let r = s.get("/keyspaces/logs/keys/x");
    assert_eq!((r.status, code(&r).as_str()), (404, "keyspace_not_found"));
    let r = s.request("DELETE", "/keyspaces/logs", &[], b"");
    assert_eq!((r.status, code(&r).as_str()), (404, "keyspace_not_found"));
    assert_eq!(s.request("PUT", "/keyspaces/logs", &[], b"").status, 201);
    assert_eq!(s.get("/keyspaces/logs/keys/x").status, 404);
    let r = s.get("/keyspaces/nope");
    assert_eq!((r.status, code(&r).as_str()), (404, "keyspace_not_found"));
}

#[test]
fn reserved_keyspaces_and_bad_requests() {
    let s = TestServer::start(&[]);
    // `default` cannot be dropped, nor given options (they are the database's).
    let r = s.request("DELETE", "/keyspaces/default", &[], b"");
    assert_eq!((r.status, code(&r).as_str()), (403, "keyspace_reserved"));
    assert!(r.json()["error"].as_str().unwrap().contains("default"));
    assert_eq!(s.request("PUT", "/keyspaces/default", &[], b"").status, 200);
    let r = s.request(
        "PUT",
        "/keyspaces/default",
        &[],
        br#"{"compression":"none"}"#,
    );
    assert_eq!((r.status, code(&r).as_str()), (400, "bad_request"));
    // `flags` belongs to /features: not created, dropped or written here; readable.
    for (method, path, body) in [
        ("DELETE", "/keyspaces/flags", &b""[..]),
        ("PUT", "/keyspaces/flags", b""),
        ("PUT", "/keyspaces/lsmkv-server-migration", b""),
        ("PUT", "/keyspaces/flags/keys/x", b"1"),
        ("DELETE", "/keyspaces/flags/keys/x", b""),
        (
            "POST",
            "/keyspaces/flags/keys",
            br#"{"key":"x","value":"1"}"#,
        ),
        (
            "POST",
            "/keyspaces/flags/keys/batch",
            br#"[{"key":"x","value":"1"}]"#,
        ),
    ] {
        let r = s.request(method, path, &[], body);
        assert_eq!(
            (r.status, code(&r).as_str()),
            (403, "keyspace_reserved"),
            "{method} {path}"
        );
    }
    let r = s.post("/keyspaces", r#"{"name": "flags"}"#);
    assert_eq!((r.status, code(&r).as_str()), (403, "keyspace_reserved"));
    assert_eq!(s.post("/features/dark", r#"{"enabled": true}"#).status, 201);
    let r = s.get("/keyspaces/flags/keys/dark");
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["value"], r#"{"enabled":true,"version":1}"#);

    // Bad names and options: 400 with a code.
    for (method, path, body) in [
        ("PUT", "/keyspaces/%FF", &b""[..]),
        ("PUT", "/keyspaces/", b""),
        ("PUT", "/keyspaces/x", b"{"),
        ("PUT", "/keyspaces/x", b"[1]"),
        ("PUT", "/keyspaces/x", br#"{"compresion": "none"}"#),
        ("PUT", "/keyspaces/x", br#"{"compression": "zstd"}"#),
        ("PUT", "/keyspaces/x", br#"{"compression": 1}"#),
        ("PUT", "/keyspaces/x", br#"{"block_size": -1}"#),
        ("PUT", "/keyspaces/x", br#"{"block_size": 0}"#),
        (
            "PUT",
            "/keyspaces/x",
            br#"{"bloom_false_positive_rate": 2}"#,
        ),
        (
            "PUT",
            "/keyspaces/x",
            br#"{"compaction_strategy": "random"}"#,
        ),
        ("PUT", "/keyspaces/x", br#"{"ttl_seconds": 0}"#),
        ("POST", "/keyspaces", br#"{"compression": "none"}"#),
        ("POST", "/keyspaces", br#"{"name": 7}"#),
        ("POST", "/keyspaces", br#"{"name": ""}"#),
    ] {
        let r = s.request(method, path, &[], body);
        assert_eq!(
            (r.status, code(&r).as_str()),
            (400, "bad_request"),
            "{method} {path} {}: {}",
            String::from_utf8_lossy(body),
            r.body
        );
    }
    let long = "n".repeat(256);
    let r = s.request("PUT", &format!("/keyspaces/{long}"), &[], b"");
    assert_eq!((r.status, code(&r).as_str()), (400, "bad_request"));
    assert_eq!(names(&s), vec!["default", "flags"]);
    let r = s.request("POST", "/keyspaces/x", &[], b"");
    assert_eq!(r.status, 405);
    assert_eq!(r.headers["allow"], "GET, PUT, DELETE");
}

#[test]
fn every_key_route_in_a_keyspace() {
    let s = TestServer::start(&[("DEFAULT_PAGE_LIMIT", "2")]);
    assert_eq!(s.request("PUT", "/keyspaces/users", &[], b"").status, 201);
    // Unknown keyspace: 404 keyspace_not_found on every key route.
    for (method, path) in [
        ("GET", "/keyspaces/nope/keys"),
        ("GET", "/keyspaces/nope/keys/a"),
        ("PUT", "/keyspaces/nope/keys/a"),
        ("DELETE", "/keyspaces/nope/keys/a"),
        ("POST", "/keyspaces/nope/keys"),
        ("POST", "/keyspaces/nope/keys/batch"),
        ("POST", "/keyspaces/nope/keys/get"),
        ("GET", "/keyspaces/nope/keys/search/prefix?q=a"),
        ("GET", "/keyspaces/nope/keys/search/substring?q=a"),
    ] {
        let r = s.request(method, path, &[], b"{}");
        assert_eq!(
            (r.status, code(&r).as_str()),
            (404, "keyspace_not_found"),
            "{method} {path}"
        );
    }

    // The same key in two keyspaces holds two values.
    let r = s.post("/keyspaces/users/keys", r#"{"key": "u:1", "value": "ann"}"#);
    assert_eq!(r.status, 200, "{}", r.body);
    let version = r.json()["version"].as_u64().unwrap();
    assert_eq!(r.headers["etag"], format!("\"{version}\""));
    assert_eq!(
        s.post("/keys", r#"{"key": "u:1", "value": "default"}"#)
            .status,
        200
    );
    let r = s.get("/keyspaces/users/keys/u:1");
    assert_eq!(
        r.json(),
        json!({"key": "u:1", "value": "ann", "version": version})
    );
    assert_eq!(s.get("/keys/u:1").json()["value"], "default");
    let r = s.get_with(
        "/keyspaces/users/keys/u:1",
        ("Accept", "application/octet-stream"),
    );
    assert_eq!(r.body, "ann");

    // Batch, multi-get, listings with paging, prefix and substring searches.
    let r = s.post(
        "/keyspaces/users/keys/batch",
        r#"[{"key":"u:2","value":"bob"},{"key":"u:3","value":"cy"},{"key":"v:1","value":"x"}]"#,
    );
    assert_eq!(r.json(), json!({"written": 3}));
    let r = s.post(
        "/keyspaces/users/keys/get",
        r#"{"keys": [{"key": "u:2"}, {"key": "zz"}]}"#,
    );
    assert_eq!(
        r.json(),
        json!({"items": [{"key": "u:2", "value": "bob"}, {"key": "zz", "value": null}]})
    );
    let p1 = s.get("/keyspaces/users/keys");
    assert_eq!(keys_of(&p1.json()), vec!["u:1", "u:2"]);
    let next = p1.json()["next"].as_str().unwrap().to_string();
    let p2 = s.get(&format!("/keyspaces/users/keys?cursor={next}"));
    assert_eq!(keys_of(&p2.json()), vec!["u:3", "v:1"]);
    let r = s.get("/keyspaces/users/keys?prefix=u:&limit=10&reverse=true");
    assert_eq!(keys_of(&r.json()), vec!["u:3", "u:2", "u:1"]);
    let r = s.get("/keyspaces/users/keys?start=u:2&end=v&limit=10");
    assert_eq!(keys_of(&r.json()), vec!["u:2", "u:3"]);
    let r = s.get("/keyspaces/users/keys/search/prefix?q=u:&limit=10");
    assert_eq!(keys_of(&r.json()), vec!["u:1", "u:2", "u:3"]);
    let r = s.get("/keyspaces/users/keys/search/substring?q=b&limit=10");
    assert_eq!(keys_of(&r.json()), vec!["u:2"]);
    // `/keys` sees none of them.
    assert_eq!(keys_of(&s.get("/keys?limit=10").json()), vec!["u:1"]);

    // Conditional writes: If-Match on the version, If-None-Match: * to create only.
    let r = s.request(
        "PUT",
        "/keyspaces/users/keys/u:1",
        &[("If-Match", &format!("\"{version}\""))],
        b"ann2",
    );
    assert_eq!(r.status, 204, "{}", r.body);
    let r = s.request(
        "PUT",
        "/keyspaces/users/keys/u:1",
        &[("If-Match", &format!("\"{version}\""))],
        b"ann3",
    );
    assert_eq!((r.status, code(&r).as_str()), (412, "precondition_failed"));
    let r = s.request(
        "PUT",
        "/keyspaces/users/keys/u:1",
        &[("If-None-Match", "*")],
        b"again",
    );
    assert_eq!(r.status, 412);
    let r = s.get_with("/keyspaces/users/keys/u:2", ("If-None-Match", "*"));
    assert_eq!(r.status, 304);
    assert_eq!(s.get("/keyspaces/users/keys/u:1").json()["value"], "ann2");

    // Deletes: 204 for clients that do not ask for JSON, {"deleted": bool} for those that do.
    assert_eq!(s.delete("/keyspaces/users/keys/u:3").status, 204);
    let json_accept = [("Accept", "application/json")];
    let r = s.request("DELETE", "/keyspaces/users/keys/u:2", &json_accept, b"");
    assert_eq!((r.status, r.json()), (200, json!({"deleted": true})));
    let r = s.request("DELETE", "/keyspaces/users/keys/u:2", &json_accept, b"");
    assert_eq!((r.status, r.json()), (200, json!({"deleted": false})));
    assert_eq!(s.get("/keyspaces/users/keys/u:2").status, 404);
    assert_eq!(s.get("/keys/u:1").json()["value"], "default");
    // Binary keys in a keyspace named with a slash.
    assert_eq!(s.request("PUT", "/keyspaces/a%2Fb", &[], b"").status, 201);
    let key = enc(b"\xff\x00k");
    assert_eq!(
        s.put_raw(&format!("/keyspaces/a%2Fb/keys/{key}"), b"\x80")
            .status,
        204
    );
    let r = s.get("/keyspaces/a%2Fb/keys");
    assert_eq!(
        r.json()["items"],
        json!([{"key_base64": "/wBr", "value_base64": "gA=="}])
    );
}

#[test]
fn keys_only_count_and_json_deletes_on_keys() {
    let s = TestServer::start(&[("SEARCH_SCAN_LIMIT", "3")]);
    let batch: Vec<Value> = (0..7)
        .map(|i| json!({"key": format!("p:{i}"), "value": format!("v{i}")}))
        .chain([json!({"key": "q", "value": "other"})])
        .collect();
    assert_eq!(
        s.post("/keys/batch", &Value::Array(batch).to_string())
            .status,
        200
    );
    assert_eq!(s.request("PUT", "/keyspaces/k2", &[], b"").status, 201);
    assert_eq!(s.put_raw("/keyspaces/k2/keys/p:x", b"1").status, 204);

    // keys_only: the items carry no value.
    let r = s.get("/keys?prefix=p:&keys_only=true&limit=2");
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["items"], json!([{"key": "p:0"}, {"key": "p:1"}]));
    assert!(r.json()["next"].is_string());
    let r = s.get("/keyspaces/k2/keys?keys_only=true");
    assert_eq!(r.json(), json!({"items": [{"key": "p:x"}], "next": null}));

    // count: at most SEARCH_SCAN_LIMIT (3 here) keys per request; `next` resumes.
    let mut total = 0;
    let mut cursor: Option<String> = None;
    let mut requests = 0;
    loop {
        let path = match &cursor {
            None => "/keys?prefix=p:&count=true".to_string(),
            Some(c) => format!("/keys?prefix=p:&count=true&cursor={c}"),
        };
        let r = s.get(&path).json();
        total += r["count"].as_u64().unwrap();
        requests += 1;
        match r["next"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => break,
        }
        assert!(requests < 10);
    }
    assert_eq!((total, requests), (7, 3));
    assert_eq!(
        s.get("/keyspaces/k2/keys?count=true").json(),
        json!({"count": 1, "next": null})
    );
    assert_eq!(s.get("/keys?start=q&count=true").json()["count"], 1);

    // Bad parameters.
    for q in [
        "prefix=p:&start=a",
        "prefix=p:&end=z",
        "keys_only=maybe",
        "count=2",
        "limit=0",
    ] {
        let r = s.get(&format!("/keys?{q}"));
        assert_eq!((r.status, code(&r).as_str()), (400, "bad_request"), "{q}");
    }

    // DELETE /keys/{key}: 204 without Accept (or */*), JSON when asked for.
    let r = s.request("DELETE", "/keys/p:0", &[], b"");
    assert_eq!((r.status, r.body.as_str()), (204, ""));
    let r = s.request(
        "DELETE",
        "/keys/p:1",
        &[("Accept", "application/json")],
        b"",
    );
    assert_eq!((r.status, r.json()), (200, json!({"deleted": true})));
    assert_eq!(r.headers["content-type"], "application/json");
    let r = s.request(
        "DELETE",
        "/keys/p:1",
        &[("Accept", "text/html, application/json;q=0.9")],
        b"",
    );
    assert_eq!((r.status, r.json()), (200, json!({"deleted": false})));
    // With a precondition too.
    let v = s.get("/keys/p:2").json()["version"].as_u64().unwrap();
    let r = s.request(
        "DELETE",
        "/keys/p:2",
        &[
            ("Accept", "application/json"),
            ("If-Match", &format!("\"{v}\"")),
        ],
        b"",
    );
    assert_eq!((r.status, r.json()), (200, json!({"deleted": true})));
    let r = s.request(
        "DELETE",
        "/keys/p:2",
        &[("Accept", "application/json"), ("If-None-Match", "*")],
        b"",
    );
    assert_eq!((r.status, r.json()), (200, json!({"deleted": false})));
}

#[test]
fn per_keyspace_metrics_admin_tables_and_flush() {
    let s = TestServer::start(&[]);
    assert_eq!(s.request("PUT", "/keyspaces/logs", &[], b"").status, 201);
    assert_eq!(s.put_raw("/keyspaces/logs/keys/a", b"1").status, 204);
    assert_eq!(s.put_raw("/keys/b", b"2").status, 204);
    let r = s.post("/admin/flush?keyspace=logs", "");
    assert_eq!(r.json(), json!({"flushed": true, "tables": 1}));
    let r = s.post("/admin/flush?keyspace=nope", "");
    assert_eq!((r.status, code(&r).as_str()), (404, "keyspace_not_found"));
    let tables = s.get("/admin/tables").json();
    assert_eq!(tables["tables"][0]["keyspace"], "logs");
    assert_eq!(
        tables["tables"][0]["smallest"],
        json!({"namespace": "key", "key": "a"})
    );
    // Without a keyspace: every keyspace is flushed.
    assert_eq!(s.post("/admin/flush", "").json()["tables"], 2);

    let text = s.get("/metrics").body;
    for series in [
        "lsmkv_engine_keyspaces_sst_files{keyspace=\"logs\"} 1",
        "lsmkv_engine_keyspaces_sst_files{keyspace=\"default\"} 1",
        "lsmkv_engine_keyspaces_sst_files{keyspace=\"flags\"} 0",
        "lsmkv_engine_keyspaces_len_estimate{keyspace=\"logs\"} 1",
        "lsmkv_engine_keyspaces_memtable_bytes{keyspace=\"logs\"} ",
        "lsmkv_engine_keyspaces_sst_bytes{keyspace=\"logs\"} ",
        "lsmkv_engine_keyspaces_pending_compaction_bytes{keyspace=\"logs\"} ",
        "lsmkv_engine_keyspaces_levels_files{keyspace=\"logs\",level=\"0\"} 1",
        "# TYPE lsmkv_engine_keyspaces_len_estimate gauge\n",
        "lsmkv_http_requests_total{route=\"PUT /keyspaces/{ks}/keys/{key}\",status=\"204\"} 1",
        "lsmkv_http_requests_total{route=\"PUT /keys/{key}\",status=\"204\"} 1",
        "lsmkv_http_requests_total{route=\"PUT /keyspaces/{ks}\",status=\"201\"} 1",
    ] {
        assert!(text.contains(series), "{series}\n{text}");
    }
    // Still one # TYPE line per family.
    let types: Vec<&str> = text.lines().filter(|l| l.starts_with("# TYPE ")).collect();
    let mut unique = types.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(types.len(), unique.len());
}
