//! Request and connection metrics, rendered in the Prometheus text format (version 0.0.4) by a
//! small hand-written renderer: fixed label sets (route x status) kept in atomics, so recording a
//! request takes no lock. Engine figures are taken from `Db::stats()` at scrape time.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use serde_json::Value as Json;

use crate::routes::RouteId;

/// Status codes with their own series; anything else is counted as "other".
const STATUSES: [u16; 12] = [200, 201, 204, 400, 401, 404, 405, 408, 409, 413, 500, 503];
/// Histogram bucket upper bounds, in seconds.
const BUCKETS: [f64; 12] = [
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 2.5,
];
const NROUTES: usize = RouteId::ALL.len();

fn zeros<const N: usize>() -> [AtomicU64; N] {
    std::array::from_fn(|_| AtomicU64::new(0))
}

/// All counters of one server.
pub struct Metrics {
    requests: [[AtomicU64; STATUSES.len() + 1]; NROUTES],
    buckets: [[AtomicU64; BUCKETS.len() + 1]; NROUTES],
    duration_micros: [AtomicU64; NROUTES],
    pub connections_open: AtomicU64,
    pub connections_total: AtomicU64,
    pub connections_rejected: AtomicU64,
    pub in_flight: AtomicU64,
    pub slow_requests: AtomicU64,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics {
            requests: std::array::from_fn(|_| zeros()),
            buckets: std::array::from_fn(|_| zeros()),
            duration_micros: zeros(),
            connections_open: AtomicU64::new(0),
            connections_total: AtomicU64::new(0),
            connections_rejected: AtomicU64::new(0),
            in_flight: AtomicU64::new(0),
            slow_requests: AtomicU64::new(0),
        }
    }
}

impl Metrics {
    /// Records one finished request.
    pub fn record(&self, route: RouteId, status: u16, latency: Duration) {
        let r = route.index();
        let s = STATUSES
            .iter()
            .position(|&x| x == status)
            .unwrap_or(STATUSES.len());
        let secs = latency.as_secs_f64();
        let b = BUCKETS
            .iter()
            .position(|&le| secs <= le)
            .unwrap_or(BUCKETS.len());
        if let Some(row) = self.requests.get(r)
            && let Some(c) = row.get(s)
        {
            c.fetch_add(1, Ordering::Relaxed);
        }
        if let Some(row) = self.buckets.get(r)
            && let Some(c) = row.get(b)
        {
            c.fetch_add(1, Ordering::Relaxed);
        }
        if let Some(c) = self.duration_micros.get(r) {
            let us = u64::try_from(latency.as_micros()).unwrap_or(u64::MAX);
            c.fetch_add(us, Ordering::Relaxed);
        }
    }

    /// Requests answered so far, all routes and statuses.
    pub fn requests_total(&self) -> u64 {
        self.requests
            .iter()
            .flatten()
            .map(|c| c.load(Ordering::Relaxed))
            .sum()
    }

    /// The Prometheus text exposition, with engine figures from `engine_stats` (the JSON form of
    /// `Db::stats()`: every number in it becomes a series, so new engine fields appear by
    /// themselves; the monotonic ones, listed in `ENGINE_COUNTERS`, as `_total` counters).
    pub fn render(&self, engine_stats: &Json, uptime: Duration) -> String {
        let mut out = String::with_capacity(16 * 1024);
        self.render_requests(&mut out);
        self.render_durations(&mut out);
        self.render_connections(&mut out);
        let _ = writeln!(
            out,
            "# HELP lsmkv_uptime_seconds Seconds since the server started.\n# TYPE lsmkv_uptime_seconds gauge\nlsmkv_uptime_seconds {}",
            uptime.as_secs_f64()
        );
        render_engine(&mut out, engine_stats);
        out
    }

    /// `lsmkv_http_requests_total`: one counter per route and status seen.
    fn render_requests(&self, out: &mut String) {
        out.push_str(
            "# HELP lsmkv_http_requests_total HTTP requests answered, by route and status.\n",
        );
        out.push_str("# TYPE lsmkv_http_requests_total counter\n");
        for route in RouteId::ALL {
            let Some(row) = self.requests.get(route.index()) else {
                continue;
            };
            for (i, c) in row.iter().enumerate() {
                let n = load(c);
                if n == 0 {
                    continue;
                }
                let status = STATUSES
                    .get(i)
                    .map_or("other".to_string(), |s| s.to_string());
                let _ = writeln!(
                    out,
                    "lsmkv_http_requests_total{{route=\"{}\",status=\"{status}\"}} {n}",
                    route.name()
                );
            }
        }
    }

