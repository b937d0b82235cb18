//! Table-level tests: builder -> reader round trips against a model, iterators, corruption
//! sweeps, filter format fallback, cache bound, obsolete-file unlinking, golden file.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::cmp::Ordering;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;

use super::footer::Footer;
use super::*;
use crate::cache::BlockCache;
use crate::error::Error;
use crate::format::crc::{crc32c, crc32c_append};
use crate::format::sst::*;
use crate::key::{cmp_internal, pack_trailer, seek_trailer};
use crate::options::Compression;

type Entry = (Vec<u8>, u64, Vec<u8>);

/// splitmix64: deterministic, dependency-free.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn opts(block_size: usize, restart: usize, compression: Compression) -> TableOptions {
    TableOptions {
        block_size,
        restart_interval: restart,
        bloom_false_positive_rate: 0.01,
        compression,
        expected_entries: 100,
        prefix_bloom_len: 0,
    }
}

fn sort(entries: &mut [Entry]) {
    entries.sort_by(|a, b| cmp_internal(&a.0, a.1, &b.0, b.1));
}

/// Random entries: several versions per key, tombstones, an empty key, empty values, a value
/// larger than the block and a 70 KB value.
fn random_entries(seed: u64, keys: usize) -> Vec<Entry> {
    let mut rng = Rng(seed);
    let mut out = Vec::new();
    for i in 0..keys {
        let key = if i == 0 {
            Vec::new()
        } else {
            format!("key{:06}", i * 3 + rng.below(3) as usize).into_bytes()
        };
        let versions = 1 + rng.below(3);
        let mut seqs: Vec<u64> = (0..versions).map(|_| 1 + rng.below(1000)).collect();
        seqs.sort_unstable();
        seqs.dedup();
        for s in seqs {
            let kind = if rng.below(5) == 0 {
                crate::key::ValueKind::Delete
            } else {
                crate::key::ValueKind::Put
            };
            let value = match (kind, rng.below(40)) {
                (crate::key::ValueKind::Delete, _) => Vec::new(),
                (_, 0) => Vec::new(),
                (_, 1) => vec![b'b'; 5000],
                _ => {
                    let n = rng.below(64) as usize;
                    // Half compressible, half not.
                    if rng.below(2) == 0 {
                        vec![b'v'; n]
                    } else {
                        (0..n).map(|_| rng.next() as u8).collect()
                    }
                }
            };
            out.push((key.clone(), pack_trailer(s, kind), value));
        }
    }
    out.push((
        b"key~big".to_vec(),
        pack_trailer(7, crate::key::ValueKind::Put),
        (0..70_000u32).map(|i| (i % 251) as u8).collect(),
    ));
    sort(&mut out);
    out.dedup_by(|a, b| a.0 == b.0 && a.1 == b.1);
    out
}

fn model_get(entries: &[Entry], key: &[u8], snapshot: u64) -> Option<(u64, Vec<u8>)> {
    entries
        .iter()
        .find(|e| e.0 == key && e.1 <= seek_trailer(snapshot))
        .map(|e| (e.1, e.2.clone()))
}

fn check_gets(table: &Table, entries: &[Entry]) {
    let mut keys: Vec<&[u8]> = entries.iter().map(|e| e.0.as_slice()).collect();
    keys.dedup();
    let absent: Vec<Vec<u8>> = (0..50).map(|i| format!("absent{i}").into_bytes()).collect();
    for snapshot in [0u64, 1, 100, 500, 999, 1000, crate::key::MAX_SEQNO] {
        for &k in keys.iter().chain(
            absent
                .iter()
                .map(|a| a.as_slice())
                .collect::<Vec<_>>()
                .iter(),
        ) {
            let got = table
                .get(k, key_hash(k), snapshot)
                .unwrap()
                .map(|(t, v)| (t, v.to_vec()));
            assert_eq!(
                got,
                model_get(entries, k, snapshot),
                "key {k:?} at {snapshot}"
            );
        }
    }
}

