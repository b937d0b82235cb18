//! `POST /admin/checkpoint`: a copy of the database under `BACKUP_DIR` that opens as its own
//! database; the target name must stay under the root; without `BACKUP_DIR` the route is off.

mod server_common;

use server_common::TestServer;

#[test]
fn checkpoint_route_copies_the_database_under_the_backup_root() {
    let backups = tempfile::tempdir().unwrap();
    let root = backups.path().display().to_string();
    let mut s = TestServer::start(&[("BACKUP_DIR", root.as_str())]);
    for i in 0..50 {
        let r = s.post(
            "/keys",
            &format!(r#"{{"key": "k{i:02}", "value": "v{i}"}}"#),
        );
        assert_eq!(r.status, 200, "{}", r.body);
    }
    let r = s.post("/admin/checkpoint", r#"{"dir": "daily/one"}"#);
    assert_eq!(r.status, 200, "{}", r.body);
    let target = backups.path().join("daily/one");
    assert_eq!(r.json()["checkpoint"], target.display().to_string());
    // Writes after the checkpoint stay out of the copy.
    assert_eq!(
        s.post("/keys", r#"{"key": "later", "value": "x"}"#).status,
        200
    );

    // Into the same name again: it is not empty.
    let r = s.post("/admin/checkpoint", r#"{"dir": "daily/one"}"#);
    assert_eq!(r.status, 409, "{}", r.body);
    assert_eq!(r.json()["code"], "exists");
    s.stop();

    // The copy is a database of its own, opened by the engine directly.
    let copy = lsmkv::Db::open(&target, lsmkv::Options::default()).unwrap();
    let keys = copy.range::<&[u8], _>(..).count();
    assert!(keys >= 50, "{keys} keys in the copy");
    assert!(
        copy.range::<&[u8], _>(..)
            .all(|r| !r.unwrap().0.ends_with(b"later"))
    );
}

#[test]
fn checkpoint_names_outside_the_root_are_rejected() {
    let backups = tempfile::tempdir().unwrap();
    let root = backups.path().display().to_string();
    let s = TestServer::start(&[("BACKUP_DIR", root.as_str())]);
    let outside = tempfile::tempdir().unwrap();
    let absolute = outside.path().join("x").display().to_string();
    for bad in [
        "..",
        "../escape",
        "a/../../escape",
        ".",
        "",
        absolute.as_str(),
    ] {
        let body = serde_json::json!({ "dir": bad }).to_string();
        let r = s.post("/admin/checkpoint", &body);
        assert_eq!(r.status, 400, "{bad:?}: {}", r.body);
        assert_eq!(r.json()["code"], "bad_checkpoint_dir", "{bad:?}");
    }
    let r = s.post("/admin/checkpoint", r#"{"name": "x"}"#);
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(!outside.path().join("x").exists());
    assert!(!backups.path().parent().unwrap().join("escape").exists());
    assert_eq!(std::fs::read_dir(backups.path()).unwrap().count(), 0);
}

#[test]
fn checkpoint_route_is_disabled_without_a_backup_root() {
    let s = TestServer::start(&[]);
    let r = s.post("/admin/checkpoint", r#"{"dir": "x"}"#);
    assert_eq!(r.status, 403, "{}", r.body);
    assert_eq!(r.json()["code"], "checkpoints_disabled");
    let r = s.get("/admin/checkpoint");
    assert_eq!(r.status, 405);
}