    /// `lsmkv_http_request_duration_seconds`: a latency histogram per route that has requests.
    fn render_durations(&self, out: &mut String) {
        out.push_str("# HELP lsmkv_http_request_duration_seconds Request latency, by route.\n");
        out.push_str("# TYPE lsmkv_http_request_duration_seconds histogram\n");
        for route in RouteId::ALL {
            let Some(row) = self.buckets.get(route.index()) else {
                continue;
            };
            let count: u64 = row.iter().map(load).sum();
            if count == 0 {
                continue;
            }
            let name = route.name();
            let mut cum = 0;
            for (i, c) in row.iter().enumerate() {
                cum += load(c);
                let le = BUCKETS.get(i).map_or("+Inf".to_string(), |b| b.to_string());
                let _ = writeln!(
                    out,
                    "lsmkv_http_request_duration_seconds_bucket{{route=\"{name}\",le=\"{le}\"}} {cum}"
                );
            }
            let sum = self.duration_micros.get(route.index()).map_or(0, load) as f64 / 1e6;
            let _ = writeln!(
                out,
                "lsmkv_http_request_duration_seconds_sum{{route=\"{name}\"}} {sum}"
            );
            let _ = writeln!(
                out,
                "lsmkv_http_request_duration_seconds_count{{route=\"{name}\"}} {count}"
            );
        }
    }

    /// The connection and in-flight figures, one series each (see [`CONNECTION_SERIES`]).
    fn render_connections(&self, out: &mut String) {
        let values = [
            &self.connections_open,
            &self.connections_total,
            &self.connections_rejected,
            &self.in_flight,
            &self.slow_requests,
        ];
        for ((name, kind, help), v) in CONNECTION_SERIES.iter().zip(values) {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {}",
                load(v)
            );
        }
    }
}

/// Name, type and help of the connection figures, in the order of `render_connections`.
const CONNECTION_SERIES: [(&str, &str, &str); 5] = [
    (
        "lsmkv_http_connections_open",
        "gauge",
        "Connections being served.",
    ),
    (
        "lsmkv_http_connections_total",
        "counter",
        "Connections accepted.",
    ),
    (
        "lsmkv_http_connections_rejected_total",
        "counter",
        "Connections refused by MAX_CONNECTIONS.",
    ),
    (
        "lsmkv_http_requests_in_flight",
        "gauge",
        "Requests being handled.",
    ),
    (
        "lsmkv_http_slow_requests_total",
        "counter",
        "Requests slower than SLOW_REQUEST_MS.",
    ),
];

fn load(c: &AtomicU64) -> u64 {
    c.load(Ordering::Relaxed)
}

/// The fields of `Db::stats()` that only grow while the database is open, by flattened name (the
/// JSON path joined with `_`): rendered as counters `lsmkv_engine_<name>_total`. Every other
/// number is a gauge of the engine's shape now. The unit tests check that every field of `Stats`
/// is classified here or in their list of gauges, so a new counter cannot appear as a gauge
/// unnoticed.
const ENGINE_COUNTERS: &[&str] = &[
    "puts",
    "deletes",
    "range_deletes",
    "gets",
    "get_hits",
    "batches",
    "user_bytes_written",
    "wal_bytes_written",
    "wal_syncs",
    "group_commit_followers",
    "flushes",
    "flush_bytes_written",
    "write_stalls",
    "write_stall_micros",
    "stalls_memtable_waits",
    "stalls_memtable_micros",
    "stalls_l0_slowdowns",
    "stalls_l0_slowdown_micros",
    "stalls_l0_stops",
    "stalls_l0_stop_micros",
    "stalls_pending_slowdowns",
    "stalls_pending_slowdown_micros",
    "stalls_pending_stops",
    "stalls_pending_stop_micros",
    "bloom_useful",
    "prefix_filter_skips",
    "compactions",
    "trivial_moves",
    "compaction_micros",
    "compaction_bytes_read",
    "compaction_bytes_written",
    "compaction_entries_dropped",
    "entries_expired",
    "entries_filter_dropped",
    "entries_filter_replaced",
    "tables_dropped_by_range_delete",
    "block_cache_hits",
    "block_cache_misses",
    "levels_bytes_written",
    "keyspaces_levels_bytes_written",
];

