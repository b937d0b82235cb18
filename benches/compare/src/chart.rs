//! The chart: throughput of every engine per workload against the number of keys, as one
//! self-contained SVG (no scripts, no external fonts or images; written as text).
//!
//! One panel per workload, each with its own linear y axis from 0 (engines differ by up to 20x,
//! and a bar's length should be its throughput); inside a panel one group of bars per size, one
//! bar per engine, its value written above it. An engine keeps its colour in every chart. Every
//! bar carries `data-engine`, `data-workload`, `data-num` and a `<title>` (shown on hover).

use std::fmt::Write as _;

use crate::report::{Report, count_label, human};
use crate::workload::WORKLOADS;

/// Fixed colours for the known engines (so lsmkv is the same red in every chart); others take
/// the palette in order.
fn color(engine: &str, index: usize) -> &'static str {
    const PALETTE: [&str; 6] = [
        "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf", "#1f77b4",
    ];
    match engine {
        "lsmkv" => "#d62728",
        "fjall" => "#1f77b4",
        "rocksdb" => "#ff7f0e",
        "redb" => "#2ca02c",
        "sled" => "#9467bd",
        _ => PALETTE[index % PALETTE.len()],
    }
}

/// What the y axis of a workload's panel counts.
fn per_second(workload: &str) -> &'static str {
    match WORKLOADS.iter().find(|w| w.0 == workload).map(|w| w.2) {
        Some("put") => "puts/s",
        Some("get") => "gets/s",
        Some("put + fsync") => "durable puts/s",
        Some("batch of 1000") => "keys/s (batches of 1000)",
        Some("next") => "entries/s",
        Some("seek + 100 next") => "seeks/s (each + 100 next)",
        Some(crate::workload::TXN_UNIT) => "committed txns/s (2 gets + 2 puts each)",
        Some(crate::workload::DELETE_UNIT) => "keys deleted/s (one prefix delete)",
        _ => "ops/s",
    }
}

/// Escapes text for an XML attribute value or element content.
pub fn xml_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            // Control characters other than tab and newline are not allowed in XML 1.0.
            c if c.is_control() && c != '\t' && c != '\n' => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

/// A round axis maximum >= `max` and its tick step: the step is 1, 2, 2.5 or 5 times a power
/// of ten, with 4 or 5 ticks above zero.
pub fn nice_axis(max: f64) -> (f64, f64) {
    if !(max.is_finite() && max > 0.0) {
        return (1.0, 0.25);
    }
    let rough = max / 4.0;
    let mag = 10f64.powi(rough.log10().floor() as i32);
    let step = [1.0, 2.0, 2.5, 5.0, 10.0]
        .iter()
        .map(|m| m * mag)
        .find(|s| s * 5.0 >= max)
        .unwrap_or(10.0 * mag);
    ((max / step).ceil() * step, step)
}

/// Axis tick label: 0, 250k, 1.5M (no more digits than the step needs).
fn tick_label(v: f64) -> String {
    if v == 0.0 {
        return "0".into();
    }
    let (div, suffix) = if v >= 1e9 {
        (1e9, "G")
    } else if v >= 1e6 {
        (1e6, "M")
    } else if v >= 1e3 {
        (1e3, "k")
    } else {
        (1.0, "")
    };
    let x = v / div;
    let s = if (x - x.round()).abs() < 1e-9 {
        format!("{x:.0}")
    } else if ((x * 10.0) - (x * 10.0).round()).abs() < 1e-9 {
        format!("{x:.1}")
    } else {
        format!("{x:.2}")
    };
    format!("{s}{suffix}")
}

const PANEL_H: f64 = 250.0;
const AXIS_LEFT: f64 = 52.0;
const AXIS_BOTTOM: f64 = 30.0;
const PANEL_TOP: f64 = 40.0;
const PANEL_RIGHT: f64 = 12.0;
const BAR_SLOT: f64 = 34.0;
const MARGIN: f64 = 16.0;
const HEADER_H: f64 = 100.0;

