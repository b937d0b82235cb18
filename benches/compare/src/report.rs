//! The outputs: the text tables, the same tables in Markdown, and the JSON document. The chart
//! is in `chart.rs`.
//!
//! A report holds one or more sizes (`--num 1000000,10000000`); every table is per size, and a
//! scaling table puts the sizes side by side when there are several.

use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

use crate::workload::{WORKLOADS, WorkloadResult};

/// Everything one `compare` run produced.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Report {
    pub meta: Meta,
    pub results: Vec<WorkloadResult>,
    pub summary: Vec<Summary>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Meta {
    pub date: String,
    pub machine: String,
    pub loadavg_before: String,
    pub loadavg_after: String,
    pub lsmkv_commit: String,
    pub command: String,
    /// The parameters of the run; `num` is the first of `sizes`.
    pub params: crate::workload::Params,
    /// Every number of keys the run used, ascending (empty in reports that predate sizes).
    #[serde(default)]
    pub sizes: Vec<u64>,
    pub engines: Vec<String>,
    pub note: String,
}

/// Per size and workload: lsmkv against the fastest peer.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Summary {
    /// Keys of the run (0 in reports that predate sizes).
    #[serde(default)]
    pub num: u64,
    pub workload: String,
    pub best_peer: Option<String>,
    pub best_peer_ops_per_sec: Option<f64>,
    pub lsmkv_ops_per_sec: Option<f64>,
    /// lsmkv / best peer, when both ran.
    pub ratio: Option<f64>,
}

impl Report {
    /// Reads a saved report. Reports written before runs had several sizes carry no per-result
    /// size: they get `meta.params.num`.
    pub fn from_json(bytes: &[u8]) -> serde_json::Result<Report> {
        let mut rep: Report = serde_json::from_slice(bytes)?;
        let num = rep.meta.params.num;
        for r in rep.results.iter_mut().filter(|r| r.num == 0) {
            r.num = num;
        }
        for s in rep.summary.iter_mut().filter(|s| s.num == 0) {
            s.num = num;
        }
        if rep.meta.sizes.is_empty() {
            rep.meta.sizes = sizes_of(&rep.results);
        }
        Ok(rep)
    }

    /// The sizes of the run, ascending.
    pub fn sizes(&self) -> Vec<u64> {
        if self.meta.sizes.is_empty() {
            sizes_of(&self.results)
        } else {
            self.meta.sizes.clone()
        }
    }

    /// The result of (engine, size, workload), if it ran.
    pub fn find(&self, engine: &str, num: u64, workload: &str) -> Option<&WorkloadResult> {
        self.results
            .iter()
            .find(|r| r.engine == engine && r.num == num && r.workload == workload)
    }

    /// Workloads that have at least one result, in table order.
    pub fn workloads(&self) -> Vec<&'static str> {
        WORKLOADS
            .iter()
            .map(|w| w.0)
            .filter(|w| self.results.iter().any(|r| r.workload == *w))
            .collect()
    }
}

fn sizes_of(results: &[WorkloadResult]) -> Vec<u64> {
    let mut v: Vec<u64> = results.iter().map(|r| r.num).collect();
    v.sort_unstable();
    v.dedup();
    v
}

pub fn summarize(results: &[WorkloadResult]) -> Vec<Summary> {
    let mut out = Vec::new();
    for num in sizes_of(results) {
        for (w, _, _) in WORKLOADS {
            let rows: Vec<&WorkloadResult> = results
                .iter()
                .filter(|r| r.workload == *w && r.num == num)
                .collect();
            if rows.is_empty() {
                continue;
            }
            let best = rows
                .iter()
                .filter(|r| r.status == "ok" && r.engine != "lsmkv")
                .max_by(|a, b| a.ops_per_sec.total_cmp(&b.ops_per_sec));
            let lsm = rows
                .iter()
                .find(|r| r.status == "ok" && r.engine == "lsmkv");
            out.push(Summary {
                num,
                workload: (*w).into(),
                best_peer: best.map(|r| r.engine.clone()),
                best_peer_ops_per_sec: best.map(|r| r.ops_per_sec),
                lsmkv_ops_per_sec: lsm.map(|r| r.ops_per_sec),
                ratio: match (lsm, best) {
                    (Some(l), Some(b)) if b.ops_per_sec > 0.0 => {
                        Some(l.ops_per_sec / b.ops_per_sec)
                    }
                    _ => None,
                },
            });
        }
    }
    out
}

/// 1234567 -> "1.23M", 45678 -> "45.7k" (a range delete's keys/s can reach "62.50G").
pub fn human(x: f64) -> String {
    if x >= 1e9 {
        format!("{:.2}G", x / 1e9)
    } else if x >= 1e6 {
        format!("{:.2}M", x / 1e6)
    } else if x >= 1e3 {
        format!("{:.1}k", x / 1e3)
    } else {
        format!("{x:.0}")
    }
}

