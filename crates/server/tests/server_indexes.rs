//! Secondary indexes on a JSON field over HTTP (`/indexes`): created over existing keys, queried
//! by value and by range a page at a time, kept up to date by writes, deletes and range deletes,
//! declared again after a restart (so the indexed keyspace keeps taking writes), dropped; the
//! reserved keyspaces they use; the crash windows of a create and bad requests.

mod server_common;

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use server_common::{Resp, TestServer, enc};

fn code(r: &Resp) -> String {
    r.json()["code"].as_str().unwrap_or_default().to_string()
}

fn post_ok(s: &TestServer, path: &str, body: &Value) -> Value {
    let r = s.post(path, &body.to_string());
    assert!(
        r.status == 200 || r.status == 201,
        "{path}: {} {}",
        r.status,
        r.body
    );
    r.json()
}

/// Polls `GET /indexes` until index `name` is ready; panics after 60 s.
fn wait_ready(s: &TestServer, name: &str) -> Value {
    let start = Instant::now();
    loop {
        let r = s.get("/indexes");
        assert_eq!(r.status, 200, "{}", r.body);
        let all = r.json()["indexes"].as_array().unwrap().clone();
        let me = all
            .into_iter()
            .find(|i| i["name"] == name)
            .unwrap_or_else(|| panic!("no index {name}: {}", r.body));
        if me["ready"] == true {
            return me;
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "{name} never got ready"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The keys of one page of an index query.
fn page_keys(page: &Value) -> Vec<String> {
    page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["key"].as_str().unwrap().to_string())
        .collect()
}

/// Every key an index query answers, following the cursor with pages of `limit`.
fn all_keys(s: &TestServer, path_and_query: &str, limit: usize) -> Vec<String> {
    let mut out = Vec::new();
    let mut cursor: Option<String> = None;
    for _ in 0..10_000 {
        let mut p = format!("{path_and_query}&limit={limit}");
        if let Some(c) = &cursor {
            p.push_str(&format!("&cursor={c}"));
        }
        let r = s.get(&p);
        assert_eq!(r.status, 200, "{p}: {}", r.body);
        let page = r.json();
        let keys = page_keys(&page);
        assert!(keys.len() <= limit, "{}", r.body);
        out.extend(keys);
        match &page["next"] {
            Value::String(c) => cursor = Some(c.clone()),
            _ => return out,
        }
    }
    panic!("{path_and_query}: the cursor never ended");
}

fn users() -> Value {
    json!([
        {"key": "u1", "value": r#"{"name": "Ann", "city": "paris", "age": 30}"#},
        {"key": "u2", "value": r#"{"name": "Bob", "city": "berlin", "age": 41}"#},
        {"key": "u3", "value": r#"{"name": "Cid", "city": "paris", "age": 30}"#},
        {"key": "u4", "value": r#"{"name": "Dee", "city": "lyon", "age": 25}"#},
        {"key": "u5", "value": r#"{"name": "Eve", "city": "lisbon", "age": 30.0}"#},
        {"key": "u6", "value": "not json"},
        {"key": "u7", "value": r#"{"name": "Fay", "city": null}"#},
        {"key": "u8", "value": r#"{"name": "Gus", "city": ["paris"]}"#},
    ])
}

#[test]
fn create_query_update_and_restart() {
    let mut s = TestServer::start(&[]);
    post_ok(&s, "/keys/batch", &users());

    let r = s.post("/indexes", r#"{"name": "by_city", "field": "city"}"#);
    assert_eq!(r.status, 201, "{}", r.body);
    let j = r.json();
    assert_eq!(
        (&j["name"], &j["keyspace"], &j["field"], &j["declared"]),
        (
            &json!("by_city"),
            &json!("default"),
            &json!("city"),
            &json!(true)
        )
    );
    let me = wait_ready(&s, "by_city");
    assert_eq!(me["keyspace"], "default");

    // By value: the entries whose field equals it, in key order, with value and version.
    let page = s.get("/indexes/by_city?eq=paris").json();
    assert_eq!(page_keys(&page), ["u1", "u3"]);
    assert_eq!(page["next"], Value::Null);
    let u1 = s.get("/keys/u1").json();
    assert_eq!(
        page["items"][0], u1,
        "items are what GET /keys/{{key}} answers"
    );
    // By range (index keys), and by prefix.
    assert_eq!(
        all_keys(&s, "/indexes/by_city?start=b&end=p", 10),
        ["u2", "u5", "u4"]
    );
    assert_eq!(all_keys(&s, "/indexes/by_city?prefix=l", 10), ["u5", "u4"]);
    // Everything: (index key, key) order; a page at a time, both ways.
    let every = ["u2", "u5", "u4", "u1", "u3"];
    assert_eq!(all_keys(&s, "/indexes/by_city?", 100), every);
    assert_eq!(all_keys(&s, "/indexes/by_city?", 1), every);
    assert_eq!(all_keys(&s, "/indexes/by_city?eq=paris", 1), ["u1", "u3"]);
    let mut back = every.to_vec();
    back.reverse();
    assert_eq!(all_keys(&s, "/indexes/by_city?reverse=true", 2), back);
    assert_eq!(
        all_keys(&s, "/indexes/by_city?eq=paris&reverse=true", 1),
        ["u3", "u1"]
    );
    assert!(page_keys(&s.get("/indexes/by_city?eq=rome").json()).is_empty());

    // Numbers are indexed as text: 30 and 30.0 are different keys.
    let r = s.post("/indexes", r#"{"name": "by_age", "field": "age"}"#);
    assert_eq!(r.status, 201, "{}", r.body);
    wait_ready(&s, "by_age");
    assert_eq!(all_keys(&s, "/indexes/by_age?eq=30", 10), ["u1", "u3"]);
    assert_eq!(all_keys(&s, "/indexes/by_age?eq=30.0", 10), ["u5"]);

    // Writes keep it current: an update moves a key, a delete and a range delete remove keys.
    let r = s.post(
        "/keys",
        r#"{"key": "u1", "value": "{\"name\": \"Ann\", \"city\": \"lyon\"}"}"#,
    );
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(all_keys(&s, "/indexes/by_city?eq=paris", 10), ["u3"]);
    assert_eq!(all_keys(&s, "/indexes/by_city?eq=lyon", 10), ["u1", "u4"]);
    assert_eq!(s.delete("/keys/u3").status, 204);
    assert!(all_keys(&s, "/indexes/by_city?eq=paris", 10).is_empty());
    assert_eq!(s.put_raw("/keys/u9", br#"{"city": "paris"}"#).status, 204);
    assert_eq!(all_keys(&s, "/indexes/by_city?eq=paris", 10), ["u9"]);
    assert_eq!(s.delete("/keys?start=u4&end=u6").status, 200);
    assert_eq!(all_keys(&s, "/indexes/by_city?", 10), ["u2", "u1", "u9"]);

    // After a restart the indexes are declared again before the first request: the keyspace
    // takes writes, and they are indexed.
    s.restart();
    let me = wait_ready(&s, "by_city");
    assert_eq!(me["field"], "city");
    assert_eq!(all_keys(&s, "/indexes/by_city?eq=lyon", 10), ["u1"]);
    let r = s.post(
        "/keys",
        r#"{"key": "u10", "value": "{\"city\": \"lyon\"}"}"#,
    );
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(all_keys(&s, "/indexes/by_city?eq=lyon", 10), ["u1", "u10"]);
    assert_eq!(all_keys(&s, "/indexes/by_age?eq=41", 10), ["u2"]);

    let m = s.get("/metrics").body;
    assert!(
        m.contains("lsmkv_engine_indexes_ready{index=\"by_city\"} 1"),
        "{m}"
    );
    assert!(
        m.contains("route=\"GET /indexes/{name}\",status=\"200\"}"),
        "{m}"
    );
}

#[test]
fn indexes_of_other_keyspaces_and_drops() {
    let mut s = TestServer::start(&[]);
    assert_eq!(s.request("PUT", "/keyspaces/users", &[], b"").status, 201);
    post_ok(&s, "/keyspaces/users/keys/batch", &users());
    let r = s.post(
        "/indexes",
        r#"{"name": "users/by_name", "field": "name", "keyspace": "users"}"#,
    );
    assert_eq!(r.status, 201, "{}", r.body);
    wait_ready(&s, "users/by_name");
    let page = s.get("/indexes/users%2Fby_name?eq=Bob").json();
    assert_eq!(page_keys(&page), ["u2"]);
    // The default keyspace is not indexed.
    assert_eq!(s.put_raw("/keys/x", br#"{"name": "Bob"}"#).status, 204);
    assert_eq!(all_keys(&s, "/indexes/users%2Fby_name?eq=Bob", 10), ["u2"]);

    // The index's keyspaces are the server's: listed, readable, not writable, not droppable.
    let ks = s.get("/keyspaces").json();
    let listed: Vec<(String, bool)> = ks["keyspaces"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| {
            (
                k["name"].as_str().unwrap().to_string(),
                k["reserved"].as_bool().unwrap(),
            )
        })
        .collect();
    for (name, reserved) in [
        ("__index/users/by_name", true),
        ("__server/indexes", true),
        ("default", false),
        ("flags", true),
        ("users", false),
    ] {
        assert!(
            listed.contains(&(name.to_string(), reserved)),
            "{name}: {listed:?}"
        );
    }
    let def = s.get(&format!(
        "/keyspaces/{}/keys/{}",
        enc(b"__server/indexes"),
        enc(b"users/by_name")
    ));
    assert_eq!(def.status, 200, "{}", def.body);
    let stored: Value = serde_json::from_str(def.json()["value"].as_str().unwrap()).unwrap();
    assert_eq!(
        stored,
        json!({"keyspace": "users", "field": "name", "kind": "json_field"})
    );
    for (method, path) in [
        ("PUT", "/keyspaces/__index%2Fusers%2Fby_name/keys/k"),
        (
            "DELETE",
            "/keyspaces/__index%2Fusers%2Fby_name/keys?all=true",
        ),
        ("PUT", "/keyspaces/__server%2Findexes/keys/k"),
        ("DELETE", "/keyspaces/__index%2Fusers%2Fby_name"),
        ("DELETE", "/keyspaces/__server%2Findexes"),
        ("PUT", "/keyspaces/__index%2Fnew"),
        ("PUT", "/keyspaces/__server%2Fnew"),
    ] {
        let r = s.request(method, path, &[], b"v");
        assert_eq!(
            (r.status, code(&r).as_str()),
            (403, "keyspace_reserved"),
            "{method} {path}: {}",
            r.body
        );
    }
    let r = s.post("/keyspaces", r#"{"name": "__index/x"}"#);
    assert_eq!((r.status, code(&r).as_str()), (403, "keyspace_reserved"));

    // An indexed keyspace cannot be dropped before its indexes.
    let r = s.request("DELETE", "/keyspaces/users", &[], b"");
    assert_eq!(
        (r.status, code(&r).as_str()),
        (409, "keyspace_indexed"),
        "{}",
        r.body
    );
    let r = s.delete("/indexes/users%2Fby_name");
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json(), json!({"dropped": "users/by_name"}));
    let r = s.get("/indexes/users%2Fby_name?eq=Bob");
    assert_eq!((r.status, code(&r).as_str()), (404, "index_not_found"));
    let r = s.delete("/indexes/users%2Fby_name");
    assert_eq!((r.status, code(&r).as_str()), (404, "index_not_found"));
    assert_eq!(s.get("/indexes").json(), json!({"indexes": []}));
    assert_eq!(
        s.request("DELETE", "/keyspaces/users", &[], b"").status,
        200
    );

    // A dropped index stays dropped.
    s.restart();
    assert_eq!(s.get("/indexes").json(), json!({"indexes": []}));
}

#[test]
fn bad_index_requests() {
    let s = TestServer::start(&[]);
    let long = "n".repeat(201);
    for (body, status, c) in [
        ("{", 400, "bad_request"),
        ("[]", 400, "bad_request"),
        ("{}", 400, "bad_request"),
        (r#"{"name": "x"}"#, 400, "bad_request"),
        (r#"{"field": "x"}"#, 400, "bad_request"),
        (r#"{"name": "", "field": "a"}"#, 400, "bad_request"),
        (r#"{"name": "x", "field": ""}"#, 400, "bad_request"),
        (r#"{"name": "x", "field": 1}"#, 400, "bad_request"),
        (
            r#"{"name": "x", "field": "a", "keyspace": 3}"#,
            400,
            "bad_request",
        ),
        (
            r#"{"name": "x", "field": "a", "unique": true}"#,
            400,
            "bad_request",
        ),
        (
            &format!(r#"{{"name": "{long}", "field": "a"}}"#),
            400,
            "bad_request",
        ),
        (
            r#"{"name": "x", "field": "a", "keyspace": "nope"}"#,
            404,
            "keyspace_not_found",
        ),
        (
            r#"{"name": "x", "field": "a", "keyspace": "flags"}"#,
            403,
            "keyspace_reserved",
        ),
        (
            r#"{"name": "x", "field": "a", "keyspace": "__server/indexes"}"#,
            403,
            "keyspace_reserved",
        ),
    ] {
        let r = s.post("/indexes", body);
        assert_eq!(
            (r.status, code(&r).as_str()),
            (status, c),
            "{body}: {}",
            r.body
        );
    }
    assert_eq!(s.get("/indexes").json(), json!({"indexes": []}));

    let r = s.post("/indexes", r#"{"name": "x", "field": "a"}"#);
    assert_eq!(r.status, 201, "{}", r.body);
    let r = s.post("/indexes", r#"{"name": "x", "field": "b"}"#);
    assert_eq!((r.status, code(&r).as_str()), (409, "index_exists"));
    wait_ready(&s, "x");
    let r = s.post(
        "/indexes",
        r#"{"name": "y", "field": "a", "keyspace": "__index/x"}"#,
    );
    assert_eq!((r.status, code(&r).as_str()), (403, "keyspace_reserved"));

    for (path, status, c) in [
        ("/indexes/nope", 404, "index_not_found"),
        ("/indexes/nope?eq=a", 404, "index_not_found"),
        ("/indexes/x?eq=a&start=b", 400, "bad_request"),
        ("/indexes/x?eq=a&prefix=b", 400, "bad_request"),
        ("/indexes/x?prefix=a&end=b", 400, "bad_request"),
        ("/indexes/x?cursor=%21%21", 400, "bad_request"),
        ("/indexes/x?cursor=AAAAEA", 400, "bad_request"),
        ("/indexes/x?limit=0", 400, "bad_request"),
        ("/indexes/x?reverse=maybe", 400, "bad_request"),
        ("/indexes/x/y", 404, "not_found"),
    ] {
        let r = s.get(path);
        assert_eq!(
            (r.status, code(&r).as_str()),
            (status, c),
            "{path}: {}",
            r.body
        );
    }
    let r = s.request("PUT", "/indexes", &[], b"{}");
    assert_eq!((r.status, code(&r).as_str()), (405, "method_not_allowed"));
    assert_eq!(r.headers["allow"], "GET, POST");
    let r = s.request("POST", "/indexes/x", &[], b"{}");
    assert_eq!((r.status, code(&r).as_str()), (405, "method_not_allowed"));
    assert_eq!(r.headers["allow"], "GET, DELETE");
}

/// `n` JSON values `{"g": i % 10}` written straight into a fresh database directory (keys
/// `n000000`...: keys that all start with `k` would look like the old layout to the migration).
fn database_with(n: u32) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let db = lsmkv::Db::open(dir.path(), lsmkv::Options::default()).unwrap();
    let mut b = lsmkv::WriteBatch::new();
    for i in 0..n {
        b.put(format!("n{i:06}"), format!(r#"{{"g": {}}}"#, i % 10));
        if b.len() == 1000 {
            db.write(std::mem::take(&mut b)).unwrap();
        }
    }
    db.write(b).unwrap();
    db.close().unwrap();
    dir
}

#[test]
fn queries_wait_for_the_build_which_survives_a_restart() {
    let mut s = TestServer::start_in(database_with(40_000), &[]);
    let r = s.post("/indexes", r#"{"name": "by_g", "field": "g"}"#);
    assert_eq!(r.status, 201, "{}", r.body);
    // Right after the create the existing 40,000 keys are still being indexed (80 commits of
    // 512 keys, each value parsed as JSON, against one request).
    let r = s.get("/indexes/by_g?eq=3&limit=1");
    assert_eq!(
        (r.status, code(&r).as_str()),
        (503, "index_building"),
        "{}",
        r.body
    );
    assert_eq!(r.headers["retry-after"], "1");
    assert!(r.json()["built_keys"].is_u64(), "{}", r.body);
    let listed = s.get("/indexes").json();
    assert_eq!(listed["indexes"][0]["name"], "by_g");
    assert!(listed["indexes"][0]["built_keys"].is_u64());
    // Stopping mid-build: the next start declares the index again and finishes the build.
    s.restart();
    wait_ready(&s, "by_g");
    let threes = all_keys(&s, "/indexes/by_g?eq=3", 1000);
    assert_eq!(threes.len(), 4000);
    assert_eq!(threes.first().map(String::as_str), Some("n000003"));
    assert_eq!(threes.last().map(String::as_str), Some("n039993"));
}

#[test]
fn definitions_and_engine_indexes_out_of_step() {
    let dir = database_with(100);
    {
        let db = lsmkv::Db::open(dir.path(), lsmkv::Options::default()).unwrap();
        // A create cut short after its definition: the engine index does not exist yet.
        let defs = db.keyspace("__server/indexes").unwrap();
        defs.put(
            "by_g",
            r#"{"keyspace": "default", "field": "g", "kind": "json_field"}"#,
        )
        .unwrap();
        // A definition whose keyspace is gone.
        defs.put(
            "gone",
            r#"{"keyspace": "dropped", "field": "g", "kind": "json_field"}"#,
        )
        .unwrap();
        // An index made through the library, which the server cannot declare.
        let ks = db.keyspace("lib").unwrap();
        ks.put("a", "1").unwrap();
        let ix = db
            .create_index("lib_ix", &ks, |_k, v| vec![v.to_vec()])
            .unwrap();
        ix.wait_ready().unwrap();
        drop(ix);
        drop((defs, ks));
        db.close().unwrap();
    }
    let s = TestServer::start_in(dir, &[]);
    wait_ready(&s, "by_g");
    assert_eq!(all_keys(&s, "/indexes/by_g?eq=7", 100).len(), 10);
    let list = s.get("/indexes").json();
    let names: Vec<(&str, &Value)> = list["indexes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| (i["name"].as_str().unwrap(), &i["declared"]))
        .collect();
    assert_eq!(names, [("by_g", &json!(true)), ("lib_ix", &json!(false))]);
    // The undeclared index blocks writes to its keyspace until it is dropped.
    let r = s.put_raw("/keyspaces/lib/keys/b", b"2");
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(r.body.contains("lib_ix"), "{}", r.body);
    let r = s.get("/indexes/lib_ix?eq=1");
    assert_eq!((r.status, code(&r).as_str()), (404, "index_not_found"));
    assert_eq!(s.delete("/indexes/lib_ix").status, 200);
    assert_eq!(s.put_raw("/keyspaces/lib/keys/b", b"2").status, 204);
}

/// The README's example, request by request.
#[test]
fn readme_example() {
    let s = TestServer::start(&[]);
    assert_eq!(s.request("PUT", "/keyspaces/users", &[], b"").status, 201);
    let r = s.post(
        "/indexes",
        r#"{"name": "by_email", "field": "email", "keyspace": "users"}"#,
    );
    assert_eq!(r.status, 201, "{}", r.body);
    let r = s.put_raw(
        "/keyspaces/users/keys/u1",
        br#"{"email": "ann@x.org", "age": 30}"#,
    );
    assert_eq!(r.status, 204);
    let version: u64 = r.headers["etag"].trim_matches('"').parse().unwrap();
    wait_ready(&s, "by_email");
    let r = s.get("/indexes/by_email?eq=ann@x.org");
    assert_eq!(
        r.json(),
        json!({"items": [{"key": "u1", "value": r#"{"email": "ann@x.org", "age": 30}"#, "version": version}], "next": null})
    );
    let r = s.get("/indexes/by_email?start=a&end=b&limit=10");
    assert_eq!(page_keys(&r.json()), ["u1"]);
    assert_eq!(s.delete("/indexes/by_email").status, 200);
}