fn collect_forward(it: &mut TableIter) -> Vec<Entry> {
    let mut out = Vec::new();
    while it.valid() {
        out.push((it.user_key().to_vec(), it.trailer(), it.value().to_vec()));
        it.next().unwrap();
    }
    out
}

fn check_iter(table: &Arc<Table>, entries: &[Entry], rng: &mut Rng) {
    let mut it = table.iter();
    assert!(!it.valid());
    it.seek_to_first().unwrap();
    assert_eq!(collect_forward(&mut it), entries);
    it.seek_to_last().unwrap();
    let mut back = Vec::new();
    while it.valid() {
        back.push((it.user_key().to_vec(), it.trailer(), it.value().to_vec()));
        assert_eq!(&it.key_bytes()[..], it.user_key());
        it.prev().unwrap();
    }
    back.reverse();
    assert_eq!(back, entries);
    // Seeks to existing keys, between keys, and with random trailers.
    for _ in 0..300 {
        let (k, t) = if rng.below(2) == 0 && !entries.is_empty() {
            let e = &entries[rng.below(entries.len() as u64) as usize];
            (
                e.0.clone(),
                if rng.below(2) == 0 {
                    e.1
                } else {
                    rng.next() >> 8
                },
            )
        } else {
            (
                format!("key{:06}", rng.below(400)).into_bytes(),
                rng.next() >> 8,
            )
        };
        let ge = entries
            .iter()
            .position(|e| cmp_internal(&e.0, e.1, &k, t) != Ordering::Less);
        it.seek(&k, t).unwrap();
        match ge {
            Some(p) => {
                assert!(it.valid());
                assert_eq!(
                    (it.user_key(), it.trailer()),
                    (&entries[p].0[..], entries[p].1)
                );
                // Step around the position.
                it.prev().unwrap();
                if p == 0 {
                    assert!(!it.valid());
                } else {
                    assert_eq!(it.trailer(), entries[p - 1].1);
                    it.next().unwrap();
                    assert_eq!(it.user_key(), &entries[p].0[..]);
                }
            }
            None => assert!(!it.valid()),
        }
        let le = entries
            .iter()
            .rposition(|e| cmp_internal(&e.0, e.1, &k, t) != Ordering::Greater);
        it.seek_for_prev(&k, t).unwrap();
        match le {
            Some(p) => {
                assert!(it.valid());
                assert_eq!(
                    (it.user_key(), it.trailer()),
                    (&entries[p].0[..], entries[p].1)
                );
            }
            None => assert!(!it.valid()),
        }
    }
}

#[test]
fn round_trip_from_bytes_against_model() {
    let mut rng = Rng(42);
    for (seed, block, restart, comp, cache) in [
        (1u64, 256usize, 1usize, Compression::None, 0usize),
        (2, 512, 4, Compression::Lz4, 0),
        (3, 4096, 16, Compression::Lz4, 1 << 20),
        (4, 64, 2, Compression::Lz4, 4096),
        (5, 4096, 16, Compression::None, 1 << 20),
    ] {
        let entries = random_entries(seed, 300);
        let data = build_table_to_vec(entries.clone(), opts(block, restart, comp)).unwrap();
        let cache = Some(Arc::new(BlockCache::new(cache)));
        let t = Arc::new(
            Table::from_bytes(Bytes::from(data), PathBuf::from("mem.sst"), 9, cache).unwrap(),
        );
        t.verify().unwrap();
        assert_eq!(t.meta().entries, entries.len() as u64);
        assert!(t.has_filter());
        check_gets(&t, &entries);
        check_iter(&t, &entries, &mut rng);
    }
}