/// The series name, type and value of the engine field `field` (flattened name): counters get
/// `_total`, and durations in microseconds become seconds (Prometheus base units).
fn engine_series(field: &str, value: String) -> (String, &'static str, String) {
    let (base, value) = match field.strip_suffix("_micros") {
        Some(stem) => {
            let secs = value
                .parse::<u64>()
                .map_or(value, |us| (us as f64 / 1e6).to_string());
            (format!("{stem}_seconds"), secs)
        }
        None => (field.to_string(), value),
    };
    if ENGINE_COUNTERS.contains(&field) {
        (format!("lsmkv_engine_{base}_total"), "counter", value)
    } else {
        (format!("lsmkv_engine_{base}"), "gauge", value)
    }
}

/// Every number of the engine's statistics, as a counter or a gauge ([`ENGINE_COUNTERS`]), the
/// series of one name together under one `# TYPE` line.
fn render_engine(out: &mut String, engine_stats: &Json) {
    let mut fields = Vec::new();
    flatten("", &[], engine_stats, &mut fields);
    let mut engine: Vec<_> = fields
        .into_iter()
        .map(|(field, labels, v)| {
            let field = field.strip_prefix('_').unwrap_or(&field);
            let (name, kind, v) = engine_series(field, v);
            (name, kind, labels, v)
        })
        .collect();
    // Prometheus wants all series of one name together (stable: per-level order is kept).
    engine.sort_by(|a, b| a.0.cmp(&b.0));
    let mut last = String::new();
    for (name, kind, labels, v) in engine {
        if name != last {
            let _ = writeln!(out, "# TYPE {name} {kind}");
            last.clone_from(&name);
        }
        let _ = writeln!(out, "{name}{labels} {v}");
    }
}

/// Collects every number in `v` as (metric name, label set, value). Arrays of objects that carry
/// a `level` field (the per-level shape) become one series per level.
fn flatten(
    prefix: &str,
    labels: &[(String, String)],
    v: &Json,
    out: &mut Vec<(String, String, String)>,
) {
    let label_set = || {
        if labels.is_empty() {
            String::new()
        } else {
            let inner: Vec<String> = labels.iter().map(|(k, v)| format!("{k}=\"{v}\"")).collect();
            format!("{{{}}}", inner.join(","))
        }
    };
    match v {
        Json::Number(n) => out.push((prefix.to_string(), label_set(), n.to_string())),
        Json::Bool(b) => out.push((prefix.to_string(), label_set(), u8::from(*b).to_string())),
        Json::Object(o) => {
            for (k, x) in o {
                flatten(&format!("{prefix}_{}", sanitize(k)), labels, x, out);
            }
        }
        Json::Array(a) => {
            for (i, x) in a.iter().enumerate() {
                let (label, identity) = array_label(prefix, x, i);
                let mut ls = labels.to_vec();
                ls.push(label);
                if let Json::Object(o) = x {
                    for (k, y) in o {
                        if !identity.contains(&k.as_str()) {
                            flatten(&format!("{prefix}_{}", sanitize(k)), &ls, y, out);
                        }
                    }
                } else {
                    flatten(prefix, &ls, x, out);
                }
            }
        }
        Json::Null | Json::String(_) => {}
    }
}

