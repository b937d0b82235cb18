//! `GET /watch` and `GET /keyspaces/{ks}/watch`: the change feed as server-sent events. Events in
//! order with their versions as ids, the prefix filter, the keyspace route, `lagged` with a tiny
//! buffer, keep-alive comments, the token, `MAX_WATCHERS`, a disconnect that frees the
//! subscription, and a shutdown with a watcher open. (The frames of range deletes and expiring
//! puts, which no HTTP route writes yet, are tested on the engine's feed in `handlers/watch.rs`.)

mod server_common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use server_common::{TestServer, connect};

/// One server-sent event (or a comment block: `event` empty, `comment` set).
#[derive(Debug, Default)]
struct Sse {
    event: String,
    id: Option<u64>,
    data: serde_json::Value,
    comment: Option<String>,
}

/// A watch stream read over a raw connection: the head, then chunked SSE blocks.
struct Watch {
    r: BufReader<TcpStream>,
    status: u16,
    head: String,
    /// Decoded body bytes not yet split into blocks.
    pending: Vec<u8>,
    ended: bool,
}

impl Watch {
    fn open(s: &TestServer, path: &str, token: Option<&str>) -> Watch {
        let mut c = connect(s.addr());
        c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let auth = token.map_or(String::new(), |t| format!("authorization: Bearer {t}\r\n"));
        write!(c, "GET {path} HTTP/1.1\r\nhost: x\r\n{auth}\r\n").unwrap();
        let mut r = BufReader::new(c);
        let mut head = String::new();
        loop {
            let mut line = String::new();
            assert!(
                r.read_line(&mut line).unwrap() > 0,
                "closed in head: {head}"
            );
            if line == "\r\n" {
                break;
            }
            head.push_str(&line);
        }
        let status = head.split_whitespace().nth(1).unwrap().parse().unwrap();
        Watch {
            r,
            status,
            head,
            pending: Vec::new(),
            ended: false,
        }
    }

    fn header(&self, name: &str) -> Option<String> {
        self.head.lines().find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case(name).then(|| v.trim().to_string())
        })
    }

    /// The body of a response that is not a stream (Content-Length).
    fn body_json(mut self) -> serde_json::Value {
        let len: usize = self.header("content-length").unwrap().parse().unwrap();
        let mut b = vec![0; len];
        self.r.read_exact(&mut b).unwrap();
        serde_json::from_slice(&b).unwrap()
    }

    /// Reads one chunk into `pending`; false at the last chunk.
    fn read_chunk(&mut self) -> bool {
        let mut line = String::new();
        if self.r.read_line(&mut line).unwrap() == 0 {
            return false;
        }
        let n = usize::from_str_radix(line.trim(), 16).unwrap_or_else(|_| panic!("{line:?}"));
        let mut b = vec![0; n + 2];
        self.r.read_exact(&mut b).unwrap();
        self.pending.extend_from_slice(&b[..n]);
        n > 0
    }

    /// The next block, comments included; `None` once the stream has ended.
    fn next_block(&mut self) -> Option<Sse> {
        loop {
            if let Some(i) = self.pending.windows(2).position(|w| w == b"\n\n") {
                let block: Vec<u8> = self.pending.drain(..i + 2).collect();
                return Some(parse(&String::from_utf8(block).unwrap()));
            }
            if self.ended || !self.read_chunk() {
                self.ended = true;
                assert!(self.pending.is_empty(), "{:?}", self.pending);
                return None;
            }
        }
    }

    /// The next event, skipping comments.
    fn next_event(&mut self) -> Option<Sse> {
        loop {
            let b = self.next_block()?;
            if b.comment.is_none() {
                return Some(b);
            }
        }
    }
}

fn parse(block: &str) -> Sse {
    let mut e = Sse::default();
    for line in block.lines() {
        if let Some(c) = line.strip_prefix(": ") {
            e.comment = Some(c.to_string());
        } else if let Some(v) = line.strip_prefix("event: ") {
            e.event = v.to_string();
        } else if let Some(v) = line.strip_prefix("id: ") {
            e.id = Some(v.parse().unwrap());
        } else if let Some(v) = line.strip_prefix("data: ") {
            e.data = serde_json::from_str(v).unwrap();
        } else {
            assert!(line.is_empty(), "unexpected line {line:?}");
        }
    }
    e
}

/// Opens a watch and waits for its first comment: from then on the subscription is live.
fn watch(s: &TestServer, path: &str) -> Watch {
    let mut w = Watch::open(s, path, s.token.as_deref());
    assert_eq!(w.status, 200, "{}", w.head);
    assert_eq!(
        w.header("content-type").as_deref(),
        Some("text/event-stream")
    );
    assert_eq!(w.next_block().unwrap().comment.as_deref(), Some("watching"));
    w
}