#[test]
fn round_trip_through_file_and_summary() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(crate::format::files::sst_name(7));
    let entries = random_entries(11, 200);
    let mut b = TableBuilder::create(&path, opts(1024, 8, Compression::Lz4)).unwrap();
    for (k, t, v) in &entries {
        b.add(k, *t, v).unwrap();
    }
    assert_eq!(b.entries(), entries.len() as u64);
    assert!(b.estimated_size() > 0);
    let s = b.finish().unwrap();
    assert_eq!(s.file_size, std::fs::metadata(&path).unwrap().len());
    assert_eq!(s.entries, entries.len() as u64);
    let first = &entries[0];
    let last = entries.last().unwrap();
    assert_eq!(
        s.smallest_key,
        crate::key::encode_internal(&first.0, first.1)
    );
    assert_eq!(s.largest_key, crate::key::encode_internal(&last.0, last.1));
    assert_eq!(
        s.tombstones,
        entries.iter().filter(|e| e.1 as u8 == 0).count() as u64
    );
    assert_eq!(s.min_seqno, entries.iter().map(|e| e.1 >> 8).min().unwrap());
    assert_eq!(s.max_seqno, entries.iter().map(|e| e.1 >> 8).max().unwrap());
    let t = Table::open(&path, 7, Some(Arc::new(BlockCache::new(1 << 20)))).unwrap();
    assert_eq!(t.file_number(), 7);
    assert_eq!(t.path(), path);
    assert_eq!(t.file_size(), s.file_size);
    t.verify().unwrap();
    check_gets(&t, &entries);
    check_iter(&t, &entries, &mut Rng(3));
}

#[test]
fn huge_value_round_trips() {
    let big: Vec<u8> = (0..16u32 << 20)
        .map(|i| (i.wrapping_mul(31) >> 7) as u8)
        .collect();
    let entries = vec![
        (
            b"a".to_vec(),
            pack_trailer(1, crate::key::ValueKind::Put),
            b"x".to_vec(),
        ),
        (
            b"b".to_vec(),
            pack_trailer(2, crate::key::ValueKind::Put),
            big.clone(),
        ),
        (
            b"c".to_vec(),
            pack_trailer(3, crate::key::ValueKind::Put),
            b"y".to_vec(),
        ),
        (
            vec![b'k'; crate::format::MAX_KEY_SIZE],
            4 << 8 | 1,
            b"z".to_vec(),
        ),
    ];
    let data = build_table_to_vec(entries.clone(), opts(4096, 16, Compression::Lz4)).unwrap();
    let t = Table::from_bytes(Bytes::from(data), "big.sst".into(), 1, None).unwrap();
    assert_eq!(t.num_blocks(), 4, "each large entry gets a block");
    let (_, v) = t.get(b"b", key_hash(b"b"), 10).unwrap().unwrap();
    assert!(v[..] == big[..]);
    let k = vec![b'k'; crate::format::MAX_KEY_SIZE];
    assert_eq!(&t.get(&k, key_hash(&k), 10).unwrap().unwrap().1[..], b"z");
    t.verify().unwrap();
    // Oversized key rejected.
    let too_big = vec![(vec![0u8; crate::format::MAX_KEY_SIZE + 1], 1, Vec::new())];
    assert!(matches!(
        build_table_to_vec(too_big, opts(4096, 16, Compression::None)),
        Err(Error::KeyTooLarge { .. })
    ));
}

#[test]
fn empty_table() {
    let data = build_table_to_vec(Vec::new(), opts(4096, 16, Compression::Lz4)).unwrap();
    let t = Arc::new(Table::from_bytes(Bytes::from(data), "e.sst".into(), 1, None).unwrap());
    assert_eq!(t.meta().entries, 0);
    assert!(t.get(b"a", key_hash(b"a"), 5).unwrap().is_none());
    let mut it = t.iter();
    it.seek_to_first().unwrap();
    assert!(!it.valid());
    it.seek_to_last().unwrap();
    assert!(!it.valid());
    it.seek_for_prev(b"a", 0).unwrap();
    assert!(!it.valid());
    t.verify().unwrap();
}

