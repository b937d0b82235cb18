//! Error statuses, limits and timeouts of lsmkv-server: every error is JSON `{"error": ...}`.

mod server_common;

use std::io::Write;

use server_common::{TestServer, connect, raw, read_response};

fn assert_error(r: &server_common::Resp, status: u16) {
    assert_eq!(r.status, status, "{}", r.body);
    assert!(r.json()["error"].is_string(), "{}", r.body);
    assert!(r.json()["code"].is_string(), "{}", r.body);
}

#[test]
fn bad_requests_are_400() {
    let s = TestServer::start(&[]);
    for body in [
        "",
        "{",
        "not json",
        "[]",
        r#"{"key": "a"}"#,
        r#"{"value": "a"}"#,
        r#"{"key": 1, "value": "a"}"#,
        r#"{"key": "a", "value": null}"#,
        r#"{"key": "", "value": "a"}"#,
        r#"{"key_base64": "***", "value": "a"}"#,
        r#"{"key": "a", "value_base64": 1}"#,
        r#"{"key": "a", "key_base64": "YQ==", "value": "a"}"#,
        r#"{"key": "a", "value": "a", "value_base64": "YQ=="}"#,
        r#"{"key_base64": "", "value": "a"}"#,
    ] {
        assert_error(&s.post("/keys", body), 400);
    }
    let long = "x".repeat(64 * 1024);
    assert_error(
        &s.post("/keys", &format!(r#"{{"key": "{long}", "value": "a"}}"#)),
        400,
    );
    assert_error(&s.get("/keys/"), 400);
    for body in ["{}", "[1]", r#"[{"key":"a"}]"#, "[]"] {
        assert_error(&s.post("/keys/batch", body), 400);
    }
    for body in [
        r#"{"version": 0}"#,
        r#"{"enabled": "yes", "version": 0}"#,
        r#"{"enabled": true, "version": -1}"#,
        r#"{"enabled": true, "version": 1.5}"#,
    ] {
        assert_error(&s.post("/features/f", body), 400);
    }
    assert_error(&s.get("/keys?limit=0"), 400);
    assert_error(&s.get("/keys?limit=many"), 400);
    assert_error(&s.get("/keys?reverse=maybe"), 400);
    assert_error(&s.get("/keys?cursor=***"), 400);
}

#[test]
fn batch_entry_limit() {
    let s = TestServer::start(&[("MAX_BATCH_ENTRIES", "2")]);
    let body = r#"[{"key":"a","value":"1"},{"key":"b","value":"2"},{"key":"c","value":"3"}]"#;
    let r = s.post("/keys/batch", body);
    assert_error(&r, 400);
    assert!(r.body.contains("MAX_BATCH_ENTRIES"));
    assert_eq!(s.get("/keys/a").status, 404);
}

#[test]
fn not_found_and_method_not_allowed() {
    let s = TestServer::start(&[]);
    assert_error(&s.get("/nope"), 404);
    assert_error(&s.get("/keys/absent"), 404);
    assert_error(&s.get("/features/absent"), 404);
    let r = s.delete("/stats/all");
    assert_error(&r, 405);
    assert_eq!(r.headers["allow"], "GET");
    let r = s.put_raw("/keys", b"x");
    assert_error(&r, 405);
    assert_eq!(r.headers["allow"], "GET, POST, DELETE");
    assert_error(&s.delete("/features/x"), 405);
}

#[test]
fn bearer_token_auth() {
    let mut s = TestServer::start(&[("API_TOKEN", "s3cret")]);
    assert_eq!(s.post("/keys", r#"{"key":"a","value":"b"}"#).status, 200);
    assert_eq!(s.get("/keys/a").status, 200);
    s.token = None;
    assert_error(&s.get("/keys/a"), 401);
    assert_error(&s.get("/stats/all"), 401);
    assert_error(&s.get("/nope"), 401);
    // /health stays open for probes.
    assert_eq!(s.get("/health").status, 200);
    s.token = Some("s3cre".into());
    assert_error(&s.get("/keys/a"), 401);
    s.token = Some("s3cret!".into());
    assert_error(&s.get("/keys/a"), 401);
    s.token = Some("s3cret".into());
    assert_eq!(s.get("/keys/a").status, 200);
}

#[test]
fn payload_limit_is_checked_while_reading() {
    let s = TestServer::start(&[("MAX_JSON_PAYLOAD_SIZE", "1KiB")]);
    let small = format!(r#"{{"key":"k","value":"{}"}}"#, "v".repeat(900));
    assert_eq!(s.post("/keys", &small).status, 200);
    let big = format!(r#"{{"key":"k","value":"{}"}}"#, "v".repeat(2000));
    assert_error(&s.post("/keys", &big), 413);
    assert_error(&s.post("/keys/batch", &format!("[{big}]")), 413);

    // A declared length past the limit is refused before any body byte is sent.
    let (status, text) = raw(
        s.addr(),
        b"POST /keys HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 100000000\r\n\r\n",
    );
    assert_eq!(status, 413, "{text}");
    assert!(text.contains("\"error\""));

    // A chunked body with no declared length is cut off as soon as it passes the limit, although
    // the client never finishes sending it.
    let mut c = connect(s.addr());
    let chunk = "x".repeat(2048);
    let req = format!(
        "POST /keys HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked\r\n\r\n{:x}\r\n{chunk}\r\n",
        chunk.len()
    );
    c.write_all(req.as_bytes()).unwrap();
    let (status, text) = read_response(&mut c);
    assert_eq!(status, 413, "{text}");
}

#[test]
fn slow_body_times_out_with_408() {
    let s = TestServer::start(&[("REQUEST_TIMEOUT_MS", "200")]);
    let mut c = connect(s.addr());
    c.write_all(b"POST /keys HTTP/1.1\r\nhost: x\r\ncontent-length: 30\r\n\r\n{\"key\":")
        .unwrap();
    let (status, text) = read_response(&mut c);
    assert_eq!(status, 408, "{text}");
    assert!(text.contains("REQUEST_TIMEOUT_MS"));
}

#[test]
fn idle_and_slow_header_clients_are_disconnected() {
    let s = TestServer::start(&[("HEADER_READ_TIMEOUT_MS", "200")]);
    // Idle: never sends anything.
    let mut c = connect(s.addr());
    let (status, _) = read_response(&mut c);
    assert_eq!(status, 0, "server closes an idle connection");
    // Slow: starts the headers and never finishes them.
    let mut c = connect(s.addr());
    c.write_all(b"GET /health HTTP/1.1\r\nhost: x\r\n").unwrap();
    let (status, _) = read_response(&mut c);
    assert!(status == 0 || status == 408, "got {status}");
    // Normal requests still work.
    assert_eq!(s.get("/health").status, 200);
}

#[test]
fn connection_limit_holds() {
    let s = TestServer::start(&[("MAX_CONNECTIONS", "1")]);
    // Connection A is served and kept alive.
    let mut a = connect(s.addr());
    a.write_all(b"GET /health HTTP/1.1\r\nhost: x\r\n\r\n")
        .unwrap();
    assert_eq!(read_response(&mut a).0, 200);
    // B is refused while A is open.
    let (status, text) = raw(s.addr(), b"GET /health HTTP/1.1\r\nhost: x\r\n\r\n");
    assert_eq!(status, 503, "{text}");
    assert!(text.contains("MAX_CONNECTIONS"));
    // A still works.
    a.write_all(b"GET /health HTTP/1.1\r\nhost: x\r\n\r\n")
        .unwrap();
    assert_eq!(read_response(&mut a).0, 200);
    drop(a);
    // Once A is gone its slot frees up (the server notices the close asynchronously).
    let mut ok = false;
    for _ in 0..500 {
        if raw(
            s.addr(),
            b"GET /health HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n",
        )
        .0 == 200
        {
            ok = true;
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    assert!(ok, "slot never freed");
    // The connection that just answered frees its slot asynchronously too.
    let mut m = s.get("/metrics");
    for _ in 0..500 {
        if m.status != 503 {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
        m = s.get("/metrics");
    }
    assert!(
        m.body.contains("lsmkv_http_connections_rejected_total"),
        "{}",
        m.body
    );
}

#[test]
fn keep_alive_can_be_turned_off() {
    let on = TestServer::start(&[]);
    let r = on.get("/health");
    assert_ne!(
        r.headers.get("connection").map(String::as_str),
        Some("close")
    );
    let off = TestServer::start(&[("KEEP_ALIVE", "false")]);
    let r = off.get("/health");
    assert_eq!(r.headers["connection"], "close");
}

#[test]
fn slow_requests_are_counted() {
    // A request that waits out its 50 ms body deadline is certainly slower than SLOW_REQUEST_MS.
    let s = TestServer::start(&[("SLOW_REQUEST_MS", "1"), ("REQUEST_TIMEOUT_MS", "50")]);
    let mut c = connect(s.addr());
    c.write_all(b"POST /keys HTTP/1.1\r\nhost: x\r\ncontent-length: 30\r\n\r\n{")
        .unwrap();
    assert_eq!(read_response(&mut c).0, 408);
    let m = s.get("/metrics").body;
    let line = m
        .lines()
        .find(|l| l.starts_with("lsmkv_http_slow_requests_total "))
        .unwrap();
    assert_ne!(line, "lsmkv_http_slow_requests_total 0", "{m}");
}

/// Whether a response head says `connection: close`.
fn says_close(text: &str) -> bool {
    text.lines().any(|l| {
        l.split_once(':').is_some_and(|(k, v)| {
            k.eq_ignore_ascii_case("connection") && v.trim().eq_ignore_ascii_case("close")
        })
    })
}

/// A request refused before its body arrived: the server does not read the body, so it must not
/// leave the client to reuse the connection (the client's next request would meet a closed
/// connection, which pooled clients report as an error). A request whose body was read keeps
/// its connection.
#[test]
fn refused_requests_with_unread_bodies_close_their_connection() {
    let s = TestServer::start(&[]);
    for head in [
        // A reserved keyspace: refused with 403 before the body is read.
        "PUT /keyspaces/flags/keys/x HTTP/1.1\r\nhost: x\r\ncontent-length: 1\r\n\r\n",
        // No such route.
        "POST /nowhere HTTP/1.1\r\nhost: x\r\ncontent-length: 1\r\n\r\n",
    ] {
        let mut c = connect(s.addr());
        c.write_all(head.as_bytes()).unwrap();
        let (status, text) = read_response(&mut c);
        assert!((400..500).contains(&status), "{text}");
        assert!(says_close(&text), "{text}");
    }
    // A successful write with a body, then a second request on the same connection.
    let mut c = connect(s.addr());
    c.write_all(b"PUT /keys/a HTTP/1.1\r\nhost: x\r\ncontent-length: 1\r\n\r\n1")
        .unwrap();
    let (status, text) = read_response(&mut c);
    assert_eq!(status, 204, "{text}");
    assert!(!says_close(&text), "{text}");
    c.write_all(b"GET /keys/a HTTP/1.1\r\nhost: x\r\n\r\n")
        .unwrap();
    let (status, text) = read_response(&mut c);
    assert_eq!(status, 200, "{text}");
}
