//! How results are shown: text for people (keys and values quoted and escaped, as redis-cli does),
//! JSON for scripts, raw bytes for pipes.
//!
//! JSON cannot hold arbitrary bytes in a string, so a key or value that is valid UTF-8 is written
//! as `"key": "text"` and any other as `"key_base64": "..."` (standard alphabet, padded). Import
//! reads both forms, so an export round-trips every byte.

use std::io::{self, Write};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde_json::{Map, Value as Json};

use lsmkv::debug::escape_bytes;
use lsmkv::{Stats, TableInfo};

use crate::parse::StatsSection;

/// Output format of the CLI subcommands (the shell always uses `Text`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OutputMode {
    /// Quoted and escaped, one entry per line.
    #[default]
    Text,
    /// One JSON document (or one per line for listings).
    Json,
    /// The bytes themselves: a value as is; listings as `KEY<TAB>VALUE<LF>`.
    Raw,
}

/// `"escaped"`.
pub fn quoted(b: &[u8]) -> String {
    format!("\"{}\"", escape_bytes(b))
}

/// Adds `name` (UTF-8 text) or `name_base64` to a JSON object.
pub fn put_json_bytes(obj: &mut Map<String, Json>, name: &str, b: &[u8]) {
    match std::str::from_utf8(b) {
        Ok(s) => obj.insert(name.to_string(), Json::String(s.to_string())),
        Err(_) => obj.insert(format!("{name}_base64"), Json::String(BASE64.encode(b))),
    };
}

/// Reads `name` or `name_base64` from a JSON object: `Ok(None)` when neither is present.
///
/// # Errors
/// A message when the field is not a string or not valid base64.
pub fn get_json_bytes(obj: &Map<String, Json>, name: &str) -> Result<Option<Vec<u8>>, String> {
    if let Some(v) = obj.get(name) {
        return match v {
            Json::String(s) => Ok(Some(s.as_bytes().to_vec())),
            _ => Err(format!("\"{name}\" must be a string")),
        };
    }
    let b64 = format!("{name}_base64");
    match obj.get(&b64) {
        None => Ok(None),
        Some(Json::String(s)) => BASE64
            .decode(s)
            .map(Some)
            .map_err(|e| format!("\"{b64}\" is not valid base64: {e}")),
        Some(_) => Err(format!("\"{b64}\" must be a string")),
    }
}

/// `{"key": .., "value": ..}` (value `null` when absent).
pub fn json_entry(key: &[u8], value: Option<&[u8]>) -> Json {
    let mut obj = Map::new();
    put_json_bytes(&mut obj, "key", key);
    match value {
        Some(v) => put_json_bytes(&mut obj, "value", v),
        None => {
            obj.insert("value".into(), Json::Null);
        }
    }
    Json::Object(obj)
}

/// Writes one key/value pair of a listing.
///
/// # Errors
/// I/O errors of `out`.
pub fn write_entry(
    out: &mut dyn Write,
    mode: OutputMode,
    key: &[u8],
    value: &[u8],
) -> io::Result<()> {
    match mode {
        OutputMode::Text => writeln!(out, "{} {}", quoted(key), quoted(value)),
        OutputMode::Json => writeln!(out, "{}", json_entry(key, Some(value))),
        OutputMode::Raw => {
            out.write_all(key)?;
            out.write_all(b"\t")?;
            out.write_all(value)?;
            out.write_all(b"\n")
        }
    }
}

/// `1.5 KiB`, `12.0 MiB`; plain bytes below 1 KiB.
pub fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["KiB", "MiB", "GiB", "TiB", "PiB"];
    if n < 1024 {
        return format!("{n} B");
    }
    let mut v = n as f64 / 1024.0;
    let mut unit = UNITS[0];
    for u in UNITS.iter().skip(1) {
        if v < 1024.0 {
            break;
        }
        v /= 1024.0;
        unit = u;
    }
    format!("{v:.1} {unit}")
}

/// The fields of [`Stats`] shown by `stats SECTION` (names as serialized).
fn section_fields(section: StatsSection) -> &'static [&'static str] {
    match section {
        StatsSection::Memory => &[
            "memtable_bytes",
            "memtable_entries",
            "immutable_memtables",
            "immutable_memtable_bytes",
            "block_cache",
        ],
        StatsSection::Disk => &[
            "levels",
            "sst_files",
            "sst_bytes",
            "flushes",
            "flush_bytes_written",
        ],
        StatsSection::Wal => &[
            "wal_segments",
            "wal_bytes",
            "wal_current_segment",
            "wal_bytes_written",
            "wal_syncs",
            "group_commit_followers",
            "last_seqno",
        ],
        StatsSection::Cache => &["block_cache", "bloom_useful"],
        // The shell shows the current keyspace's own entry (see `cli::stats`); from the whole
        // statistics, every keyspace's.
        StatsSection::Keyspace => &["keyspaces"],
    }
}