/// Reads everything; returns Err on the first error.
fn read_all(data: &[u8], entries: &[Entry]) -> Result<(), Error> {
    let t = Arc::new(Table::from_bytes(
        Bytes::copy_from_slice(data),
        "sweep.sst".into(),
        1,
        None,
    )?);
    let mut it = t.iter();
    it.seek_to_first()?;
    while it.valid() {
        it.next()?;
    }
    it.seek_to_last()?;
    while it.valid() {
        it.prev()?;
    }
    for (k, _, _) in entries {
        t.get(k, key_hash(k), u64::MAX >> 8)?;
    }
    t.verify()
}

fn small_table(comp: Compression) -> (Vec<Entry>, Vec<u8>) {
    let mut entries: Vec<Entry> = (0..12u64)
        .map(|i| {
            (
                format!("k{i:02}").into_bytes(),
                pack_trailer(i + 1, crate::key::ValueKind::Put),
                vec![b'a' + i as u8; 30],
            )
        })
        .collect();
    entries.push((
        b"k05".to_vec(),
        pack_trailer(0, crate::key::ValueKind::Delete),
        Vec::new(),
    ));
    sort(&mut entries);
    let data = build_table_to_vec(entries.clone(), opts(128, 2, comp)).unwrap();
    (entries, data)
}

#[test]
fn every_truncation_is_an_error() {
    for comp in [Compression::None, Compression::Lz4] {
        let (entries, data) = small_table(comp);
        read_all(&data, &entries).unwrap();
        for cut in 0..data.len() {
            let e = read_all(&data[..cut], &entries).unwrap_err();
            assert!(e.is_corruption(), "cut {cut}: {e}");
        }
    }
}

#[test]
fn every_byte_flip_is_detected() {
    for comp in [Compression::None, Compression::Lz4] {
        let (entries, data) = small_table(comp);
        let footer_start = data.len() - FOOTER_SIZE;
        for i in 0..data.len() {
            for bit in [0x01u8, 0x80] {
                let mut d = data.clone();
                d[i] ^= bit;
                match read_all(&d, &entries) {
                    Err(Error::Corruption { .. }) => {}
                    Err(Error::UnsupportedVersion { .. })
                        if (footer_start + 36..footer_start + 40).contains(&i) => {}
                    other => panic!("flip at {i} ({comp:?}): {other:?}"),
                }
            }
        }
    }
}

/// Rewrites the filter block's format byte and fixes its crc, as a future writer might.
fn patch_filter_format(data: &mut [u8], format: u8) {
    let f = Footer::decode(data, Path::new("x")).unwrap();
    let off = f.filter.offset.get() as usize;
    let len = f.filter.len.get() as usize;
    data[off] = format;
    let payload_end = off + len - BLOCK_TRAILER_SIZE;
    let crc = crc32c_append(crc32c(&data[off..payload_end]), &[data[payload_end]]);
    data[payload_end + 1..payload_end + 5].copy_from_slice(&crc.to_le_bytes());
}

#[test]
fn unknown_filter_format_reads_without_filter() {
    let entries = random_entries(5, 100);
    let mut data = build_table_to_vec(entries.clone(), opts(512, 4, Compression::Lz4)).unwrap();
    patch_filter_format(&mut data, 0x7f);
    let t = Table::from_bytes(Bytes::from(data), "f.sst".into(), 1, None).unwrap();
    assert!(!t.has_filter());
    assert!(t.may_contain_hash(key_hash(b"surely absent")));
    check_gets(&t, &entries);
}

#[test]
fn cache_bound_holds_and_caches_lz4_blocks() {
    let entries: Vec<Entry> = (0..5000u64)
        .map(|i| (format!("k{i:06}").into_bytes(), i << 8 | 1, vec![b'q'; 100]))
        .collect();
    let data = build_table_to_vec(entries.clone(), opts(1024, 16, Compression::Lz4)).unwrap();
    let cache = Arc::new(BlockCache::new(16 * 1024));
    let t = Table::from_bytes(Bytes::from(data), "c.sst".into(), 3, Some(cache.clone())).unwrap();
    for round in 0..2 {
        for (k, _, v) in entries.iter().step_by(7) {
            let got = t.get(k, key_hash(k), u64::MAX >> 8).unwrap().unwrap();
            assert_eq!(&got.1[..], &v[..]);
            let s = cache.stats();
            assert!(s.used_bytes <= s.capacity_bytes, "round {round}: {s:?}");
        }
    }
    let s = cache.stats();
    assert!(s.hits > 0 && s.misses > 0 && s.entries > 0, "{s:?}");
}

