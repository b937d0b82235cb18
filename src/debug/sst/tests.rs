//! Tests of the SSTable dump: a healthy table, a prefix-bloom table, and a byte-flip sweep.
#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

use super::*;
use crate::format::ValueKind;
use crate::key::pack_trailer;
use crate::sstable::{TableOptions, build_table_to_vec};

fn table(n: u64, compression: crate::Compression) -> Vec<u8> {
    let opts = TableOptions {
        block_size: 256,
        compression,
        ..TableOptions::default()
    };
    let entries: Vec<(Vec<u8>, u64, Vec<u8>)> = (0..n)
        .map(|i| {
            let kind = if i % 7 == 0 {
                ValueKind::Delete
            } else {
                ValueKind::Put
            };
            let v = if kind == ValueKind::Put {
                format!("value-{i}-{}", "x".repeat(40)).into_bytes()
            } else {
                Vec::new()
            };
            (
                format!("key{i:05}").into_bytes(),
                pack_trailer(i + 1, kind),
                v,
            )
        })
        .collect();
    build_table_to_vec(entries, opts).unwrap()
}

#[test]
fn healthy_table_has_no_problems() {
    for c in [crate::Compression::None, crate::Compression::Lz4] {
        let data = table(200, c);
        let opts = SstOptions {
            blocks: true,
            keys: true,
            value_preview_bytes: 8,
        };
        let d = dump_sst_bytes(Path::new("t.sst"), Bytes::from(data), opts);
        assert!(d.problems.is_empty(), "{:?}", d.problems);
        let meta = d.meta.as_ref().unwrap();
        assert_eq!(meta.entries, 200);
        assert_eq!(d.keys.len(), 200);
        assert_eq!(d.blocks.len() as u64, meta.data_blocks);
        assert!(d.blocks.len() > 3);
        assert_eq!(d.keys[0].key, "key00000");
        assert_eq!(d.keys[0].kind, "delete");
        assert!(d.keys[1].value_truncated);
        assert!(d.filter.as_ref().unwrap().bits_per_key.unwrap() > 5.0);
    }
}

#[test]
fn expiring_entries_show_their_user_value_and_expiry() {
    let stored = |at: u64, v: &[u8]| [&at.to_le_bytes()[..], v].concat();
    let entries = vec![
        (
            b"a".to_vec(),
            pack_trailer(2, ValueKind::PutExpiring),
            stored(0, b"first"),
        ),
        (
            b"a".to_vec(),
            pack_trailer(1, ValueKind::Put),
            b"old".to_vec(),
        ),
        (
            b"b".to_vec(),
            pack_trailer(3, ValueKind::PutExpiring),
            stored(u64::MAX, b""),
        ),
    ];
    let data = build_table_to_vec(entries, TableOptions::default()).unwrap();
    let opts = SstOptions {
        blocks: false,
        keys: true,
        value_preview_bytes: 64,
    };
    let d = dump_sst_bytes(Path::new("t.sst"), Bytes::from(data), opts);
    assert!(d.problems.is_empty(), "{:?}", d.problems);
    let k = &d.keys;
    assert_eq!(k[0].kind, "put-expiring");
    assert_eq!((k[0].value.as_str(), k[0].value_len), ("first", 5));
    assert_eq!(k[0].expires_at.as_deref(), Some("1970-01-01T00:00:00.000Z"));
    assert_eq!(
        (k[1].kind.as_str(), k[1].expires_at.as_ref()),
        ("put", None)
    );
    assert_eq!(
        (k[2].value.as_str(), k[2].expires_at_ms),
        ("", Some(u64::MAX))
    );
    // JSON leaves the fields out for other kinds.
    let json = serde_json::to_string(&k[1]).unwrap();
    assert!(!json.contains("expires_at"), "{json}");

    // An expiring value too short to hold its expiry is damage.
    let bad = vec![(
        b"c".to_vec(),
        pack_trailer(4, ValueKind::PutExpiring),
        b"short".to_vec(),
    )];
    let data = build_table_to_vec(bad, TableOptions::default()).unwrap();
    let d = dump_sst_bytes(Path::new("t.sst"), Bytes::from(data), opts);
    assert_eq!(d.problems.len(), 1, "{:?}", d.problems);
    assert!(d.problems[0].reason.contains("expiry"), "{:?}", d.problems);
}

/// Regression: `inspect sst` parsed the filter block with its own copy of the format-1 code
/// and printed "unknown(2), read as no filter" for prefix-bloom tables. It now uses the
/// engine's decoder, so format 2 is reported with its prefix length.
#[test]
fn prefix_bloom_table_reports_its_prefix_filter() {
    let opts = TableOptions {
        block_size: 256,
        prefix_bloom_len: 4,
        ..TableOptions::default()
    };
    let entries: Vec<(Vec<u8>, u64, Vec<u8>)> = (0..50u64)
        .map(|i| {
            (
                format!("p{:03}/key", i % 10 * 10 + i / 10).into_bytes(),
                pack_trailer(i + 1, ValueKind::Put),
                b"v".to_vec(),
            )
        })
        .collect();
    let mut entries = entries;
    entries.sort();
    let data = build_table_to_vec(entries, opts).unwrap();
    let d = dump_sst_bytes(Path::new("t.sst"), Bytes::from(data), SstOptions::default());
    assert!(d.problems.is_empty(), "{:?}", d.problems);
    let f = d.filter.as_ref().unwrap();
    assert_eq!(
        f.format,
        crate::format::sst::FILTER_FORMAT_FASTBLOOM_XXH3_PREFIX
    );
    assert_eq!(f.format_name, "fastbloom-xxh3-prefix(len 4)");
    assert_eq!(f.prefix_len, Some(4));
    assert!(f.num_hashes.unwrap() > 0);
    assert!(f.bits.unwrap() > 0);
    assert!(!f.format_name.contains("unknown"));
}

#[test]
fn every_flipped_byte_is_found_or_harmless_and_never_panics() {
    let good = table(60, crate::Compression::Lz4);
    for i in 0..good.len() {
        let mut bad = good.clone();
        bad[i] ^= 0x40;
        let d = dump_sst_bytes(Path::new("t.sst"), Bytes::from(bad), SstOptions::default());
        // Every byte of a table is covered by a checksum, so every flip is reported.
        assert!(!d.problems.is_empty(), "flip at {i} not detected");
        assert!(d.problems.iter().all(|p| p.file == Path::new("t.sst")));
    }
}
