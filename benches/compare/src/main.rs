//! `compare`: a db_bench-style driver running the same workloads against lsmkv and its peers
//! (fjall, RocksDB, redb, sled), each engine and workload group in its own child process.
//!
//! `compare [flags]` is the driver: for each size, engine and group it spawns
//! `compare run --engine E --num N --workloads a,b --dir D ...`, streams the child's progress
//! (stderr), reads the one JSON line the child prints on stdout, and finally prints the tables
//! and writes `--json`, `--markdown` and `--svg`. `compare report --json FILE` re-renders a saved
//! run; `compare chart --json FILE --out SVG` draws its chart.

mod chart;
mod engines;
mod report;
mod sys;
mod workload;

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use clap::{Args, Parser, Subcommand};

use crate::engines::EngineConfig;
use crate::report::{Meta, Report};
use crate::workload::{Params, Sizes, WORKLOADS, WorkloadResult};

#[derive(Parser)]
#[command(
    name = "compare",
    about = "Compare lsmkv with fjall, RocksDB, redb and sled"
)]
#[command(args_conflicts_with_subcommands = true)]
struct Cli {
    #[command(subcommand)]
    cmd: Option<Cmd>,
    #[command(flatten)]
    drive: DriveArgs,
}

#[derive(Subcommand)]
enum Cmd {
    /// Child process: run one group of workloads against one engine, print one JSON line.
    Run(RunArgs),
    /// Print the tables (and optionally write the chart and Markdown) of a saved JSON report.
    Report {
        #[arg(long)]
        json: PathBuf,
        #[arg(long)]
        svg: Option<PathBuf>,
        #[arg(long)]
        markdown: Option<PathBuf>,
    },
    /// Draw the chart of a saved JSON report: ops/s per workload and number of keys, per engine.
    Chart {
        #[arg(long)]
        json: PathBuf,
        /// The SVG file to write.
        #[arg(long)]
        out: PathBuf,
    },
}

#[derive(Args)]
struct DriveArgs {
    /// Keys written by the fill workloads and loaded for the read workloads; a comma list
    /// (`1000000,10000000` or `1M,10M`) runs every engine at every size.
    #[arg(long, visible_alias = "sizes", default_value = "1000000", value_parser = workload::parse_sizes)]
    num: Sizes,
    /// Engines, comma separated (default: all built in; rocksdb needs the `rocksdb` feature).
    #[arg(long, value_delimiter = ',')]
    engines: Vec<String>,
    /// Workloads, comma separated (default: all but readlevels, which runs only when named).
    #[arg(long, value_delimiter = ',')]
    workloads: Vec<String>,
    /// Parent directory of the databases (must be a real disk, not tmpfs: fsync would be free).
    /// Default: $TMPDIR/lsmkv-compare-<pid>; removed afterwards unless --keep.
    #[arg(long)]
    dir: Option<PathBuf>,
    /// Keep the databases after the run.
    #[arg(long)]
    keep: bool,
    /// Write the full report as JSON here.
    #[arg(long)]
    json: Option<PathBuf>,
    /// Write the chart (SVG) here.
    #[arg(long)]
    svg: Option<PathBuf>,
    /// Write the tables as Markdown here.
    #[arg(long)]
    markdown: Option<PathBuf>,
    /// Kill a child that runs longer than this.
    #[arg(long, default_value_t = 1800)]
    timeout_secs: u64,
    /// Free text stored in the JSON metadata (e.g. "2 cores shared with other jobs").
    #[arg(long, default_value = "")]
    note: String,
    #[command(flatten)]
    params: Params,
}

#[derive(Args)]
struct RunArgs {
    #[arg(long)]
    engine: String,
    #[arg(long, value_delimiter = ',', required = true)]
    workloads: Vec<String>,
    /// Keys of this run.
    #[arg(long)]
    num: u64,
    /// Database directory (created; should not exist or be empty).
    #[arg(long)]
    dir: PathBuf,
    #[command(flatten)]
    params: Params,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let res = match cli.cmd {
        Some(Cmd::Run(a)) => child(a),
        Some(Cmd::Report {
            json,
            svg,
            markdown,
        }) => reprint(&json, svg.as_deref(), markdown.as_deref()),
        Some(Cmd::Chart { json, out }) => load(&json).and_then(|rep| write_svg(&rep, &out)),
        None => drive(cli.drive),
    };
    match res {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("compare: {e}");
            ExitCode::FAILURE
        }
    }
}

type AnyResult<T> = Result<T, Box<dyn std::error::Error>>;