#[test]
fn iterators_without_cache_fill_leave_the_cache_alone() {
    let entries: Vec<Entry> = (0..3000u64)
        .map(|i| (format!("k{i:06}").into_bytes(), i << 8 | 1, vec![b'q'; 100]))
        .collect();
    let data = build_table_to_vec(entries.clone(), opts(1024, 16, Compression::Lz4)).unwrap();
    let cache = Arc::new(BlockCache::new(1 << 20));
    let t = Arc::new(
        Table::from_bytes(Bytes::from(data), "n.sst".into(), 4, Some(cache.clone())).unwrap(),
    );
    let mut it = t.iter().without_cache_fill();
    it.seek_to_first().unwrap();
    let mut n = 0;
    while it.valid() {
        n += 1;
        it.next().unwrap();
    }
    assert_eq!(n, entries.len());
    assert_eq!(
        cache.stats().entries,
        0,
        "a compaction-style scan filled the cache"
    );
    // A normal iterator fills it, and a non-filling one then uses what is cached.
    let mut it = t.iter();
    it.seek_to_first().unwrap();
    while it.valid() {
        it.next().unwrap();
    }
    let cached = cache.stats().entries;
    assert!(cached > 0);
    let hits = cache.stats().hits;
    let mut it = t.iter().without_cache_fill();
    it.seek_to_first().unwrap();
    assert!(cache.stats().hits > hits);
    assert_eq!(cache.stats().entries, cached);
}

#[test]
fn compaction_cursors_release_the_pages_behind_them() {
    use crate::fs::tests::mapping_rss;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(crate::format::files::sst_name(9));
    let n = 30_000u64;
    let mut b = TableBuilder::create(&path, opts(4096, 16, Compression::None)).unwrap();
    for i in 0..n {
        b.add(format!("k{i:08}").as_bytes(), i << 8 | 1, &[b'v'; 100])
            .unwrap();
    }
    b.finish().unwrap();
    let t = Arc::new(Table::open(&path, 9, None).unwrap());
    // A plain scan leaves every page resident; raw values point into the mapping.
    let mut it = t.iter();
    it.seek_to_first().unwrap();
    let addr = it.value().as_ptr() as usize;
    while it.valid() {
        it.next().unwrap();
    }
    let full = mapping_rss(addr);
    assert!(full >= 3 << 20, "{full}");
    let mut it = t.iter().without_cache_fill().release_behind();
    it.seek_to_first().unwrap();
    let mut seen = 0u64;
    while it.valid() {
        assert_eq!(it.user_key(), format!("k{seen:08}").as_bytes());
        seen += 1;
        it.next().unwrap();
        if seen == n / 2 {
            let mid = mapping_rss(addr);
            assert!(mid + (1 << 20) < full, "half way: {mid} of {full} still resident");
        }
    }
    assert_eq!(seen, n);
    let end = mapping_rss(addr);
    assert!(end < 256 << 10, "{end} of {full} still resident after the scan");
    // Reads after the release see the same bytes.
    check_gets(&t, &[(b"k00000007".to_vec(), 7 << 8 | 1, vec![b'v'; 100])]);
}