/// The whole SVG document for `rep`.
pub fn render(rep: &Report) -> String {
    let engines = &rep.meta.engines;
    let sizes = rep.sizes();
    let workloads = rep.workloads();
    let n_eng = engines.len().max(1) as f64;
    let n_sizes = sizes.len().max(1) as f64;
    // Plot width: a slot per bar plus a gap per group, at least wide enough for the title.
    let plot_w = (n_sizes * (n_eng * BAR_SLOT + 24.0)).max(170.0);
    let panel_w = AXIS_LEFT + plot_w + PANEL_RIGHT;
    let cols = ((1000.0 / panel_w).floor() as usize)
        .clamp(1, 4)
        .min(workloads.len().max(1));
    let rows = workloads.len().div_ceil(cols).max(1);
    let width = MARGIN * 2.0 + panel_w * cols as f64;
    let height = HEADER_H + PANEL_H * rows as f64 + MARGIN;

    let mut s = String::new();
    let _ = writeln!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0}" height="{height:.0}" viewBox="0 0 {width:.0} {height:.0}" font-family="sans-serif" font-size="11">"#
    );
    let _ = writeln!(
        s,
        r#"<rect x="0" y="0" width="{width:.0}" height="{height:.0}" fill="white"/>"#
    );
    header(&mut s, rep, width);
    let mut legend_x = MARGIN;
    for (i, e) in engines.iter().enumerate() {
        let _ = writeln!(
            s,
            r#"<g class="legend" data-engine="{e}"><rect x="{legend_x:.1}" y="74" width="12" height="12" fill="{c}"/><text x="{tx:.1}" y="84">{e}</text></g>"#,
            e = xml_escape(e),
            c = color(e, i),
            tx = legend_x + 16.0,
        );
        legend_x += 16.0 + 7.0 * e.chars().count() as f64 + 18.0;
    }
    for (i, w) in workloads.iter().enumerate() {
        let x0 = MARGIN + panel_w * (i % cols) as f64;
        let y0 = HEADER_H + PANEL_H * (i / cols) as f64;
        panel(&mut s, rep, w, &sizes, x0, y0, plot_w);
    }
    s.push_str("</svg>\n");
    s
}

fn header(s: &mut String, rep: &Report, width: f64) {
    let m = &rep.meta;
    let sizes: Vec<String> = rep.sizes().iter().map(|&n| count_label(n)).collect();
    let _ = writeln!(
        s,
        r#"<text x="{MARGIN}" y="24" font-size="16" font-weight="bold">Throughput per workload at {} keys (higher is better)</text>"#,
        xml_escape(&sizes.join(", "))
    );
    let mut sub = format!(
        "{} · lsmkv {} · {} · 16-byte keys, 100-byte values, seed {}",
        m.date, m.lsmkv_commit, m.machine, m.params.seed
    );
    if !m.params.lsmkv_opts.is_empty() {
        let _ = write!(sub, " · lsmkv {}", m.params.lsmkv_opts.join(" "));
    }
    subtitle(s, 42.0, &sub, width);
    // How busy the machine was belongs next to the numbers it affects.
    let mut load = format!(
        "load average before / after: {} / {}",
        m.loadavg_before, m.loadavg_after
    );
    if !m.note.is_empty() {
        let _ = write!(load, " · {}", m.note);
    }
    subtitle(s, 58.0, &load, width);
}

fn subtitle(s: &mut String, y: f64, text: &str, width: f64) {
    let _ = writeln!(
        s,
        r##"<text x="{MARGIN}" y="{y:.0}" fill="#444" textLength="{tl:.0}" lengthAdjust="spacingAndGlyphs">{}</text>"##,
        xml_escape(text),
        // Squeeze a long line into the width rather than let it run off the picture.
        tl = (6.0 * text.chars().count() as f64).min(width - 2.0 * MARGIN),
    );
}

