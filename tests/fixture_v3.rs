//! `tests/fixtures/v3/`: a database directory written with WAL format version 3 (SSTables and
//! manifest of version 2): two older segments that end with their seals and an unsealed newest
//! one, all replayed at open, must read back exactly on every run. A later format change keeps
//! this passing (`format-spec/versions.md`).
//!
//! The fixture is opened from a copy in a temporary directory, never in place. Regenerate it only
//! when the fixture itself must change, never for a format change:
//! `cargo test --test fixture_v3 -- --ignored generate_fixture_v3` (see `tests/fixtures/README.md`).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use lsmkv::wal::{Tail, read_segment};
use lsmkv::{Db, Options, SyncMode, WriteBatch};

fn fixture_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/v3")
}

fn copy_dir(from: &Path, to: &Path) {
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        assert!(e.file_type().unwrap().is_file(), "{:?}", e.path());
        std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
    }
}

type Contents = BTreeMap<&'static str, BTreeMap<String, String>>;

fn expected() -> Contents {
    let mut c = Contents::new();
    let d = c.entry("default").or_default();
    for i in 0..10 {
        if i != 7 {
            d.insert(format!("d/{i:02}"), format!("default-{i}"));
        }
    }
    d.insert("d/03".into(), "overwritten in segment 2".into());
    d.insert("d/new".into(), "in the newest segment".into());
    let b = c.entry("b").or_default();
    for i in [0, 3, 4] {
        b.insert(format!("b/{i:02}"), format!("b-{i}"));
    }
    b.insert("b/09".into(), "in the newest segment".into());
    c
}

fn read_all(ks: &lsmkv::Keyspace) -> BTreeMap<String, String> {
    let fwd: Vec<_> = ks.range::<&[u8], _>(..).map(|r| r.unwrap()).collect();
    let bwd: Vec<_> = ks.range::<&[u8], _>(..).rev().map(|r| r.unwrap()).collect();
    assert_eq!(fwd.len(), bwd.len(), "forward and backward scans agree");
    fwd.into_iter()
        .map(|(k, v)| {
            (
                String::from_utf8(k.to_vec()).unwrap(),
                String::from_utf8(v.to_vec()).unwrap(),
            )
        })
        .collect()
}

/// The fixture's segments: version 3, the older ones sealed with their record counts, the newest
/// not.
#[test]
fn fixture_v3_segments_are_sealed_but_the_newest() {
    let mut wals: Vec<PathBuf> = std::fs::read_dir(fixture_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "wal"))
        .collect();
    wals.sort();
    assert_eq!(wals.len(), 3, "{wals:?}");
    for (i, w) in wals.iter().enumerate() {
        let data = std::fs::read(w).unwrap();
        assert_eq!(lsmkv::wal::header_version(&data), Some(3), "{w:?}");
        let seg = read_segment(&data, w).unwrap();
        if i + 1 < wals.len() {
            assert!(
                matches!(seg.tail, Tail::Sealed { records, .. } if records == seg.records.len() as u64),
                "{w:?}: {:?}",
                seg.tail
            );
        } else {
            assert_eq!(seg.tail, Tail::Clean, "{w:?}");
        }
    }
}

#[test]
fn fixture_v3_opens_and_reads_back_exactly() {
    let tmp = tempfile::tempdir().unwrap();
    copy_dir(&fixture_dir(), tmp.path());
    let db = Db::open(tmp.path(), Options::default()).unwrap();
    assert_eq!(db.keyspaces().unwrap(), vec!["b", "default"]);
    assert_eq!(db.recovery_report().wal_segments_replayed, 3);
    for (name, want) in expected() {
        let ks = db.keyspace(name).unwrap();
        assert_eq!(read_all(&ks), want, "keyspace {name}");
        for (k, v) in &want {
            assert_eq!(ks.get(k).unwrap().as_deref(), Some(v.as_bytes()), "{k}");
        }
    }
    for gone in ["d/07", "b/01", "b/02"] {
        assert!(db.get(gone).unwrap().is_none());
        assert!(db.keyspace("b").unwrap().get(gone).unwrap().is_none());
    }
    db.verify().unwrap();
    db.close().unwrap();
}

/// Writes `tests/fixtures/v3/` (or `$LSMKV_FIXTURE_OUT`) from scratch, deterministically:
/// 1. default: `d/00`..`d/09`; keyspace `b`: `b/00`..`b/04`; `b` flushed (segment 1 sealed);
/// 2. default: `d/03` overwritten, `d/07` deleted; `b`: `delete_range(b/01..b/03)`; `b` flushed
///    (segment 2 sealed);
/// 3. one cross-keyspace batch in the newest segment: `d/new`, `b/09`; closed without a flush.
///
/// `default` is never flushed, so all three segments stay live.
#[test]
#[ignore = "rewrites tests/fixtures/v3/; run by hand"]
fn generate_fixture_v3() {
    let out = std::env::var_os("LSMKV_FIXTURE_OUT").map_or_else(fixture_dir, PathBuf::from);
    if out.exists() {
        std::fs::remove_dir_all(&out).unwrap();
    }
    std::fs::create_dir_all(&out).unwrap();
    let opts = Options {
        // Not `Always`: that preallocates the newest WAL segment to 4 MiB of zeros.
        sync_mode: SyncMode::None,
        ..Options::default()
    };
    let db = Db::open(&out, opts).unwrap();
    let b = db.keyspace("b").unwrap();
    for i in 0..10 {
        db.put(format!("d/{i:02}"), format!("default-{i}")).unwrap();
    }
    for i in 0..5 {
        b.put(format!("b/{i:02}"), format!("b-{i}")).unwrap();
    }
    b.flush().unwrap();
    db.put("d/03", "overwritten in segment 2").unwrap();
    db.delete("d/07").unwrap();
    b.delete_range("b/01".."b/03").unwrap();
    b.flush().unwrap();
    let mut batch = WriteBatch::new();
    batch.put("d/new", "in the newest segment");
    batch.put_in(&b, "b/09", "in the newest segment");
    db.write(batch).unwrap();
    drop(b);
    db.close().unwrap();
    let _ = std::fs::remove_file(out.join("LOCK"));
}