/// A number of keys, short: 1000000 -> "1M", 20000 -> "20k", 1500000 -> "1.5M", 1234 -> "1234".
pub fn count_label(n: u64) -> String {
    for (div, suffix) in [(1_000_000_000, "G"), (1_000_000, "M"), (1_000, "k")] {
        // Exact to one decimal: a whole number of tenths of `div`.
        if n >= div && n.is_multiple_of(div / 10) {
            let whole = n / div;
            let tenth = n / (div / 10) % 10;
            return if tenth == 0 {
                format!("{whole}{suffix}")
            } else {
                format!("{whole}.{tenth}{suffix}")
            };
        }
    }
    n.to_string()
}

fn mib(b: u64) -> String {
    format!("{:.1}", b as f64 / 1048576.0)
}

/// A duration for people: "16 us", "412.3 ms", "2.41 s".
pub fn duration(secs: f64) -> String {
    if secs < 1e-3 {
        format!("{:.0} us", secs * 1e6)
    } else if secs < 1.0 {
        format!("{:.1} ms", secs * 1e3)
    } else {
        format!("{secs:.2} s")
    }
}

/// lsmkv / best peer: "1.52x", and without decimals from 100x on ("31250x").
pub fn ratio(r: f64) -> String {
    if r >= 100.0 {
        format!("{r:.0}x")
    } else {
        format!("{r:.2}x")
    }
}

fn us(v: Option<f64>) -> String {
    match v {
        Some(v) if v >= 100.0 => format!("{v:.0}"),
        Some(v) => format!("{v:.2}"),
        None => "-".into(),
    }
}

/// Column alignment.
#[derive(Clone, Copy, PartialEq)]
enum Align {
    Left,
    Right,
}

/// A table as header + rows of cells, rendered as padded text or as Markdown.
struct Table {
    header: Vec<String>,
    align: Vec<Align>,
    rows: Vec<Vec<String>>,
}

impl Table {
    fn new(cols: &[(&str, Align)]) -> Table {
        Table {
            header: cols.iter().map(|c| c.0.to_string()).collect(),
            align: cols.iter().map(|c| c.1).collect(),
            rows: Vec::new(),
        }
    }

    fn text(&self) -> String {
        let mut width: Vec<usize> = self.header.iter().map(|h| h.chars().count()).collect();
        for row in &self.rows {
            for (w, c) in width.iter_mut().zip(row) {
                *w = (*w).max(c.chars().count());
            }
        }
        let last = self.header.len().saturating_sub(1);
        let line = |cells: &[String]| {
            let mut s = String::new();
            for (i, c) in cells.iter().enumerate() {
                let pad = width[i].saturating_sub(c.chars().count());
                if i > 0 {
                    s.push_str("  ");
                }
                match self.align[i] {
                    // The last column is not padded, so lines carry no trailing blanks.
                    Align::Left if i == last => s.push_str(c),
                    Align::Left => {
                        s.push_str(c);
                        s.extend(std::iter::repeat_n(' ', pad));
                    }
                    Align::Right => {
                        s.extend(std::iter::repeat_n(' ', pad));
                        s.push_str(c);
                    }
                }
            }
            s.truncate(s.trim_end().len());
            s.push('\n');
            s
        };
        let mut s = line(&self.header);
        for row in &self.rows {
            s += &line(row);
        }
        s
    }

    fn markdown(&self) -> String {
        let esc = |c: &str| c.replace('|', "\\|");
        let mut s = String::new();
        let _ = writeln!(
            s,
            "| {} |",
            self.header
                .iter()
                .map(|h| esc(h))
                .collect::<Vec<_>>()
                .join(" | ")
        );
        let rule: Vec<&str> = self
            .align
            .iter()
            .map(|a| match a {
                Align::Left => "---",
                Align::Right => "---:",
            })
            .collect();
        let _ = writeln!(s, "|{}|", rule.join("|"));
        for row in &self.rows {
            let _ = writeln!(
                s,
                "| {} |",
                row.iter().map(|c| esc(c)).collect::<Vec<_>>().join(" | ")
            );
        }
        s
    }
}

/// One row per (workload, engine) at one size: every measured column.
fn detail_table(rep: &Report, num: u64) -> Table {
    use Align::{Left, Right};
    let mut t = Table::new(&[
        ("workload", Left),
        ("engine", Left),
        ("ops/s", Right),
        ("p50 us", Right),
        ("p99 us", Right),
        ("p99.9 us", Right),
        ("disk MiB", Right),
        ("x raw", Right),
        ("peak MiB", Right),
        ("anon MiB", Right),
        ("file MiB", Right),
        ("w-amp", Right),
        ("levels", Right),
        ("note", Left),
    ]);
    for (w, _, unit) in WORKLOADS {
        let rows: Vec<&WorkloadResult> = rep
            .meta
            .engines
            .iter()
            .filter_map(|e| rep.find(e, num, w))
            .collect();
        for (i, r) in rows.iter().enumerate() {
            let ok = r.status == "ok";
            let dash = || "-".to_string();
            let okv = |f: &dyn Fn() -> String| if ok { f() } else { dash() };
            t.rows.push(vec![
                if i == 0 {
                    (*w).to_string()
                } else {
                    String::new()
                },
                r.engine.clone(),
                okv(&|| human(r.ops_per_sec)),
                us(r.p50_us),
                us(r.p99_us),
                us(r.p999_us),
                okv(&|| mib(r.disk_bytes)),
                if ok && r.space_amp > 0.0 {
                    format!("{:.2}", r.space_amp)
                } else {
                    dash()
                },
                okv(&|| mib(r.peak_rss_bytes)),
                if ok && r.peak_anon_bytes > 0 {
                    mib(r.peak_anon_bytes)
                } else {
                    dash()
                },
                if ok && r.peak_file_bytes > 0 {
                    mib(r.peak_file_bytes)
                } else {
                    dash()
                },
                r.write_amp.map_or_else(dash, |v| format!("{v:.2}")),
                r.levels.map_or_else(dash, |v| v.to_string()),
                note(r, unit),
            ]);
        }
    }
    t
}

