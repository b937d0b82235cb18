//! PARANOID_CHECKS: with it, every block read is verified against the file again (no cached
//! block, no checksum-once shortcut), so damage that appears after a block was first read is
//! still reported; without it, the verified copy keeps being served.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::io::{Seek, SeekFrom, Write};

use common::{dir, opts};
use lsmkv::{Compression, Db, Error, Options};

fn setup(paranoid: bool, compression: Compression) -> (tempfile::TempDir, Db, std::path::PathBuf) {
    let dir = dir::tempdir();
    let db = Db::open(
        dir.path(),
        Options {
            paranoid_checks: paranoid,
            compression,
            ..opts::no_sync()
        },
    )
    .unwrap();
    for i in 0..200u32 {
        db.put(format!("k{i:03}"), "v".repeat(100)).unwrap();
    }
    db.flush().unwrap();
    // First reads: blocks are verified (and LZ4 blocks cached).
    for i in 0..200u32 {
        assert!(db.get(format!("k{i:03}")).unwrap().is_some());
    }
    let sst = dir::files_with_ext(dir.path(), "sst").remove(0);
    // Damage the first data block in place (the mapping sees it; the file is not truncated).
    let mut f = std::fs::OpenOptions::new().write(true).open(&sst).unwrap();
    f.seek(SeekFrom::Start(20)).unwrap();
    f.write_all(&[0xA5]).unwrap();
    f.sync_all().unwrap();
    (dir, db, sst)
}

#[test]
fn paranoid_reads_report_damage_found_after_the_first_read() {
    for compression in [Compression::Lz4, Compression::None] {
        let (_dir, db, sst) = setup(true, compression);
        match db.get("k000") {
            Err(Error::Corruption { file, .. }) => assert_eq!(file, sst),
            other => panic!("{compression:?}: expected corruption, got {other:?}"),
        }
    }
}

#[test]
fn without_paranoid_checks_the_verified_cached_block_is_served() {
    let (_dir, db, _sst) = setup(false, Compression::Lz4);
    assert_eq!(
        db.get("k000").unwrap().as_deref(),
        Some("v".repeat(100).as_bytes())
    );
}
