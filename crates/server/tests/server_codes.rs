//! Every error body carries a stable machine-readable `code` beside the `error` message: one test
//! per code the server produces, engine corruption included (whose body names no server path).

mod server_common;

use std::io::{Seek, SeekFrom, Write};

use server_common::{Resp, TestServer, connect, raw, read_response};

fn code_of(r: &Resp) -> String {
    let j = r.json();
    assert!(j["error"].is_string(), "{}", r.body);
    j["code"]
        .as_str()
        .unwrap_or_else(|| panic!("no code: {}", r.body))
        .to_string()
}

fn raw_code(text: &str) -> String {
    let body = &text[text.find("\r\n\r\n").map_or(0, |i| i + 4)..];
    let j: serde_json::Value =
        serde_json::from_str(body).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"));
    assert!(j["error"].is_string(), "{text}");
    j["code"]
        .as_str()
        .unwrap_or_else(|| panic!("no code: {text}"))
        .to_string()
}

#[test]
fn http_error_codes() {
    let s = TestServer::start(&[
        ("MAX_JSON_PAYLOAD_SIZE", "1KiB"),
        ("REQUEST_TIMEOUT_MS", "300"),
    ]);
    let r = s.post("/keys", "{");
    assert_eq!((r.status, code_of(&r).as_str()), (400, "bad_request"));
    let r = s.get("/keys/absent");
    assert_eq!((r.status, code_of(&r).as_str()), (404, "not_found"));
    let r = s.get("/nope");
    assert_eq!((r.status, code_of(&r).as_str()), (404, "not_found"));
    let r = s.delete("/stats/all");
    assert_eq!(
        (r.status, code_of(&r).as_str()),
        (405, "method_not_allowed")
    );
    assert_eq!(
        s.post("/features/f", r#"{"enabled":true,"version":0}"#)
            .status,
        201
    );
    let r = s.post("/features/f", r#"{"enabled":true,"version":0}"#);
    assert_eq!((r.status, code_of(&r).as_str()), (409, "conflict"));
    let big = format!(r#"{{"key":"k","value":"{}"}}"#, "v".repeat(2000));
    let r = s.post("/keys", &big);
    assert_eq!((r.status, code_of(&r).as_str()), (413, "payload_too_large"));
    // 408: the body never arrives.
    let mut c = connect(s.addr());
    c.write_all(b"POST /keys HTTP/1.1\r\nhost: x\r\ncontent-length: 30\r\n\r\n{")
        .unwrap();
    let (status, text) = read_response(&mut c);
    assert_eq!((status, raw_code(&text).as_str()), (408, "timeout"));
}

#[test]
fn keyspace_codes() {
    let s = TestServer::start(&[]);
    let r = s.get("/keyspaces/nope/keys/a");
    assert_eq!(
        (r.status, code_of(&r).as_str()),
        (404, "keyspace_not_found")
    );
    let r = s.request("DELETE", "/keyspaces/default", &[], b"");
    assert_eq!((r.status, code_of(&r).as_str()), (403, "keyspace_reserved"));
    assert_eq!(s.post("/keyspaces", r#"{"name": "k"}"#).status, 201);
    let r = s.post("/keyspaces", r#"{"name": "k"}"#);
    assert_eq!((r.status, code_of(&r).as_str()), (409, "keyspace_exists"));
}

#[test]
fn unauthorized_and_unavailable_codes() {
    let mut s = TestServer::start(&[("API_TOKEN", "t0k3n"), ("MAX_CONNECTIONS", "1")]);
    s.token = None;
    let r = s.get("/keys/a");
    assert_eq!((r.status, code_of(&r).as_str()), (401, "unauthorized"));
    // The agent's kept-alive connection holds the only slot.
    let (status, text) = raw(s.addr(), b"GET /health HTTP/1.1\r\nhost: x\r\n\r\n");
    assert_eq!((status, raw_code(&text).as_str()), (503, "unavailable"));
}

#[test]
fn engine_corruption_is_coded_and_names_no_path() {
    let dir = tempfile::tempdir().unwrap();
    {
        let db = lsmkv::Db::open(
            dir.path(),
            lsmkv::Options {
                compression: lsmkv::Compression::None,
                ..lsmkv::Options::default()
            },
        )
        .unwrap();
        for i in 0..200u32 {
            db.put(format!("k{i:03}"), "v".repeat(100)).unwrap();
        }
        db.flush().unwrap();
        // A stored flag the server cannot read (in the flags keyspace, outside the SSTable
        // damaged below): an internal fault, not corruption.
        db.keyspace("flags")
            .unwrap()
            .put("broken", "not json")
            .unwrap();
        db.close().unwrap();
    }
    let sst = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "sst"))
        .max_by_key(|p| std::fs::metadata(p).unwrap().len())
        .expect("an SSTable of the keys");
    let mut f = std::fs::OpenOptions::new().write(true).open(&sst).unwrap();
    f.seek(SeekFrom::Start(20)).unwrap();
    f.write_all(&[0xA5]).unwrap();
    f.sync_all().unwrap();
    drop(f);
    let path = dir.path().display().to_string();
    let s = TestServer::start_in(dir, &[("COMPRESSION", "none")]);
    let r = s.get("/keys/k000");
    assert_eq!(
        (r.status, code_of(&r).as_str()),
        (500, "corruption"),
        "{}",
        r.body
    );
    assert!(!r.body.contains(&path), "{}", r.body);
    assert!(!r.body.contains(".sst"), "{}", r.body);
    let r = s.get("/features/broken");
    assert_eq!(
        (r.status, code_of(&r).as_str()),
        (500, "internal"),
        "{}",
        r.body
    );
}

#[test]
fn readme_documents_every_code() {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../README.md")).unwrap();
    for (code, status) in lsmkv_server::ERROR_CODES {
        assert!(
            readme.contains(&format!("| `{code}` | {status} |")),
            "README lacks the row of `{code}`"
        );
    }
}

#[test]
fn requests_hyper_refuses_get_coded_json_too() {
    let s = TestServer::start(&[]);
    // A request line that does not parse.
    let (status, text) = raw(s.addr(), b"NOT A REQUEST\r\n\r\n");
    assert_eq!((status, raw_code(&text).as_str()), (400, "bad_request"));
    // Too many header fields.
    let mut req = String::from("GET /health HTTP/1.1\r\nhost: x\r\n");
    for i in 0..200 {
        req.push_str(&format!("x-h{i}: v\r\n"));
    }
    req.push_str("\r\n");
    let (status, text) = raw(s.addr(), req.as_bytes());
    assert_eq!(
        (status, raw_code(&text).as_str()),
        (431, "headers_too_large")
    );
    // The handlers' own 400s are left as they are.
    let r = s.post("/keys", "{");
    assert_eq!(r.status, 400);
    assert!(
        r.json()["error"]
            .as_str()
            .unwrap()
            .contains("malformed JSON")
    );
    assert_eq!(s.get("/health").status, 200);
}
