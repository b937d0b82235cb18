//! The one-time migration of a database written in the old layout (user keys as `b"k" ++ KEY`,
//! flags as `b"f" ++ ID`, all in one key space) to keyspaces: on the checked-in directory written
//! by the old server binary (`tests/fixtures/prefixed-layout/`, see `tests/fixtures/README.md`),
//! on a larger one written here through the engine exactly as the old server wrote it, and on
//! databases it must leave alone.

mod server_common;

use std::path::Path;

use serde_json::json;
use server_common::TestServer;

fn fixture() -> &'static Path {
    Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/prefixed-layout"
    ))
}

fn copy_fixture() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for e in std::fs::read_dir(fixture()).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), dir.path().join(e.file_name())).unwrap();
    }
    dir
}

/// Every key and value of keyspace `name`, read with the engine.
fn engine_keys(db: &lsmkv::Db, name: &str) -> Vec<(Vec<u8>, Vec<u8>)> {
    db.keyspace(name)
        .unwrap()
        .range::<&[u8], _>(..)
        .map(|kv| kv.map(|(k, v)| (k.to_vec(), v.to_vec())).unwrap())
        .collect()
}

fn pairs(items: &[(&str, &str)]) -> Vec<(Vec<u8>, Vec<u8>)> {
    items
        .iter()
        .map(|(k, v)| (k.as_bytes().to_vec(), v.as_bytes().to_vec()))
        .collect()
}

/// The fixture's user keys, as the old server listed them.
const FIXTURE_KEYS: &[(&str, &str)] = &[
    ("fox", "brown"),
    ("k", "single"),
    ("kitten", "meow"),
    ("order:1", "{\"total\":3}"),
    ("order:2", "{\"total\":5}"),
    ("search/prefix", "slash"),
    ("user:1", "Alicia"),
    ("user:3", "Cy"),
];