fn note(r: &WorkloadResult, unit: &str) -> String {
    let mut note = String::new();
    if r.status != "ok" {
        note = r.status.clone();
        if let Some(e) = &r.error {
            let e: String = e.chars().take(90).collect();
            note = format!("{note}: {e}");
        }
        return note;
    }
    if let Some(f) = r.found {
        note += &format!("found {f}/{} ", r.ops);
    }
    if let Some(wps) = r.writer_ops_per_sec {
        note += &format!("writer {}/s ", human(wps));
    }
    if let Some(d) = r.device_syncs_per_sec.filter(|d| *d > 0.0) {
        note += &format!(
            "device {}/s in place ({:.2}x) ",
            human(d),
            r.ops_per_sec / d
        );
    }
    if let Some(c) = r.conflicts {
        note += &format!("conflicts {c} ({:.2}%) ", conflict_rate(r.ops, c) * 100.0);
    }
    if r.verified.is_some() {
        note += "verified ";
    }
    if r.compacted {
        note += "compacted ";
    }
    if let Some(p) = r.pending_compaction_bytes.filter(|&p| p > 0) {
        note += &format!("pending {} MiB ", mib(p));
    }
    if let Some(lr) = &r.level_reads {
        note += &format!(
            "settled in {}, levels found in {} ",
            duration(lr.settle_secs),
            duration(lr.classify_secs)
        );
    }
    if unit != "put" && unit != "get" && r.p50_us.is_some() {
        note += &format!("(latency per {unit})");
    }
    note.trim_end().to_string()
}

/// Failed attempts / all attempts of a transactional workload (`ops` commits, `conflicts`
/// retried attempts).
pub fn conflict_rate(ops: u64, conflicts: u64) -> f64 {
    let attempts = ops + conflicts;
    if attempts == 0 {
        0.0
    } else {
        conflicts as f64 / attempts as f64
    }
}

/// ops/s per engine and workload at one size, with the best peer and lsmkv / best peer.
fn summary_table(rep: &Report, num: u64) -> Table {
    use Align::{Left, Right};
    let mut cols: Vec<(&str, Align)> = vec![("ops/s", Left)];
    cols.extend(rep.meta.engines.iter().map(|e| (e.as_str(), Right)));
    cols.extend([("best peer", Right), ("lsmkv/best", Right)]);
    let mut t = Table::new(&cols);
    for sm in rep.summary.iter().filter(|s| s.num == num) {
        let mut row = vec![sm.workload.clone()];
        for e in &rep.meta.engines {
            row.push(rep.find(e, num, &sm.workload).map_or(String::new(), |r| {
                match r.status.as_str() {
                    "ok" => human(r.ops_per_sec),
                    "unsupported" => "n/a".into(),
                    _ => "FAIL".into(),
                }
            }));
        }
        row.push(sm.best_peer.clone().unwrap_or_else(|| "-".into()));
        row.push(sm.ratio.map_or("-".into(), ratio));
        t.rows.push(row);
    }
    t
}

/// The `deleterange` rows at one size, if it ran: the delete call, the reclamation step (flush,
/// then full compaction) and the bytes on disk around them, per engine.
fn deleterange_table(rep: &Report, num: u64) -> Option<Table> {
    use Align::{Left, Right};
    let rows: Vec<&WorkloadResult> = rep
        .meta
        .engines
        .iter()
        .filter_map(|e| rep.find(e, num, "deleterange"))
        .collect();
    if rows.is_empty() {
        return None;
    }
    let mut t = Table::new(&[
        ("deleterange", Left),
        ("delete", Right),
        ("flush", Right),
        ("compaction", Right),
        ("reclaim", Right),
        ("MiB before", Right),
        ("after delete", Right),
        ("after compaction", Right),
        ("after close", Right),
        ("x raw", Right),
        ("note", Left),
    ]);
    for r in rows {
        let mut row = vec![r.engine.clone()];
        match (&r.deleterange, r.status.as_str()) {
            (Some(d), "ok") => {
                row.extend([
                    duration(d.delete_secs),
                    duration(d.flush_secs),
                    d.compact_secs.map_or("none".into(), duration),
                    duration(d.reclaim_secs()),
                    mib(d.disk_before_bytes),
                    mib(d.disk_after_delete_bytes),
                    mib(d.disk_after_bytes),
                    d.disk_after_close_bytes.map_or("-".into(), mib),
                    if r.space_amp > 0.0 {
                        format!("{:.2}", r.space_amp)
                    } else {
                        "-".into()
                    },
                    format!(
                        "{} keys deleted, {} kept{}",
                        d.deleted_keys,
                        d.kept_keys,
                        if r.verified.is_some() {
                            ", verified"
                        } else {
                            ""
                        }
                    ),
                ]);
            }
            _ => {
                row.extend(std::iter::repeat_n("-".to_string(), 9));
                row.push(note(r, ""));
            }
        }
        t.rows.push(row);
    }
    Some(t)
}