/// Child: open the engine, run the group, print the results as one JSON line.
fn child(mut a: RunArgs) -> AnyResult<()> {
    a.params.num = a.num;
    std::fs::create_dir_all(&a.dir)?;
    let group = a
        .workloads
        .first()
        .and_then(|w| workload::group_of(w))
        .ok_or("unknown workload")?;
    if a.workloads
        .iter()
        .any(|w| workload::group_of(w) != Some(group))
    {
        return Err("all workloads of one `run` must belong to one group".into());
    }
    let mut cfg = EngineConfig::for_group(group, a.params.cache_mib, a.params.lsmkv_opts.clone());
    if a.params.deep_tree {
        // The driver has put the preset into the lsmkv options; RocksDB copies their shape.
        let opts = engines::lsmkv::options(&cfg).map_err(|e| e.to_string())?;
        cfg.tree_shape = Some(engines::lsmkv::tree_shape(&opts));
    }
    let results = match engines::open(&a.engine, &a.dir, &cfg) {
        Ok(eng) => {
            let r = workload::run_group(&a.engine, eng.as_ref(), &a.dir, &a.workloads, &a.params);
            drop(eng);
            r
        }
        Err(e) => a
            .workloads
            .iter()
            .map(|w| WorkloadResult::empty(&a.engine, w, "failed", Some(format!("open: {e}"))))
            .collect(),
    };
    println!("{}", serde_json::to_string(&results)?);
    Ok(())
}

fn load(json: &Path) -> AnyResult<Report> {
    let bytes = std::fs::read(json).map_err(|e| format!("{}: {e}", json.display()))?;
    Ok(Report::from_json(&bytes).map_err(|e| format!("{}: {e}", json.display()))?)
}

fn write_svg(rep: &Report, path: &Path) -> AnyResult<()> {
    std::fs::write(path, chart::render(rep)).map_err(|e| format!("{}: {e}", path.display()))?;
    eprintln!("chart written to {}", path.display());
    Ok(())
}

fn write_markdown(rep: &Report, path: &Path) -> AnyResult<()> {
    std::fs::write(path, report::render_markdown(rep))
        .map_err(|e| format!("{}: {e}", path.display()))?;
    eprintln!("Markdown written to {}", path.display());
    Ok(())
}

fn reprint(json: &Path, svg: Option<&Path>, markdown: Option<&Path>) -> AnyResult<()> {
    let rep = load(json)?;
    print!("{}", report::render_table(&rep));
    if let Some(svg) = svg {
        write_svg(&rep, svg)?;
    }
    if let Some(md) = markdown {
        write_markdown(&rep, md)?;
    }
    Ok(())
}

/// Driver: one child per (size, engine, group), then the report.
fn drive(mut a: DriveArgs) -> AnyResult<()> {
    a.params.lsmkv_opts = lsmkv_opts(a.params.deep_tree, std::mem::take(&mut a.params.lsmkv_opts))?;
    let sizes = a.num.0.clone();
    let engine_names: Vec<String> = if a.engines.is_empty() {
        engines::all_names().into_iter().map(String::from).collect()
    } else {
        a.engines.clone()
    };
    let selected: Vec<&str> = if a.workloads.is_empty() {
        workload::default_workloads()
    } else {
        for w in &a.workloads {
            if workload::group_of(w).is_none() {
                let all: Vec<&str> = WORKLOADS.iter().map(|w| w.0).collect();
                return Err(format!("unknown workload {w:?}; known: {}", all.join(",")).into());
            }
        }
        // Table order, whatever order they were given in.
        WORKLOADS
            .iter()
            .map(|w| w.0)
            .filter(|w| a.workloads.iter().any(|x| x == w))
            .collect()
    };
    let mut groups: Vec<(&str, Vec<&str>)> = Vec::new();
    for w in &selected {
        let g = workload::group_of(w).unwrap_or("");
        match groups.iter_mut().find(|(name, _)| *name == g) {
            Some((_, ws)) => ws.push(w),
            None => groups.push((g, vec![w])),
        }
    }
    let base = a.dir.clone().unwrap_or_else(|| {
        std::env::temp_dir().join(format!("lsmkv-compare-{}", std::process::id()))
    });
    std::fs::create_dir_all(&base)?;
    let exe = std::env::current_exe()?;
    let loadavg_before = sys::loadavg();
    let commit = lsmkv_commit();
    let mut results = Vec::new();
    for &num in &sizes {
        let params = Params {
            num,
            ..a.params.clone()
        };
        for e in &engine_names {
            for (g, ws) in &groups {
                let dir = base.join(format!("{e}-{g}-{num}"));
                if dir.exists() {
                    std::fs::remove_dir_all(&dir)?;
                }
                eprintln!("== {e} @ {num}: {}", ws.join(","));
                let t = Instant::now();
                let rs = run_child(
                    &exe,
                    e,
                    ws,
                    &dir,
                    &params,
                    Duration::from_secs(a.timeout_secs),
                );
                eprintln!("== {e} @ {num}: done in {:.1}s", t.elapsed().as_secs_f64());
                // What is left once the engine has closed the database.
                let closed = sys::dir_bytes(&dir).1;
                results.extend(rs.into_iter().map(|mut r| {
                    r.num = num;
                    if let Some(d) = r.deleterange.as_mut() {
                        d.disk_after_close_bytes = Some(closed);
                    }
                    r
                }));
                if !a.keep {
                    let _ = std::fs::remove_dir_all(&dir);
                }
            }
        }
    }
    if !a.keep && a.dir.is_none() {
        let _ = std::fs::remove_dir(&base);
    }
    let summary = report::summarize(&results);
    let rep = Report {
        meta: Meta {
            date: sys::today(),
            machine: sys::machine(),
            loadavg_before,
            loadavg_after: sys::loadavg(),
            lsmkv_commit: commit,
            command: std::env::args().collect::<Vec<_>>().join(" "),
            params: Params {
                num: sizes.first().copied().unwrap_or(0),
                ..a.params.clone()
            },
            sizes,
            engines: engine_names,
            note: a.note.clone(),
        },
        results,
        summary,
    };
    println!();
    print!("{}", report::render_table(&rep));
    if let Some(j) = &a.json {
        std::fs::write(j, serde_json::to_string_pretty(&rep)? + "\n")?;
        eprintln!("JSON written to {}", j.display());
    }
    if let Some(s) = &a.svg {
        write_svg(&rep, s)?;
    }
    if let Some(m) = &a.markdown {
        write_markdown(&rep, m)?;
    }
    Ok(())
}

