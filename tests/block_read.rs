//! `BLOCK_READ`: an LZ4 data block missing from the block cache is read with `pread` (the
//! default) or through the mapping (`mmap`). Both return the same data; `pread` reports damage
//! with the file and an offset inside the damaged block, and leaves the mapping's data pages out
//! of the process's resident memory.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::path::Path;
use std::sync::Arc;

use lsmkv::cache::BlockCache;
use lsmkv::format::ValueKind;
use lsmkv::key::pack_trailer;
use lsmkv::sstable::{Table, TableBuilder, TableOptions, key_hash};
use lsmkv::{BlockRead, Compression, Db, Error, Options};

const N: u64 = 4000;
const SNAPSHOT: u64 = u64::MAX >> 8;

fn key(i: u64) -> Vec<u8> {
    format!("key{i:08}").into_bytes()
}

/// `len` pseudo-random bytes from `seed`.
fn noise(seed: u64, len: usize) -> Vec<u8> {
    common::rng::Rng::new(seed).bytes(len)
}

/// Half-compressible values (60 pseudo-random bytes twice), except a run of wholly random ones
/// (every key in 1000..1400) that makes raw (incompressible) blocks among the LZ4 ones.
fn value(i: u64) -> Vec<u8> {
    if (1000..1400).contains(&i) {
        noise(i, 120)
    } else {
        noise(i, 60).repeat(2)
    }
}

fn build(path: &Path) {
    build_n(path, N);
}

fn build_n(path: &Path, n: u64) {
    let opts = Options {
        compression: Compression::Lz4,
        block_size: 1024,
        ..Options::default()
    };
    let mut b = TableBuilder::create(path, TableOptions::from(&opts)).unwrap();
    for i in 0..n {
        b.add(&key(i), pack_trailer(i + 1, ValueKind::Put), &value(i))
            .unwrap();
    }
    b.finish().unwrap();
}

fn open(path: &Path, mode: BlockRead, cache_bytes: usize) -> Arc<Table> {
    let t = Table::open(path, 1, Some(Arc::new(BlockCache::new(cache_bytes)))).unwrap();
    t.set_block_read(mode);
    t
}

/// Every entry of a full scan, as (key, value).
fn scan(t: &Arc<Table>) -> Vec<(Vec<u8>, Vec<u8>)> {
    let mut it = t.iter();
    it.seek_to_first().unwrap();
    let mut out = Vec::new();
    while it.valid() {
        out.push((it.user_key().to_vec(), it.value().to_vec()));
        it.next().unwrap();
    }
    out
}

/// Resident bytes of this process's mappings of `path`, from `/proc/self/smaps`.
fn resident_bytes_of(path: &Path) -> u64 {
    let smaps = std::fs::read_to_string("/proc/self/smaps").unwrap();
    let name = path.to_str().unwrap();
    let mut inside = false;
    let mut total = 0;
    for line in smaps.lines() {
        let first = line.split_whitespace().next().unwrap_or("");
        if first.contains('-') && first.chars().all(|c| c.is_ascii_hexdigit() || c == '-') {
            inside = line.ends_with(name);
        } else if inside && let Some(kb) = line.strip_prefix("Rss:") {
            let kb: u64 = kb.trim().trim_end_matches("kB").trim().parse().unwrap();
            total += kb * 1024;
        }
    }
    total
}

#[test]
fn pread_and_mmap_return_the_same_data() {
    let dir = common::dir::tempdir();
    let path = dir.path().join("000001.sst");
    build(&path);
    // A cache too small for the table: blocks are read from the file again and again.
    for cache_bytes in [0, 64 << 10] {
        let p = open(&path, BlockRead::Pread, cache_bytes);
        let m = open(&path, BlockRead::Mmap, cache_bytes);
        let expected: Vec<_> = (0..N).map(|i| (key(i), value(i))).collect();
        for _ in 0..2 {
            assert_eq!(scan(&p), expected, "pread scan, cache {cache_bytes}");
            assert_eq!(scan(&m), expected, "mmap scan, cache {cache_bytes}");
            for i in (0..N).step_by(7) {
                let k = key(i);
                let from_p = p.get(&k, key_hash(&k), SNAPSHOT).unwrap().unwrap();
                let from_m = m.get(&k, key_hash(&k), SNAPSHOT).unwrap().unwrap();
                assert_eq!(&from_p.1[..], &value(i)[..], "pread get {i}");
                assert_eq!(
                    (from_p.0, &from_p.1[..]),
                    (from_m.0, &from_m.1[..]),
                    "get {i}"
                );
            }
        }
    }
}

