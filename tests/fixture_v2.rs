//! `tests/fixtures/v2/`: a database directory written by format version 2 of every file type (WAL
//! entries with keyspace ids, range deletes and expiring puts; SSTables with range-tombstone blocks
//! and expiring puts; a manifest with keyspaces, their options, a dropped keyspace and flushed
//! seqnos) must open and read back exactly, on every run. A later format change keeps this
//! passing (`format-spec/versions.md`).
//!
//! The fixture is opened from a copy in a temporary directory, never in place. Regenerate it only
//! when the fixture itself must change, never for a format change:
//! `cargo test --test fixture_v2 -- --ignored generate_fixture_v2` (see `tests/fixtures/README.md`).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use lsmkv::ttl::ManualClock;
use lsmkv::{Compression, Db, KeyspaceOptions, Options, SyncMode, WriteBatch};

/// The generator's clock: 2017-07-14T02:40:00Z. Values written with a 1 s TTL expired long ago;
/// values written with a 100-year TTL expire in 2117. The reader uses the real clock.
const T0: u64 = 1_500_000_000_000;
const LONG: Duration = Duration::from_secs(100 * 365 * 24 * 3600);
const SHORT: Duration = Duration::from_secs(1);

fn fixture_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/v2")
}

type Contents = BTreeMap<String, BTreeMap<String, String>>;

/// What each keyspace holds when read after 2117 is not yet reached.
fn expected() -> Contents {
    let mut c = Contents::new();
    let d = c.entry("default".into()).or_default();
    for i in 0..10 {
        // d/03..d/06 range-deleted in step 3; d/08 overwritten in step 4.
        if !(3..6).contains(&i) {
            d.insert(format!("d/{i:02}"), format!("default-{i}"));
        }
    }
    d.insert("d/08".into(), "overwritten-in-wal".into());
    d.insert("wal/plain".into(), "in the WAL only".into());
    let u = c.entry("users".into()).or_default();
    for i in 0..20 {
        // u/15..u/19 deleted by the prefix delete "u/1" (with u/10..u/14) in step 3, except the
        // ones written again later.
        if i < 10 {
            u.insert(format!("u/{i:02}"), format!("user-{i}"));
        }
    }
    u.insert("u/long".into(), "expires in 2117".into());
    u.insert("u/17".into(), "rewritten after the prefix delete".into());
    // u/02..u/04 range-deleted in the WAL (step 4).
    for i in 2..4 {
        u.remove(&format!("u/{i:02}"));
    }
    let t = c.entry("ttl".into()).or_default();
    t.insert("t/1".into(), "keyspace ttl".into());
    c
}

fn copy_dir(from: &Path, to: &Path) {
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        assert!(e.file_type().unwrap().is_file(), "{:?}", e.path());
        std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
    }
}

fn read_all(ks: &lsmkv::Keyspace, rev: bool) -> BTreeMap<String, String> {
    let it = ks.range::<&[u8], _>(..);
    let pairs: Vec<_> = if rev {
        it.rev().map(|r| r.unwrap()).collect()
    } else {
        it.map(|r| r.unwrap()).collect()
    };
    let mut keys: Vec<_> = pairs.iter().map(|(k, _)| k.to_vec()).collect();
    if rev {
        keys.reverse();
    }
    let mut sorted = keys.clone();
    sorted.sort();
    assert_eq!(keys, sorted, "iteration order");
    pairs
        .into_iter()
        .map(|(k, v)| {
            (
                String::from_utf8(k.to_vec()).unwrap(),
                String::from_utf8(v.to_vec()).unwrap(),
            )
        })
        .collect()
}

