//! `/metrics` follows the Prometheus conventions: every family is declared by exactly one
//! `# TYPE` line with its samples right under it, counters end in `_total`, the engine's
//! monotonic figures are counters, durations are in seconds, per-level gauges carry a `level`
//! label.

mod server_common;

use std::collections::BTreeMap;

use server_common::TestServer;

/// The engine figures that only grow while the database is open.
const ENGINE_COUNTERS: &[&str] = &[
    "lsmkv_engine_puts_total",
    "lsmkv_engine_deletes_total",
    "lsmkv_engine_gets_total",
    "lsmkv_engine_get_hits_total",
    "lsmkv_engine_batches_total",
    "lsmkv_engine_user_bytes_written_total",
    "lsmkv_engine_wal_bytes_written_total",
    "lsmkv_engine_wal_syncs_total",
    "lsmkv_engine_group_commit_followers_total",
    "lsmkv_engine_flushes_total",
    "lsmkv_engine_flush_bytes_written_total",
    "lsmkv_engine_write_stalls_total",
    "lsmkv_engine_write_stall_seconds_total",
    "lsmkv_engine_bloom_useful_total",
    "lsmkv_engine_prefix_filter_skips_total",
    "lsmkv_engine_compactions_total",
    "lsmkv_engine_trivial_moves_total",
    "lsmkv_engine_compaction_seconds_total",
    "lsmkv_engine_compaction_bytes_read_total",
    "lsmkv_engine_compaction_bytes_written_total",
    "lsmkv_engine_compaction_entries_dropped_total",
    "lsmkv_engine_block_cache_hits_total",
    "lsmkv_engine_block_cache_misses_total",
];

/// Figures of the shape now: gauges.
const ENGINE_GAUGES: &[&str] = &[
    "lsmkv_engine_last_seqno",
    "lsmkv_engine_memtable_bytes",
    "lsmkv_engine_sst_files",
    "lsmkv_engine_sst_bytes",
    "lsmkv_engine_wal_bytes",
    "lsmkv_engine_pending_compaction_bytes",
    "lsmkv_engine_longest_stall_seconds",
    "lsmkv_engine_block_cache_used_bytes",
    "lsmkv_engine_levels_files",
    "lsmkv_engine_levels_bytes",
];

/// One sample line: family it was declared under, full sample name, labels text.
struct Sample {
    family: String,
    name: String,
    labels: String,
}

/// Parses the exposition: the type of each family, and every sample with its family. Panics on
/// a family declared twice, a sample outside its family's block, or a malformed line.
fn parse(text: &str) -> (BTreeMap<String, String>, Vec<Sample>) {
    let mut types = BTreeMap::new();
    let mut samples = Vec::new();
    let mut current: Option<(String, String)> = None;
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').expect("# TYPE name kind");
            assert!(
                ["counter", "gauge", "histogram", "summary", "untyped"].contains(&kind),
                "{line}"
            );
            let old = types.insert(name.to_string(), kind.to_string());
            assert!(old.is_none(), "{name} has a second # TYPE line");
            current = Some((name.to_string(), kind.to_string()));
            continue;
        }
        if line.starts_with('#') || line.is_empty() {
            continue;
        }
        let end = line.find(['{', ' ']).expect("sample value");
        let name = &line[..end];
        let labels = if line[end..].starts_with('{') {
            let close = line.find('}').expect("closing brace");
            line[end + 1..close].to_string()
        } else {
            String::new()
        };
        let value = line.rsplit(' ').next().unwrap();
        assert!(value.parse::<f64>().is_ok(), "{line}");
        let (family, kind) = current
            .clone()
            .unwrap_or_else(|| panic!("{name}: sample before any # TYPE"));
        let belongs = name == family
            || (kind == "histogram"
                && ["_bucket", "_sum", "_count"]
                    .iter()
                    .any(|s| name.strip_suffix(s) == Some(family.as_str())));
        assert!(
            belongs,
            "{name} is not under its own # TYPE (it follows {family})"
        );
        samples.push(Sample {
            family,
            name: name.to_string(),
            labels,
        });
    }
    (types, samples)
}

#[test]
fn metrics_follow_the_conventions() {
    // A table at level 0, so that the per-level gauges have a series.
    let dir = tempfile::tempdir().unwrap();
    let db = lsmkv::Db::open(dir.path(), lsmkv::Options::default()).unwrap();
    db.put("a", "1").unwrap();
    db.flush().unwrap();
    db.close().unwrap();
    let s = TestServer::start_in(dir, &[]);
    assert_eq!(s.post("/keys", r#"{"key":"b","value":"2"}"#).status, 200);
    assert_eq!(s.get("/keys/b").status, 200);
    let r = s.get("/metrics");
    assert_eq!(r.status, 200);
    let (types, samples) = parse(&r.body);

    // (1) Counters, and only counters, end in `_total`.
    for (name, kind) in &types {
        assert_eq!(
            kind == "counter",
            name.ends_with("_total"),
            "{name} is a {kind}"
        );
    }
    // (2) Checked by `parse`: one # TYPE per family, samples under it. Every family has samples
    // apart from the request families, which start empty.
    for name in types.keys() {
        let empty_ok = name.starts_with("lsmkv_http_request");
        assert!(
            empty_ok || samples.iter().any(|s| &s.family == name),
            "{name} has no sample"
        );
    }
    // (3) The engine's monotonic figures are counters; the shape is gauges; no microseconds.
    for name in ENGINE_COUNTERS {
        assert_eq!(
            types.get(*name).map(String::as_str),
            Some("counter"),
            "{name}"
        );
    }
    for name in ENGINE_GAUGES {
        assert_eq!(
            types.get(*name).map(String::as_str),
            Some("gauge"),
            "{name}"
        );
    }
    assert!(!types.keys().any(|n| n.contains("micros")), "{types:?}");
    let puts = samples
        .iter()
        .find(|s| s.name == "lsmkv_engine_puts_total")
        .unwrap();
    assert!(puts.labels.is_empty());
    assert!(
        r.body.contains("\nlsmkv_engine_puts_total 1\n"),
        "{}",
        r.body
    );
    assert!(
        r.body.contains("\nlsmkv_engine_get_hits_total 1\n"),
        "{}",
        r.body
    );
    // (4) Per-level gauges: one series per level, labelled.
    for family in ["lsmkv_engine_levels_files", "lsmkv_engine_levels_bytes"] {
        let series: Vec<&Sample> = samples.iter().filter(|s| s.family == family).collect();
        assert!(!series.is_empty(), "{family}");
        for s in series {
            assert!(
                s.labels.starts_with("level=\""),
                "{}{{{}}}",
                s.name,
                s.labels
            );
        }
    }
    assert!(
        r.body
            .contains("\nlsmkv_engine_levels_files{level=\"0\"} 1\n"),
        "{}",
        r.body
    );
    // The server's own figures keep their names.
    assert_eq!(types["lsmkv_http_requests_total"], "counter");
    assert_eq!(types["lsmkv_http_request_duration_seconds"], "histogram");
    assert_eq!(types["lsmkv_http_connections_total"], "counter");
    assert_eq!(types["lsmkv_http_connections_open"], "gauge");
}