/// A table file of `n` entries whose values alternate, block by block, between compressible
/// (stored LZ4) and random (stored raw): forward scans read both kinds through their window.
fn mixed_table(dir: &Path, number: u64, n: u64) -> (PathBuf, Vec<Entry>) {
    let path = dir.join(crate::format::files::sst_name(number));
    let mut rng = Rng(number);
    let entries: Vec<Entry> = (0..n)
        .map(|i| {
            let value: Vec<u8> = if (i / 30) % 3 == 2 {
                (0..100).map(|_| rng.next() as u8).collect()
            } else {
                vec![b'a' + (i % 26) as u8; 100]
            };
            (format!("k{i:08}").into_bytes(), i << 8 | 1, value)
        })
        .collect();
    let mut b = TableBuilder::create(&path, opts(4096, 16, Compression::Lz4)).unwrap();
    for (k, t, v) in &entries {
        b.add(k, *t, v).unwrap();
    }
    b.finish().unwrap();
    (path, entries)
}

#[test]
fn forward_scans_read_blocks_a_window_at_a_time() {
    let dir = tempfile::tempdir().unwrap();
    let (path, entries) = mixed_table(dir.path(), 21, 20_000);
    for cache in [None, Some(Arc::new(BlockCache::new(64 << 10)))] {
        let t = Arc::new(Table::open(&path, 21, cache).unwrap());
        let blocks = t.num_blocks() as u64;
        assert!(blocks > 500, "{blocks}");
        let mut it = t.iter();
        it.seek_to_first().unwrap();
        for _ in 0..2000 {
            it.next().unwrap();
        }
        assert!(it.window_capacity() > 0, "no window half way through");
        it.seek_to_first().unwrap();
        assert!(collect_forward(&mut it) == entries, "a forward scan differs");
        // A cursor that ran off the end (as a compaction's inputs do, one after the other,
        // while the job goes on) holds no window.
        assert_eq!(it.window_capacity(), 0);
        // Block by block that is a read per block (less the raw ones, read in place after their
        // first read); through windows a small fraction of that.
        let reads = t.file_reads();
        assert!(reads * 8 < blocks, "{reads} reads for {blocks} blocks");
        // Backward scans and point reads do not use the window, and read the same bytes.
        it.seek_to_last().unwrap();
        let mut back = Vec::new();
        while it.valid() {
            back.push((it.user_key().to_vec(), it.trailer(), it.value().to_vec()));
            it.prev().unwrap();
        }
        back.reverse();
        assert!(back == entries, "a backward scan differs");
        check_gets(&t, &entries[..2000]);
    }
}

#[test]
fn a_damaged_block_read_through_a_window_is_corruption_at_that_block() {
    let dir = tempfile::tempdir().unwrap();
    let (path, _) = mixed_table(dir.path(), 22, 20_000);
    let mut data = std::fs::read(&path).unwrap();
    let t = Table::open(&path, 22, None).unwrap();
    let h = iter::BlockSource::block_handle(&*t, 200).unwrap();
    drop(t);
    data[(h.offset + h.len / 2) as usize] ^= 0x40;
    std::fs::write(&path, &data).unwrap();
    let t = Arc::new(Table::open(&path, 22, None).unwrap());
    let mut it = t.iter();
    it.seek_to_first().unwrap();
    let err = loop {
        match it.next() {
            Ok(()) => assert!(it.valid(), "the scan ended without meeting the damage"),
            Err(e) => break e,
        }
    };
    match err {
        Error::Corruption { offset, .. } => {
            assert!(
                (h.offset..h.offset + h.len).contains(&offset),
                "offset {offset} outside block {}..{}",
                h.offset,
                h.offset + h.len
            );
        }
        e => panic!("{e}"),
    }
}

