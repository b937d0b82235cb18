//! Feature-flag optimistic locking under concurrency, restart persistence, and graceful shutdown
//! of an in-process server.

mod server_common;

use std::io::Write;
use std::sync::{Arc, Barrier};

use serde_json::json;
use server_common::{TestServer, connect, read_response};

#[test]
fn exactly_one_of_two_racing_writers_wins() {
    let s = TestServer::start(&[]);
    let base = s.url("");
    let rounds = 25;
    for round in 0..rounds {
        let version = round; // the version both writers last read
        let barrier = Arc::new(Barrier::new(2));
        let handles: Vec<_> = (0..2)
            .map(|w| {
                let barrier = barrier.clone();
                let url = format!("{base}/features/race");
                std::thread::spawn(move || {
                    let agent = server_common::agent();
                    let body = json!({"enabled": w == 0, "version": version}).to_string();
                    barrier.wait();
                    let r = agent.post(&url).send(body).expect("request");
                    r.status().as_u16()
                })
            })
            .collect();
        let mut statuses: Vec<u16> = handles.into_iter().map(|h| h.join().unwrap()).collect();
        statuses.sort();
        let win = if round == 0 { 201 } else { 200 };
        assert_eq!(statuses, [win, 409], "round {round}");
    }
    assert_eq!(s.get("/features/race").json()["version"], rounds);
}

#[test]
fn keys_and_flags_survive_restart() {
    let mut s = TestServer::start(&[("WAL_SYNC_MODE", "always")]);
    assert_eq!(
        s.post("/keys", r#"{"key":"user:1","value":"Alice"}"#)
            .status,
        200
    );
    assert_eq!(
        s.post(
            "/keys/batch",
            r#"[{"key":"a","value":"1"},{"key":"b","value":"2"}]"#
        )
        .status,
        200
    );
    assert_eq!(s.delete("/keys/a").status, 204);
    assert_eq!(
        s.post("/features/f1", r#"{"enabled":true,"version":0}"#)
            .status,
        201
    );
    assert_eq!(
        s.post("/features/f1", r#"{"enabled":false,"version":1}"#)
            .status,
        200
    );
    s.restart();
    assert_eq!(s.get("/keys/user:1").json()["value"], "Alice");
    assert_eq!(s.get("/keys/a").status, 404);
    assert_eq!(s.get("/keys/b").json()["value"], "2");
    assert_eq!(
        s.get("/features/f1").json(),
        json!({"id": "f1", "enabled": false, "version": 2})
    );
    // The version sequence continues after the restart.
    assert_eq!(
        s.post("/features/f1", r#"{"enabled":true,"version":1}"#)
            .status,
        409
    );
    assert_eq!(
        s.post("/features/f1", r#"{"enabled":true,"version":2}"#)
            .status,
        200
    );
}

#[test]
fn graceful_shutdown_finishes_requests_in_flight() {
    let mut s = TestServer::start(&[]);
    let addr = s.addr();
    // A request is in flight: headers and half of the body are sent.
    let body = br#"{"key":"inflight","value":"done"}"#;
    let mut c = send_half_request(&s, body);

    // Shut down on another thread; it returns only after the request above is answered.
    let server = s.server.take().unwrap();
    let stopper = std::thread::spawn(move || server.stop());
    // Wait until the server stops accepting new connections.
    let mut refused = false;
    for _ in 0..1000 {
        if std::net::TcpStream::connect(addr).is_err() {
            refused = true;
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    assert!(refused, "listener still open");
    c.write_all(&body[10..]).unwrap();
    let (status, text) = read_response(&mut c);
    assert_eq!(status, 200, "{text}");
    drop(c);
    stopper.join().unwrap().expect("clean shutdown");

    // The write is durable: the database reopens with it.
    let db = lsmkv::Db::open(s.dir.path(), lsmkv::Options::default()).unwrap();
    assert_eq!(db.get(b"inflight").unwrap().as_deref(), Some(&b"done"[..]));
}

/// Sends the headers and the first 10 bytes of the body of a `POST /keys` carrying `body`, then
/// waits until the server is handling it (the metrics request that checks is the other one in
/// flight).
fn send_half_request(s: &TestServer, body: &[u8]) -> std::net::TcpStream {
    let mut c = connect(s.addr());
    let head = format!(
        "POST /keys HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n",
        body.len()
    );
    c.write_all(head.as_bytes()).unwrap();
    c.write_all(&body[..10]).unwrap();
    let mut handling = false;
    for _ in 0..1000 {
        if s.get("/metrics")
            .body
            .lines()
            .any(|l| l == "lsmkv_http_requests_in_flight 2")
        {
            handling = true;
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    assert!(handling, "the request never reached the handler");
    c
}

/// Starts a server whose request and header timeouts are far away, sends a request whose body
/// never completes, waits until the server is handling it, and calls `stop()` on another thread.
/// Returns the stuck connection, the rest of its body, and a receiver that fires when `stop()`
/// returns.
fn stop_with_stuck_request(
    grace_ms: &str,
) -> (std::net::TcpStream, Vec<u8>, std::sync::mpsc::Receiver<()>) {
    let mut s = TestServer::start(&[
        ("SHUTDOWN_GRACE_MS", grace_ms),
        ("REQUEST_TIMEOUT_MS", "600000"),
        ("HEADER_READ_TIMEOUT_MS", "600000"),
    ]);
    let body = br#"{"key":"stuck","value":"never finished"}"#;
    let c = send_half_request(&s, body);
    let server = s.server.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = server.stop();
        let _ = tx.send(());
    });
    (c, body[10..].to_vec(), rx)
}

/// SHUTDOWN_GRACE_MS bounds how long shutdown waits for requests in flight.
#[test]
fn shutdown_grace_bounds_the_wait_for_stuck_requests() {
    use std::time::Duration;
    // A long grace: shutdown keeps waiting for the stuck request...
    let (mut c, rest, stopped) = stop_with_stuck_request("600000");
    assert!(
        stopped.recv_timeout(Duration::from_secs(1)).is_err(),
        "shutdown did not wait for the request in flight"
    );
    // ...and finishes once the request does.
    c.write_all(&rest).unwrap();
    let (status, text) = read_response(&mut c);
    assert_eq!(status, 200, "{text}");
    assert!(stopped.recv_timeout(Duration::from_secs(60)).is_ok());

    // A short grace: shutdown gives up on the stuck request (the 10 s default would not).
    let (_c, _rest, stopped) = stop_with_stuck_request("100");
    assert!(
        stopped.recv_timeout(Duration::from_secs(5)).is_ok(),
        "shutdown waited past SHUTDOWN_GRACE_MS"
    );
}
