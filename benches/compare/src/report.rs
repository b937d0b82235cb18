//! The outputs: the text table, the JSON document and the SVG chart.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

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
    pub params: crate::workload::Params,
    pub engines: Vec<String>,
    pub note: String,
}

/// Per workload: lsmkv against the fastest peer.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Summary {
    pub workload: String,
    pub best_peer: Option<String>,
    pub best_peer_ops_per_sec: Option<f64>,
    pub lsmkv_ops_per_sec: Option<f64>,
    /// lsmkv / best peer, when both ran.
    pub ratio: Option<f64>,
}

pub fn summarize(results: &[WorkloadResult]) -> Vec<Summary> {
    let mut out = Vec::new();
    for (w, _, _) in WORKLOADS {
        let rows: Vec<&WorkloadResult> = results.iter().filter(|r| r.workload == *w).collect();
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
            workload: (*w).into(),
            best_peer: best.map(|r| r.engine.clone()),
            best_peer_ops_per_sec: best.map(|r| r.ops_per_sec),
            lsmkv_ops_per_sec: lsm.map(|r| r.ops_per_sec),
            ratio: match (lsm, best) {
                (Some(l), Some(b)) if b.ops_per_sec > 0.0 => Some(l.ops_per_sec / b.ops_per_sec),
                _ => None,
            },
        });
    }
    out
}

/// 1234567 -> "1.23M", 45678 -> "45.7k".
pub fn human(x: f64) -> String {
    if x >= 1e6 {
        format!("{:.2}M", x / 1e6)
    } else if x >= 1e3 {
        format!("{:.1}k", x / 1e3)
    } else {
        format!("{x:.0}")
    }
}

fn mib(b: u64) -> String {
    format!("{:.1}", b as f64 / 1048576.0)
}

fn us(v: Option<f64>) -> String {
    match v {
        Some(v) if v >= 100.0 => format!("{v:.0}"),
        Some(v) => format!("{v:.2}"),
        None => "-".into(),
    }
}

/// The detail table (one row per workload and engine) followed by the summary matrix.
pub fn render_table(rep: &Report) -> String {
    let mut s = String::new();
    let engines = &rep.meta.engines;
    let _ = writeln!(
        s,
        "{:<17} {:<8} {:>10} {:>9} {:>9} {:>9} {:>6} {:>9}  note",
        "workload", "engine", "ops/s", "p50 us", "p99 us", "disk MiB", "x raw", "peak MiB"
    );
    for (w, _, unit) in WORKLOADS {
        let rows: Vec<&WorkloadResult> = engines
            .iter()
            .filter_map(|e| {
                rep.results
                    .iter()
                    .find(|r| r.workload == *w && &r.engine == e)
            })
            .collect();
        if rows.is_empty() {
            continue;
        }
        for (i, r) in rows.iter().enumerate() {
            let name = if i == 0 { *w } else { "" };
            let mut note = String::new();
            if r.status != "ok" {
                note = r.status.clone();
                if let Some(e) = &r.error {
                    let e: String = e.chars().take(90).collect();
                    note = format!("{note}: {e}");
                }
            } else {
                if let Some(f) = r.found {
                    note += &format!("found {f}/{} ", r.ops);
                }
                if let Some(wps) = r.writer_ops_per_sec {
                    note += &format!("writer {}/s ", human(wps));
                }
                if r.compacted {
                    note += "compacted ";
                }
                if *unit != "put" && *unit != "get" && r.p50_us.is_some() {
                    note += &format!("(latency per {unit})");
                }
            }
            let ok = r.status == "ok";
            let _ = writeln!(
                s,
                "{:<17} {:<8} {:>10} {:>9} {:>9} {:>9} {:>6} {:>9}  {}",
                name,
                r.engine,
                if ok { human(r.ops_per_sec) } else { "-".into() },
                us(r.p50_us),
                us(r.p99_us),
                if ok { mib(r.disk_bytes) } else { "-".into() },
                if ok && r.space_amp > 0.0 {
                    format!("{:.2}", r.space_amp)
                } else {
                    "-".into()
                },
                if ok {
                    mib(r.peak_rss_bytes)
                } else {
                    "-".into()
                },
                note.trim_end()
            );
        }
    }
    let _ = writeln!(s);
    // Summary matrix: ops/s per engine, best peer, ratio.
    let _ = write!(s, "{:<17}", "ops/s");
    for e in engines {
        let _ = write!(s, " {e:>9}");
    }
    let _ = writeln!(s, "  {:>9}  lsmkv/best", "best peer");
    for sm in &rep.summary {
        let _ = write!(s, "{:<17}", sm.workload);
        for e in engines {
            let cell = rep
                .results
                .iter()
                .find(|r| r.workload == sm.workload && &r.engine == e)
                .map_or("".into(), |r| match r.status.as_str() {
                    "ok" => human(r.ops_per_sec),
                    "unsupported" => "n/a".into(),
                    _ => "FAIL".into(),
                });
            let _ = write!(s, " {cell:>9}");
        }
        let _ = writeln!(
            s,
            "  {:>9}  {}",
            sm.best_peer.as_deref().unwrap_or("-"),
            sm.ratio.map_or("-".into(), |r| format!("{r:.2}x"))
        );
    }
    s
}

