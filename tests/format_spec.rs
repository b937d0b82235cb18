//! Holds `format-spec/*.md` and the code together, for every file type in one place.
//!
//! - Every `| offset | size | type | field | meaning |` table in the spec is parsed. Each is
//!   matched, by the heading above it, to a layout taken from the code (`offset_of!` / `size_of`
//!   of the zerocopy structs, or the format constants for structures without a struct). Every row
//!   with a numeric offset and size must match the code, the type column must agree with the size,
//!   and every field of the struct must be in the table. A table no layout claims fails the test,
//!   so a new spec table cannot go unchecked.
//! - Every "`NAME` = value" in the spec text, and the manifest's constant and tag tables, are
//!   compared with the code's constants; magic numbers, versions and enumerated values too.

use std::collections::BTreeMap;
use std::mem::{offset_of, size_of};
use std::path::Path;

use lsmkv::format::{MAX_KEY_SIZE, MAX_VALUE_SIZE_LIMIT, ValueKind};
// Every on-disk fact is owned by `lsmkv::format` (STYLE.md section 4); only the manifest's
// rollover policy, which is not on disk, lives in `lsmkv::manifest`.
use lsmkv::format::manifest::{self, tag};
use lsmkv::format::sst::{
    self as sst, EntryHeader, FilterHeader, FilterPrefixHeader, Footer, Handle, IndexEntry,
    MetaFixed, MetaV2, RangeTombstoneHeader,
};
use lsmkv::format::wal;

#[derive(Debug, Clone)]
struct Row {
    offset: String,
    size: String,
    ty: String,
    field: String,
}

#[derive(Debug)]
struct Table {
    file: String,
    heading: String,
    rows: Vec<Row>,
}

fn spec_dir() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("format-spec")
}

fn spec_files() -> Vec<(String, String)> {
    let mut v: Vec<(String, String)> = std::fs::read_dir(spec_dir())
        .expect("format-spec/ exists")
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "md"))
        .map(|p| {
            (
                p.file_name().unwrap().to_string_lossy().into_owned(),
                std::fs::read_to_string(&p).unwrap(),
            )
        })
        .collect();
    v.sort();
    v
}

fn cells(line: &str) -> Vec<String> {
    let t = line.trim().trim_start_matches('|').trim_end_matches('|');
    // `\|` inside a cell is an escaped pipe, not a separator.
    t.replace("\\|", "\u{1}")
        .split('|')
        .map(|c| c.trim().replace('\u{1}', "|"))
        .collect()
}

fn layout_tables() -> Vec<Table> {
    let mut out = Vec::new();
    for (file, text) in spec_files() {
        let mut heading = String::new();
        let mut lines = text.lines().peekable();
        while let Some(line) = lines.next() {
            if line.starts_with('#') {
                heading = line.trim_start_matches('#').trim().to_string();
                continue;
            }
            let head = cells(line);
            if !line.trim_start().starts_with('|')
                || head != ["offset", "size", "type", "field", "meaning"]
            {
                continue;
            }
            lines.next(); // |---|
            let mut rows = Vec::new();
            while let Some(l) = lines.peek() {
                if !l.trim_start().starts_with('|') {
                    break;
                }
                let c = cells(l);
                assert_eq!(c.len(), 5, "{file} / {heading}: malformed row {l:?}");
                rows.push(Row {
                    offset: c[0].clone(),
                    size: c[1].clone(),
                    ty: c[2].clone(),
                    field: c[3].trim_matches('`').to_string(),
                });
                lines.next();
            }
            out.push(Table {
                file: file.clone(),
                heading: heading.clone(),
                rows,
            });
        }
    }
    out
}