#[test]
fn pread_reports_a_damaged_block_with_its_file_and_offset() {
    let dir = common::dir::tempdir();
    let path = dir.path().join("000001.sst");
    build(&path);
    // Damage one byte inside the first data block (1 KiB blocks start at offset 0), before the
    // table is mapped: the mapping contract forbids writing a mapped table.
    let damaged_at = 100u64;
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[damaged_at as usize] ^= 0xA5;
    std::fs::write(&path, &bytes).unwrap();

    for cache_bytes in [0, 1 << 20] {
        let t = open(&path, BlockRead::Pread, cache_bytes);
        for _ in 0..2 {
            let k = key(0);
            match t.get(&k, key_hash(&k), SNAPSHOT) {
                Err(Error::Corruption { file, offset, .. }) => {
                    assert_eq!(file, path);
                    // The checksum of the block holding the damaged byte, after that byte.
                    assert!(offset > damaged_at && offset < 4096, "offset {offset}");
                }
                other => panic!("expected corruption, got {other:?}"),
            }
            // A block elsewhere is intact.
            let k = key(N - 1);
            let (_, v) = t.get(&k, key_hash(&k), SNAPSHOT).unwrap().unwrap();
            assert_eq!(&v[..], &value(N - 1)[..]);
        }
        let mut it = t.iter();
        assert!(it.seek_to_first().unwrap_err().is_corruption());
    }
}

#[test]
fn pread_leaves_the_data_pages_out_of_resident_memory() {
    let dir = common::dir::tempdir();
    let (pread_path, mmap_path) = (dir.path().join("p.sst"), dir.path().join("m.sst"));
    // Large enough that the data blocks dwarf the index and filter and the pages the kernel
    // maps around each fault (fault-around, 64 KiB) when they are read in place.
    build_n(&pread_path, 40_000);
    std::fs::copy(&pread_path, &mmap_path).unwrap();
    let file_size = std::fs::metadata(&pread_path).unwrap().len();
    let p = open(&pread_path, BlockRead::Pread, 0);
    let m = open(&mmap_path, BlockRead::Mmap, 0);
    assert_eq!(scan(&p), scan(&m));
    let (rss_p, rss_m) = (
        resident_bytes_of(&pread_path),
        resident_bytes_of(&mmap_path),
    );
    // Through the mapping every data block was touched; with pread only the index, filter and
    // the raw blocks (the random values) are, well under the whole file.
    assert!(
        rss_m >= file_size * 3 / 4,
        "mmap: {rss_m} of {file_size} resident"
    );
    assert!(rss_p < rss_m / 2, "pread: {rss_p} resident, mmap: {rss_m}");
}

#[test]
fn a_database_reads_the_same_with_either_mode() {
    let dir = common::dir::tempdir();
    let base = Options {
        compression: Compression::Lz4,
        ..common::opts::tiny()
    };
    let db = Db::open(dir.path(), base.clone()).unwrap();
    for i in 0..N {
        db.put(key(i), value(i)).unwrap();
    }
    db.flush().unwrap();
    drop(db);
    for mode in [BlockRead::Pread, BlockRead::Mmap] {
        let db = Db::open(
            dir.path(),
            Options {
                block_read: mode,
                ..base.clone()
            },
        )
        .unwrap();
        for i in (0..N).step_by(3) {
            assert_eq!(
                db.get(key(i)).unwrap().as_deref(),
                Some(&value(i)[..]),
                "{mode:?} {i}"
            );
        }
        let all: Vec<_> = db
            .range::<&[u8], _>(..)
            .map(|r| r.map(|(k, v)| (k.to_vec(), v.to_vec())))
            .collect::<Result<_, _>>()
            .unwrap();
        let expected: Vec<_> = (0..N).map(|i| (key(i), value(i))).collect();
        assert_eq!(all, expected, "{mode:?}");
    }
}