/// Grouped bar chart: per workload, each engine's ops/s relative to the fastest engine there.
pub fn render_svg(rep: &Report, path: &Path) -> Result<(), Box<dyn std::error::Error>> {
    use plotters::prelude::*;

    let workloads: Vec<&str> = rep.summary.iter().map(|s| s.workload.as_str()).collect();
    let engines = &rep.meta.engines;
    let mut best: BTreeMap<&str, f64> = BTreeMap::new();
    for r in rep.results.iter().filter(|r| r.status == "ok") {
        let b = best.entry(r.workload.as_str()).or_insert(0.0);
        *b = b.max(r.ops_per_sec);
    }
    let palette = [
        RGBColor(214, 39, 40),
        RGBColor(31, 119, 180),
        RGBColor(255, 127, 14),
        RGBColor(44, 160, 44),
        RGBColor(148, 103, 189),
        RGBColor(140, 86, 75),
    ];
    let width = 120 * workloads.len().max(1) as u32 + 160;
    let root = SVGBackend::new(path, (width, 560)).into_drawing_area();
    root.fill(&WHITE)?;
    let caption = format!(
        "ops/s relative to the fastest engine (1.0) -- num={} seed={} -- {}",
        rep.meta.params.num, rep.meta.params.seed, rep.meta.date
    );
    let mut chart = ChartBuilder::on(&root)
        .caption(caption, ("sans-serif", 18))
        .margin(12)
        .x_label_area_size(60)
        .y_label_area_size(50)
        .build_cartesian_2d(0f64..workloads.len() as f64, 0f64..1.4f64)?;
    let wl = workloads.clone();
    chart
        .configure_mesh()
        .disable_x_mesh()
        .light_line_style(WHITE)
        .x_labels(workloads.len() * 2 + 1)
        .x_label_formatter(&move |x| {
            let i = x.floor() as usize;
            if (x - x.floor() - 0.5).abs() < 0.01 {
                wl.get(i).map_or(String::new(), |s| (*s).to_string())
            } else {
                String::new()
            }
        })
        .y_desc("relative ops/s")
        .draw()?;
    let n = engines.len().max(1) as f64;
    let bar = 0.8 / n;
    for (ei, e) in engines.iter().enumerate() {
        let color = palette[ei % palette.len()];
        let mut rects = Vec::new();
        for (wi, w) in workloads.iter().enumerate() {
            let Some(r) = rep
                .results
                .iter()
                .find(|r| r.workload == *w && &r.engine == e && r.status == "ok")
            else {
                continue;
            };
            let rel = r.ops_per_sec / best.get(w).copied().unwrap_or(1.0).max(1e-9);
            let x0 = wi as f64 + 0.1 + ei as f64 * bar;
            rects.push(Rectangle::new(
                [(x0, 0.0), (x0 + bar * 0.9, rel)],
                color.filled(),
            ));
        }
        chart
            .draw_series(rects)?
            .label(e.as_str())
            .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 12, y + 5)], color.filled()));
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperRight)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .draw()?;
    root.present()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn res(engine: &str, w: &str, ops: f64) -> WorkloadResult {
        let mut r = WorkloadResult::empty(engine, w, "ok", None);
        r.ops_per_sec = ops;
        r.ops = 10;
        r
    }

    #[test]
    fn ratio_against_best_peer() {
        let rs = vec![
            res("lsmkv", "fillseq", 300.0),
            res("fjall", "fillseq", 200.0),
            res("redb", "fillseq", 100.0),
            res("fjall", "readseq", 5.0),
            WorkloadResult::empty("lsmkv", "readseq", "unsupported", None),
        ];
        let s = summarize(&rs);
        assert_eq!(s.len(), 2);
        assert_eq!(s[0].best_peer.as_deref(), Some("fjall"));
        assert_eq!(s[0].ratio, Some(1.5));
        assert_eq!(s[1].ratio, None);
    }

    #[test]
    fn human_numbers() {
        assert_eq!(human(1_234_567.0), "1.23M");
        assert_eq!(human(45_678.0), "45.7k");
        assert_eq!(human(12.0), "12");
    }
}