/// A layout from the code: fields by spec name -> (offset, size), and the total fixed size.
struct Layout {
    file: &'static str,
    /// Which table: its heading contains this, and (to tell apart tables under one heading) its
    /// first field is `first`.
    heading: &'static str,
    first: &'static str,
    fields: Vec<(&'static str, usize, usize)>,
    /// Size of the fixed part, when the code has it.
    size: Option<usize>,
}

macro_rules! fields {
    ($t:ty; $($name:literal => $f:ident : $sz:expr),* $(,)?) => {
        vec![$(($name, offset_of!($t, $f), $sz)),*]
    };
}

fn layouts() -> Vec<Layout> {
    let handle = |base: usize, name_off: &'static str, name_len: &'static str| {
        [
            (name_off, base + offset_of!(Handle, offset), 8),
            (name_len, base + offset_of!(Handle, len), 4),
        ]
    };
    let mut footer = Vec::new();
    footer.extend(handle(
        offset_of!(Footer, filter),
        "filter_offset",
        "filter_len",
    ));
    footer.extend(handle(
        offset_of!(Footer, index),
        "index_offset",
        "index_len",
    ));
    footer.extend(handle(offset_of!(Footer, meta), "meta_offset", "meta_len"));
    footer.extend(fields!(Footer; "format_version" => format_version: 4, "crc" => crc: 4, "magic" => magic: 8));
    vec![
        Layout {
            file: "wal.md",
            heading: "SegmentHeader",
            first: "magic",
            fields: fields!(wal::SegmentHeader;
                "magic" => magic: 8, "format_version" => format_version: 4,
                "number" => number: 8, "crc" => crc: 4),
            size: Some(size_of::<wal::SegmentHeader>()),
        },
        Layout {
            file: "wal.md",
            heading: "RecordHeader",
            first: "magic",
            fields: fields!(wal::RecordHeader;
                "magic" => magic: 4, "crc" => crc: 4, "length" => length: 4,
                "header_crc" => header_crc: 4),
            size: Some(size_of::<wal::RecordHeader>()),
        },
        Layout {
            file: "wal.md",
            heading: "SealPayload",
            first: "records",
            fields: fields!(wal::SealPayload;
                "records" => records: 8, "last_seqno" => last_seqno: 8),
            size: Some(size_of::<wal::SealPayload>()),
        },
        Layout {
            file: "wal.md",
            heading: "Batch payload",
            first: "base_seqno",
            fields: vec![("base_seqno", 0, 8), ("count", 8, 4)],
            size: Some(wal::BATCH_HEADER_SIZE),
        },
        Layout {
            file: "wal.md",
            heading: "Batch payload",
            first: "tag",
            fields: vec![("tag", 0, 1), ("keyspace", 1, 4)],
            size: None,
        },
        Layout {
            file: "sstable.md",
            heading: "Block trailer",
            first: "payload",
            fields: vec![],
            size: None,
        },
        Layout {
            file: "sstable.md",
            heading: "Block trailer",
            first: "uncompressed_len",
            fields: vec![("uncompressed_len", 0, 4)],
            size: None,
        },
        Layout {
            file: "sstable.md",
            heading: "Data block",
            first: "key_len",
            fields: fields!(EntryHeader;
                "key_len" => key_len: 4, "value_len" => value_len: 4, "trailer" => trailer: 8),
            size: Some(size_of::<EntryHeader>()),
        },
        Layout {
            file: "sstable.md",
            heading: "Data block",
            first: "restart",
            fields: vec![],
            size: None,
        },
        Layout {
            file: "sstable.md",
            heading: "Expiring puts",
            first: "expires_at",
            fields: vec![("expires_at", 0, lsmkv::format::EXPIRY_SIZE)],
            size: Some(lsmkv::format::EXPIRY_SIZE),
        },
        Layout {
            file: "sstable.md",
            heading: "Filter block",
            first: "format",
            fields: fields!(FilterHeader;
                "format" => format: 1, "num_hashes" => num_hashes: 4, "num_words" => num_words: 4),
            size: Some(size_of::<FilterHeader>()),
        },
        Layout {
            file: "sstable.md",
            heading: "Prefix filter",
            first: "format",
            fields: vec![
                (
                    "format",
                    offset_of!(FilterPrefixHeader, header) + offset_of!(FilterHeader, format),
                    1,
                ),
                (
                    "num_hashes",
                    offset_of!(FilterPrefixHeader, header) + offset_of!(FilterHeader, num_hashes),
                    4,
                ),
                (
                    "num_words",
                    offset_of!(FilterPrefixHeader, header) + offset_of!(FilterHeader, num_words),
                    4,
                ),
                ("prefix_len", offset_of!(FilterPrefixHeader, prefix_len), 4),
            ],
            size: Some(size_of::<FilterPrefixHeader>()),
        },
        Layout {
            file: "sstable.md",
            heading: "Index block",
            first: "num_entries",
            fields: vec![("num_entries", 0, 4)],
            size: None,
        },
        Layout {
            file: "sstable.md",
            heading: "Index block",
            first: "key_offset",
            fields: fields!(IndexEntry;
                "key_offset" => key_offset: 4, "key_len" => key_len: 4,
                "block_offset" => block_offset: 8, "block_len" => block_len: 4),
            size: Some(size_of::<IndexEntry>()),
        },
        Layout {
            file: "sstable.md",
            heading: "Meta block",
            first: "entries",
            fields: fields!(MetaFixed;
                "entries" => entries: 8, "tombstones" => tombstones: 8,
                "min_seqno" => min_seqno: 8, "max_seqno" => max_seqno: 8,
                "data_blocks" => data_blocks: 8, "raw_key_bytes" => raw_key_bytes: 8,
                "raw_value_bytes" => raw_value_bytes: 8, "data_bytes" => data_bytes: 8,
                "distinct_user_keys" => distinct_user_keys: 8,
                "restart_interval" => restart_interval: 4, "block_size" => block_size: 4,
                "smallest_key_len" => smallest_key_len: 4, "largest_key_len" => largest_key_len: 4),
            size: Some(size_of::<MetaFixed>()),
        },
        Layout {
            file: "sstable.md",
            heading: "Meta block",
            first: "range_tombstones",
            fields: vec![
                ("range_tombstones", offset_of!(MetaV2, range_tombstones), 8),
                (
                    "range_del_offset",
                    offset_of!(MetaV2, range_del) + offset_of!(Handle, offset),
                    8,
                ),
                (
                    "range_del_len",
                    offset_of!(MetaV2, range_del) + offset_of!(Handle, len),
                    4,
                ),
            ],
            size: Some(size_of::<MetaV2>()),
        },
        Layout {
            file: "sstable.md",
            heading: "Range-tombstone block",
            first: "count",
            fields: vec![("count", 0, sst::RANGE_DEL_COUNT_SIZE)],
            size: None,
        },
        Layout {
            file: "sstable.md",
            heading: "Range-tombstone block",
            first: "seqno",
            fields: fields!(RangeTombstoneHeader;
                "seqno" => seqno: 8, "start_len" => start_len: 4, "end_len" => end_len: 4),
            size: Some(size_of::<RangeTombstoneHeader>()),
        },
        Layout {
            file: "sstable.md",
            heading: "Footer",
            first: "filter_offset",
            fields: footer,
            size: Some(size_of::<Footer>()),
        },
        Layout {
            file: "manifest.md",
            heading: "File header",
            first: "magic",
            fields: fields!(manifest::FileHeader;
                "magic" => magic: 8, "format_version" => format_version: 4,
                "header_crc" => header_crc: 4),
            size: Some(size_of::<manifest::FileHeader>()),
        },
        Layout {
            file: "manifest.md",
            heading: "Record",
            first: "payload_len",
            fields: fields!(manifest::RecordHeader;
                "payload_len" => payload_len: 4, "payload_crc" => payload_crc: 4,
                "header_crc" => header_crc: 4),
            size: Some(size_of::<manifest::RecordHeader>()),
        },
    ]
}

fn type_size(ty: &str) -> Option<usize> {
    let ty = ty.trim_matches('`');
    match ty {
        "u8" => Some(1),
        "u16" => Some(2),
        "u32" => Some(4),
        "u64" => Some(8),
        _ => {
            let n = ty.strip_prefix("[u8; ")?.strip_suffix(']')?;
            n.parse().ok()
        }
    }
}

#[test]
fn every_layout_table_matches_the_code() {
    let tables = layout_tables();
    assert!(
        tables.len() >= 14,
        "found only {} layout tables",
        tables.len()
    );
    let layouts = layouts();
    let mut used = vec![false; layouts.len()];
    let mut errors = Vec::new();
    for t in &tables {
        let first = t.rows.first().map(|r| r.field.as_str()).unwrap_or("");
        let Some(li) = layouts
            .iter()
            .position(|l| l.file == t.file && t.heading.contains(l.heading) && l.first == first)
        else {
            errors.push(format!(
                "{} / {:?}: table (first field {first:?}) has no layout in tests/format_spec.rs",
                t.file, t.heading
            ));
            continue;
        };
        used[li] = true;
        let l = &layouts[li];
        let mut fixed_end = 0usize;
        for r in &t.rows {
            let (Ok(off), Ok(size)) = (r.offset.parse::<usize>(), r.size.parse::<usize>()) else {
                continue; // variable-size part (P, key_len, 4 * r, ...)
            };
            let at = format!("{} / {} / {}", t.file, t.heading, r.field);
            if let Some(ts) = type_size(&r.ty)
                && ts != size
            {
                errors.push(format!("{at}: type {} but size {size}", r.ty));
            }
            match l.fields.iter().find(|f| f.0 == r.field) {
                Some(&(_, o, s)) if (o, s) == (off, size) => {}
                Some(&(_, o, s)) => errors.push(format!(
                    "{at}: spec says offset {off} size {size}, code has offset {o} size {s}"
                )),
                None if l.fields.is_empty() => {}
                None => errors.push(format!("{at}: field not in the code's layout")),
            }
            if off == fixed_end {
                fixed_end = off + size;
            }
        }
        for f in &l.fields {
            if !t.rows.iter().any(|r| r.field == f.0) {
                errors.push(format!(
                    "{} / {}: code field {} missing in spec",
                    t.file, t.heading, f.0
                ));
            }
        }
        if let Some(size) = l.size
            && fixed_end != size
        {
            errors.push(format!(
                "{} / {}: fixed part of the spec table is {fixed_end} bytes, code size {size}",
                t.file, t.heading
            ));
        }
    }
    for (l, used) in layouts.iter().zip(used) {
        if !used {
            errors.push(format!(
                "no spec table for layout {} / {} / {}",
                l.file, l.heading, l.first
            ));
        }
    }
    assert!(
        errors.is_empty(),
        "spec and code disagree:\n{}",
        errors.join("\n")
    );
}

/// Values of the constants the spec names as "`NAME` = value".
fn code_constants() -> BTreeMap<&'static str, u128> {
    BTreeMap::from([
        ("BLOCK_TRAILER_SIZE", sst::BLOCK_TRAILER_SIZE as u128),
        ("FILTER_HEADER_SIZE", sst::FILTER_HEADER_SIZE as u128),
        (
            "FILTER_PREFIX_HEADER_SIZE",
            sst::FILTER_PREFIX_HEADER_SIZE as u128,
        ),
        ("FOOTER_SIZE", sst::FOOTER_SIZE as u128),
        ("MAX_KEY_SIZE", MAX_KEY_SIZE as u128),
        ("MAX_LEVELS", u128::from(manifest::MAX_LEVELS)),
        ("MAX_LZ4_RATIO", sst::MAX_LZ4_RATIO as u128),
        // The spec writes "2^32 - 1".
        ("MAX_RECORD_PAYLOAD", wal::MAX_RECORD_PAYLOAD as u128),
        ("META_FIXED_SIZE", sst::META_FIXED_SIZE as u128),
        ("META_V2_SIZE", sst::META_V2_SIZE as u128),
        ("RANGE_DEL_COUNT_SIZE", sst::RANGE_DEL_COUNT_SIZE as u128),
        (
            "RANGE_TOMBSTONE_HEADER_SIZE",
            sst::RANGE_TOMBSTONE_HEADER_SIZE as u128,
        ),
        (
            "LARGEST_EXCLUSIVE_TRAILER",
            u128::from(sst::LARGEST_EXCLUSIVE_TRAILER),
        ),
        (
            "LARGEST_UNBOUNDED_TRAILER",
            u128::from(sst::LARGEST_UNBOUNDED_TRAILER),
        ),
        (
            "TABLE_MIN_READ_VERSION",
            u128::from(sst::TABLE_MIN_READ_VERSION),
        ),
        ("INDEX_ENTRY_SIZE", sst::INDEX_ENTRY_SIZE as u128),
        ("ENTRY_HEADER_SIZE", sst::ENTRY_HEADER_SIZE as u128),
        ("EXPIRY_SIZE", lsmkv::format::EXPIRY_SIZE as u128),
        ("MAX_BLOOM_HASHES", u128::from(sst::MAX_BLOOM_HASHES)),
        ("MAX_VALUE_SIZE_LIMIT", MAX_VALUE_SIZE_LIMIT as u128),
    ])
}