fn version_of(etag: &str) -> u64 {
    etag.trim_matches('"').parse().unwrap()
}

/// `/stats/all`'s count of `field` (`watchers`, `subscribers`) reaches `want` within 10 s.
fn wait_for(s: &TestServer, field: &str, want: u64) {
    let until = Instant::now() + Duration::from_secs(10);
    loop {
        let got = s.get("/stats/all").json()["server"][field]
            .as_u64()
            .unwrap();
        if got == want {
            return;
        }
        assert!(Instant::now() < until, "{field} stays {got}, not {want}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn puts_deletes_and_a_batch_in_order_with_versions() {
    let s = TestServer::start(&[]);
    let mut w = watch(&s, "/watch?prefix=user%3A");
    let r = s.put_raw("/keys/user:1", b"alice");
    let v1 = version_of(&r.headers["etag"]);
    assert_eq!(
        s.post("/keys", r#"{"key":"order:7","value":"x"}"#).status,
        200
    );
    assert_eq!(s.delete("/keys/user:1").status, 204);
    let r = s.post(
        "/keys/batch",
        r#"[{"key":"user:2","value":"b"},{"key":"order:8","value":"y"},{"key":"user:3","value":"c"}]"#,
    );
    assert_eq!(r.status, 200, "{}", r.body);
    // A key that is not UTF-8 comes as key_base64 / value_base64, as on the key routes.
    assert_eq!(s.put_raw("/keys/user:%FF", &[0, 0xfe]).status, 204);

    let e = w.next_event().unwrap();
    assert_eq!((e.event.as_str(), e.id), ("put", Some(v1)));
    assert_eq!(
        e.data,
        serde_json::json!({"key": "user:1", "value": "alice", "version": v1, "keyspace": "default"})
    );
    let e = w.next_event().unwrap();
    assert_eq!(e.event, "delete");
    assert_eq!(e.data["key"], "user:1");
    assert!(e.data.get("value").is_none(), "{}", e.data);
    let del = e.id.unwrap();
    assert!(del > v1 + 1, "order:7 took a version in between");
    assert_eq!(e.data["version"], del);
    let a = w.next_event().unwrap();
    let b = w.next_event().unwrap();
    assert_eq!(
        (a.event.as_str(), &a.data["key"]),
        ("put", &"user:2".into())
    );
    assert_eq!(
        (b.event.as_str(), &b.data["key"]),
        ("put", &"user:3".into())
    );
    // One batch: consecutive versions, order:8 between them.
    assert_eq!(b.id.unwrap(), a.id.unwrap() + 2);
    assert!(a.id.unwrap() > del);
    let e = w.next_event().unwrap();
    assert_eq!(e.data["key_base64"], "dXNlcjr/");
    assert_eq!(e.data["value_base64"], "AP4=");
    assert!(e.id.unwrap() > b.id.unwrap());
}

#[test]
fn keyspace_route_prefix_base64_and_codes() {
    let s = TestServer::start(&[]);
    assert_eq!(s.post("/keyspaces", r#"{"name": "logs"}"#).status, 201);
    // `prefix_base64` of "a".
    let mut w = watch(&s, "/keyspaces/logs/watch?prefix_base64=YQ%3D%3D");
    assert_eq!(s.put_raw("/keys/a1", b"default").status, 204);
    assert_eq!(
        s.put_raw("/keyspaces/logs/keys/b1", b"other prefix").status,
        204
    );
    assert_eq!(s.put_raw("/keyspaces/logs/keys/a2", b"mine").status, 204);
    let e = w.next_event().unwrap();
    assert_eq!(
        (e.data["key"].as_str(), e.data["keyspace"].as_str()),
        (Some("a2"), Some("logs"))
    );
    // Dropping the keyspace ends the stream.
    assert_eq!(s.delete("/keyspaces/logs").status, 200);
    assert!(w.next_event().is_none());

    let r = s.get("/keyspaces/nope/watch");
    assert_eq!(
        (r.status, &r.json()["code"]),
        (404, &"keyspace_not_found".into())
    );
    let r = s.get("/watch?buffer=0");
    assert_eq!((r.status, &r.json()["code"]), (400, &"bad_request".into()));
    let r = s.get("/watch?prefix=a&prefix_base64=YQ==");
    assert_eq!(r.status, 400);
    let r = s.post("/watch", "{}");
    assert_eq!(
        (r.status, &r.json()["code"]),
        (405, &"method_not_allowed".into())
    );
    wait_for(&s, "watchers", 0);
}

#[test]
fn lagged_with_a_tiny_buffer_then_the_stream_goes_on() {
    let s = TestServer::start(&[]);
    let mut w = watch(&s, "/watch?buffer=1");
    // Far more events than the buffer and the channel to the connection hold while nobody
    // reads: the subscription overflows.
    let batch: Vec<String> = (0..500)
        .map(|i| format!(r#"{{"key":"k{i:03}","value":"v"}}"#))
        .collect();
    let r = s.post("/keys/batch", &format!("[{}]", batch.join(",")));
    assert_eq!(r.status, 200, "{}", r.body);
    let mut seen = 0;
    let missed = loop {
        let e = w.next_event().unwrap();
        match e.event.as_str() {
            "put" => seen += 1,
            "lagged" => {
                assert_eq!(e.id, None);
                break e.data["missed"].as_u64().unwrap();
            }
            other => panic!("unexpected {other}"),
        }
    };
    assert!(missed > 0);
    assert_eq!(seen + missed, 500, "every event is either sent or counted");
    let r = s.put_raw("/keys/after", b"1");
    let e = w.next_event().unwrap();
    assert_eq!(e.event, "put");
    assert_eq!(e.data["key"], "after");
    assert_eq!(e.id, Some(version_of(&r.headers["etag"])));
}

#[test]
fn keep_alive_comments() {
    let s = TestServer::start(&[("WATCH_KEEPALIVE_SECS", "1")]);
    let mut w = watch(&s, "/watch");
    for _ in 0..2 {
        assert_eq!(
            w.next_block().unwrap().comment.as_deref(),
            Some("keep-alive")
        );
    }
}

#[test]
fn token_is_required() {
    let s = TestServer::start(&[("API_TOKEN", "sekrit")]);
    let w = Watch::open(&s, "/watch", None);
    assert_eq!(w.status, 401);
    assert_eq!(w.body_json()["code"], "unauthorized");
    let w = Watch::open(&s, "/watch", Some("wrong"));
    assert_eq!(w.status, 401);
    let mut w = watch(&s, "/watch");
    assert_eq!(s.put_raw("/keys/k", b"v").status, 204);
    assert_eq!(w.next_event().unwrap().data["key"], "k");
}

#[test]
fn max_watchers_and_disconnect_frees_the_subscription() {
    let s = TestServer::start(&[("MAX_WATCHERS", "2"), ("WATCH_KEEPALIVE_SECS", "1")]);
    let a = watch(&s, "/watch");
    let b = watch(&s, "/keyspaces/default/watch?prefix=x");
    wait_for(&s, "subscribers", 2);
    let r = s.get("/watch");
    assert_eq!(r.status, 503);
    assert_eq!(r.json()["code"], "too_many_watchers");
    assert_eq!(s.get("/stats/all").json()["server"]["watchers"], 2);
    // The client goes away: its subscription and its place are freed.
    drop(a);
    wait_for(&s, "subscribers", 1);
    wait_for(&s, "watchers", 1);
    let _c = watch(&s, "/watch");
    drop(b);
    wait_for(&s, "subscribers", 1);
}

#[test]
fn shutdown_ends_open_streams() {
    let mut s = TestServer::start(&[("SHUTDOWN_GRACE_MS", "20000")]);
    let mut w = watch(&s, "/watch");
    assert_eq!(s.put_raw("/keys/k", b"v").status, 204);
    assert_eq!(w.next_event().unwrap().data["key"], "k");
    let start = Instant::now();
    s.stop();
    // Far below SHUTDOWN_GRACE_MS: the stream was ended, not cut off after the grace period.
    assert!(
        start.elapsed() < Duration::from_secs(10),
        "{:?}",
        start.elapsed()
    );
    assert!(w.next_event().is_none(), "the stream finishes cleanly");
}

#[test]
fn readme_curl_example() {
    // The README's example: `curl -N localhost:8080/watch?prefix=user:`, here with a raw client.
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../README.md")).unwrap();
    assert!(readme.contains("curl -N 'localhost:8080/watch?prefix=user:'"));
    let s = TestServer::start(&[]);
    let mut w = watch(&s, "/watch?prefix=user:");
    let r = s.put_raw("/keys/user:1", b"alice");
    let v = version_of(&r.headers["etag"]);
    let e = w.next_event().unwrap();
    assert_eq!((e.event.as_str(), e.id), ("put", Some(v)));
}