#[test]
fn a_tables_filter_pages_are_not_left_resident_by_its_open() {
    use crate::fs::tests::mapping_rss;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(crate::format::files::sst_name(23));
    let n = 300_000u64;
    let mut o = opts(4096, 16, Compression::None);
    o.expected_entries = n as usize;
    let mut b = TableBuilder::create(&path, o).unwrap();
    for i in 0..n {
        b.add(format!("k{i:08}").as_bytes(), i << 8 | 1, b"v").unwrap();
    }
    b.finish().unwrap();
    let data = std::fs::read(&path).unwrap();
    let footer = Footer::decode(&data, &path).unwrap();
    let (filter_len, index_len) = (footer.filter.len.get() as u64, footer.index.len.get() as u64);
    assert!(filter_len > 300 << 10 && index_len < 150 << 10, "{filter_len} {index_len}");
    let t = Arc::new(Table::open(&path, 23, None).unwrap());
    // Open read the footer, meta, index and filter through the mapping; only what the reads
    // need afterwards (the index, searched in place) may stay.
    let mut it = t.iter();
    it.seek_to_first().unwrap();
    let resident = mapping_rss(it.value().as_ptr() as usize);
    // Measured: 288 KiB with the release, 580 KiB without (the filter is 351 KiB).
    assert!(
        resident < filter_len + index_len,
        "{resident} bytes resident, filter {filter_len}, index {index_len}"
    );
    check_gets(&t, &[(b"k00000007".to_vec(), 7 << 8 | 1, b"v".to_vec())]);
}

#[test]
fn obsolete_file_unlinked_after_last_value() {
    let dir = tempfile::tempdir().unwrap();
    for comp in [Compression::None, Compression::Lz4] {
        let path = dir.path().join("000001.sst");
        let entries = random_entries(8, 50);
        let mut b = TableBuilder::create(&path, opts(256, 4, comp)).unwrap();
        for (k, t, v) in &entries {
            b.add(k, *t, v).unwrap();
        }
        b.finish().unwrap();
        let t = Table::open(&path, 1, None).unwrap();
        // The newest version of some key, with a non-empty value.
        let (k, _, v) = entries
            .iter()
            .enumerate()
            .find(|(i, e)| e.2.len() > 10 && (*i == 0 || entries[i - 1].0 != e.0))
            .map(|(_, e)| e.clone())
            .unwrap();
        let (_, value) = t.get(&k, key_hash(&k), u64::MAX >> 8).unwrap().unwrap();
        let mut it = t.iter();
        it.seek_to_first().unwrap();
        t.mark_obsolete();
        drop(t);
        assert!(path.exists(), "iterator and value still hold the mapping");
        drop(it);
        // A raw block's value points into the mapping and keeps it; an LZ4 block's value points
        // into a decompressed buffer and does not.
        if comp == Compression::None {
            assert!(path.exists(), "value still holds the mapping");
        }
        assert_eq!(&value[..], &v[..]);
        drop(value);
        assert!(!path.exists());
    }
}

#[test]
fn empty_and_short_files_are_corruption() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("000002.sst");
    std::fs::write(&p, b"").unwrap();
    assert!(Table::open(&p, 2, None).unwrap_err().is_corruption());
    std::fs::write(&p, b"short").unwrap();
    assert!(Table::open(&p, 2, None).unwrap_err().is_corruption());
    assert!(matches!(
        Table::open(&dir.path().join("missing.sst"), 3, None),
        Err(Error::Io { .. })
    ));
}

fn golden_entries() -> Vec<Entry> {
    let mut e: Vec<Entry> = vec![
        (
            b"apple".to_vec(),
            pack_trailer(3, crate::key::ValueKind::Put),
            b"red".to_vec(),
        ),
        (
            b"apple".to_vec(),
            pack_trailer(1, crate::key::ValueKind::Put),
            b"green".to_vec(),
        ),
        (
            b"banana".to_vec(),
            pack_trailer(2, crate::key::ValueKind::Delete),
            Vec::new(),
        ),
        (
            b"cherry".to_vec(),
            pack_trailer(4, crate::key::ValueKind::Put),
            vec![b'c'; 100],
        ),
    ];
    sort(&mut e);
    e
}

/// The golden table's range tombstone: it reaches past the last entry, so the table's largest key
/// is its end with the exclusive sentinel trailer.
fn golden_range_tombstones() -> Vec<crate::rangedel::RangeTombstone> {
    vec![crate::rangedel::RangeTombstone {
        start: b"blueberry".to_vec(),
        end: crate::format::RangeEnd::Before(b"date".to_vec()),
        seqno: 5,
    }]
}