/// Parses `123`, `0x1f`, `` `0x..` ``, `2^32 - 1`, `2^30`.
fn parse_value(s: &str) -> Option<u128> {
    let s = s.trim().trim_matches('`').trim_end_matches([':', '.', ',']);
    if let Some(h) = s.strip_prefix("0x") {
        return u128::from_str_radix(&h.replace('_', ""), 16).ok();
    }
    if let Some((base, rest)) = s.split_once('^') {
        let base: u128 = base.parse().ok()?;
        let (exp, minus) = match rest.split_once(" - ") {
            Some((e, m)) => (e.trim(), m.trim().parse::<u128>().ok()?),
            None => (rest.trim(), 0),
        };
        return Some(base.checked_pow(exp.parse().ok()?)? - minus);
    }
    s.parse().ok()
}

#[test]
fn named_constants_in_the_spec_match_the_code() {
    let code = code_constants();
    let mut errors = Vec::new();
    let mut seen = 0;
    for (file, text) in spec_files() {
        // "`NAME` = value", value up to the next space (or " - 1" for powers).
        for (i, _) in text.match_indices("` = ") {
            let before = &text[..i];
            let Some(start) = before.rfind('`') else {
                continue;
            };
            let name = &before[start + 1..];
            if !name.starts_with(|c: char| c.is_ascii_uppercase())
                || !name
                    .chars()
                    .all(|c| c.is_ascii_uppercase() || c == '_' || c.is_ascii_digit())
            {
                continue;
            }
            let after = &text[i + 4..];
            let end = after
                .find(['\n', ')', ',', ';', '('])
                .unwrap_or(after.len());
            let raw = after[..end].trim();
            let Some(&want) = code.get(name) else {
                // Magic byte strings are checked separately below.
                if !name.ends_with("MAGIC") {
                    errors.push(format!(
                        "{file}: `{name}` is not known to tests/format_spec.rs"
                    ));
                }
                continue;
            };
            // Take the longest prefix that parses ("2^32 - 1 ...", "256: LZ4 ...").
            let words: Vec<&str> = raw.split(' ').collect();
            let got = (1..=words.len().min(3))
                .rev()
                .find_map(|n| parse_value(&words[..n].join(" ")));
            seen += 1;
            if got != Some(want) {
                errors.push(format!(
                    "{file}: `{name}` = {raw:?} but the code has {want}"
                ));
            }
        }
    }
    assert!(seen >= 8, "found only {seen} named constants");
    assert!(errors.is_empty(), "{}", errors.join("\n"));
}