/// The label of element `i` of the array `prefix` in the statistics, and the fields that
/// identify it (left out of the series): a level (`{"level": N, ...}`) is `level="N"`, a
/// secondary index (under `indexes`) is `index="name"`, a keyspace (`{"name": ..., "id": ...,
/// ...}`) is `keyspace="name"`, anything else `index="i"`.
fn array_label(prefix: &str, x: &Json, i: usize) -> ((String, String), &'static [&'static str]) {
    if let Some(l) = x.get("level").and_then(Json::as_u64) {
        return (("level".to_string(), l.to_string()), &["level"]);
    }
    if prefix == "_indexes"
        && let Some(name) = x.get("name").and_then(Json::as_str)
    {
        return (
            ("index".to_string(), label_value(name)),
            &["name", "keyspace"],
        );
    }
    if let Some(name) = x.get("name").and_then(Json::as_str) {
        return (("keyspace".to_string(), label_value(name)), &["name", "id"]);
    }
    (("index".to_string(), i.to_string()), &[])
}

/// A label value in the text format: backslash, double quote and line feed escaped.
fn label_value(v: &str) -> String {
    let mut s = String::with_capacity(v.len());
    for c in v.chars() {
        match c {
            '\\' => s.push_str("\\\\"),
            '"' => s.push_str("\\\""),
            '\n' => s.push_str("\\n"),
            c => s.push(c),
        }
    }
    s
}