#[test]
fn the_old_servers_directory_is_migrated_once() {
    let mut s = TestServer::start_in(copy_fixture(), &[]);
    let page = s.get("/keys").json();
    let mut want: Vec<serde_json::Value> = FIXTURE_KEYS
        .iter()
        .map(|(k, v)| json!({"key": k, "value": v}))
        .collect();
    want.push(json!({"key_base64": "/wBiaW4=", "value_base64": "gA=="}));
    assert_eq!(page, json!({"items": want, "next": null}));
    assert_eq!(s.get("/keys/user:2").status, 404);
    assert_eq!(
        s.get("/features").json(),
        json!({"features": [
            {"id": "beta", "enabled": false, "version": 1},
            {"id": "dark-mode", "enabled": false, "version": 2},
            {"id": "new-ui", "enabled": true, "version": 1},
        ]})
    );
    // Flag versions went along: an update expecting version 2 works.
    let r = s.post("/features/dark-mode", r#"{"enabled": true, "version": 2}"#);
    assert_eq!(r.status, 200, "{}", r.body);
    // Keys written now that look like the old layout stay as they are, across restarts.
    assert_eq!(s.put_raw("/keys/kk", b"kept").status, 204);
    assert_eq!(
        s.put_raw("/keys/fflag", b"{\"enabled\":true,\"version\":1}")
            .status,
        204
    );
    s.restart();
    assert_eq!(s.get("/keys/kk").json()["value"], "kept");
    assert_eq!(s.get("/keys/fflag").status, 200);
    assert_eq!(s.get("/keys/kitten").json()["value"], "meow");
    assert_eq!(s.get("/features/dark-mode").json()["version"], 3);
    s.stop();

    // On disk: plain keys in `default`, flag ids in `flags`, no staging keyspace, no marker.
    let db = lsmkv::Db::open(s.dir.path(), lsmkv::Options::default()).unwrap();
    assert_eq!(db.keyspaces().unwrap(), vec!["default", "flags"]);
    let mut want = pairs(FIXTURE_KEYS);
    want.push((
        b"fflag".to_vec(),
        b"{\"enabled\":true,\"version\":1}".to_vec(),
    ));
    want.push((b"kk".to_vec(), b"kept".to_vec()));
    want.push((b"\xff\x00bin".to_vec(), b"\x80".to_vec()));
    want.sort();
    assert_eq!(engine_keys(&db, "default"), want);
    let flags: Vec<Vec<u8>> = engine_keys(&db, "flags")
        .into_iter()
        .map(|(k, _)| k)
        .collect();
    assert_eq!(
        flags,
        vec![b"beta".to_vec(), b"dark-mode".to_vec(), b"new-ui".to_vec()]
    );
}

#[test]
fn a_large_old_layout_database_is_migrated_in_batches() {
    let dir = tempfile::tempdir().unwrap();
    let n = 2_500;
    {
        let db = lsmkv::Db::open(dir.path(), lsmkv::Options::default()).unwrap();
        // Exactly as the old server wrote them: b"k" ++ key, b"f" ++ id with a flag object.
        let mut b = lsmkv::WriteBatch::new();
        for i in 0..n {
            b.put(format!("kuser:{i:05}"), format!("v{i}"));
        }
        b.put("kkey-with-k", "1");
        b.put("fbeta", r#"{"enabled":true,"version":4}"#);
        db.write(b).unwrap();
        db.flush().unwrap();
        db.put("kuser:00007", "overwritten").unwrap();
        db.delete("kuser:00008").unwrap();
        db.close().unwrap();
    }
    let s = TestServer::start_in(dir, &[("SEARCH_SCAN_LIMIT", "1000000")]);
    assert_eq!(s.get("/keys?count=true").json()["count"], n);
    assert_eq!(s.get("/keys/user:00007").json()["value"], "overwritten");
    assert_eq!(s.get("/keys/user:00008").status, 404);
    assert_eq!(s.get("/keys/user:02499").json()["value"], "v2499");
    assert_eq!(s.get("/keys/key-with-k").json()["value"], "1");
    assert_eq!(
        s.get("/features/beta").json(),
        json!({"id": "beta", "enabled": true, "version": 4})
    );
    let names: Vec<String> = s.get("/keyspaces").json()["keyspaces"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["name"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(names, vec!["default", "flags"]);
}

#[test]
fn databases_not_in_the_old_layout_are_left_alone() {
    // Written by the shell or the library: plain keys, one of which does not start with k or f.
    let dir = tempfile::tempdir().unwrap();
    {
        let db = lsmkv::Db::open(dir.path(), lsmkv::Options::default()).unwrap();
        db.put("kitten", "meow").unwrap();
        db.put("user:1", "ann").unwrap();
        db.close().unwrap();
    }
    let mut s = TestServer::start_in(dir, &[]);
    assert_eq!(s.get("/keys/kitten").json()["value"], "meow");
    assert_eq!(s.get("/keys/user:1").json()["value"], "ann");
    assert_eq!(s.get("/features").json(), json!({"features": []}));
    s.restart();
    assert_eq!(s.get("/keys/kitten").json()["value"], "meow");

    // Only k-keys, but an `f` key whose value is no flag: not the old server's either.
    let dir = tempfile::tempdir().unwrap();
    {
        let db = lsmkv::Db::open(dir.path(), lsmkv::Options::default()).unwrap();
        db.put("kitten", "meow").unwrap();
        db.put("fox", "brown").unwrap();
        db.close().unwrap();
    }
    let s = TestServer::start_in(dir, &[]);
    assert_eq!(s.get("/keys/kitten").json()["value"], "meow");
    assert_eq!(s.get("/keys/fox").json()["value"], "brown");

    // A fresh directory: nothing to migrate, ever; `flags` is created at once.
    let mut s = TestServer::start(&[]);
    assert_eq!(s.put_raw("/keys/kx", b"1").status, 204);
    s.restart();
    assert_eq!(s.get("/keys/kx").json()["value"], "1");
}