fn hex_bytes(b: &[u8]) -> String {
    b.iter()
        .map(|x| format!("{x:02x}"))
        .collect::<Vec<_>>()
        .join(" ")
}

fn spec(file: &str) -> String {
    std::fs::read_to_string(spec_dir().join(file)).unwrap()
}

#[test]
fn magic_numbers_versions_and_enum_values_match() {
    let w = spec("wal.md");
    let s = spec("sstable.md");
    let m = spec("manifest.md");
    // Magic numbers, as hex bytes in the spec.
    assert!(
        w.contains(&hex_bytes(&wal::SEGMENT_MAGIC)),
        "WAL segment magic"
    );
    assert!(
        w.contains(&hex_bytes(&wal::RECORD_MAGIC)),
        "WAL record magic"
    );
    assert!(
        m.contains(&hex_bytes(&manifest::MANIFEST_MAGIC)),
        "manifest magic"
    );
    assert!(
        s.contains(&format!("0x{:016X}", sst::TABLE_MAGIC)),
        "SSTable magic 0x{:016X}",
        sst::TABLE_MAGIC
    );
    assert_eq!(&sst::TABLE_MAGIC.to_le_bytes(), b"LSMKVSST");
    assert!(s.contains("`LSMKVSST`"));
    // Versions.
    assert_eq!(wal::WAL_FORMAT_VERSION, 3);
    assert!(w.contains("format_version = 3"));
    assert_eq!(wal::WAL_SEAL_VERSION, 3);
    assert!(w.contains("seals from format_version = 3"));
    assert!(w.contains(&hex_bytes(&wal::SEAL_MAGIC)), "WAL seal magic");
    assert!(w.contains(&format!("`length` {}", wal::SEAL_PAYLOAD_SIZE)));
    assert!(w.contains(&format!("{} bytes in all", wal::SEAL_RECORD_SIZE)));
    assert_eq!(sst::TABLE_FORMAT_VERSION, 2);
    assert_eq!(sst::TABLE_MIN_READ_VERSION, 1);
    assert!(s.contains("# SSTable format (version 2)"));
    assert!(s.contains("| format_version | 2 (`TABLE_FORMAT_VERSION`)"));
    assert_eq!(manifest::MANIFEST_FORMAT_VERSION, 2);
    assert!(m.contains("| format version | 2 (version 1 files are still read) |"));
    // Internal keys: an 8-byte trailer holding a 56-bit seqno and the kind.
    assert_eq!(lsmkv::format::TRAILER_SIZE, 8);
    assert_eq!(lsmkv::format::MAX_SEQNO, (1u64 << 56) - 1);
    assert!(s.contains("seqno has 56 bits"));
    assert!(s.contains(&format!(
        "| 0 | 1 | u8 | format | {} (`FILTER_FORMAT_FASTBLOOM_XXH3_PREFIX`) |",
        sst::FILTER_FORMAT_FASTBLOOM_XXH3_PREFIX
    )));
    // Enumerated values.
    assert_eq!(ValueKind::Delete as u8, 0);
    assert_eq!(ValueKind::Put as u8, 1);
    assert_eq!(ValueKind::RangeDelete as u8, 2);
    assert_eq!(ValueKind::PutExpiring as u8, 3);
    assert_eq!(ValueKind::MAX, 3);
    assert!(w.contains("0 = Delete, 1 = Put, 2 = RangeDelete, 3 = PutExpiring"));
    assert!(s.contains("3 (`PutExpiring`"));
    assert!(s.contains(&format!(
        "`seek_trailer(s) = (s << 8) | {}`",
        ValueKind::MAX
    )));
    // The unbounded sentinel is (seqno 0, kind RangeDelete), a trailer no entry has.
    assert_eq!(
        sst::LARGEST_UNBOUNDED_TRAILER,
        lsmkv::key::pack_trailer(0, ValueKind::RangeDelete)
    );
    assert!(s.contains("Kind 2\n(`RangeDelete`) never appears in a data block"));
    assert!(s.contains("`(seqno << 8) \\| kind`"));
    assert!(s.contains(&format!(
        "{} = raw (`COMPRESSION_NONE`), {} = LZ4 (`COMPRESSION_LZ4`)",
        sst::COMPRESSION_NONE,
        sst::COMPRESSION_LZ4
    )));
    assert!(s.contains(&format!(
        "{} = no filter (`FILTER_FORMAT_NONE`), {} = fastbloom 0.17 over xxh3 (`FILTER_FORMAT_FASTBLOOM_XXH3`)",
        sst::FILTER_FORMAT_NONE,
        sst::FILTER_FORMAT_FASTBLOOM_XXH3
    )));
}