/// Statistics as JSON, whole or one section. Compaction counters (and any field added later) are
/// in the whole object; `disk` also takes every field whose name starts with `compaction`.
pub fn stats_json(stats: &Stats, section: Option<StatsSection>) -> Json {
    stats_json_value(serde_json::to_value(stats).unwrap_or(Json::Null), section)
}

/// [`stats_json`] of statistics already serialized (as a server's `GET /stats/all` gives them).
pub fn stats_json_value(all: Json, section: Option<StatsSection>) -> Json {
    let Some(section) = section else { return all };
    let Json::Object(map) = all else { return all };
    let fields = section_fields(section);
    let picked: Map<String, Json> = map
        .into_iter()
        .filter(|(k, _)| {
            fields.contains(&k.as_str())
                || (section == StatsSection::Disk && k.starts_with("compaction"))
        })
        .collect();
    Json::Object(picked)
}

/// The LSM tree of keyspace `keyspace` as a table for people, under a line naming the keyspace.
pub fn levels_text(keyspace: &str, tables: &[TableInfo]) -> String {
    let mut s = format!("keyspace {}\n", quoted(keyspace.as_bytes()));
    if tables.is_empty() {
        s.push_str("(no SSTables; everything is in the memtable)");
        return s;
    }
    let max_level = tables.iter().map(|t| t.level).max().unwrap_or(0);
    s.push_str(&format!(
        "{:<6} {:>6} {:>11} {:>10} {:>10}  key range\n",
        "level", "files", "size", "entries", "tombstones"
    ));
    for level in 0..=max_level {
        let ts: Vec<&TableInfo> = tables.iter().filter(|t| t.level == level).collect();
        if ts.is_empty() {
            continue;
        }
        let bytes: u64 = ts.iter().map(|t| t.file_size).sum();
        let entries: u64 = ts.iter().map(|t| t.entries).sum();
        let tombs: u64 = ts.iter().map(|t| t.tombstones).sum();
        let lo = ts.iter().map(|t| &t.smallest_key).min();
        let hi = ts.iter().map(|t| &t.largest_key).max();
        let range = match (lo, hi) {
            (Some(lo), Some(hi)) => format!("{} .. {}", quoted(lo), quoted(hi)),
            _ => String::new(),
        };
        s.push_str(&format!(
            "L{level:<5} {:>6} {:>11} {entries:>10} {tombs:>10}  {range}\n",
            ts.len(),
            human_bytes(bytes)
        ));
        for t in ts {
            s.push_str(&format!(
                "  {:06}.sst {:>11} {:>10} {:>10}  {} .. {}  seqno {}..{}\n",
                t.number,
                human_bytes(t.file_size),
                t.entries,
                t.tombstones,
                quoted(&t.smallest_key),
                quoted(&t.largest_key),
                t.min_seqno,
                t.max_seqno
            ));
        }
    }
    s.pop();
    s
}

/// The LSM tree's shape as JSON: one object per table (with its keyspace), keys as in
/// [`json_entry`].
pub fn levels_json(tables: &[TableInfo]) -> Json {
    Json::Array(
        tables
            .iter()
            .map(|t| {
                let mut o = Map::new();
                o.insert("keyspace".into(), Json::String(t.keyspace.clone()));
                o.insert("level".into(), t.level.into());
                o.insert("number".into(), t.number.into());
                o.insert("file_size".into(), t.file_size.into());
                o.insert("entries".into(), t.entries.into());
                o.insert("tombstones".into(), t.tombstones.into());
                put_json_bytes(&mut o, "smallest_key", &t.smallest_key);
                put_json_bytes(&mut o, "largest_key", &t.largest_key);
                o.insert("min_seqno".into(), t.min_seqno.into());
                o.insert("max_seqno".into(), t.max_seqno.into());
                Json::Object(o)
            })
            .collect(),
    )
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn json_bytes_round_trip() {
        for b in [&b"plain"[..], b"", b"\xff\x00bin", "ü".as_bytes()] {
            let Json::Object(o) = json_entry(b, Some(b)) else {
                panic!()
            };
            assert_eq!(get_json_bytes(&o, "key").unwrap().unwrap(), b);
            assert_eq!(get_json_bytes(&o, "value").unwrap().unwrap(), b);
        }
        let Json::Object(o) = json_entry(b"\xff", None) else {
            panic!()
        };
        assert!(o.contains_key("key_base64"));
        assert_eq!(o.get("value"), Some(&Json::Null));
    }

    #[test]
    fn human_sizes() {
        assert_eq!(human_bytes(10), "10 B");
        assert_eq!(human_bytes(1536), "1.5 KiB");
        assert_eq!(human_bytes(3 << 20), "3.0 MiB");
    }

    #[test]
    fn stats_sections_pick_fields() {
        let s = Stats::default();
        let Json::Object(wal) = stats_json(&s, Some(StatsSection::Wal)) else {
            panic!()
        };
        assert!(wal.contains_key("wal_bytes") && !wal.contains_key("sst_bytes"));
        let Json::Object(cache) = stats_json(&s, Some(StatsSection::Cache)) else {
            panic!()
        };
        assert!(cache.contains_key("block_cache"));
    }
}