/// What the levels table says, above it.
pub const LEVELS_NOTE: &str = "Per level: the tables of the tree readlevels ran on (else of the one \
fillrandom left); `written`: bytes flushes and compactions wrote into the level during fillrandom \
and, when readlevels ran, the compaction owed before its reads; `w-amp`: written / key and value \
bytes of fillrandom; `keys`: keys whose newest version is there; latency of gets of such keys \
(`absent`: keys never written), all rows' gets in one random order.";

/// One engine's levels at one size, from its fillrandom and readlevels results.
fn level_rows(fill: Option<&WorkloadResult>, reads: Option<&WorkloadResult>) -> Vec<Vec<String>> {
    fn ok(r: Option<&WorkloadResult>) -> Option<&WorkloadResult> {
        r.filter(|r| r.status == "ok")
    }
    fn shape(r: Option<&WorkloadResult>, l: u32) -> Option<&crate::workload::LevelShape> {
        r.and_then(|r| r.level_shape.iter().find(|s| s.level == l))
    }
    let (fill, reads) = (ok(fill), ok(reads));
    let user = fill.and_then(|f| f.user_bytes).filter(|&u| u > 0);
    let mut levels: Vec<u32> = [fill, reads]
        .iter()
        .flatten()
        .flat_map(|r| r.level_shape.iter().map(|s| s.level))
        .collect();
    let read_rows = reads
        .and_then(|r| r.level_reads.as_ref())
        .map_or(&[][..], |lr| &lr.rows[..]);
    levels.extend(
        read_rows
            .iter()
            .filter_map(|row| row.place.strip_prefix('L')?.parse::<u32>().ok()),
    );
    levels.sort_unstable();
    levels.dedup();
    let read_cells = |place: &str| match read_rows.iter().find(|x| x.place == place) {
        Some(x) => vec![
            x.keys.to_string(),
            us(Some(x.p50_us)),
            us(Some(x.p99_us)),
            us(Some(x.p999_us)),
        ],
        None => vec!["-".to_string(); 4],
    };
    let wamp = |b: u64| user.map_or("-".into(), |u| format!("{:.2}", b as f64 / u as f64));
    // The tree the reads ran on, else the one fillrandom left.
    let tree = if reads.is_some() { reads } else { fill };
    let mut out = Vec::new();
    if read_rows.iter().any(|x| x.place == "memtable") {
        let mut row = vec!["memtable".to_string()];
        row.extend(["-", "-", "-", "-"].map(String::from));
        row.extend(read_cells("memtable"));
        out.push(row);
    }
    let (mut files, mut bytes, mut written) = (0, 0, 0);
    for l in levels {
        let (f, b) = shape(tree, l).map_or((0, 0), |s| (s.files, s.bytes));
        let w = [fill, reads]
            .iter()
            .map(|r| shape(*r, l).map_or(0, |s| s.bytes_written))
            .sum::<u64>();
        (files, bytes, written) = (files + f, bytes + b, written + w);
        let mut row = vec![format!("L{l}"), f.to_string(), mib(b), mib(w), wamp(w)];
        row.extend(read_cells(&format!("L{l}")));
        out.push(row);
    }
    if read_rows.iter().any(|x| x.place == "absent") {
        let mut row = vec!["absent".to_string()];
        row.extend(["-", "-", "-", "-"].map(String::from));
        row.extend(read_cells("absent"));
        row[5] = "-".into();
        out.push(row);
    }
    if !out.is_empty() {
        let mut row = vec![
            "total".to_string(),
            files.to_string(),
            mib(bytes),
            mib(written),
            wamp(written),
        ];
        row.extend(std::iter::repeat_n("-".to_string(), 4));
        out.push(row);
    }
    out
}

/// Per engine and level at one size, when fillrandom or readlevels gave level counters: the
/// tree, the bytes written into each level and its share of the write amplification, and the
/// read latency of the keys it holds.
fn levels_table(rep: &Report, num: u64) -> Option<Table> {
    use Align::{Left, Right};
    let mut t = Table::new(&[
        ("levels", Left),
        ("level", Left),
        ("files", Right),
        ("MiB", Right),
        ("written MiB", Right),
        ("w-amp", Right),
        ("keys", Right),
        ("p50 us", Right),
        ("p99 us", Right),
        ("p99.9 us", Right),
    ]);
    for e in &rep.meta.engines {
        let rows = level_rows(
            rep.find(e, num, "fillrandom"),
            rep.find(e, num, "readlevels"),
        );
        for (i, row) in rows.into_iter().enumerate() {
            let mut cells = vec![if i == 0 { e.clone() } else { String::new() }];
            cells.extend(row);
            t.rows.push(cells);
        }
    }
    let has_levels = rep.results.iter().any(|r| {
        r.num == num
            && (r.workload == "readlevels"
                || (r.workload == "fillrandom"
                    && r.level_shape.iter().any(|l| l.bytes_written > 0)))
    });
    (has_levels && !t.rows.is_empty()).then_some(t)
}