fn panel(s: &mut String, rep: &Report, w: &str, sizes: &[u64], x0: f64, y0: f64, plot_w: f64) {
    let engines = &rep.meta.engines;
    let plot_h = PANEL_H - PANEL_TOP - AXIS_BOTTOM;
    let (px, py) = (x0 + AXIS_LEFT, y0 + PANEL_TOP);
    let base = py + plot_h;
    let max = rep
        .results
        .iter()
        .filter(|r| r.workload == w && r.status == "ok")
        .map(|r| r.ops_per_sec)
        .fold(0.0, f64::max);
    // Headroom for the value written above the tallest bar.
    let (top, step) = nice_axis(max * 1.1);
    let y = |v: f64| base - v / top * plot_h;
    let _ = writeln!(s, r#"<g class="panel" data-workload="{}">"#, xml_escape(w));
    let _ = writeln!(
        s,
        r##"<text x="{px:.1}" y="{:.1}" font-size="13" font-weight="bold">{}</text><text x="{:.1}" y="{:.1}" fill="#555">{}</text>"##,
        y0 + 16.0,
        xml_escape(w),
        px,
        y0 + 30.0,
        xml_escape(per_second(w)),
    );
    let ticks = (top / step).round() as usize;
    for t in 0..=ticks {
        let v = step * t as f64;
        let ty = y(v);
        let _ = writeln!(
            s,
            r##"<line x1="{px:.1}" y1="{ty:.1}" x2="{:.1}" y2="{ty:.1}" stroke="{}" stroke-width="1"/><text x="{:.1}" y="{:.1}" text-anchor="end" fill="#333">{}</text>"##,
            px + plot_w,
            if t == 0 { "#333" } else { "#e4e4e4" },
            px - 5.0,
            ty + 4.0,
            tick_label(v),
        );
    }
    let group_w = plot_w / sizes.len().max(1) as f64;
    let bar_w = (group_w - 24.0) / engines.len().max(1) as f64;
    for (si, &num) in sizes.iter().enumerate() {
        let gx = px + group_w * si as f64 + 12.0;
        let _ = writeln!(
            s,
            r#"<text x="{:.1}" y="{:.1}" text-anchor="middle">{} keys</text>"#,
            px + group_w * (si as f64 + 0.5),
            base + 18.0,
            count_label(num),
        );
        for (ei, e) in engines.iter().enumerate() {
            let bx = gx + bar_w * ei as f64;
            let cx = bx + bar_w / 2.0;
            let Some(r) = rep.find(e, num, w) else {
                continue;
            };
            if r.status != "ok" {
                let what = if r.status == "unsupported" {
                    "n/a"
                } else {
                    "failed"
                };
                let _ = writeln!(
                    s,
                    r##"<text class="missing" data-engine="{}" data-num="{num}" x="{cx:.1}" y="{:.1}" transform="rotate(-90 {cx:.1} {:.1})" font-size="10" fill="#888">{} {what}</text>"##,
                    xml_escape(e),
                    base - 4.0,
                    base - 4.0,
                    xml_escape(e),
                );
                continue;
            }
            let v = r.ops_per_sec;
            let h = (base - y(v)).max(0.5);
            let _ = writeln!(
                s,
                r#"<rect class="bar" data-engine="{e}" data-workload="{w}" data-num="{num}" data-ops-per-sec="{v:.0}" x="{bx:.1}" y="{:.1}" width="{:.1}" height="{h:.1}" fill="{}"><title>{e}, {w}, {} keys: {} {}</title></rect>"#,
                base - h,
                (bar_w - 3.0).max(1.0),
                color(e, ei),
                count_label(num),
                human(v),
                xml_escape(per_second(w)),
                e = xml_escape(e),
                w = xml_escape(w),
            );
            // The value above the bar; turned upright when the bar is too narrow for it.
            let label = human(v);
            if bar_w >= 5.2 * label.len() as f64 {
                let _ = writeln!(
                    s,
                    r#"<text x="{cx:.1}" y="{:.1}" text-anchor="middle" font-size="9">{label}</text>"#,
                    base - h - 3.0,
                );
            } else {
                let ly = base - h - 3.0;
                let _ = writeln!(
                    s,
                    r#"<text x="{:.1}" y="{ly:.1}" transform="rotate(-90 {:.1} {ly:.1})" font-size="9">{label}</text>"#,
                    cx + 3.0,
                    cx + 3.0,
                );
            }
        }
    }
    s.push_str("</g>\n");
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::tests::{report, res};
    use crate::workload::WorkloadResult;

    fn sample() -> Report {
        let mut rs = Vec::new();
        for (num, scale) in [(20_000, 1.0), (50_000, 0.8)] {
            for (e, ops) in [
                ("lsmkv", 1_000_000.0),
                ("fjall", 500_000.0),
                ("redb", 80_000.0),
            ] {
                for w in ["fillseq", "readrandom"] {
                    rs.push(res(e, num, w, ops * scale));
                }
            }
        }
        let mut un = WorkloadResult::empty("redb", "readseq", "failed", Some("x".into()));
        un.num = 20_000;
        rs.push(un);
        rs.push(res("lsmkv", 20_000, "readseq", 9_000_000.0));
        report(rs, &["lsmkv", "fjall", "redb"])
    }

    #[test]
    fn svg_is_well_formed_with_one_series_per_engine() {
        let svg = render(&sample());
        let doc = roxmltree::Document::parse(&svg).expect("well-formed XML");
        let root = doc.root_element();
        assert_eq!(root.tag_name().name(), "svg");
        assert_eq!(
            root.tag_name().namespace(),
            Some("http://www.w3.org/2000/svg")
        );
        assert!(root.attribute("width").unwrap().parse::<f64>().unwrap() > 0.0);
        let bars: Vec<_> = doc
            .descendants()
            .filter(|n| n.attribute("class") == Some("bar"))
            .collect();
        // 3 engines x 2 workloads x 2 sizes, and lsmkv's readseq at 20k.
        assert_eq!(bars.len(), 13);
        for e in ["lsmkv", "fjall", "redb"] {
            let of_engine = bars
                .iter()
                .filter(|b| b.attribute("data-engine") == Some(e))
                .count();
            assert_eq!(of_engine, if e == "lsmkv" { 5 } else { 4 }, "{e}");
            let legend = doc.descendants().find(|n| {
                n.attribute("class") == Some("legend") && n.attribute("data-engine") == Some(e)
            });
            assert!(legend.is_some(), "legend for {e}");
        }
        // Every bar of one engine has one colour, different from the other engines'.
        let fills: std::collections::BTreeSet<(&str, &str)> = bars
            .iter()
            .map(|b| {
                (
                    b.attribute("data-engine").unwrap(),
                    b.attribute("fill").unwrap(),
                )
            })
            .collect();
        assert_eq!(fills.len(), 3);
        let panels: Vec<&str> = doc
            .descendants()
            .filter(|n| n.attribute("class") == Some("panel"))
            .map(|n| n.attribute("data-workload").unwrap())
            .collect();
        assert_eq!(panels, ["fillseq", "readrandom", "readseq"]);
        let sizes: std::collections::BTreeSet<&str> = bars
            .iter()
            .map(|b| b.attribute("data-num").unwrap())
            .collect();
        assert_eq!(sizes.into_iter().collect::<Vec<_>>(), ["20000", "50000"]);
        // The failed run is marked, not drawn.
        let missing: Vec<_> = doc
            .descendants()
            .filter(|n| n.attribute("class") == Some("missing"))
            .collect();
        assert_eq!(missing.len(), 1);
        assert_eq!(missing[0].text(), Some("redb failed"));
        // Axis labels: the sizes under the groups and what the y axis counts.
        let texts: Vec<&str> = doc.descendants().filter_map(|n| n.text()).collect();
        assert!(texts.contains(&"20k keys") && texts.contains(&"50k keys"));
        assert!(texts.contains(&"gets/s") && texts.contains(&"puts/s"));
        assert!(
            texts
                .iter()
                .any(|t| t.starts_with("load average before / after: 0.1 / 0.2"))
        );
    }

    #[test]
    fn bar_heights_follow_throughput() {
        let svg = render(&sample());
        let doc = roxmltree::Document::parse(&svg).unwrap();
        let height = |e: &str, num: &str| -> f64 {
            doc.descendants()
                .find(|n| {
                    n.attribute("class") == Some("bar")
                        && n.attribute("data-workload") == Some("fillseq")
                        && n.attribute("data-engine") == Some(e)
                        && n.attribute("data-num") == Some(num)
                })
                .and_then(|n| n.attribute("height"))
                .unwrap()
                .parse()
                .unwrap()
        };
        let (l, f) = (height("lsmkv", "20000"), height("fjall", "20000"));
        assert!((l / f - 2.0).abs() < 0.02, "{l} vs {f}");
        assert!(height("lsmkv", "50000") < l);
    }

    #[test]
    fn names_are_escaped() {
        let rep = report(vec![res("a<b&\"c\"", 10, "fillseq", 5.0)], &["a<b&\"c\""]);
        let svg = render(&rep);
        let doc = roxmltree::Document::parse(&svg).expect("well-formed XML");
        assert!(
            doc.descendants()
                .any(|n| n.attribute("data-engine") == Some("a<b&\"c\""))
        );
        assert_eq!(xml_escape("x\u{1}y'"), "x y&apos;");
    }

    #[test]
    fn empty_report_still_draws() {
        let svg = render(&report(Vec::new(), &[]));
        roxmltree::Document::parse(&svg).expect("well-formed XML");
    }

    #[test]
    fn axes_are_round() {
        assert_eq!(nice_axis(1_234_567.0), (1_250_000.0, 250_000.0));
        assert_eq!(nice_axis(90_000.0), (100_000.0, 20_000.0));
        assert_eq!(nice_axis(400.0), (400.0, 100.0));
        assert_eq!(nice_axis(410.0), (500.0, 100.0));
        assert_eq!(nice_axis(0.0), (1.0, 0.25));
        for m in [3.0, 77.0, 4_100.0, 6.3e6, 9.99e6] {
            let (top, step) = nice_axis(m);
            assert!(
                top >= m && top / step <= 5.0 + 1e-9 && top / step >= 2.0,
                "{m}"
            );
        }
        assert_eq!(tick_label(250_000.0), "250k");
        assert_eq!(tick_label(1_500_000.0), "1.5M");
        assert_eq!(tick_label(2_500.0), "2.5k");
        assert_eq!(tick_label(0.0), "0");
    }
}