#[test]
fn fixture_v2_opens_and_reads_back_exactly() {
    let tmp = tempfile::tempdir().unwrap();
    copy_dir(&fixture_dir(), tmp.path());
    let db = Db::open(tmp.path(), Options::default()).unwrap();
    assert_eq!(db.keyspaces().unwrap(), vec!["default", "ttl", "users"]);
    let users = db.keyspace("users").unwrap();
    assert_eq!(
        users.options(),
        KeyspaceOptions::default()
            .compression(Compression::None)
            .block_size(512)
    );
    assert_eq!(
        db.keyspace("ttl").unwrap().options().ttl_value(),
        Some(LONG)
    );
    // Range tombstones in tables and expiring puts are there on disk.
    let tables = db.tables();
    assert!(tables.iter().any(|t| t.range_tombstones > 0), "{tables:?}");
    for (name, want) in expected() {
        let ks = db.keyspace(&name).unwrap();
        assert_eq!(read_all(&ks, false), want, "keyspace {name}");
        assert_eq!(read_all(&ks, true), want, "keyspace {name} backward");
        for (k, v) in &want {
            assert_eq!(
                ks.get(k).unwrap().as_deref(),
                Some(v.as_bytes()),
                "{name}/{k}"
            );
        }
    }
    for gone in ["d/04", "u/12", "u/03", "u/expired", "wal/expired"] {
        let in_default = db.get(gone).unwrap();
        let in_users = users.get(gone).unwrap();
        assert!(
            in_default.is_none() && in_users.is_none(),
            "{gone} must be absent"
        );
    }
    db.verify().unwrap();
    drop(users);
    db.close().unwrap();
}

/// Writes `tests/fixtures/v2/` (or `$LSMKV_FIXTURE_OUT`) from scratch, deterministically, on a
/// manual clock at `T0`:
/// 1. default: `d/00`..`d/09`, flushed and compacted;
/// 2. keyspace `users` (no compression, 512-byte blocks): `u/00`..`u/19`, `u/long` (100-year
///    TTL), `u/expired` (1 s TTL); keyspace `ttl` (keyspace TTL of 100 years): `t/1`; keyspace
///    `gone` written and dropped; everything flushed;
/// 3. `delete_range(d/03..d/06)` in default and `delete_prefix(u/1)` in users, flushed (range
///    tombstones in tables); `u/17` written again, flushed;
/// 4. unflushed, one cross-keyspace batch: overwrite `d/08`, `wal/plain`, `wal/expired` (1 s
///    TTL), `delete_range_in(users, u/02..u/04)`; closed without a flush.
#[test]
#[ignore = "rewrites tests/fixtures/v2/; run by hand"]
fn generate_fixture_v2() {
    let out = std::env::var_os("LSMKV_FIXTURE_OUT").map_or_else(fixture_dir, PathBuf::from);
    if out.exists() {
        std::fs::remove_dir_all(&out).unwrap();
    }
    std::fs::create_dir_all(&out).unwrap();
    let clock = Arc::new(ManualClock::new(T0));
    let opts = Options {
        // Not `Always`: that preallocates the WAL segment to 4 MiB of zeros.
        sync_mode: SyncMode::None,
        max_levels: 3,
        l0_compaction_trigger: 8,
        ..Options::default()
    }
    .with_clock(clock);

    let db = Db::open(&out, opts.clone()).unwrap();
    for i in 0..10 {
        db.put(format!("d/{i:02}"), format!("default-{i}")).unwrap();
    }
    db.flush().unwrap();
    db.compact().unwrap();

    let users = db
        .keyspace_with(
            "users",
            KeyspaceOptions::default()
                .compression(Compression::None)
                .block_size(512),
        )
        .unwrap();
    for i in 0..20 {
        users.put(format!("u/{i:02}"), format!("user-{i}")).unwrap();
    }
    users
        .put_with_ttl("u/long", "expires in 2117", LONG)
        .unwrap();
    users
        .put_with_ttl("u/expired", "expired in 2017", SHORT)
        .unwrap();
    let ttl = db
        .keyspace_with("ttl", KeyspaceOptions::default().ttl(LONG))
        .unwrap();
    ttl.put("t/1", "keyspace ttl").unwrap();
    let gone = db.keyspace("gone").unwrap();
    gone.put("g", "dropped").unwrap();
    gone.flush().unwrap();
    drop(gone);
    db.drop_keyspace("gone").unwrap();
    users.flush().unwrap();
    ttl.flush().unwrap();

    db.delete_range("d/03".."d/06").unwrap();
    users.delete_prefix("u/1").unwrap();
    db.flush().unwrap();
    users.flush().unwrap();
    users
        .put("u/17", "rewritten after the prefix delete")
        .unwrap();
    users.flush().unwrap();

    let mut b = WriteBatch::new();
    b.put("d/08", "overwritten-in-wal");
    b.put("wal/plain", "in the WAL only");
    b.put_with_ttl("wal/expired", "expired in 2017", SHORT);
    b.delete_range_in(&users, "u/02".."u/04");
    db.write(b).unwrap();
    drop((users, ttl));
    db.close().unwrap();
    let _ = std::fs::remove_file(out.join("LOCK"));
}