/// ops/s of every (workload, engine) at every size, and last size / first size.
fn scaling_table(rep: &Report, sizes: &[u64]) -> Table {
    use Align::{Left, Right};
    let labels: Vec<String> = sizes.iter().map(|&n| count_label(n)).collect();
    let ratio = match (labels.first(), labels.last()) {
        (Some(a), Some(b)) => format!("{b}/{a}"),
        _ => String::new(),
    };
    let mut cols: Vec<(&str, Align)> = vec![("ops/s", Left), ("engine", Left)];
    cols.extend(labels.iter().map(|l| (l.as_str(), Right)));
    cols.push((ratio.as_str(), Right));
    let mut t = Table::new(&cols);
    for w in rep.workloads() {
        let mut first = true;
        for e in &rep.meta.engines {
            let ops: Vec<Option<f64>> = sizes
                .iter()
                .map(|&n| {
                    rep.find(e, n, w)
                        .filter(|r| r.status == "ok")
                        .map(|r| r.ops_per_sec)
                })
                .collect();
            if sizes.iter().all(|&n| rep.find(e, n, w).is_none()) {
                continue;
            }
            let mut row = vec![if first { w.to_string() } else { String::new() }, e.clone()];
            first = false;
            row.extend(ops.iter().map(|o| o.map_or("-".into(), human)));
            row.push(
                match (
                    ops.first().copied().flatten(),
                    ops.last().copied().flatten(),
                ) {
                    (Some(a), Some(b)) if a > 0.0 => format!("{:.2}x", b / a),
                    _ => "-".into(),
                },
            );
            t.rows.push(row);
        }
    }
    t
}

/// The detail table and the summary matrix of every size, then the scaling table when the run
/// had several sizes.
pub fn render_table(rep: &Report) -> String {
    let mut s = String::new();
    if !rep.meta.params.lsmkv_opts.is_empty() {
        let _ = writeln!(s, "lsmkv options: {}", rep.meta.params.lsmkv_opts.join(" "));
    }
    let sizes = rep.sizes();
    for &num in &sizes {
        let _ = writeln!(s, "== {num} keys ({}) ==", count_label(num));
        s += &detail_table(rep, num).text();
        s.push('\n');
        if let Some(t) = deleterange_table(rep, num) {
            s += &t.text();
            s.push('\n');
        }
        if let Some(t) = levels_table(rep, num) {
            let _ = writeln!(s, "{LEVELS_NOTE}");
            s += &t.text();
            s.push('\n');
        }
        s += &summary_table(rep, num).text();
        s.push('\n');
    }
    if sizes.len() > 1 {
        let _ = writeln!(s, "== scaling ==");
        s += &scaling_table(rep, &sizes).text();
    }
    s
}

/// The same tables as Markdown, under a header naming the run.
pub fn render_markdown(rep: &Report) -> String {
    let m = &rep.meta;
    let mut s = String::new();
    let _ = writeln!(s, "# compare: {}", m.date);
    let _ = writeln!(s);
    let _ = writeln!(s, "- machine: {}", m.machine);
    let _ = writeln!(s, "- lsmkv commit: `{}`", m.lsmkv_commit);
    let _ = writeln!(
        s,
        "- load average before / after: {} / {}",
        m.loadavg_before, m.loadavg_after
    );
    let _ = writeln!(s, "- command: `{}`", m.command);
    if !m.params.lsmkv_opts.is_empty() {
        let _ = writeln!(s, "- lsmkv options: `{}`", m.params.lsmkv_opts.join(" "));
    }
    if !m.note.is_empty() {
        let _ = writeln!(s, "- note: {}", m.note);
    }
    let sizes = rep.sizes();
    for &num in &sizes {
        let _ = writeln!(s, "\n## {num} keys\n");
        s += &detail_table(rep, num).markdown();
        s.push('\n');
        if let Some(t) = deleterange_table(rep, num) {
            s += &t.markdown();
            s.push('\n');
        }
        if let Some(t) = levels_table(rep, num) {
            let _ = writeln!(s, "{LEVELS_NOTE}\n");
            s += &t.markdown();
            s.push('\n');
        }
        s += &summary_table(rep, num).markdown();
    }
    if sizes.len() > 1 {
        let _ = writeln!(s, "\n## Scaling\n");
        s += &scaling_table(rep, &sizes).markdown();
    }
    s
}

#[cfg(test)]
pub mod tests {
    use super::*;
    use crate::workload::Params;

    pub fn res(engine: &str, num: u64, w: &str, ops: f64) -> WorkloadResult {
        let mut r = WorkloadResult::empty(engine, w, "ok", None);
        r.num = num;
        r.ops_per_sec = ops;
        r.ops = 10;
        r
    }

    pub fn report(results: Vec<WorkloadResult>, engines: &[&str]) -> Report {
        let summary = summarize(&results);
        Report {
            meta: Meta {
                date: "2026-12-07".into(),
                machine: "test machine".into(),
                loadavg_before: "0.1".into(),
                loadavg_after: "0.2".into(),
                lsmkv_commit: "abc1234".into(),
                command: "compare --num 1000,2000".into(),
                params: Params {
                    num: 1000,
                    reads: None,
                    seeks: None,
                    sync_num: None,
                    txns: None,
                    txn_keys: None,
                    seed: 42,
                    cache_mib: 64,
                    lsmkv_opts: Vec::new(),
                    rss_sample_ms: 10,
                    deep_tree: false,
                },
                sizes: sizes_of(&results),
                engines: engines.iter().map(|e| (*e).to_string()).collect(),
                note: String::new(),
            },
            results,
            summary,
        }
    }

