//! Deletion-triggered compaction: a table that is mostly point tombstones is compacted below the
//! data it deletes without waiting for the level-0 trigger or a level over its target, so the
//! tombstones (and what they delete) go, and scans stop stepping over them.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::{Duration, Instant};

use common::opts;
use lsmkv::{Db, TableInfo};

fn key(i: u64) -> Vec<u8> {
    format!("k{i:06}").into_bytes()
}

fn tombstones(tables: &[TableInfo]) -> u64 {
    tables.iter().map(|t| t.tombstones).sum()
}

/// 6,000 keys in one flushed table, then 5,000 of them deleted one by one and flushed: two
/// level-0 tables, below the trigger of four. The second is mostly tombstones, so the background
/// compacts level 0 down, and with nothing below, drops the tombstones and the keys they delete.
/// A table of fewer tombstones than half its entries stays where it is.
#[test]
fn a_table_of_tombstones_is_compacted_away() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path(), opts::no_sync()).unwrap();
    for i in 0..6000 {
        db.put(key(i), b"value").unwrap();
    }
    db.flush().unwrap();
    // A few deletes: a table that is not mostly tombstones stays in level 0.
    for i in 0..100 {
        db.delete(key(i)).unwrap();
    }
    for i in 6000..7000 {
        db.put(key(i), b"value").unwrap();
    }
    db.flush().unwrap();
    let tables = db.tables();
    assert_eq!((tables.len(), tombstones(&tables)), (2, 100), "{tables:?}");
    assert!(tables.iter().all(|t| t.level == 0));

    for i in 100..5100 {
        db.delete(key(i)).unwrap();
    }
    db.flush().unwrap();
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let tables = db.tables();
        if tombstones(&tables) == 0 {
            assert!(tables.iter().all(|t| t.level > 0), "{tables:?}");
            assert_eq!(tables.iter().map(|t| t.entries).sum::<u64>(), 1900);
            break;
        }
        assert!(
            Instant::now() < deadline,
            "tombstones still there: {tables:?}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(db.range::<&[u8], _>(..).count(), 1900);
    assert_eq!(db.get(key(5100)).unwrap().as_deref(), Some(&b"value"[..]));
    assert_eq!(db.get(key(99)).unwrap(), None);
    let s = db.stats();
    assert!(s.compactions >= 1, "{s:?}");
    db.close().unwrap();
}
