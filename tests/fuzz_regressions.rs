//! Replays every fuzz input kept in the repository through the fuzz targets' own functions
//! (`fuzz/src/lib.rs`, compiled here via `#[path]`): the seed corpora in `fuzz/seeds/<target>/`
//! and every finding in `fuzz/regressions/<target>/`. A finding stays here after it is fixed.
//!
//! `cargo test --test fuzz_regressions -- --ignored generate_seed_corpora` rewrites
//! `fuzz/seeds/` from the files of a real database (see `fuzz/README.md`).

#[allow(dead_code)]
#[path = "../fuzz/src/lib.rs"]
mod targets;

use std::path::{Path, PathBuf};

use lsmkv::sstable::compress::read_block_owned;
use lsmkv::sstable::footer::Footer;
use lsmkv::sstable::index::Index;
use lsmkv::{Compression, Db, Options, SyncMode, WriteBatch};

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz")
}

fn files_in(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = match std::fs::read_dir(dir) {
        Ok(rd) => rd
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.is_file() && p.extension().is_none_or(|e| e != "md"))
            .collect(),
        Err(_) => Vec::new(),
    };
    v.sort();
    v
}

fn replay(kind: &str) -> usize {
    let mut n = 0;
    let mut failures = Vec::new();
    for (name, f) in targets::TARGETS {
        for file in files_in(&fuzz_dir().join(kind).join(name)) {
            let data = std::fs::read(&file).unwrap();
            n += 1;
            if std::panic::catch_unwind(|| f(&data)).is_err() {
                failures.push(file.display().to_string());
            }
        }
    }
    assert!(failures.is_empty(), "fuzz inputs that fail: {failures:#?}");
    n
}

#[test]
fn seed_corpora_pass() {
    let n = replay("seeds");
    assert!(
        n >= 8,
        "expected seed corpora under fuzz/seeds/, found {n} files"
    );
}

#[test]
fn regressions_pass() {
    replay("regressions");
}

/// xorshift64*: deterministic filler for seeds of the structured targets.
fn pseudo_random(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed | 1;
    (0..len)
        .map(|_| {
            x ^= x >> 12;
            x ^= x << 25;
            x ^= x >> 27;
            (x.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 56) as u8
        })
        .collect()
}

fn write_seed(target: &str, name: &str, data: &[u8]) {
    let dir = fuzz_dir().join("seeds").join(target);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join(name), data).unwrap();
}

fn with_mode(mode: &[u8], data: &[u8]) -> Vec<u8> {
    let mut v = mode.to_vec();
    v.extend_from_slice(data);
    v
}

/// Builds a small database (WAL, SSTables with and without LZ4, manifest) and writes seed inputs
/// for every target from its files.
#[test]
#[ignore = "rewrites fuzz/seeds/; run by hand"]
fn generate_seed_corpora() {
    let _ = std::fs::remove_dir_all(fuzz_dir().join("seeds"));
    for (tag, compression) in [("raw", Compression::None), ("lz4", Compression::Lz4)] {
        let dir = tempfile::tempdir().unwrap();
        let opts = Options {
            sync_mode: SyncMode::None,
            compression,
            block_size: 256,
            sparse_index_interval: 4,
            ..Options::default()
        }
        // A fixed time, so that the expiries written below are the same on every run.
        .with_clock(std::sync::Arc::new(lsmkv::ttl::ManualClock::new(
            1_796_515_200_000,
        )));
        let db = Db::open(dir.path(), opts).unwrap();
        for i in 0..60u32 {
            db.put(
                format!("key{i:03}"),
                format!("value-{i}-{}", "x".repeat(i as usize % 7)),
            )
            .unwrap();
        }
        db.delete("key007").unwrap();
        db.put_with_ttl("key020", "expiring", std::time::Duration::from_secs(3600))
            .unwrap();
        db.delete_range("key020".."key030").unwrap();
        db.delete_prefix("key05").unwrap();
        db.flush().unwrap();
        let mut b = WriteBatch::new();
        b.put("bat1", "one");
        b.put_with_ttl("bat2", "expiring", std::time::Duration::from_secs(60));
        b.delete("key010");
        b.put("", "empty key");
        db.write(b).unwrap();
        db.put("after", "flush").unwrap();
        db.sync().unwrap();
        // Copy the files while the db is open: the WAL still holds its records.
        for file in files_in(dir.path()) {
            let name = file.file_name().unwrap().to_string_lossy().to_string();
            let data = std::fs::read(&file).unwrap();
            let seed = format!("{tag}-{name}");
            if name.ends_with(".wal") {
                // Trim the preallocated zeros: keep the header and the records.
                let seg = lsmkv::wal::read_segment(&data, &file).unwrap();
                let end = seg
                    .records
                    .last()
                    .map_or(24, |r| (r.payload_offset() as usize) + r.payload.len());
                let data = &data[..end];
                write_seed("wal_read", &seed, &with_mode(&[0], data));
                for (i, r) in seg.records.iter().enumerate() {
                    write_seed("batch_decode", &format!("{seed}-{i}"), r.payload);
                }
            } else if name.ends_with(".sst") {
                write_seed("sst_open", &seed, &with_mode(&[0], &data));
                write_seed("footer_index", &seed, &with_mode(&[3, 1, b'k'], &data));
                let footer = Footer::decode(&data, &file).unwrap();
                let block = |off: u64, len: u32| &data[off as usize..off as usize + len as usize];
                let index =
                    read_block_owned(block(footer.index.offset.get(), footer.index.len.get()))
                        .unwrap();
                write_seed(
                    "footer_index",
                    &format!("{seed}-index"),
                    &with_mode(&[0, 1, b'k'], &index),
                );
                let index = Index::new(index).unwrap();
                for i in 0..index.len().min(3) {
                    let h = index.handle(i).unwrap();
                    let blk = block(h.offset, h.len as u32);
                    write_seed(
                        "block_decode",
                        &format!("{seed}-{i}"),
                        &with_mode(&[0, 1, b'k'], blk),
                    );
                }
            } else if name.starts_with("MANIFEST-") {
                write_seed("manifest_read", &seed, &with_mode(&[0], &data));
            }
        }
        db.close().unwrap();
    }
    // Structured modes, from deterministic filler.
    for i in 0..4u64 {
        let r = pseudo_random(i + 1, 300);
        write_seed(
            "wal_read",
            &format!("framed-{i}"),
            &with_mode(&[1 + 2 * i as u8], &r),
        );
        write_seed(
            "sst_open",
            &format!("built-{i}"),
            &with_mode(&[1 + 2 * i as u8], &r),
        );
        write_seed(
            "block_decode",
            &format!("payload-{i}"),
            &with_mode(&[1, 0], &r),
        );
        write_seed(
            "block_decode",
            &format!("built-{i}"),
            &with_mode(&[2, 0], &r),
        );
        write_seed("roundtrip", &format!("random-{i}"), &r);
        write_seed(
            "ops_model",
            &format!("random-{i}"),
            &pseudo_random(i + 100, 400),
        );
        write_seed(
            "io_countdown",
            &format!("random-{i}"),
            &pseudo_random(i + 200, 300),
        );
        // Early failures (operation 5 + 9i) of each kind: EIO, ENOSPC, a short write.
        write_seed(
            "io_countdown",
            &format!("fail-early-{i}"),
            &with_mode(
                &[4 + 9 * i as u8, 0, i as u8 % 3],
                &pseudo_random(i + 300, 200),
            ),
        );
    }
    generate_range_del_seeds();
}

