//! A write the engine would stall is answered at once with 503 `write_stalled` and a
//! `Retry-After` header instead of holding the request. The stall is made deterministic by
//! configuration: compaction writes are limited to 1 byte per second, so level 0 reaches
//! `L0_STOP_WRITES_TRIGGER` after three flushes and stays there.

mod server_common;

use server_common::TestServer;

const VARS: &[(&str, &str)] = &[
    ("COMPACTION_MAX_BYTES_PER_SEC", "1"),
    ("L0_COMPACTION_TRIGGER", "2"),
    ("L0_SLOWDOWN_WRITES_TRIGGER", "2"),
    ("L0_STOP_WRITES_TRIGGER", "3"),
];

fn assert_stalled(r: &server_common::Resp) {
    assert_eq!(r.status, 503, "{}", r.body);
    let body = r.json();
    assert_eq!(body["code"], "write_stalled", "{}", r.body);
    let secs = body["retry_after_seconds"]
        .as_u64()
        .expect("retry_after_seconds");
    assert!((1..=10).contains(&secs), "{secs}");
    let header: u64 = r.headers["retry-after"]
        .parse()
        .expect("Retry-After in seconds");
    assert_eq!(header, secs);
}

#[test]
fn stalled_writes_get_503_with_retry_after() {
    let mut s = TestServer::start(VARS);
    for i in 0..3 {
        let r = s.put_raw(&format!("/keys/k{i}"), b"v");
        assert!(r.status < 300, "{} {}", r.status, r.body);
        let r = s.post("/admin/flush?keyspace=default", "");
        assert_eq!(r.status, 200, "{}", r.body);
    }
    assert_stalled(&s.put_raw("/keys/late", b"v"));
    assert_stalled(&s.post("/keys", r#"{"key": "late", "value": "v"}"#));
    assert_stalled(&s.post("/keys/batch", r#"[{"key": "late", "value": "v"}]"#));
    assert_stalled(&s.delete("/keys/k0"));
    // Nothing of them was written, and reads go on.
    assert_eq!(s.get("/keys/late").status, 404);
    assert_eq!(s.get("/keys/k0").status, 200);
    // Shutting down does not wait for the crawling compaction.
    s.stop();
}