#[test]
fn manifest_tag_and_constant_tables_match() {
    let m = spec("manifest.md");
    let tags = BTreeMap::from([
        ("NEXT_FILE_NUMBER", tag::NEXT_FILE_NUMBER),
        ("LAST_SEQNO", tag::LAST_SEQNO),
        ("LOG_NUMBER", tag::LOG_NUMBER),
        ("ADDED_FILE", tag::ADDED_FILE),
        ("DELETED_FILE", tag::DELETED_FILE),
        ("RESERVED_COMPARATOR", tag::RESERVED_COMPARATOR),
        (
            "RESERVED_COMPACTION_STRATEGY",
            tag::RESERVED_COMPACTION_STRATEGY,
        ),
        ("KEYSPACE", tag::KEYSPACE),
        ("DROP_KEYSPACE", tag::DROP_KEYSPACE),
        ("FLUSHED_SEQNO", tag::FLUSHED_SEQNO),
        ("ADDED_FILE_IN_KEYSPACE", tag::ADDED_FILE_IN_KEYSPACE),
        ("NEXT_KEYSPACE_ID", tag::NEXT_KEYSPACE_ID),
    ]);
    let mut found = BTreeMap::new();
    for line in m.lines() {
        let c = cells(line);
        if c.len() == 5
            && let Ok(v) = c[0].parse::<u64>()
            && c[1].chars().all(|ch| ch.is_ascii_uppercase() || ch == '_')
            && !c[1].is_empty()
        {
            found.insert(c[1].clone(), v);
        }
    }
    let found: BTreeMap<&str, u64> = found.iter().map(|(k, v)| (k.as_str(), *v)).collect();
    assert_eq!(found, tags, "manifest tag table");

    let code = BTreeMap::from([
        (
            "format::manifest::MANIFEST_FORMAT_VERSION",
            u128::from(manifest::MANIFEST_FORMAT_VERSION),
        ),
        (
            "format::manifest::FILE_HEADER_SIZE",
            manifest::FILE_HEADER_SIZE as u128,
        ),
        (
            "format::manifest::RECORD_HEADER_SIZE",
            manifest::RECORD_HEADER_SIZE as u128,
        ),
        (
            "format::manifest::MAX_RECORD_SIZE",
            u128::from(manifest::MAX_RECORD_SIZE),
        ),
        (
            "format::manifest::FIRST_MANIFEST_NUMBER",
            u128::from(manifest::FIRST_MANIFEST_NUMBER),
        ),
        (
            "manifest::DEFAULT_ROLLOVER_BYTES",
            u128::from(lsmkv::manifest::DEFAULT_ROLLOVER_BYTES),
        ),
        (
            "format::manifest::MAX_LEVELS",
            u128::from(manifest::MAX_LEVELS),
        ),
    ]);
    let mut checked = 0;
    for line in m.lines() {
        let c = cells(line);
        if c.len() != 3 {
            continue;
        }
        let name = c[2].trim_matches('`');
        let Some(&want) = code.get(name) else {
            continue;
        };
        checked += 1;
        let value = &c[1];
        // "16", "1073741824 (2^30)", "0 .. 15 (`MAX_LEVELS` = 16)".
        let got = value
            .split(|ch: char| !ch.is_ascii_digit())
            .filter(|w| !w.is_empty())
            .filter_map(|w| w.parse::<u128>().ok())
            .any(|n| n == want);
        assert!(
            got,
            "manifest.md constant {name} = {value:?}, code has {want}"
        );
    }
    assert_eq!(checked, code.len(), "every manifest constant row found");
}