    #[test]
    fn ratio_against_best_peer() {
        let rs = vec![
            res("lsmkv", 1000, "fillseq", 300.0),
            res("fjall", 1000, "fillseq", 200.0),
            res("redb", 1000, "fillseq", 100.0),
            res("fjall", 1000, "readseq", 5.0),
            WorkloadResult::empty("lsmkv", "readseq", "unsupported", None),
        ];
        let s = summarize(&rs);
        // The unsupported row has num 0: a size of its own.
        assert_eq!(s.len(), 3);
        let at = |n: u64, w: &str| s.iter().find(|x| x.num == n && x.workload == w).unwrap();
        assert_eq!(at(1000, "fillseq").best_peer.as_deref(), Some("fjall"));
        assert_eq!(at(1000, "fillseq").ratio, Some(1.5));
        assert_eq!(at(1000, "readseq").ratio, None);
    }

    #[test]
    fn summary_is_per_size() {
        let rs = vec![
            res("lsmkv", 1000, "fillseq", 300.0),
            res("fjall", 1000, "fillseq", 200.0),
            res("lsmkv", 2000, "fillseq", 100.0),
            res("fjall", 2000, "fillseq", 400.0),
        ];
        let s = summarize(&rs);
        assert_eq!(s.len(), 2);
        assert_eq!((s[0].num, s[0].ratio), (1000, Some(1.5)));
        assert_eq!((s[1].num, s[1].ratio), (2000, Some(0.25)));
    }

    #[test]
    fn fillsync_notes_the_device_rate_beside_it() {
        let mut r = res("lsmkv", 1000, "fillsync", 5400.0);
        r.device_syncs_per_sec = Some(6000.0);
        assert_eq!(note(&r, "put + fsync"), "device 6.0k/s in place (0.90x)");
        r.device_syncs_per_sec = None;
        assert!(!note(&r, "put").contains("device"));
    }

    #[test]
    fn human_numbers() {
        assert_eq!(human(1_234_567.0), "1.23M");
        assert_eq!(human(45_678.0), "45.7k");
        assert_eq!(human(12.0), "12");
        assert_eq!(human(62_500_000_000.0), "62.50G");
        assert_eq!(duration(0.000_016_4), "16 us");
        assert_eq!(duration(0.412_34), "412.3 ms");
        assert_eq!(duration(2.414), "2.41 s");
        assert_eq!(ratio(1.516), "1.52x");
        assert_eq!(ratio(31_250.4), "31250x");
    }

    #[test]
    fn deleterange_gets_a_table_of_its_own() {
        use crate::workload::deleterange::DeleteRangeInfo;
        let info = |delete_secs, compact_secs| DeleteRangeInfo {
            deleted_keys: 1000,
            kept_keys: 100,
            delete_secs,
            flush_secs: 0.02,
            compact_secs,
            disk_before_bytes: 70 << 20,
            disk_after_delete_bytes: 71 << 20,
            disk_after_bytes: 7 << 20,
            disk_after_close_bytes: Some(6 << 20),
        };
        let mut a = res("lsmkv", 1000, "deleterange", 1000.0 / 16e-6);
        a.deleterange = Some(info(16e-6, Some(0.35)));
        a.verified = Some("yes".into());
        let mut b = res("sled", 1000, "deleterange", 1000.0 / 2.5);
        b.deleterange = Some(info(2.5, None));
        let mut c = WorkloadResult::empty("fjall", "deleterange", "failed", Some("check x".into()));
        c.num = 1000;
        let rep = report(vec![a, b, c], &["lsmkv", "fjall", "sled"]);
        let t = render_table(&rep);
        let lsm = t.lines().find(|l| l.starts_with("lsmkv ")).unwrap();
        let cells: Vec<&str> = lsm
            .split("  ")
            .map(str::trim)
            .filter(|c| !c.is_empty())
            .collect();
        assert_eq!(
            cells,
            [
                "lsmkv",
                "16 us",
                "20.0 ms",
                "350.0 ms",
                "370.0 ms",
                "70.0",
                "71.0",
                "7.0",
                "6.0",
                "-",
                "1000 keys deleted, 100 kept, verified"
            ]
        );
        let sled = t.lines().find(|l| l.starts_with("sled ")).unwrap();
        assert!(sled.contains("2.50 s") && sled.contains("none"), "{sled}");
        assert!(
            t.lines()
                .any(|l| l.starts_with("fjall ") && l.contains("failed: check x"))
        );
        // The summary's ratio is that of the delete times.
        assert!(t.contains("156250x"), "{t}");
        let md = render_markdown(&rep);
        let table: Vec<&str> = md
            .lines()
            .skip_while(|l| !l.starts_with("| deleterange | delete |"))
            .take_while(|l| l.starts_with('|'))
            .collect();
        assert_eq!(table.len(), 5, "{md}");
        let cells = |l: &str| l.matches('|').count();
        assert!(
            table.iter().all(|l| cells(l) == cells(table[0])),
            "{table:?}"
        );
    }

