//! Every endpoint of lsmkv-server through a real HTTP client.

mod server_common;

use serde_json::json;
use server_common::{TestServer, enc};

#[test]
fn keys_crud_and_batch() {
    let s = TestServer::start(&[]);
    let r = s.post("/keys", r#"{"key": "user:1", "value": "Alice"}"#);
    assert_eq!(r.status, 200, "{}", r.body);
    let version = r.json()["version"].as_u64().expect("a version");
    assert_eq!(
        r.json(),
        json!({"key": "user:1", "value": "Alice", "version": version})
    );

    let r = s.get("/keys/user:1");
    assert_eq!(r.status, 200);
    assert_eq!(
        r.json(),
        json!({"key": "user:1", "value": "Alice", "version": version})
    );
    assert_eq!(r.headers["content-type"], "application/json");

    // Update.
    assert_eq!(
        s.post("/keys", r#"{"key":"user:1","value":"Alicia"}"#)
            .status,
        200
    );
    assert_eq!(s.get("/keys/user:1").json()["value"], "Alicia");

    // Delete is idempotent.
    assert_eq!(s.delete("/keys/user:1").status, 204);
    assert_eq!(s.delete("/keys/user:1").status, 204);
    let r = s.get("/keys/user:1");
    assert_eq!(r.status, 404);
    assert!(r.json()["error"].is_string());

    let r = s.post(
        "/keys/batch",
        r#"[{"key":"k1","value":"v1"},{"key":"k2","value":"v2"},{"key":"k3","value":"v3"}]"#,
    );
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["written"], 3);
    for i in 1..=3 {
        assert_eq!(
            s.get(&format!("/keys/k{i}")).json()["value"],
            format!("v{i}")
        );
    }
    // A batch with one bad entry writes nothing.
    let r = s.post(
        "/keys/batch",
        r#"[{"key":"k9","value":"v"},{"key":"","value":"v"}]"#,
    );
    assert_eq!(r.status, 400);
    assert!(r.json()["error"].as_str().unwrap().contains("entry 1"));
    assert_eq!(s.get("/keys/k9").status, 404);
}

#[test]
fn keys_are_bytes_decoded_once() {
    let s = TestServer::start(&[]);
    for key in [
        "a/b/c".as_bytes(),
        b"../etc/passwd",
        "caf\u{e9} \u{1F600}".as_bytes(),
        b"nul\0inside",
        b"percent%41",
        b"batch",
        b"search/prefix",
    ] {
        let path = format!("/keys/{}", enc(key));
        let text = String::from_utf8(key.to_vec()).unwrap();
        let r = s.post("/keys", &json!({"key": text, "value": "x"}).to_string());
        assert_eq!(r.status, 200, "{text:?}: {}", r.body);
        let r = s.get(&path);
        assert_eq!(r.status, 200, "{text:?}");
        assert_eq!(r.json()["key"], text);
        assert_eq!(s.delete(&path).status, 204);
        assert_eq!(s.get(&path).status, 404);
    }
}

#[test]
fn raw_bytes_put_and_get() {
    let s = TestServer::start(&[]);
    let value: Vec<u8> = (0..=255u8).collect();
    assert_eq!(s.put_raw("/keys/blob", &value).status, 204);
    let mut r = s
        .agent
        .get(s.url("/keys/blob"))
        .header("Accept", "application/octet-stream")
        .call()
        .unwrap();
    assert_eq!(r.headers()["content-type"], "application/octet-stream");
    assert_eq!(r.body_mut().read_to_vec().unwrap(), value);
    // As JSON, bytes that are not UTF-8 come back base64-encoded.
    let j = s.get("/keys/blob").json();
    assert_eq!(j["key"], "blob");
    assert!(j["value_base64"].is_string(), "{j}");
    assert!(j.get("value").is_none());
}

fn keys_of(v: &serde_json::Value) -> Vec<String> {
    v["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["key"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn range_listing_pages_with_cursor_and_reverse() {
    let s = TestServer::start(&[("DEFAULT_PAGE_LIMIT", "3"), ("SEARCH_MAX_LIMIT", "4")]);
    let batch: Vec<_> = (0..10)
        .map(|i| json!({"key": format!("k{i:02}"), "value": format!("v{i}")}))
        .collect();
    assert_eq!(s.post("/keys/batch", &json!(batch).to_string()).status, 200);
    // A flag must never show up among keys.
    assert_eq!(
        s.post("/features/zzz", r#"{"enabled":true,"version":0}"#)
            .status,
        201
    );

    // DEFAULT_PAGE_LIMIT applies without `limit`; pages chain through `next`.
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            None => "/keys".to_string(),
            Some(c) => format!("/keys?cursor={c}"),
        };
        let page = s.get(&path).json();
        let ks = keys_of(&page);
        assert!(ks.len() <= 3);
        seen.extend(ks);
        match page["next"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => break,
        }
    }
    let all: Vec<String> = (0..10).map(|i| format!("k{i:02}")).collect();
    assert_eq!(seen, all);

    // SEARCH_MAX_LIMIT clamps `limit`.
    assert_eq!(keys_of(&s.get("/keys?limit=100").json()).len(), 4);

    // start inclusive, end exclusive, reverse, and a reverse cursor.
    let p = s.get("/keys?start=k03&end=k07&limit=2&reverse=true").json();
    assert_eq!(keys_of(&p), ["k06", "k05"]);
    let c = p["next"].as_str().unwrap();
    let p = s
        .get(&format!(
            "/keys?start=k03&end=k07&limit=2&reverse=true&cursor={c}"
        ))
        .json();
    assert_eq!(keys_of(&p), ["k04", "k03"]);
    assert!(p["next"].is_null());
}

#[test]
fn prefix_and_substring_search() {
    let s = TestServer::start(&[("SEARCH_SCAN_LIMIT", "3")]);
    let batch = json!([
        {"key": "user:1", "value": "Alice"},
        {"key": "user:2", "value": "Bob"},
        {"key": "user:3", "value": "alice cooper"},
        {"key": "usex", "value": "nope"},
        {"key": "zeta", "value": "alice again"},
    ]);
    assert_eq!(s.post("/keys/batch", &batch.to_string()).status, 200);
    assert_eq!(
        s.post("/features/alice", r#"{"enabled":true,"version":0}"#)
            .status,
        201
    );

    let p = s.get("/keys/search/prefix?q=user%3A").json();
    assert_eq!(keys_of(&p), ["user:1", "user:2", "user:3"]);
    assert!(p["next"].is_null());
    let p = s.get("/keys/search/prefix?q=user:&limit=2").json();
    assert_eq!(keys_of(&p), ["user:1", "user:2"]);
    let c = p["next"].as_str().unwrap().to_string();
    let p = s
        .get(&format!("/keys/search/prefix?q=user:&limit=2&cursor={c}"))
        .json();
    assert_eq!(keys_of(&p), ["user:3"]);

    // Substring search matches keys or values (case-sensitive), examines at most
    // SEARCH_SCAN_LIMIT entries per request and hands out a cursor to resume.
    let mut found = Vec::new();
    let mut path = "/keys/search/substring?q=alice".to_string();
    let mut requests = 0;
    loop {
        requests += 1;
        let p = s.get(&path).json();
        found.extend(keys_of(&p));
        match p["next"].as_str() {
            Some(c) => path = format!("/keys/search/substring?q=alice&cursor={c}"),
            None => break,
        }
    }
    assert_eq!(found, ["user:3", "zeta"]);
    assert!(
        requests >= 2,
        "scan limit of 3 over 5 keys needs two requests"
    );
    assert_eq!(
        s.get("/keys/search/substring?q=ice&limit=1").json()["items"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    assert_eq!(s.get("/keys/search/substring").status, 400);
    assert_eq!(s.get("/keys/search/prefix").status, 400);
}

#[test]
fn stats_health_and_metrics() {
    let s = TestServer::start(&[]);
    assert_eq!(s.post("/keys", r#"{"key":"a","value":"b"}"#).status, 200);
    assert_eq!(s.get("/health").json()["status"], "ok");

    let all = s.get("/stats/all").json();
    assert!(all["engine"]["puts"].as_u64().unwrap() >= 1, "{all}");
    assert!(all["memory"]["memtable_bytes"].is_u64(), "{all}");
    assert!(all["memory"]["block_cache"].is_object(), "{all}");
    assert!(all["disk"]["levels"].is_array(), "{all}");
    assert!(all["disk"]["wal_bytes"].is_u64(), "{all}");
    assert_eq!(all["server"]["workers"], 2);
    assert_eq!(all["server"]["config"]["server_workers"], 2);
    assert!(all["options"]["memtable_max_size"].is_u64());
    let mem = s.get("/stats/memory").json();
    assert!(mem["memtable_entries"].as_u64().unwrap() >= 1, "{mem}");
    assert!(mem.get("levels").is_none());
    assert_eq!(mem["memory"]["budget_bytes"], 0, "{mem}");
    assert!(mem["memory"]["index_filter_pinned_bytes"].is_u64(), "{mem}");
    let disk = s.get("/stats/disk").json();
    assert!(disk["sst_files"].is_u64(), "{disk}");

    let r = s.get("/metrics");
    assert_eq!(r.status, 200);
    assert!(r.headers["content-type"].starts_with("text/plain"));
    assert!(
        r.body
            .contains("lsmkv_http_requests_total{route=\"POST /keys\",status=\"200\"} 1"),
        "{}",
        r.body
    );
    assert!(
        r.body
            .contains("lsmkv_http_request_duration_seconds_bucket{route=\"GET /health\"")
    );
    assert!(r.body.contains("lsmkv_engine_puts_total 1"), "{}", r.body);
    assert!(r.body.contains("lsmkv_http_connections_open"));
}

#[test]
fn metrics_can_be_disabled() {
    let s = TestServer::start(&[("METRICS_ENABLED", "false")]);
    assert_eq!(s.get("/metrics").status, 404);
}

#[test]
fn feature_flags() {
    let s = TestServer::start(&[]);
    assert_eq!(s.get("/features").json(), json!({"features": []}));
    assert_eq!(s.get("/features/dark-mode").status, 404);

    let r = s.post("/features/dark-mode", r#"{"enabled": true, "version": 0}"#);
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(
        r.json(),
        json!({"id": "dark-mode", "enabled": true, "version": 1})
    );
    let r = s.post("/features/dark-mode", r#"{"enabled": false, "version": 1}"#);
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["version"], 2);
    let r = s.post("/features/dark-mode", r#"{"enabled": true, "version": 1}"#);
    assert_eq!(r.status, 409);
    assert_eq!(r.json()["current_version"], 2);
    assert!(r.json()["error"].is_string());
    assert_eq!(
        s.get("/features/dark-mode").json(),
        json!({"id": "dark-mode", "enabled": false, "version": 2})
    );
    assert_eq!(
        s.post("/features/beta", r#"{"enabled":true,"version":0}"#)
            .status,
        201
    );
    let all = s.get("/features").json();
    assert_eq!(all["features"].as_array().unwrap().len(), 2);

    // Flags are invisible to the key endpoints, and user keys cannot reach them.
    assert_eq!(s.get("/keys").json()["items"], json!([]));
    assert_eq!(s.get("/keys/dark-mode").status, 404);
    assert_eq!(
        s.post("/keys", r#"{"key":"fdark-mode","value":"x"}"#)
            .status,
        200
    );
    assert_eq!(s.get("/features/dark-mode").json()["version"], 2);
}

#[test]
fn feature_without_version_creates_or_overwrites() {
    let s = TestServer::start(&[]);
    // The README's body: no `version` creates...
    let r = s.post("/features/seeded", r#"{"enabled": true}"#);
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(
        r.json(),
        json!({"id": "seeded", "enabled": true, "version": 1})
    );
    // ...and overwrites whatever version is current.
    let r = s.post("/features/seeded", r#"{"enabled": false}"#);
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["version"], 2);
    // With `version` it is still the optimistic check.
    let r = s.post("/features/seeded", r#"{"enabled": true, "version": 1}"#);
    assert_eq!(r.status, 409, "{}", r.body);
    assert_eq!(r.json()["current_version"], 2);
    assert_eq!(
        s.get("/features/seeded").json(),
        json!({"id": "seeded", "enabled": false, "version": 2})
    );
}

#[test]
fn a_listed_page_with_binary_bytes_can_be_written_back() {
    let a = TestServer::start(&[]);
    let entries: Vec<(Vec<u8>, Vec<u8>)> = vec![
        (b"plain".to_vec(), b"text".to_vec()),
        (b"bin\xff\x00key".to_vec(), b"text value".to_vec()),
        (b"text key".to_vec(), (0..=255u8).collect()),
        (vec![0xc3, 0x28], vec![0xfe, 0xff]),
    ];
    for (k, v) in &entries {
        assert_eq!(a.put_raw(&format!("/keys/{}", enc(k)), v).status, 204);
    }
    let page = a.get("/keys").json();
    let items = page["items"].clone();
    assert_eq!(items.as_array().unwrap().len(), entries.len());
    assert!(items.to_string().contains("key_base64"), "{items}");
    assert!(items.to_string().contains("value_base64"), "{items}");

    // The page's items, as they are, are a valid batch...
    let b = TestServer::start(&[]);
    let r = b.post("/keys/batch", &items.to_string());
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(b.get("/keys").json()["items"], items);
    // ...and each one a valid POST /keys body.
    let c = TestServer::start(&[]);
    for item in items.as_array().unwrap() {
        let r = c.post("/keys", &item.to_string());
        assert_eq!(r.status, 200, "{}", r.body);
        // The item, plus the version of the write.
        let mut echoed = r.json();
        assert!(echoed["version"].as_u64().is_some(), "{echoed}");
        echoed.as_object_mut().unwrap().remove("version");
        assert_eq!(&echoed, item);
    }
    assert_eq!(c.get("/keys").json()["items"], items);
}

#[test]
fn head_is_answered_wherever_get_is() {
    let s = TestServer::start(&[]);
    assert_eq!(s.post("/keys", r#"{"key":"k","value":"v"}"#).status, 200);
    assert_eq!(
        s.post("/features/f", r#"{"enabled":true,"version":0}"#)
            .status,
        201
    );
    for path in [
        "/health",
        "/metrics",
        "/keys",
        "/keys/k",
        "/keys/search/prefix?q=k",
        "/keys/search/substring?q=k",
        "/stats/all",
        "/stats/memory",
        "/stats/disk",
        "/features",
        "/features/f",
    ] {
        let mut r = s.agent.head(s.url(path)).call().unwrap();
        assert_eq!(r.status().as_u16(), 200, "HEAD {path}");
        let len = r.headers()["content-length"].to_str().unwrap().to_string();
        assert!(
            r.body_mut().read_to_vec().unwrap().is_empty(),
            "HEAD {path}"
        );
        if !path.starts_with("/stats") && path != "/metrics" {
            // The length the GET's body would have (stats and metrics change between requests).
            assert_eq!(len, s.get(path).body.len().to_string(), "HEAD {path}");
        }
    }
}

#[test]
fn long_keys_are_read_back_through_post_keys_get() {
    let s = TestServer::start(&[]);
    let long = "x".repeat(65_535);
    let r = s.post("/keys", &json!({"key": long, "value": "long"}).to_string());
    assert_eq!(r.status, 200);
    // Non-ASCII keys pass the URI limit sooner (three bytes of URI per key byte).
    let accented = "\u{e9}".repeat(11_000);
    let r = s.post(
        "/keys",
        &json!({"key": accented, "value": "accented"}).to_string(),
    );
    assert_eq!(r.status, 200);
    assert_eq!(s.put_raw("/keys/%FF%00", b"\xfe").status, 204);

    // Too long for a path: 414 with a JSON body and its code.
    for key in [&long, &accented] {
        let (status, text) = server_common::raw(
            s.addr(),
            format!(
                "GET /keys/{} HTTP/1.1\r\nhost: x\r\n\r\n",
                enc(key.as_bytes())
            )
            .as_bytes(),
        );
        assert_eq!(status, 414, "{text}");
        let body = &text[text.find("\r\n\r\n").unwrap() + 4..];
        let j: serde_json::Value = serde_json::from_str(body).unwrap_or_else(|_| panic!("{text}"));
        assert_eq!(j["code"], "uri_too_long", "{text}");
        assert!(j["error"].is_string());
    }
    // The server keeps serving.
    assert_eq!(s.get("/health").status, 200);

    // A body-based read, in request order, absent keys with a null value.
    let r = s.post(
        "/keys/get",
        &json!({"keys": [
            {"key": accented},
            {"key": "absent"},
            {"key_base64": "/wA="},
            {"key": long},
        ]})
        .to_string(),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        r.json(),
        json!({"items": [
            {"key": accented, "value": "accented"},
            {"key": "absent", "value": null},
            {"key_base64": "/wA=", "value_base64": "/g=="},
            {"key": long, "value": "long"},
        ]})
    );
    // Bad bodies are 400s with a code; `GET /keys/get` still reads the key `get`.
    for body in [
        "{}",
        r#"{"keys": []}"#,
        r#"{"keys": "a"}"#,
        r#"{"keys": [{"value": "a"}]}"#,
        r#"{"keys": [{"key": ""}]}"#,
    ] {
        let r = s.post("/keys/get", body);
        assert_eq!(r.status, 400, "{body}: {}", r.body);
        assert_eq!(r.json()["code"], "bad_request");
    }
    assert_eq!(s.get("/keys/get").status, 404);
}