/// The `--lsmkv-opt`s of a run: the `--deep-tree` preset first (so the user's own win), checked
/// here so that a bad one fails now rather than in every lsmkv child.
fn lsmkv_opts(deep_tree: bool, given: Vec<String>) -> AnyResult<Vec<String>> {
    let mut opts: Vec<String> = Vec::new();
    if deep_tree {
        opts.extend(engines::lsmkv::DEEP_TREE.iter().map(|o| (*o).to_string()));
    }
    opts.extend(given);
    // One NAME=VALUE per option, the last given winning, as the report shows them.
    let opts: Vec<String> = engines::lsmkv::parse_opts(&opts)?
        .into_iter()
        .map(|(name, value)| format!("{name}={value}"))
        .collect();
    engines::lsmkv::options(&EngineConfig::for_group("", 64, opts.clone()))
        .map_err(|e| e.to_string())?;
    Ok(opts)
}

/// Runs one child; any failure (crash, panic, timeout, bad output) becomes "failed" results.
fn run_child(
    exe: &Path,
    engine: &str,
    workloads: &[&str],
    dir: &Path,
    params: &Params,
    timeout: Duration,
) -> Vec<WorkloadResult> {
    let failed = |why: String| -> Vec<WorkloadResult> {
        workloads
            .iter()
            .map(|w| WorkloadResult::empty(engine, w, "failed", Some(why.clone())))
            .collect()
    };
    let mut cmd = Command::new(exe);
    cmd.arg("run")
        .arg("--engine")
        .arg(engine)
        .arg("--workloads")
        .arg(workloads.join(","))
        .arg("--num")
        .arg(params.num.to_string())
        .arg("--dir")
        .arg(dir)
        .args(params.to_args())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => return failed(format!("spawn: {e}")),
    };
    // Echo the child's stderr live, keeping the tail for the error message.
    let stderr = child.stderr.take();
    let tail = std::thread::spawn(move || {
        let mut last: Vec<String> = Vec::new();
        if let Some(s) = stderr {
            for line in BufReader::new(s).lines().map_while(Result::ok) {
                eprintln!("{line}");
                last.push(line);
                if last.len() > 400 {
                    last.drain(..200);
                }
            }
        }
        last
    });
    let stdout = child.stdout.take();
    let out = std::thread::spawn(move || {
        let mut s = String::new();
        if let Some(mut o) = stdout {
            let _ = o.read_to_string(&mut s);
        }
        s
    });
    let start = Instant::now();
    let status = loop {
        match child.try_wait() {
            Ok(Some(st)) => break Ok(st),
            Ok(None) if start.elapsed() > timeout => {
                let _ = child.kill();
                let _ = child.wait();
                break Err(format!("timed out after {}s", timeout.as_secs()));
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(100)),
            Err(e) => break Err(format!("wait: {e}")),
        }
    };
    let stdout = out.join().unwrap_or_default();
    let last = tail.join().unwrap_or_default();
    match status {
        Err(why) => failed(why),
        Ok(st) if !st.success() => {
            // A panic is "thread '..' panicked at FILE:LINE:COL:" and the message on the next line.
            let why = match last.iter().rposition(|l| l.contains("panicked at")) {
                Some(i) => {
                    let at = last[i].find("panicked at").unwrap_or(0);
                    let mut m = last[i][at..].to_string();
                    if let Some(next) = last.get(i + 1) {
                        m = format!("{m} {next}");
                    }
                    m
                }
                None => last.last().cloned().unwrap_or_default(),
            };
            failed(format!("child {st}: {why}"))
        }
        Ok(_) => {
            let line = stdout.lines().rev().find(|l| l.starts_with('['));
            match line.map(serde_json::from_str::<Vec<WorkloadResult>>) {
                Some(Ok(rs)) => rs,
                Some(Err(e)) => failed(format!("bad child output: {e}")),
                None => failed("child printed no result".into()),
            }
        }
    }
}

/// The commit of the lsmkv checkout this tool was built from, if git can tell.
fn lsmkv_commit() -> String {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    Command::new("git")
        .arg("-C")
        .arg(root)
        .args(["describe", "--always", "--dirty"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_else(|| "unknown".into())
}