    #[test]
    fn levels_table_adds_the_settling_and_puts_reads_by_level() {
        use crate::workload::LevelShape;
        use crate::workload::levels::{LevelRead, LevelReads};
        let shape = |level, files, bytes, bytes_written| LevelShape {
            level,
            files,
            bytes,
            bytes_written,
        };
        let mut fill = res("lsmkv", 1000, "fillrandom", 100.0);
        fill.user_bytes = Some(100 << 20);
        fill.level_shape = vec![
            shape(0, 2, 4 << 20, 60 << 20),
            shape(3, 1, 1 << 20, 30 << 20),
            shape(4, 5, 50 << 20, 80 << 20),
        ];
        let mut reads = res("lsmkv", 1000, "readlevels", 1000.0);
        // The settling emptied level 0 into level 3, which spilled into level 4.
        reads.level_shape = vec![
            shape(3, 1, 1 << 20, 4 << 20),
            shape(4, 6, 60 << 20, 6 << 20),
        ];
        let row = |place: &str, keys, p50| LevelRead {
            place: place.into(),
            keys,
            gets: 10,
            p50_us: p50,
            p99_us: p50 * 2.0,
            p999_us: p50 * 3.0,
        };
        reads.level_reads = Some(LevelReads {
            settle_secs: 2.5,
            classify_secs: 0.5,
            rows: vec![
                row("L3", 80, 1.5),
                row("L4", 920, 2.0),
                row("absent", 0, 0.25),
            ],
        });
        let rep = report(vec![fill, reads], &["lsmkv"]);
        let t = render_table(&rep);
        let table: Vec<Vec<&str>> = t
            .lines()
            .skip_while(|l| !l.starts_with("levels "))
            .skip(1)
            .take_while(|l| !l.is_empty())
            .map(|l| l.split_whitespace().collect())
            .collect();
        assert_eq!(
            table,
            vec![
                vec![
                    "lsmkv", "L0", "0", "0.0", "60.0", "0.60", "-", "-", "-", "-"
                ],
                vec![
                    "L3", "1", "1.0", "34.0", "0.34", "80", "1.50", "3.00", "4.50"
                ],
                vec![
                    "L4", "6", "60.0", "86.0", "0.86", "920", "2.00", "4.00", "6.00"
                ],
                vec!["absent", "-", "-", "-", "-", "-", "0.25", "0.50", "0.75"],
                vec!["total", "7", "61.0", "180.0", "1.80", "-", "-", "-", "-"],
            ],
            "{t}"
        );
        assert!(t.contains(LEVELS_NOTE));
        assert!(
            t.contains("settled in 2.50 s, levels found in 500.0 ms"),
            "{t}"
        );
        // Markdown: the same table, every line with as many cells as its header.
        let md = render_markdown(&rep);
        let lines: Vec<&str> = md
            .lines()
            .skip_while(|l| !l.starts_with("| levels |"))
            .take_while(|l| l.starts_with('|'))
            .collect();
        assert_eq!(lines.len(), 7, "{md}");
        assert!(
            lines.iter().all(|l| l.matches('|').count() == 11),
            "{lines:?}"
        );
        // Without level counters (other engines, older runs) there is no such table.
        let plain = report(vec![res("fjall", 1000, "fillrandom", 5.0)], &["fjall"]);
        assert!(!render_table(&plain).contains(LEVELS_NOTE));
    }

    #[test]
    fn count_labels() {
        assert_eq!(count_label(1_000_000), "1M");
        assert_eq!(count_label(10_000_000), "10M");
        assert_eq!(count_label(1_500_000), "1.5M");
        assert_eq!(count_label(20_000), "20k");
        assert_eq!(count_label(1_234), "1234");
        assert_eq!(count_label(999), "999");
        assert_eq!(count_label(u64::MAX), u64::MAX.to_string());
    }

    fn memory_report() -> Report {
        let mut a = res("lsmkv", 1000, "fillrandom", 2_000_000.0);
        a.peak_rss_bytes = 300 << 20;
        a.peak_anon_bytes = 100 << 20;
        a.peak_file_bytes = 190 << 20;
        a.p50_us = Some(0.5);
        a.p99_us = Some(3.25);
        a.p999_us = Some(120.4);
        a.write_amp = Some(2.345);
        a.levels = Some(3);
        let mut b = res("fjall", 1000, "fillrandom", 1_000_000.0);
        b.peak_rss_bytes = 200 << 20;
        b.peak_anon_bytes = 150 << 20;
        b.peak_file_bytes = 40 << 20;
        let c = WorkloadResult::empty("redb", "fillrandom", "failed", Some("boom|x".into()));
        let mut c = c;
        c.num = 1000;
        report(vec![a, b, c], &["lsmkv", "fjall", "redb"])
    }

