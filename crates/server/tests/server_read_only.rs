//! `Db::open_read_only` next to a running server: it reads what the server wrote without a lock
//! conflict, sees the state as of its open, and `refresh()` catches up.

mod server_common;

use server_common::TestServer;

#[test]
fn read_only_open_next_to_a_running_server() {
    let s = TestServer::start(&[]);
    for i in 0..20 {
        let r = s.post(
            "/keys",
            &format!(r#"{{"key": "k{i:02}", "value": "v{i}"}}"#),
        );
        assert_eq!(r.status, 200, "{}", r.body);
    }
    // Keys are stored under the server's user namespace: compare counts, not names.
    let r = lsmkv::Db::open_read_only(s.dir.path(), lsmkv::Options::default()).unwrap();
    let before = r.range::<&[u8], _>(..).count();
    assert!(before >= 20, "{before}");
    assert!(matches!(r.put("x", "y"), Err(lsmkv::Error::ReadOnly)));

    assert_eq!(
        s.post("/keys", r#"{"key": "late", "value": "x"}"#).status,
        200
    );
    assert_eq!(r.range::<&[u8], _>(..).count(), before);
    r.refresh().unwrap();
    assert_eq!(r.range::<&[u8], _>(..).count(), before + 1);
    // The server keeps serving writes.
    assert_eq!(
        s.post("/keys", r#"{"key": "later", "value": "y"}"#).status,
        200
    );
}