/// `versions.md` has one entry for the current version of each file type and for every filter
/// format this build knows, and names the fixture directory that must exist.
#[test]
fn versions_md_has_an_entry_per_version() {
    let v = spec("versions.md");
    for heading in [
        format!("### WAL version {}", wal::WAL_FORMAT_VERSION),
        format!("### SSTable version {}", sst::TABLE_FORMAT_VERSION),
        format!("### Filter format {} (", sst::FILTER_FORMAT_NONE),
        format!("### Filter format {} (", sst::FILTER_FORMAT_FASTBLOOM_XXH3),
        format!(
            "### Filter format {} (",
            sst::FILTER_FORMAT_FASTBLOOM_XXH3_PREFIX
        ),
        format!("### Manifest version {}", manifest::MANIFEST_FORMAT_VERSION),
        "### CURRENT".to_string(),
    ] {
        assert!(v.contains(&heading), "versions.md lacks `{heading}`");
    }
    let newest = wal::WAL_FORMAT_VERSION
        .max(sst::TABLE_FORMAT_VERSION)
        .max(manifest::MANIFEST_FORMAT_VERSION);
    for n in 1..=newest {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("tests/fixtures/v{n}"));
        assert!(dir.is_dir(), "no fixture {}", dir.display());
        assert!(v.contains(&format!("tests/fixtures/v{n}/")));
    }
}