fn golden_table_bytes() -> Vec<u8> {
    super::build_table_with_range_dels_to_vec(
        golden_entries(),
        golden_range_tombstones(),
        golden_opts(),
    )
    .unwrap()
}

fn golden_opts() -> TableOptions {
    TableOptions {
        block_size: 64,
        restart_interval: 2,
        bloom_false_positive_rate: 0.01,
        compression: Compression::Lz4,
        expected_entries: 4,
        prefix_bloom_len: 0,
    }
}

fn golden_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src/sstable/testdata/golden.sst")
}

/// The committed golden table must still be readable through its filter (catches a fastbloom
/// change in hashing/bit layout) and the writer must still produce it byte for byte.
/// Regenerate with `LSMKV_BLESS=1` and review the diff with `format-spec/sstable.md`.
#[test]
fn golden_table() {
    let built = golden_table_bytes();
    if std::env::var_os("LSMKV_BLESS").is_some() {
        std::fs::create_dir_all(golden_path().parent().unwrap()).unwrap();
        std::fs::write(golden_path(), &built).unwrap();
    }
    let golden = std::fs::read(golden_path()).unwrap();
    let t =
        Arc::new(Table::from_bytes(Bytes::from(golden.clone()), golden_path(), 1, None).unwrap());
    assert!(t.has_filter(), "golden filter must be readable");
    let entries = golden_entries();
    for (k, _, _) in &entries {
        assert!(t.may_contain_hash(key_hash(k)), "filter lost {k:?}");
    }
    check_gets(&t, &entries);
    check_iter(&t, &entries, &mut Rng(1));
    t.verify().unwrap();
    assert_eq!(t.range_tombstones(), golden_range_tombstones().as_slice());
    assert_eq!(
        t.upper_limit(),
        crate::rangedel::UpperLimit::Exclusive(b"date")
    );
    assert_eq!((t.meta().min_seqno, t.meta().max_seqno), (1, 5));
    assert!(
        built == golden,
        "writer output differs from src/sstable/testdata/golden.sst; if intended, bless with \
         LSMKV_BLESS=1 and update format-spec/sstable.md"
    );
}

/// Prints the golden table's layout and hex dump for the spec:
/// `cargo test --lib sstable::tests::print_golden -- --ignored --nocapture`.
#[test]
#[ignore]
fn print_golden() {
    let data = golden_table_bytes();
    let f = Footer::decode(&data, Path::new("g")).unwrap();
    let t = Table::from_bytes(Bytes::from(data.clone()), "g".into(), 1, None).unwrap();
    for i in 0..t.num_blocks() {
        let h = iter::BlockSource::block_handle(&t, i).unwrap();
        let kind = data[(h.offset + h.len) as usize - 5];
        println!("data  {:>5} {:>5} compression={kind}", h.offset, h.len);
    }
    let rd = t.meta().range_del.unwrap();
    println!("filter{:>5} {:>5}", f.filter.offset.get(), f.filter.len.get());
    println!("rdel  {:>5} {:>5}", rd.offset, rd.len);
    for (n, h) in [("index", f.index), ("meta", f.meta)] {
        println!("{n:<6}{:>5} {:>5}", h.offset.get(), h.len.get());
    }
    println!("footer{:>5} {:>5}", data.len() - FOOTER_SIZE, FOOTER_SIZE);
    for (i, chunk) in data.chunks(16).enumerate() {
        let hex: Vec<String> = chunk.iter().map(|b| format!("{b:02x}")).collect();
        let asc: String = chunk
            .iter()
            .map(|&b| {
                if (0x20..0x7f).contains(&b) {
                    b as char
                } else {
                    '.'
                }
            })
            .collect();
        println!("{:08x}  {:<48} |{asc}|", i * 16, hex.join(" "));
    }
    println!("meta = {:?}", t.meta());
}