/// Seeds of `range_del_decode`: the range-tombstone block of a real table (raw payload, mode 0)
/// and deterministic filler for the built (1) and built-and-damaged (3) modes.
#[test]
#[ignore = "rewrites fuzz/seeds/range_del_decode/; run by hand"]
fn generate_range_del_seeds() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path(), Options::default()).unwrap();
    for i in 0..40u32 {
        db.put(format!("key{i:03}"), "v").unwrap();
    }
    db.delete_range("key005".."key015").unwrap();
    db.delete_range("key010"..="key020").unwrap();
    db.delete_prefix("key03").unwrap();
    db.delete_range("zz"..).unwrap();
    db.flush().unwrap();
    for file in files_in(dir.path()) {
        if file.extension().is_some_and(|e| e == "sst") {
            let data = std::fs::read(&file).unwrap();
            let t = lsmkv::sstable::Table::from_bytes(data.clone().into(), file.clone(), 1, None)
                .unwrap();
            let h = t.meta().range_del.unwrap();
            let payload =
                read_block_owned(&data[h.offset as usize..(h.offset + h.len) as usize]).unwrap();
            write_seed("range_del_decode", "block", &with_mode(&[0], &payload));
        }
    }
    db.close().unwrap();
    for i in 0..4u64 {
        let r = pseudo_random(i + 200, 200);
        write_seed(
            "range_del_decode",
            &format!("built-{i}"),
            &with_mode(&[1 + 2 * (i as u8 % 2)], &r),
        );
    }
}

/// A table holding range tombstones (SSTable version 2) goes through the `sst_open` and
/// `footer_index` bodies intact, and every single-byte flip of it, with the checksums fixed up so
/// that the damage reaches the meta block and the range-tombstone block, opens or fails cleanly.
#[test]
fn range_tombstone_table_survives_every_byte_flip() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path(), Options::default()).unwrap();
    db.put("a", "1").unwrap();
    db.put("m", "2").unwrap();
    db.delete_range("b".."k").unwrap();
    db.delete_range("x"..).unwrap();
    db.flush().unwrap();
    let file = files_in(dir.path())
        .into_iter()
        .find(|p| p.extension().is_some_and(|e| e == "sst"))
        .unwrap();
    let data = std::fs::read(&file).unwrap();
    db.close().unwrap();
    targets::sst_open(&with_mode(&[0], &data));
    targets::footer_index(&with_mode(&[3, 1, b'k'], &data));
    for i in 0..data.len() {
        let mut d = data.clone();
        d[i] ^= 0x41;
        targets::fix_sst_checksums(&mut d);
        targets::sst_open(&with_mode(&[0], &d));
    }
}