    #[test]
    fn text_table_has_memory_split_percentiles_and_lsm_columns() {
        let t = render_table(&memory_report());
        let header = t.lines().nth(1).unwrap();
        for col in [
            "p50 us", "p99 us", "p99.9 us", "peak MiB", "anon MiB", "file MiB", "w-amp", "levels",
        ] {
            assert!(header.contains(col), "{header}");
        }
        let lsm = t.lines().find(|l| l.starts_with("fillrandom")).unwrap();
        let cells: Vec<&str> = lsm.split_whitespace().collect();
        assert_eq!(
            cells,
            [
                "fillrandom",
                "lsmkv",
                "2.00M",
                "0.50",
                "3.25",
                "120",
                "0.0",
                "-",
                "300.0",
                "100.0",
                "190.0",
                "2.35",
                "3"
            ]
        );
        let fjall = t.lines().find(|l| l.contains(" fjall ")).unwrap();
        assert!(fjall.contains("150.0") && fjall.contains("40.0"), "{fjall}");
        assert!(
            fjall.trim_end().ends_with('-'),
            "no w-amp/levels for fjall: {fjall}"
        );
        assert!(t.contains("failed: boom|x"));
        assert!(t.contains("2.00x"), "lsmkv / best peer: {t}");
        assert!(!t.contains("== scaling =="));
        assert!(t.lines().all(|l| l == l.trim_end()), "no trailing blanks");
    }

    #[test]
    fn markdown_tables_are_well_formed() {
        let md = render_markdown(&memory_report());
        assert!(md.starts_with("# compare: 2026-12-07\n"));
        assert!(md.contains("| anon MiB | file MiB |"));
        // Every line of a table has as many cells as its header (escaped pipes do not split).
        let cells = |l: &str| l.replace("\\|", "").matches('|').count();
        let tables: Vec<Vec<&str>> = md
            .split("\n\n")
            .map(|chunk| chunk.lines().collect::<Vec<_>>())
            .filter(|lines| lines.first().is_some_and(|l| l.starts_with('|')))
            .collect();
        assert_eq!(tables.len(), 2, "detail and summary: {md}");
        for t in &tables {
            assert!(t.len() >= 3 && t[1].starts_with("|---"), "{t:?}");
            assert!(t.iter().all(|l| cells(l) == cells(t[0])), "{t:?}");
        }
        assert!(md.contains("boom\\|x"));
    }

    #[test]
    fn several_sizes_get_a_scaling_table() {
        let rep = report(
            vec![
                res("lsmkv", 1_000_000, "fillseq", 1_000_000.0),
                res("lsmkv", 10_000_000, "fillseq", 500_000.0),
                res("redb", 1_000_000, "fillseq", 80_000.0),
                res("redb", 10_000_000, "fillseq", 40_000.0),
            ],
            &["lsmkv", "redb"],
        );
        let t = render_table(&rep);
        assert!(t.contains("== 1000000 keys (1M) =="));
        assert!(t.contains("== 10000000 keys (10M) =="));
        let scaling = t.split("== scaling ==").nth(1).unwrap();
        let header = scaling.lines().nth(1).unwrap();
        assert!(
            header.contains("1M") && header.contains("10M/1M"),
            "{header}"
        );
        let redb = scaling.lines().find(|l| l.contains("redb")).unwrap();
        assert!(redb.contains("80.0k") && redb.contains("40.0k") && redb.contains("0.50x"));
    }

    #[test]
    fn old_reports_get_their_size() {
        let mut rep = report(vec![res("lsmkv", 0, "fillseq", 5.0)], &["lsmkv"]);
        rep.meta.sizes.clear();
        rep.meta.params.num = 777;
        let mut v = serde_json::to_value(&rep).unwrap();
        // As written before sizes existed: no num in results and summaries, no sizes in meta.
        v["results"][0].as_object_mut().unwrap().remove("num");
        v["summary"][0].as_object_mut().unwrap().remove("num");
        v["meta"].as_object_mut().unwrap().remove("sizes");
        let back = Report::from_json(v.to_string().as_bytes()).unwrap();
        assert_eq!(back.results[0].num, 777);
        assert_eq!(back.summary[0].num, 777);
        assert_eq!(back.sizes(), vec![777]);
    }

    #[test]
    fn saved_reports_still_load() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("results");
        let bytes = std::fs::read(dir.join("2026-11-26-run2.json")).unwrap();
        let rep = Report::from_json(&bytes).unwrap();
        assert_eq!(rep.sizes(), vec![1_000_000]);
        assert!(render_table(&rep).contains("readwhilewriting"));
        // The 10M deep tree: both engines' levels, L3 to L6 holding keys.
        let bytes = std::fs::read(dir.join("2026-12-07-10m-deep-tree-run1.json")).unwrap();
        let t = render_table(&Report::from_json(&bytes).unwrap());
        let levels: Vec<&str> = t
            .lines()
            .skip_while(|l| !l.starts_with("levels "))
            .take_while(|l| !l.is_empty())
            .collect();
        for engine in ["lsmkv", "rocksdb"] {
            assert!(levels.iter().any(|l| l.starts_with(engine)), "{t}");
        }
        let with_keys = levels
            .iter()
            .filter(|l| l.split_whitespace().any(|c| c == "L6" || c == "L3"))
            .filter(|l| l.split_whitespace().nth_back(3).is_some_and(|k| k != "-"))
            .count();
        assert_eq!(with_keys, 4, "L3 and L6 of both engines: {levels:?}");
    }
}