fn sanitize(k: &str) -> String {
    k.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counters_histograms_and_engine_figures() {
        let m = Metrics::default();
        m.record(RouteId::GetKey, 200, Duration::from_micros(300));
        m.record(RouteId::GetKey, 404, Duration::from_millis(3));
        m.record(RouteId::PostKey, 999, Duration::from_secs(9));
        let stats = serde_json::json!({"puts": 3, "levels": [{"level": 0, "files": 2}], "block_cache": {"hits": 1}});
        let text = m.render(&stats, Duration::from_secs(1));
        assert!(
            text.contains("lsmkv_http_requests_total{route=\"GET /keys/{key}\",status=\"200\"} 1"),
            "{text}"
        );
        assert!(text.contains("status=\"other\"} 1"), "{text}");
        assert!(text.contains("lsmkv_http_request_duration_seconds_bucket{route=\"GET /keys/{key}\",le=\"0.0005\"} 1"), "{text}");
        assert!(text.contains("lsmkv_http_request_duration_seconds_bucket{route=\"GET /keys/{key}\",le=\"+Inf\"} 2"), "{text}");
        assert!(
            text.contains("# TYPE lsmkv_engine_puts_total counter\nlsmkv_engine_puts_total 3\n"),
            "{text}"
        );
        assert!(
            text.contains("lsmkv_engine_levels_files{level=\"0\"} 2"),
            "{text}"
        );
        assert!(
            text.contains("lsmkv_engine_block_cache_hits_total 1"),
            "{text}"
        );
        assert!(
            text.contains("# TYPE lsmkv_engine_levels_files gauge\n"),
            "{text}"
        );
        assert_eq!(m.requests_total(), 3);
    }

    /// The fields of `Stats` that describe the shape now; every other field must be listed in
    /// [`ENGINE_COUNTERS`].
    const ENGINE_GAUGES: &[&str] = &[
        "last_seqno",
        "memtable_bytes",
        "memtable_entries",
        "memtable_range_tombstones",
        "immutable_memtables",
        "immutable_memtable_bytes",
        "wal_segments",
        "wal_bytes",
        "wal_current_segment",
        "levels_files",
        "levels_bytes",
        "levels_range_tombstones",
        "sst_files",
        "sst_bytes",
        "sst_range_tombstones",
        "longest_stall_micros",
        "stalls_peak_l0_files",
        "stalls_peak_immutable_memtables",
        "stalls_peak_pending_compaction_bytes",
        "pending_compaction_bytes",
        "write_amplification",
        "space_amplification",
        "l0_compaction_trigger",
        "l0_slowdown_writes_trigger",
        "l0_stop_writes_trigger",
        "soft_pending_compaction_bytes",
        "hard_pending_compaction_bytes",
        "block_cache_capacity_bytes",
        "block_cache_used_bytes",
        "block_cache_entries",
        "memory_budget_bytes",
        "memory_write_buffer_bytes",
        "memory_memtable_bytes",
        "memory_block_cache_bytes",
        "memory_block_cache_capacity_bytes",
        "memory_index_filter_pinned_bytes",
        "memory_total_bytes",
        "keyspaces_memtable_bytes",
        "keyspaces_memtable_entries",
        "keyspaces_immutable_memtables",
        "keyspaces_immutable_memtable_bytes",
        "keyspaces_levels_files",
        "keyspaces_levels_bytes",
        "keyspaces_levels_range_tombstones",
        "keyspaces_memtable_range_tombstones",
        "keyspaces_sst_range_tombstones",
        "keyspaces_sst_files",
        "keyspaces_sst_bytes",
        "keyspaces_pending_compaction_bytes",
        "keyspaces_len_estimate",
        "indexes_ready",
        "indexes_built_keys",
    ];

    #[test]
    fn every_engine_field_is_classified_as_counter_or_gauge() {
        let mut stats = serde_json::to_value(lsmkv::Stats::default()).unwrap();
        // Every field of a level, whatever `LevelStats` has.
        stats["levels"] =
            serde_json::json!([serde_json::to_value(lsmkv::LevelStats::default()).unwrap()]);
        let mut ks = serde_json::to_value(lsmkv::KeyspaceStats::default()).unwrap();
        ks["name"] = "default".into();
        ks["levels"] = stats["levels"].clone();
        stats["keyspaces"] = serde_json::json!([ks]);
        let mut ix = serde_json::to_value(lsmkv::IndexStats::default()).unwrap();
        ix["name"] = "by_email".into();
        stats["indexes"] = serde_json::json!([ix]);
        let mut fields = Vec::new();
        flatten("", &[], &stats, &mut fields);
        let names: Vec<&str> = fields.iter().map(|f| f.0.trim_start_matches('_')).collect();
        for name in &names {
            let counter = ENGINE_COUNTERS.contains(name);
            let gauge = ENGINE_GAUGES.contains(name);
            assert!(
                counter != gauge,
                "Stats field {name}: list it in ENGINE_COUNTERS (grows while open) or ENGINE_GAUGES"
            );
        }
        for name in ENGINE_COUNTERS.iter().chain(ENGINE_GAUGES) {
            assert!(names.contains(name), "{name} is no longer a Stats field");
        }
    }

    #[test]
    fn keyspaces_are_labelled_by_name() {
        let stats = serde_json::json!({"keyspaces": [
            {"name": "default", "id": 0, "sst_bytes": 10, "levels": [{"level": 1, "files": 2}]},
            {"name": "we\"ird\\", "id": 3, "sst_bytes": 5, "levels": []},
        ]});
        let text = Metrics::default().render(&stats, Duration::from_secs(1));
        assert!(
            text.contains("# TYPE lsmkv_engine_keyspaces_sst_bytes gauge\nlsmkv_engine_keyspaces_sst_bytes{keyspace=\"default\"} 10\nlsmkv_engine_keyspaces_sst_bytes{keyspace=\"we\\\"ird\\\\\"} 5\n"),
            "{text}"
        );
        assert!(
            text.contains(
                "lsmkv_engine_keyspaces_levels_files{keyspace=\"default\",level=\"1\"} 2"
            ),
            "{text}"
        );
        assert!(!text.contains("keyspaces_id"), "{text}");
    }

    #[test]
    fn indexes_are_labelled_by_name() {
        let stats = serde_json::json!({"indexes": [
            {"name": "by_email", "keyspace": "users", "ready": true, "built_keys": 7},
        ]});
        let text = Metrics::default().render(&stats, Duration::from_secs(1));
        assert!(
            text.contains("lsmkv_engine_indexes_built_keys{index=\"by_email\"} 7"),
            "{text}"
        );
        assert!(
            text.contains("lsmkv_engine_indexes_ready{index=\"by_email\"} 1"),
            "{text}"
        );
    }

    #[test]
    fn engine_durations_are_seconds() {
        let stats =
            serde_json::json!({"compaction_micros": 2_500_000, "longest_stall_micros": 1500});
        let text = Metrics::default().render(&stats, Duration::from_secs(1));
        assert!(
            text.contains("# TYPE lsmkv_engine_compaction_seconds_total counter\nlsmkv_engine_compaction_seconds_total 2.5\n"),
            "{text}"
        );
        assert!(
            text.contains("# TYPE lsmkv_engine_longest_stall_seconds gauge\nlsmkv_engine_longest_stall_seconds 0.0015\n"),
            "{text}"
        );
    }
}
